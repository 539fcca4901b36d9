"""Opus encoding tuned for speech, done by us: off discord.py's player thread and off the event loop.

discord.py's player encodes every 20 ms frame in the guild's player thread with its defaults (128 kbit/s,
complexity 10, stereo, signal type auto). Speech needs far less: :class:`SpeechEncoder` applies the
``[opus]`` settings (bitrate, complexity, signal type, FEC and expected loss, forced mono), and
:class:`EncoderPool` runs the encoding in a few worker threads (libopus through ctypes releases the GIL, so
workers encode in parallel). The audio source then hands discord.py finished packets (``is_opus()``), which
still go through its transport and DAVE encryption.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from concurrent.futures import ThreadPoolExecutor

import discord

from ..config import OpusSettings
from .formats import FRAME_BYTES, SILENCE_FRAME

OPUS_SILENCE = b"\xf8\xff\xfe"
"""One 20 ms Opus frame of silence (what discord.py sends after playback ends)."""

_CTL_SET_COMPLEXITY = 4010
_CTL_SET_FORCE_CHANNELS = 4022
_OPUS_AUTO = -1000


class SpeechEncoder:
    """One stream's Opus encoder (stateful: one per stream, used by one thread at a time)."""

    def __init__(self, settings: OpusSettings) -> None:
        self.settings = settings
        encoder = discord.opus.Encoder(
            bitrate=settings.bitrate_kbps,
            fec=settings.fec,
            signal_type=settings.signal,
        )
        # discord.py has no setter for the first two (opus_encoder_ctl is variadic: the value follows the request).
        state, lib = encoder._state, discord.opus._lib
        lib.opus_encoder_ctl(state, _CTL_SET_COMPLEXITY, ctypes.c_int(settings.complexity))
        lib.opus_encoder_ctl(state, _CTL_SET_FORCE_CHANNELS, ctypes.c_int(1 if settings.mono else _OPUS_AUTO))
        # Whole percent as given (discord.py's setter takes a fraction and can round 29 % down to 28 %).
        lib.opus_encoder_ctl(state, discord.opus.CTL_SET_PLP, ctypes.c_int(settings.expected_packet_loss_percent))
        self._encoder = encoder

    def encode(self, frame: bytes) -> bytes:
        """One 20 ms frame of Discord-format PCM (3840 bytes) to one Opus packet."""
        return self._encoder.encode(frame, self._encoder.SAMPLES_PER_FRAME)

    def encode_frames(self, pcm: bytes) -> list[bytes]:
        """Whole frames of PCM to packets (``len(pcm)`` a multiple of 3840 bytes)."""
        encode = self.encode
        return [encode(pcm[start : start + FRAME_BYTES]) for start in range(0, len(pcm), FRAME_BYTES)]


class EncoderPool:
    """A few threads that encode for every stream of the process; the event loop awaits the packets."""

    def __init__(self, settings: OpusSettings) -> None:
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._silence: bytes | None = None

    @property
    def silence(self) -> bytes:
        """A packet of silence, for a source whose download fell behind (sent on time, like any frame)."""
        if self._silence is None:
            self._silence = SpeechEncoder(self.settings).encode(SILENCE_FRAME)
        return self._silence

    def encoder(self) -> SpeechEncoder:
        """A new encoder for one stream, with the configured settings."""
        return SpeechEncoder(self.settings)

    async def encode(self, encoder: SpeechEncoder, pcm: bytes) -> list[bytes]:
        """Encode whole frames of ``pcm`` with ``encoder`` in a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._workers(), encoder.encode_frames, pcm)

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.settings.encoder_threads, thread_name_prefix="asyncflow-opus"
                )
            return self._executor

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


_default: EncoderPool | None = None


def default_pool() -> EncoderPool:
    """The pool for sources made without one (the command line, the benchmarks): default ``[opus]`` settings."""
    global _default  # one lazily made pool for the process
    if _default is None:
        _default = EncoderPool(OpusSettings())
    return _default
