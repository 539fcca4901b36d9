"""Real speech for the benchmarks: espeak-ng speaks a paragraph, resampled to 48 kHz mono floats.

espeak-ng is Debian's ``espeak-ng`` package (``apt-get install espeak-ng``); when it is missing the
benchmarks say so and fall back to the stand-in's tone, which encodes differently from speech.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import soxr

PARAGRAPH = (
    "Hello everyone, welcome to the voice channel. Today we are testing how quickly the bot starts speaking "
    "after someone types a message, and how many conversations one process can carry at the same time. "
    "If you can hear this clearly, without gaps or stutter, the streaming path is doing its job."
)


def espeak_speech(text: str = PARAGRAPH, voice: str | None = None) -> np.ndarray | None:
    """Mono float64 samples at 48 kHz, or None when espeak-ng is not installed.

    ``voice`` is espeak-ng's ``-v`` (``en+f3``: a female variant); None keeps espeak-ng's default voice.
    """
    binary = shutil.which("espeak-ng")
    if binary is None:
        print("espeak-ng not found (apt-get install espeak-ng): using the stand-in's tone", file=sys.stderr)
        return None
    options = [] if voice is None else ["-v", voice]
    wav = subprocess.run([binary, *options, "--stdout", text], check=True, capture_output=True).stdout  # noqa: S603
    data_at = wav.find(b"data") + 8
    rate = int.from_bytes(wav[24:28], "little")
    samples = np.frombuffer(wav[data_at : data_at + (len(wav) - data_at) // 2 * 2], dtype="<i2").astype(np.float64)
    resampled: np.ndarray = soxr.resample(samples / 32768.0, rate, 48_000)
    return resampled
