"""Audio formats: what AsyncFlow may send and what Discord's voice player needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["u8", "s16le", "s24le", "s32le", "f32le", "f64le", "mulaw", "alaw"]

BYTES_PER_SAMPLE: dict[Encoding, int] = {
    "u8": 1,
    "s16le": 2,
    "s24le": 3,
    "s32le": 4,
    "f32le": 4,
    "f64le": 8,
    "mulaw": 1,
    "alaw": 1,
}


@dataclass(frozen=True, slots=True)
class PcmFormat:
    """Uncompressed, interleaved audio: samples per second, channels and how each sample is stored."""

    sample_rate: int
    channels: int
    encoding: Encoding

    @property
    def bytes_per_frame(self) -> int:
        """Bytes for one sample of every channel."""
        return BYTES_PER_SAMPLE[self.encoding] * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.bytes_per_frame * self.sample_rate

    def describe(self) -> str:
        """Human words for logs and error messages, e.g. ``24000 Hz mono s16le``."""
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} channels")
        return f"{self.sample_rate} Hz {layout} {self.encoding}"


# What discord.py's voice player encodes: 48 kHz, 16-bit little-endian, stereo, in 20 ms frames.
DISCORD_FORMAT = PcmFormat(sample_rate=48_000, channels=2, encoding="s16le")
FRAME_MS = 20
FRAME_BYTES = DISCORD_FORMAT.bytes_per_second * FRAME_MS // 1000  # 3840
SILENCE_FRAME = bytes(FRAME_BYTES)

# What we ask AsyncFlow for: Discord's rate and sample format; AsyncFlow always sends mono.
REQUESTED_FORMAT = PcmFormat(sample_rate=48_000, channels=1, encoding="s16le")
