"""Streaming conversion of any PcmFormat to what Discord's voice player needs (48 kHz stereo s16le).

Runs for every network chunk of every utterance, so everything is vectorised with numpy and the two
common cases (already Discord's format; 48 kHz mono s16le, which is what we request) take fast paths.
Network chunks are not sample-aligned, so partial frames are carried over to the next call.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import soxr

from .formats import DISCORD_FORMAT, PcmFormat

__all__ = ["PcmConverter", "mono16_to_stereo"]

_OUT_RATE: Final = DISCORD_FORMAT.sample_rate
_OUT_FRAME: Final = DISCORD_FORMAT.bytes_per_frame  # 4
_I16: Final = np.dtype("<i2")

# Decoded samples, shape (frames, kept channels): int16 for <= 16-bit encodings, else float in [-1, 1]-ish.
Samples = npt.NDArray[np.int16] | npt.NDArray[np.floating[Any]]


def _mulaw_table() -> npt.NDArray[np.int16]:
    """G.711 μ-law code -> linear 16-bit (same values as audioop.ulaw2lin: ±32124 full scale)."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> npt.NDArray[np.int16]:
    """G.711 A-law code -> linear 16-bit (same values as audioop.alaw2lin: ±32256 full scale)."""
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(
        segment == 0,
        mantissa + 8,
        (mantissa + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def mono16_to_stereo(data: bytes) -> bytes:
    """s16le mono -> s16le stereo, each sample twice (the hot path: it is what we ask AsyncFlow for).

    Plain byte slicing on purpose, not numpy: numpy lets go of the GIL for arrays over ~500 items, and
    with dozens of player threads waiting for it the event loop then waits milliseconds to get it back,
    on every chunk. At 50 streams that starved the downloads into tens of thousands of silence frames
    (measured with ``bench.streams``, now ``bench.capacity``); this holds the GIL for ~18 us per 4 KB chunk instead.
    """
    stereo = bytearray(2 * len(data))
    low, high = data[0::2], data[1::2]
    stereo[0::4] = low
    stereo[1::4] = high
    stereo[2::4] = low
    stereo[3::4] = high
    return bytes(stereo)


_MULAW: Final = _mulaw_table()
_ALAW: Final = _alaw_table()


def _float_to_int16(x: npt.NDArray[np.number[Any]]) -> npt.NDArray[np.int16]:
    """Clip to [-1, 1] and round to int16 (NaN becomes silence, ±inf full scale)."""
    with np.errstate(invalid="ignore"):  # a signalling NaN warns when widened; it becomes silence anyway
        wide = x.astype(np.float64)
    clean: npt.NDArray[np.float64] = np.nan_to_num(wide, nan=0.0, posinf=1.0, neginf=-1.0)
    scaled: npt.NDArray[np.float64] = np.rint(np.clip(clean, -1.0, 1.0) * 32768.0)
    return np.minimum(scaled, 32767.0).astype(np.int16)


class PcmConverter:
    """Streaming conversion of interleaved PCM in `source` format to 48 kHz stereo s16le (DISCORD_FORMAT).

    Resampling (soxr, streaming) happens before upmixing so it works on as few channels as possible.
    """

    def __init__(self, source: PcmFormat) -> None:
        if source.channels < 1:
            raise ValueError(f"cannot convert audio with {source.channels} channels")
        if source.sample_rate < 1:
            raise ValueError(f"cannot convert audio at {source.sample_rate} Hz")
        self._source = source
        self._frame = source.bytes_per_frame
        self._keep = min(source.channels, 2)  # >2 channels: front left/right are the first two
        self._carry = b""
        self._passthrough = source == DISCORD_FORMAT
        self._mono16 = source == PcmFormat(_OUT_RATE, 1, "s16le")
        self._resampler: soxr.ResampleStream | None = None
        if source.sample_rate != _OUT_RATE:
            self._resampler = soxr.ResampleStream(
                source.sample_rate, _OUT_RATE, self._keep, dtype="float32", quality="HQ"
            )

    @property
    def source(self) -> PcmFormat:
        return self._source

    @property
    def passthrough(self) -> bool:
        """True when no conversion beyond alignment is needed."""
        return self._passthrough

    def convert(self, data: bytes) -> bytes:
        """Convert the next chunk; any length in, whole 48 kHz stereo s16le frames out (may be empty)."""
        if self._carry:
            data = self._carry + data
        usable = len(data) - len(data) % self._frame
        self._carry = data[usable:]
        if usable == 0:
            return b""
        if usable != len(data):
            data = data[:usable]
        if self._passthrough:
            return data
        if self._mono16:
            return mono16_to_stereo(data)
        samples = self._decode(data)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(self._to_float32(samples))
        return self._to_output(samples)

    def flush(self) -> bytes:
        """End of stream: drop an incomplete trailing frame and drain the resampler's tail.

        Afterwards the converter is ready for a new, unrelated stream in the same format.
        """
        self._carry = b""
        if self._resampler is None:
            return b""
        tail = self._resampler.resample_chunk(np.zeros((0, self._keep), dtype=np.float32), last=True)
        self._resampler.clear()
        return self._to_output(tail)

    # -- internals -------------------------------------------------------------------------------------

    def _decode(self, data: bytes) -> Samples:
        """Whole frames -> array of shape (frames, kept channels)."""
        encoding = self._source.encoding
        channels = self._source.channels
        keep = self._keep
        if encoding == "s16le":
            return np.frombuffer(data, dtype=_I16).reshape(-1, channels)[:, :keep].astype(np.int16)
        if encoding == "u8":
            raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, channels)[:, :keep]
            return ((raw.astype(np.int16) - 128) << 8).astype(np.int16)
        if encoding == "mulaw":
            return _MULAW[np.frombuffer(data, dtype=np.uint8).reshape(-1, channels)[:, :keep]]
        if encoding == "alaw":
            return _ALAW[np.frombuffer(data, dtype=np.uint8).reshape(-1, channels)[:, :keep]]
        if encoding == "s24le":
            raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, channels, 3)[:, :keep]
            # Place the 3 bytes in the top of an int32 so the arithmetic shift sign-extends.
            wide = np.zeros((*raw.shape[:2], 4), dtype=np.uint8)
            wide[..., 1:] = raw
            values = wide.view("<i4")[..., 0] >> 8
            return values.astype(np.float64) * (1.0 / 2**23)
        if encoding == "s32le":
            values = np.frombuffer(data, dtype="<i4").reshape(-1, channels)[:, :keep]
            return values.astype(np.float64) * (1.0 / 2**31)
        if encoding == "f32le":
            return np.frombuffer(data, dtype="<f4").reshape(-1, channels)[:, :keep]
        if encoding == "f64le":
            return np.frombuffer(data, dtype="<f8").reshape(-1, channels)[:, :keep]
        raise ValueError(f"unsupported encoding {encoding!r}")  # pragma: no cover - Encoding is a closed set

    @staticmethod
    def _to_float32(samples: Samples) -> npt.NDArray[np.float32]:
        if samples.dtype == np.int16:
            return np.ascontiguousarray(samples, dtype=np.float32) * np.float32(1.0 / 32768)
        clean = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
        return np.ascontiguousarray(np.clip(clean, -1.0, 1.0), dtype=np.float32)

    def _to_output(self, samples: Samples) -> bytes:
        """(frames, 1 or 2) -> interleaved stereo s16le bytes."""
        pcm = samples.astype(np.int16, copy=False) if samples.dtype == np.int16 else _float_to_int16(samples)
        if pcm.shape[1] == 1:
            return np.repeat(pcm[:, 0], 2).astype(_I16, copy=False).tobytes()
        return np.ascontiguousarray(pcm, dtype=_I16).tobytes()
