"""What a listener would notice in decoded audio: which tone (voice) and how long speech lasts."""

from __future__ import annotations

import io
import wave

import numpy as np

FRAME = 960  # samples per 20 ms at 48 kHz


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / 48_000)[int(np.argmax(spectrum))])


def loud_frames(samples: np.ndarray) -> int:
    """How many 20 ms frames carry speech (the stand-in's tone is at half of full scale)."""
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    return int(np.sum(np.sqrt(np.mean(frames**2, axis=1)) > 0.1))


def frames_in_tone(samples: np.ndarray, hz: float) -> int:
    """How many loud 20 ms frames carry the tone ``hz`` (each of the stand-in's voices speaks at its own pitch)."""
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    if not len(frames):
        return 0
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 0.1
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1))
    peak = np.fft.rfftfreq(FRAME, 1 / 48_000)[np.argmax(spectrum, axis=1)]
    return int(np.sum(loud & (np.abs(peak - hz) < 60)))


def wav_sample(seconds: float, *, rate: int = 16000) -> bytes:
    """A mono 16-bit WAV file of ``seconds`` of a 220 Hz tone: a voice sample to clone from."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * np.sin(2 * np.pi * 220.0 * t) * 32767).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(pcm)
    return out.getvalue()
