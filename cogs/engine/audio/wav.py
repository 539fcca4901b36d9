"""Incremental WAV parser: turns a WAV byte stream into its sample data while it downloads.

AsyncFlow's WAV headers are undocumented (exact sizes, 0, 0xFFFFFFFF, float tag 3 or EXTENSIBLE), so this
parser is lenient about sizes and chunk layout but strict about sample formats it cannot play. It never
buffers audio: only the few header bytes it needs (at most 40) are held, and unknown chunks are skipped by
counting bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from .formats import Encoding, PcmFormat

__all__ = ["MAX_HEADER_BYTES", "WavFormatError", "WavStreamReader"]

# Non-data bytes allowed before the `data` chunk. Real TTS headers are tens of bytes; anything near this is
# either garbage or not meant for us, and failing early beats silently downloading it.
MAX_HEADER_BYTES: Final = 1024 * 1024
MAX_SAMPLE_RATE: Final = 384_000

_RIFF_MAGICS: Final = (b"RIFF", b"RF64", b"BW64")
_WAVE: Final = b"WAVE"
_SNIFF_BYTES: Final = 32  # how much of a non-WAV body to look at (and quote) before refusing it
_UNKNOWN_SIZES: Final = (0, 0xFFFFFFFF)  # "until the end of the stream"
_FMT_CAPTURE: Final = 40  # WAVEFORMATEXTENSIBLE is 40 bytes; longer fmt bodies are skipped past that
_DS64_CAPTURE: Final = 28  # riffSize, dataSize, sampleCount (3 x u64), tableLength (u32)

_TAG_PCM: Final = 0x0001
_TAG_FLOAT: Final = 0x0003
_TAG_ALAW: Final = 0x0006
_TAG_MULAW: Final = 0x0007
_TAG_EXTENSIBLE: Final = 0xFFFE

# (format tag, container bits) -> encoding
_ENCODINGS: Final[dict[tuple[int, int], Encoding]] = {
    (_TAG_PCM, 8): "u8",
    (_TAG_PCM, 16): "s16le",
    (_TAG_PCM, 24): "s24le",
    (_TAG_PCM, 32): "s32le",
    (_TAG_FLOAT, 32): "f32le",
    (_TAG_FLOAT, 64): "f64le",
    (_TAG_ALAW, 8): "alaw",
    (_TAG_MULAW, 8): "mulaw",
}
_TAG_NAMES: Final = {_TAG_PCM: "PCM", _TAG_FLOAT: "IEEE float", _TAG_ALAW: "A-law", _TAG_MULAW: "μ-law"}


class WavFormatError(ValueError):
    """The bytes are not a WAV stream we can play. str(error) is a short plain-English reason for the log;
    :attr:`summary` leaves out the raw bytes, for people."""

    def __init__(self, message: str, *, summary: str | None = None) -> None:
        super().__init__(message)
        self.summary = summary or message


def _show(data: bytes, limit: int = 24) -> str:
    """A short printable rendering of the first bytes, for error messages."""
    text = repr(bytes(data[:limit]))
    return text + ("…" if len(data) > limit else "")


def _chunk_name(chunk_id: bytes) -> str:
    return chunk_id.decode("latin-1").strip() or repr(chunk_id)


def _not_wav_error(head: bytes) -> WavFormatError:
    """Explain what a non-WAV response most likely is (AsyncFlow errors are JSON)."""
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        looks = "a JSON error message rather than audio"
    elif stripped[:1] == b"<":
        looks = "an HTML/XML page rather than audio"
    elif head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        looks = "MP3 audio"
    elif head[:4] == b"OggS":
        looks = "Ogg audio"
    else:
        looks = ""
    hint = f", which looks like {looks}" if looks else ""
    summary = f"not WAV audio: it looks like {looks}" if looks else "not WAV audio"
    return WavFormatError(f"not a WAV stream (starts with {_show(head)}{hint})", summary=summary)


class WavStreamReader:
    """Feed bytes as they arrive; get back the audio payload (sample data) as soon as it is known to be audio.

    Internally a small state machine: collect ``_need`` bytes into ``_buf`` then call ``_on_collected``,
    or discard ``_skip`` bytes first, or pass payload bytes straight through.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 12  # RIFF header: magic, size, form type
        self._on_collected: Callable[[bytes], None] = self._parse_riff_header
        self._skip = 0
        self._skip_after_capture = 0
        self._header_bytes = 0  # bytes of chunks (and chunk headers) before `data`, counted not kept
        self._total_fed = 0
        self._head = bytearray()  # the first _SNIFF_BYTES of the stream, to explain a non-WAV body
        self._magic = b""
        self._ds64_data_size: int | None = None
        self._format: PcmFormat | None = None
        self._in_payload = False
        self._remaining: int | None = None  # payload bytes still to deliver; None = until the stream ends
        self._complete = False
        self._error: WavFormatError | None = None

    @property
    def format(self) -> PcmFormat | None:
        """The sample format, known once the fmt chunk is parsed."""
        return self._format

    @property
    def complete(self) -> bool:
        """True once an exact data size has been fully delivered (later bytes are ignored)."""
        return self._complete

    def feed(self, data: bytes) -> bytes:
        """Consume the next chunk of the stream; return the payload bytes it made available."""
        if self._error is not None:
            raise self._error
        try:
            return self._feed(data)
        except WavFormatError as error:
            self._error = error
            raise

    def finish(self) -> None:
        """Call at end of stream; raise WavFormatError if the audio data never started."""
        if self._error is not None:
            raise self._error
        if self._in_payload:
            return
        if not self._magic and self._total_fed and not self._looks_like_riff():
            self._error = _not_wav_error(bytes(self._head))
            raise self._error
        if self._total_fed == 0:
            reason = "the response was empty (no WAV header)"
        elif not self._magic:
            reason = f"the WAV header was cut off after {self._total_fed} bytes"
        elif self._format is None:
            reason = f"the WAV stream ended after {self._total_fed} bytes without a fmt chunk"
        else:
            reason = f"the WAV stream ended after {self._total_fed} bytes without reaching the audio data"
        self._error = WavFormatError(reason)
        raise self._error

    # -- internals -------------------------------------------------------------------------------------

    def _feed(self, data: bytes) -> bytes:
        self._total_fed += len(data)
        if self._complete:
            return b""
        if not self._magic:
            if len(self._head) < _SNIFF_BYTES:
                self._head += data[: _SNIFF_BYTES - len(self._head)]
            if not self._looks_like_riff():
                # Refuse within the first few bytes rather than after a whole error body, but look at enough
                # of it that the message does not depend on how the network split the bytes.
                if len(self._head) >= _SNIFF_BYTES:
                    raise _not_wav_error(bytes(self._head))
                return b""
        pos, end = 0, len(data)
        while pos < end and not self._in_payload:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            step = min(self._need - len(self._buf), end - pos)
            self._buf += data[pos : pos + step]
            pos += step
            if len(self._buf) == self._need:
                collected = bytes(self._buf)
                self._buf.clear()
                self._on_collected(collected)
        if not self._in_payload or pos == end:
            return b""
        if self._remaining is None:
            return data[pos:] if pos else data
        step = min(self._remaining, end - pos)
        self._remaining -= step
        if self._remaining == 0:
            self._complete = True
        return data[pos : pos + step]

    def _looks_like_riff(self) -> bool:
        head = bytes(self._head[:4])
        return any(magic.startswith(head) for magic in _RIFF_MAGICS)

    def _expect_chunk_header(self) -> None:
        self._need = 8
        self._on_collected = self._parse_chunk_header

    def _parse_riff_header(self, header: bytes) -> None:
        magic, form = header[:4], header[8:12]
        if form != _WAVE:
            raise WavFormatError(f"not a WAV stream (a {magic.decode('latin-1')} file of type {_show(form)})")
        self._magic = magic
        self._expect_chunk_header()

    def _parse_chunk_header(self, header: bytes) -> None:
        chunk_id = header[:4]
        (size,) = struct.unpack_from("<I", header, 4)
        if chunk_id == b"data":
            self._start_data(size)
            return
        padded = size + (size & 1)  # chunks are word-aligned: odd sizes are followed by a pad byte
        self._header_bytes += 8 + padded
        if self._header_bytes > MAX_HEADER_BYTES:
            raise WavFormatError(
                f"the WAV header is too large: chunk {_chunk_name(chunk_id)!r} claims {size} bytes "
                f"before the audio data (limit {MAX_HEADER_BYTES})"
            )
        if chunk_id == b"fmt ":
            if size < 16:
                raise WavFormatError(f"the WAV fmt chunk is too short ({size} bytes)")
            self._capture(min(size, _FMT_CAPTURE), padded, self._parse_fmt)
        elif chunk_id == b"ds64" and self._magic != b"RIFF" and size >= _DS64_CAPTURE:
            self._capture(_DS64_CAPTURE, padded, self._parse_ds64)
        else:
            self._skip = padded
            self._expect_chunk_header()

    def _capture(self, count: int, padded: int, handler: Callable[[bytes], None]) -> None:
        """Collect the first ``count`` bytes of a chunk body for ``handler``, then skip the rest."""
        self._need = count
        self._skip_after_capture = padded - count

        def done(body: bytes) -> None:
            handler(body)
            self._skip = self._skip_after_capture
            self._expect_chunk_header()

        self._on_collected = done

    def _parse_ds64(self, body: bytes) -> None:
        (self._ds64_data_size,) = struct.unpack_from("<Q", body, 8)

    def _parse_fmt(self, body: bytes) -> None:
        tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
        if tag == _TAG_EXTENSIBLE:
            if len(body) < _FMT_CAPTURE:
                raise WavFormatError(f"the WAV fmt chunk is too short for WAVE_FORMAT_EXTENSIBLE ({len(body)} bytes)")
            # validBitsPerSample (offset 18) may be smaller than the container; samples are left-aligned in
            # the container, so reading the container size plays them correctly.
            (tag,) = struct.unpack_from("<H", body, 24)  # first two bytes of the SubFormat GUID
        if tag not in _TAG_NAMES:
            raise WavFormatError(
                f"AsyncFlow sent compressed audio (format tag 0x{tag:X}), which cannot be played without decoding"
            )
        if channels == 0:
            raise WavFormatError("the WAV header says the audio has 0 channels")
        if rate == 0 or rate > MAX_SAMPLE_RATE:
            raise WavFormatError(f"the WAV header has an unusable sample rate ({rate} Hz)")
        container_bits = -(-bits // 8) * 8  # e.g. 20-bit PCM is stored in 24-bit containers
        encoding = _ENCODINGS.get((tag, container_bits))
        if encoding is None:
            raise WavFormatError(f"{_TAG_NAMES[tag]} audio with {bits} bits per sample is not supported")
        pcm = PcmFormat(sample_rate=rate, channels=channels, encoding=encoding)
        if block_align != pcm.bytes_per_frame:
            raise WavFormatError(
                f"the WAV header is inconsistent: block size {block_align} bytes does not match "
                f"{channels} channel(s) of {container_bits}-bit samples"
            )
        self._format = pcm

    def _start_data(self, size: int) -> None:
        if self._format is None:
            raise WavFormatError("the WAV stream has its audio data before the fmt chunk that describes it")
        if self._magic != b"RIFF" and size == 0xFFFFFFFF:
            size = self._ds64_data_size or 0  # RF64: the real size lives in ds64 (0 there = unknown too)
        self._remaining = None if size in _UNKNOWN_SIZES else size
        self._in_payload = True
