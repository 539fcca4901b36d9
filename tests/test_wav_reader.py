"""WavStreamReader: every header layout AsyncFlow might send, split at every possible point."""

from __future__ import annotations

import io
import itertools
import random
import struct
import tracemalloc
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.engine.audio.formats import PcmFormat
from cogs.engine.audio.wav import MAX_HEADER_BYTES, WavFormatError, WavStreamReader

# -- building WAV streams -------------------------------------------------------------------------------


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk with its pad byte; ``size`` overrides the declared size (for placeholder sizes)."""
    declared = len(body) if size is None else size
    return chunk_id + struct.pack("<I", declared) + body + (b"\0" if len(body) % 2 else b"")


def fmt(tag: int, channels: int, rate: int, bits: int, block_align: int | None = None) -> bytes:
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def fmt_extensible(subtag: int, channels: int, rate: int, container_bits: int, valid_bits: int) -> bytes:
    align = channels * container_bits // 8
    guid = struct.pack("<H", subtag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, container_bits, 22, valid_bits, 3)
    return chunk(b"fmt ", body + guid)


def riff(*chunks: bytes, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def payload_bytes(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


LIST_INFO = chunk(b"LIST", b"INFOISFT" + struct.pack("<I", 14) + b"AsyncFlow TTS\0")

# -- feeding --------------------------------------------------------------------------------------------


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def read_all(pieces: Sequence[bytes]) -> tuple[bytes, WavStreamReader]:
    reader = WavStreamReader()
    out = bytearray()
    for piece in pieces:
        got = reader.feed(piece)
        assert isinstance(got, bytes)
        out += got
    reader.finish()
    return bytes(out), reader


def chunkings(data: bytes) -> dict[str, list[bytes]]:
    rng = random.Random(len(data))
    return {
        "whole": [data],
        "bytewise": [data[i : i + 1] for i in range(len(data))],
        "random": split_at(data, rng.sample(range(1, max(2, len(data))), min(12, max(0, len(data) - 1)))),
        "odd": [data[i : i + 7] for i in range(0, len(data), 7)],
    }


# -- valid streams --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    stream: bytes
    payload: bytes
    format: PcmFormat
    complete: bool


def canonical_wave_module() -> Case:
    audio = payload_bytes(2000)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(24000)
        writer.writeframes(audio)
    stream = buffer.getvalue()
    assert len(stream) == 44 + len(audio)
    return Case(stream, audio, PcmFormat(24000, 1, "s16le"), complete=True)


AUDIO = payload_bytes(960)

CASES: dict[str, Case] = {
    "canonical (wave module)": canonical_wave_module(),
    "LIST first, odd unknown chunk with pad byte": Case(
        riff(LIST_INFO, fmt(1, 1, 48000, 16), chunk(b"junk", b"abcde"), chunk(b"data", AUDIO)),
        AUDIO,
        PcmFormat(48000, 1, "s16le"),
        complete=True,
    ),
    "float with fact chunk": Case(
        riff(fmt(3, 1, 24000, 32), chunk(b"fact", struct.pack("<I", 240)), chunk(b"data", AUDIO)),
        AUDIO,
        PcmFormat(24000, 1, "f32le"),
        complete=True,
    ),
    "extensible PCM, 20 valid bits in 24": Case(
        riff(fmt_extensible(1, 2, 44100, 24, 20), chunk(b"data", AUDIO)),
        AUDIO,
        PcmFormat(44100, 2, "s24le"),
        complete=True,
    ),
    "extensible float": Case(
        riff(fmt_extensible(3, 1, 48000, 32, 32), chunk(b"fact", b"\0\0\0\0"), chunk(b"data", AUDIO)),
        AUDIO,
        PcmFormat(48000, 1, "f32le"),
        complete=True,
    ),
    "data size 0 (streamed)": Case(
        riff(fmt(1, 1, 24000, 16), chunk(b"data", AUDIO, size=0)),
        AUDIO,
        PcmFormat(24000, 1, "s16le"),
        complete=False,
    ),
    "data size 0xFFFFFFFF (streamed)": Case(
        riff(fmt(1, 1, 24000, 16), chunk(b"data", AUDIO, size=0xFFFFFFFF)),
        AUDIO,
        PcmFormat(24000, 1, "s16le"),
        complete=False,
    ),
    "data size larger than the body": Case(
        riff(fmt(1, 1, 24000, 16), chunk(b"data", AUDIO, size=len(AUDIO) * 10)),
        AUDIO,
        PcmFormat(24000, 1, "s16le"),
        complete=False,
    ),
    "exact data size then a trailing LIST": Case(
        riff(fmt(1, 1, 22050, 16), chunk(b"data", AUDIO), LIST_INFO),
        AUDIO,
        PcmFormat(22050, 1, "s16le"),
        complete=True,
    ),
    "odd data size, pad byte and trailing chunk": Case(
        riff(fmt(1, 1, 8000, 8), chunk(b"data", AUDIO[:7]), chunk(b"junk", b"xyz")),
        AUDIO[:7],
        PcmFormat(8000, 1, "u8"),
        complete=True,
    ),
    "RF64 with ds64 size and trailing chunk": Case(
        riff(
            chunk(b"ds64", struct.pack("<QQQI", 0, len(AUDIO), len(AUDIO) // 2, 0)),
            fmt(1, 1, 48000, 16),
            chunk(b"data", AUDIO, size=0xFFFFFFFF),
            LIST_INFO,
            magic=b"RF64",
        ),
        AUDIO,
        PcmFormat(48000, 1, "s16le"),
        complete=True,
    ),
    "RF64 with unknown ds64 size": Case(
        riff(
            chunk(b"ds64", struct.pack("<QQQI", 0, 0, 0, 0)),
            fmt(7, 1, 8000, 8),
            chunk(b"data", AUDIO, size=0xFFFFFFFF),
            magic=b"RF64",
        ),
        AUDIO,
        PcmFormat(8000, 1, "mulaw"),
        complete=False,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_chunking_yields_the_payload(name: str) -> None:
    case = CASES[name]
    for how, pieces in chunkings(case.stream).items():
        payload, reader = read_all(pieces)
        assert payload == case.payload, how
        assert reader.format == case.format, how
        assert reader.complete is case.complete, how


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(list(CASES)), cuts=st.lists(st.integers(min_value=1, max_value=1100), max_size=40))
def test_any_chunking_yields_the_same_payload(name: str, cuts: list[int]) -> None:
    case = CASES[name]
    payload, reader = read_all(split_at(case.stream, cuts))
    assert payload == case.payload
    assert reader.format == case.format
    assert reader.complete is case.complete


def test_payload_is_returned_as_soon_as_the_data_header_is_known() -> None:
    stream = riff(fmt(1, 1, 48000, 16), chunk(b"data", AUDIO))
    header_len = len(stream) - len(AUDIO)
    reader = WavStreamReader()
    assert reader.feed(stream[: header_len - 1]) == b""
    assert reader.format == PcmFormat(48000, 1, "s16le")
    assert reader.feed(stream[header_len - 1 : header_len + 3]) == AUDIO[:3]
    assert reader.feed(stream[header_len + 3 :]) == AUDIO[3:]
    assert reader.complete
    assert reader.feed(b"more bytes after the end") == b""
    reader.finish()


def test_format_is_unknown_until_the_fmt_chunk_is_parsed() -> None:
    stream = riff(fmt(1, 2, 44100, 16), chunk(b"data", AUDIO))
    reader = WavStreamReader()
    reader.feed(stream[:20])
    assert reader.format is None
    reader.feed(stream[20:36])
    assert reader.format == PcmFormat(44100, 2, "s16le")


@pytest.mark.parametrize(
    ("tag", "bits", "encoding"),
    [
        (1, 8, "u8"),
        (1, 16, "s16le"),
        (1, 24, "s24le"),
        (1, 32, "s32le"),
        (1, 12, "s16le"),  # 12-bit samples in 16-bit containers
        (3, 32, "f32le"),
        (3, 64, "f64le"),
        (6, 8, "alaw"),
        (7, 8, "mulaw"),
    ],
)
def test_format_tags_map_to_encodings(tag: int, bits: int, encoding: str) -> None:
    payload, reader = read_all([riff(fmt(tag, 2, 16000, bits), chunk(b"data", AUDIO))])
    assert payload == AUDIO
    assert reader.format is not None
    assert reader.format.encoding == encoding
    assert reader.format.channels == 2
    assert reader.format.sample_rate == 16000


def test_long_fmt_chunk_with_extra_bytes_is_accepted() -> None:
    body = struct.pack("<HHIIHH", 1, 1, 24000, 48000, 2, 16) + struct.pack("<H", 30) + bytes(30)
    payload, reader = read_all([riff(chunk(b"fmt ", body), chunk(b"data", AUDIO))])
    assert payload == AUDIO
    assert reader.format == PcmFormat(24000, 1, "s16le")


def test_truncated_header_at_every_point_fails_at_finish() -> None:
    stream = riff(fmt(1, 1, 24000, 16), chunk(b"data", AUDIO))
    header_len = len(stream) - len(AUDIO)
    for cut in range(header_len):
        reader = WavStreamReader()
        assert reader.feed(stream[:cut]) == b""
        with pytest.raises(WavFormatError) as caught:
            reader.finish()
        assert str(caught.value)
    # The data chunk header alone is enough: an empty utterance is not a format error.
    payload, _ = read_all([stream[:header_len]])
    assert payload == b""


def test_empty_response_fails_at_finish() -> None:
    reader = WavStreamReader()
    with pytest.raises(WavFormatError, match="empty"):
        reader.finish()


def test_stream_without_data_chunk_fails_at_finish() -> None:
    with pytest.raises(WavFormatError, match="without reaching the audio data"):
        read_all([riff(fmt(1, 1, 24000, 16), LIST_INFO)])
    with pytest.raises(WavFormatError, match="without a fmt chunk"):
        read_all([riff(LIST_INFO)])


# -- streams we must refuse -----------------------------------------------------------------------------


def error_for(stream: bytes) -> str:
    """The error message, checking every chunking fails the same way and never returns payload first."""
    messages = set()
    for how, pieces in chunkings(stream).items():
        reader = WavStreamReader()
        with pytest.raises(WavFormatError) as caught:  # from whichever feed() or finish() first knows
            for piece in pieces:
                assert reader.feed(piece) == b"", how
            reader.finish()
        message = str(caught.value)
        assert message, how
        assert "\n" not in message, how
        messages.add(message)
        with pytest.raises(WavFormatError):  # a failed reader stays failed
            reader.feed(b"RIFF")
    assert len(messages) == 1, messages  # the same reason however the bytes were split
    return messages.pop()


def test_json_error_body_is_recognised() -> None:
    body = b'{"detail": {"code": "insufficient_credits", "message": "Your balance is too low"}}'
    message = error_for(body)
    assert "not a WAV stream" in message
    assert "JSON" in message
    # It fails within the first 32 bytes rather than waiting for the whole body.
    reader = WavStreamReader()
    assert reader.feed(body[:31]) == b""
    with pytest.raises(WavFormatError, match="JSON"):
        reader.feed(body[31:32])
    assert "JSON" in error_for(b'  \n[{"detail": "x"}]')


def test_other_non_wav_bodies_are_named() -> None:
    assert "MP3" in error_for(b"ID3\x04\x00" + bytes(100))
    assert "HTML" in error_for(b"<html><body>Bad gateway</body></html>")
    assert "starts with" in error_for(b"\x00\x01\x02\x03 not audio")
    assert "AVI" in error_for(b"RIFF\x10\x00\x00\x00AVI LIST")


def test_data_before_fmt_is_refused() -> None:
    message = error_for(riff(chunk(b"data", AUDIO), fmt(1, 1, 24000, 16)))
    assert "before the fmt chunk" in message


def test_compressed_format_tag_is_refused_in_plain_words() -> None:
    message = error_for(riff(fmt(0x55, 1, 24000, 0, block_align=1), chunk(b"data", AUDIO)))
    assert message == "AsyncFlow sent compressed audio (format tag 0x55), which cannot be played without decoding"
    assert "0x2" in error_for(riff(fmt_extensible(2, 1, 24000, 16, 16), chunk(b"data", AUDIO)))


@pytest.mark.parametrize(
    ("fmt_chunk", "expected"),
    [
        (fmt(1, 0, 24000, 16, block_align=2), "0 channels"),
        (fmt(1, 1, 0, 16), "sample rate"),
        (fmt(1, 1, 400_000, 16), "sample rate"),
        (fmt(1, 2, 24000, 16, block_align=2), "block size"),
        (fmt(1, 1, 24000, 40), "40 bits"),
        (fmt(3, 1, 24000, 16), "16 bits"),
        (fmt(7, 1, 8000, 16), "16 bits"),
        (chunk(b"fmt ", struct.pack("<HHII", 1, 1, 8000, 8000) + b"\0\0"), "too short"),
        (chunk(b"fmt ", struct.pack("<HHIIHH", 0xFFFE, 1, 8000, 16000, 2, 16)), "too short"),
    ],
)
def test_unplayable_fmt_is_refused(fmt_chunk: bytes, expected: str) -> None:
    assert expected in error_for(riff(fmt_chunk, chunk(b"data", AUDIO)))


def test_absurd_chunk_size_fails_without_waiting_for_the_body() -> None:
    reader = WavStreamReader()
    head = riff(fmt(1, 1, 24000, 16))
    with pytest.raises(WavFormatError, match="too large"):
        reader.feed(head + b"LIST" + struct.pack("<I", 0x7FFFFFF0))
    # Many moderate chunks add up to the same limit.
    half = MAX_HEADER_BYTES // 2
    reader = WavStreamReader()
    reader.feed(head + b"junk" + struct.pack("<I", half))
    reader.feed(bytes(half))
    with pytest.raises(WavFormatError, match="too large"):
        reader.feed(b"junk" + struct.pack("<I", half))


def test_large_unknown_chunks_are_skipped_without_buffering() -> None:
    size = MAX_HEADER_BYTES - 4096
    skipped = bytes(size)
    pieces = [riff(fmt(1, 1, 24000, 16)) + b"bext" + struct.pack("<I", size)]
    pieces += [skipped[i : i + 65536] for i in range(0, size, 65536)]
    pieces += [chunk(b"data", AUDIO)]
    reader = WavStreamReader()
    tracemalloc.start()
    try:
        out = b"".join(reader.feed(piece) for piece in pieces)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == AUDIO
    assert peak < 64 * 1024  # far below the 1 MiB that was skipped


def test_payload_is_passed_through_not_buffered() -> None:
    reader = WavStreamReader()
    reader.feed(riff(fmt(1, 1, 48000, 16)) + b"data" + struct.pack("<I", 0))
    big = bytes(4 * 1024 * 1024)
    assert reader.feed(big) is big  # whole chunks of payload are handed back as they are


# -- fuzzing --------------------------------------------------------------------------------------------

VALID_STREAMS = [case.stream for case in CASES.values()]


@st.composite
def mangled_streams(draw: st.DrawFn) -> bytes:
    """Valid streams with bytes overwritten, cut short or extended, plus plain random bytes."""
    kind = draw(st.sampled_from(["random", "riff-prefix", "mutated"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "riff-prefix":
        return b"RIFF" + draw(st.binary(max_size=8)) + b"WAVE" + draw(st.binary(max_size=300))
    stream = bytearray(draw(st.sampled_from(VALID_STREAMS)))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(stream) - 1))
        stream[position] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(stream)))
    return bytes(stream[:cut]) + draw(st.binary(max_size=40))


def outcome(pieces: Sequence[bytes]) -> bytes | None:
    """Payload, or None for WavFormatError; any other exception fails the test."""
    try:
        payload, _ = read_all(pieces)
    except WavFormatError as error:
        assert str(error)
        return None
    return payload


@settings(max_examples=200, deadline=2000)
@given(stream=mangled_streams(), cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=30))
def test_arbitrary_bytes_either_fail_cleanly_or_give_payload(stream: bytes, cuts: list[int]) -> None:
    chunked = outcome(split_at(stream, cuts))
    assert chunked == outcome([stream])
    if chunked is not None:
        assert len(chunked) <= len(stream)
