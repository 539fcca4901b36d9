"""Tests of the AsyncFlow stand-in itself (tests/asyncflow_server.py), through a plain httpx client."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import struct
import sys
import time
import wave
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.asyncflow_server import (
    DEFAULT_API_KEY,
    DEMO_VOICE_ID,
    QUOTA_MARKER,
    FakeAsyncFlow,
    Fault,
    SampleEncoding,
    Voice,
    decode_samples,
    encode_samples,
    expected_samples,
    tone_for,
    wav_header,
)

HEADERS = {"x-api-key": DEFAULT_API_KEY, "version": "v1"}
STREAM = "/text_to_speech/streaming"
SYNC = "/text_to_speech"
S16_TOLERANCE = 1.01 / 32767


def tts_body(
    transcript: str = "Hello there",
    *,
    voice_id: str = DEMO_VOICE_ID,
    container: str = "raw",
    encoding: str = "pcm_s16le",
    sample_rate: int = 16000,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "model_id": "async_flash_v1.0",
        "transcript": transcript,
        "voice": {"mode": "id", "id": voice_id},
        "output_format": {"container": container, "encoding": encoding, "sample_rate": sample_rate},
        **extra,
    }


@pytest.fixture(autouse=True)
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """aiohttp logs handler crashes instead of raising them; any such log fails the test."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith(("aiohttp", "asyncio"))]
    assert not bad, [r.getMessage() for r in bad]


@pytest.fixture
async def server() -> AsyncIterator[FakeAsyncFlow]:
    async with FakeAsyncFlow() as srv:
        yield srv


@pytest.fixture
async def client(server: FakeAsyncFlow) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, headers=HEADERS, timeout=5.0) as c:
        yield c


async def raw_pieces(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> tuple[httpx.Response, list[bytes]]:
    """POST and collect the body as the pieces httpx yields (one per HTTP chunk, or smaller)."""
    pieces: list[bytes] = []
    async with client.stream("POST", path, json=body) as response:
        async for piece in response.aiter_raw():
            pieces.append(piece)
    return response, pieces


def riff_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(id, declared size, offset of body) of each chunk after ``RIFF....WAVE``, up to and including ``data``."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"
    out: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        out.append((cid, size, pos + 8))
        if cid == b"data":
            break
        pos += 8 + size + size % 2
    return out


# ----- status, auth, version -----------------------------------------------------------------------------------------


async def test_status_needs_no_key(server: FakeAsyncFlow) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as bare:
        response = await bare.get("/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "v1"}
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.requests[-1].method == "GET"
    assert server.requests[-1].path == "/"


@pytest.mark.parametrize(("key", "shown"), [("sk_wrong_key_123", "sk_wr..."), (None, "...")])
async def test_invalid_key_is_documented_401(server: FakeAsyncFlow, key: str | None, shown: str) -> None:
    headers = {"version": "v1"} | ({"X-Api-Key": key} if key else {})
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as c:
        response = await c.post(STREAM, json=tts_body())
    assert response.status_code == 401
    assert response.json() == {
        "detail": {
            "error_code": "INVALID_API_KEY",
            "message": "Invalid or expired API key.",
            "extra": {"api_key": shown},
        }
    }
    assert server.requests[-1].json == tts_body()  # failed requests are recorded too
    assert server.in_flight == 0


async def test_version_header(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    response = await client.post("/voices", headers={"version": "v0.9"})
    assert response.status_code == 404
    assert response.json() == {"detail": {"error_code": "VERSION_NOT_FOUND", "message": "API version v0.9 not found."}}

    async with httpx.AsyncClient(base_url=server.base_url, headers={"x-api-key": DEFAULT_API_KEY}) as no_version:
        assert (await no_version.post("/voices")).status_code == 200
        server.strict_version = True
        strict = await no_version.post("/voices")
    assert strict.status_code == 404
    assert strict.json()["detail"]["error_code"] == "VERSION_NOT_FOUND"


async def test_unknown_route_is_fastapi_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_requests_are_recorded_with_lowercase_headers(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    await client.post(STREAM, json=tts_body(), headers={"X-Custom": "yes"})
    recorded = server.requests[-1]
    assert recorded.method == "POST"
    assert recorded.path == STREAM
    assert recorded.headers["x-api-key"] == DEFAULT_API_KEY
    assert recorded.headers["x-custom"] == "yes"
    assert recorded.json == tts_body()
    assert server.tts_requests == [recorded]


# ----- request validation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        (STREAM, tts_body(voice_id="no-such-voice"), 404, "VOICE_NOT_FOUND"),
        (STREAM, tts_body(language="xx"), 400, "INVALID_LANGUAGE"),
        (STREAM, tts_body(container="wav"), 400, "FORMAT_NOT_RECOGNIZED"),
        (STREAM, tts_body(container="mp3"), 400, "FORMAT_NOT_RECOGNIZED"),
        (SYNC, tts_body(encoding="pcm_mulaw"), 400, "FORMAT_NOT_RECOGNIZED"),
        (SYNC, tts_body(sample_rate=7999), 422, None),
        (SYNC, tts_body(transcript=""), 422, None),
        (SYNC, {"model_id": "async_flash_v1.0"}, 422, None),
        (SYNC, tts_body() | {"model_id": "gpt-4"}, 422, None),
    ],
)
async def test_validation_errors(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == status
    detail = response.json()["detail"]
    if code is None:
        assert isinstance(detail, list)
        assert detail[0]["loc"][0] == "body"
    else:
        assert detail["error_code"] == code
    if code == "VOICE_NOT_FOUND":
        assert detail["extra"] == {"voice_id": "no-such-voice"}
        assert detail["message"] == "Requested voice with ID no-such-voice not found."


async def test_null_language_and_legacy_model_accepted(client: httpx.AsyncClient) -> None:
    body = tts_body(language=None) | {"model_id": "asyncflow_multilingual_v1.0"}
    response = await client.post(STREAM, json=body)
    assert response.status_code == 200


# ----- audio content -------------------------------------------------------------------------------------------------


async def test_streaming_s16_matches_expected_samples(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    response, pieces = await raw_pieces(client, STREAM, tts_body("Hi all", sample_rate=24000))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    data = b"".join(pieces)
    want = expected_samples("Hi all", DEMO_VOICE_ID, 24000)
    assert len(want) == 24000 * 6 * 50 // 1000
    got = decode_samples(data, "s16le")
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= S16_TOLERANCE
    assert data == encode_samples(want, "s16le")
    assert np.max(np.abs(want)) == pytest.approx(0.5, abs=0.01)


async def test_each_voice_has_its_own_tone(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    tones = [v.tone_hz for v in server.voices]
    assert len(set(tones)) == len(tones) >= 30
    assert tone_for(DEMO_VOICE_ID) == 440.0
    other = server.voices[5]
    response = await client.post(STREAM, json=tts_body("tone", voice_id=other.voice_id, sample_rate=8000))
    got = decode_samples(response.content, "s16le")
    # Dominant frequency from the spectrum matches the voice's tone.
    spectrum = np.abs(np.fft.rfft(got))
    peak_hz = np.argmax(spectrum) * 8000 / len(got)
    assert peak_hz == pytest.approx(tone_for(other.voice_id), abs=8000 / len(got))
    assert "tone_hz" not in (await client.get(f"/voices/{other.voice_id}")).json()


@pytest.mark.parametrize(
    ("api", "encoding", "tolerance"), [("pcm_f32le", "f32le", 1e-7), ("pcm_mulaw", "mulaw", 0.035)]
)
async def test_other_encodings(client: httpx.AsyncClient, api: str, encoding: SampleEncoding, tolerance: float) -> None:
    response = await client.post(STREAM, json=tts_body("abc", encoding=api, sample_rate=8000))
    want = expected_samples("abc", DEMO_VOICE_ID, 8000)
    assert len(response.content) == len(want) * (4 if encoding == "f32le" else 1)
    assert np.max(np.abs(decode_samples(response.content, encoding) - want)) <= tolerance


def test_mulaw_matches_g711_reference_points() -> None:
    pcm = np.array([0.0, 1.0, -1.0, 0.25, -0.25])
    codes = encode_samples(pcm, "mulaw")
    assert codes[:3] == bytes([0xFF, 0x80, 0x00])  # silence, positive and negative full scale
    assert codes[3] ^ codes[4] == 0x80  # symmetric apart from the sign bit
    assert decode_samples(codes, "mulaw")[3] == pytest.approx(0.25, abs=0.01)


def test_encode_decode_round_trip_all_encodings() -> None:
    want = expected_samples("round trip", DEMO_VOICE_ID, 16000)
    cases: list[tuple[SampleEncoding, float]] = [
        ("u8", 0.005),
        ("s16le", 2e-5),
        ("s24le", 1e-7),
        ("s32le", 1e-9),
        ("f32le", 1e-7),
        ("f64le", 0.0),
        ("alaw", 0.035),
        ("mulaw", 0.035),
    ]
    for encoding, tolerance in cases:
        got = decode_samples(encode_samples(want, encoding), encoding)
        assert np.max(np.abs(got - want)) <= tolerance, encoding
    stereo = decode_samples(encode_samples(want, "s16le", channels=2), "s16le", channels=2)
    assert stereo.shape == (len(want), 2)
    assert np.array_equal(stereo[:, 0], stereo[:, 1])


# ----- WAV -----------------------------------------------------------------------------------------------------------


async def test_exact_wav_parses_with_wave_module(client: httpx.AsyncClient) -> None:
    response = await client.post(SYNC, json=tts_body("wave ok", container="wav", sample_rate=22050))
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.headers["transfer-encoding"] == "chunked"
    want = expected_samples("wave ok", DEMO_VOICE_ID, 22050)
    with wave.open(io.BytesIO(response.content), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        assert wav.getnframes() == len(want)
        frames = wav.readframes(wav.getnframes())
    assert frames == encode_samples(want, "s16le")
    assert response.content[:44] == wav_header(sample_rate=22050, channels=1, encoding="s16le", data_len=len(frames))
    assert struct.unpack_from("<I", response.content, 4)[0] == len(response.content) - 8


async def test_float_wav_uses_format_tag_3(client: httpx.AsyncClient) -> None:
    response = await client.post(SYNC, json=tts_body("f", container="wav", encoding="pcm_f32le", sample_rate=16000))
    data = response.content
    tag, channels, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, 20)
    assert (tag, channels, rate, byte_rate, align, bits) == (3, 1, 16000, 64000, 4, 32)
    assert np.array_equal(decode_samples(data[44:], "f32le"), expected_samples("f", DEMO_VOICE_ID, 16000).astype("f4"))


@pytest.mark.parametrize("style", ["streaming", "zero", "extra_chunks", "extensible"])
async def test_wav_header_styles(server: FakeAsyncFlow, client: httpx.AsyncClient, style: Any) -> None:
    server.wav_header = style
    response = await client.post(SYNC, json=tts_body("styles", container="wav", sample_rate=8000))
    data = response.content
    audio = encode_samples(expected_samples("styles", DEMO_VOICE_ID, 8000), "s16le")
    assert data.endswith(audio)
    riff_size = struct.unpack_from("<I", data, 4)[0]
    chunks = riff_chunks(data)
    ids = [c[0] for c in chunks]
    assert ids[0] == b"fmt "
    assert ids[-1] == b"data"
    data_size, data_offset = chunks[-1][1], chunks[-1][2]
    assert data[data_offset:] == audio
    if style == "streaming":
        assert riff_size == data_size == 0xFFFFFFFF
    elif style == "zero":
        assert riff_size == data_size == 0
    else:
        assert riff_size == len(data) - 8
        assert data_size == len(audio)
    if style == "extra_chunks":
        assert ids == [b"fmt ", b"LIST", b"afsi", b"data"]
        odd = chunks[2]
        assert odd[1] % 2 == 1
        assert data[odd[2] + odd[1]] == 0  # pad byte
    if style == "extensible":
        fmt_size, fmt_offset = chunks[0][1], chunks[0][2]
        assert fmt_size == 40
        tag, channels, rate, _, _, bits, cb_size, valid_bits = struct.unpack_from("<HHIIHHHH", data, fmt_offset)
        assert (tag, channels, rate, bits, cb_size, valid_bits) == (0xFFFE, 1, 8000, 16, 22, 16)
        guid = data[fmt_offset + 24 : fmt_offset + 40]
        assert guid == bytes.fromhex("0100000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_PCM


# ----- stream shaping ------------------------------------------------------------------------------------------------


async def test_body_arrives_in_several_chunks(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.chunk_bytes = 1000
    _, pieces = await raw_pieces(client, STREAM, tts_body("a longer sentence", sample_rate=16000))
    assert len(pieces) > 5
    assert all(len(p) <= 1000 for p in pieces)
    assert sum(map(len, pieces)) == len(expected_samples("a longer sentence", DEMO_VOICE_ID, 16000)) * 2


async def test_split_header_sends_one_byte_per_chunk(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.split_header = True
    _, pieces = await raw_pieces(client, SYNC, tts_body("split", container="wav"))
    assert [len(p) for p in pieces[:44]] == [1] * 44
    assert len(pieces[44]) > 1


async def test_first_byte_delay_and_realtime_pacing(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.first_byte_delay = 0.15
    server.realtime_factor = 4.0
    server.ms_per_char = 100.0
    server.chunk_bytes = 1600  # 50 ms of 16 kHz s16
    started = time.monotonic()
    async with client.stream("POST", STREAM, json=tts_body("x" * 8, sample_rate=16000)) as response:
        headers_at = time.monotonic() - started
        total = 0
        async for piece in response.aiter_raw():
            total += len(piece)
    elapsed = time.monotonic() - started
    assert headers_at >= 0.14
    assert total == 0.8 * 16000 * 2
    # 0.8 s of audio at 4x real time: the last chunk leaves ~0.19 s after the first.
    assert 0.15 + 0.17 <= elapsed < 0.15 + 0.6


# ----- faults --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code", "extra"),
    [
        (Fault.invalid_key(), 401, "INVALID_API_KEY", {"api_key": "sk_33..."}),
        (Fault.voice_not_found("v1"), 404, "VOICE_NOT_FOUND", {"voice_id": "v1"}),
        (Fault.version_not_found(), 404, "VERSION_NOT_FOUND", None),
        (Fault.invalid_language("xx"), 400, "INVALID_LANGUAGE", None),
        (Fault.format_not_recognized(), 400, "FORMAT_NOT_RECOGNIZED", None),
        (Fault.concurrency(), 429, "TOO_MANY_CONCURRENT_REQUESTS", {"limit": 5, "current": 7}),
        (Fault.rate_limited(1200), 429, "RATE_LIMIT_EXCEEDED", {"limit": 120, "retry_after_ms": 1200}),
        (Fault.usage_limit(), 429, "USAGE_LIMIT_EXCEEDED", {"limit": 1000000, "current": 1250000}),
    ],
)
async def test_documented_error_faults(
    server: FakeAsyncFlow, client: httpx.AsyncClient, fault: Fault, status: int, code: str, extra: Any
) -> None:
    server.faults.append(fault)
    response = await client.post(STREAM, json=tts_body())
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail["error_code"] == code
    assert detail["message"] == fault.message
    assert detail.get("extra") == extra
    assert server.faults == []
    assert (await client.post(STREAM, json=tts_body())).status_code == 200  # one-shot


async def test_unwrapped_error_and_retry_after_header(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults += [Fault.rate_limited(retry_after_ms=1500, header="2", shape="unwrapped")]
    response = await client.post(STREAM, json=tts_body())
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json() == {
        "error_code": "RATE_LIMIT_EXCEEDED",
        "message": "Rate limit exceeded. Please try again later.",
        "extra": {"limit": 120, "retry_after_ms": 1500},
    }


async def test_server_error_bodies(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults += [Fault.server_error(), Fault.gateway_error(502), Fault.server_error(503, "Service Unavailable")]
    first = await client.post(STREAM, json=tts_body())
    assert first.status_code == 500
    assert first.json() == {
        "message": "Oops! Internal server error occurred.",
        "method": "POST",
        "url": "/v1/tts/stream",
        "detail": "Error: Traceback #42",
    }
    second = await client.post(STREAM, json=tts_body())
    assert second.status_code == 502
    assert second.headers["content-type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in second.text
    third = await client.post(STREAM, json=tts_body())
    assert third.status_code == 503
    assert third.headers["content-type"].startswith("text/plain")
    assert third.text == "Service Unavailable"


async def test_unexpected_json(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    fastapi = {"detail": [{"loc": ["body", "voice"], "msg": "field required", "type": "value_error.missing"}]}
    server.faults += [Fault.unexpected_json(422, fastapi), Fault.unexpected_json(400, {})]
    first = await client.post(STREAM, json=tts_body())
    assert (first.status_code, first.json()) == (422, fastapi)
    second = await client.post(STREAM, json=tts_body())
    assert (second.status_code, second.json()) == (400, {})


async def test_drop_connection(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults.append(Fault.drop_connection())
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(STREAM, json=tts_body())
    assert (await client.post(STREAM, json=tts_body())).status_code == 200


async def test_cut_after_breaks_the_stream_after_n_bytes(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.chunk_bytes = 700
    server.faults.append(Fault.cut_after(2001))
    received = b""
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        async with client.stream("POST", STREAM, json=tts_body("long enough text")) as response:
            assert response.status_code == 200
            async for piece in response.aiter_raw():
                received += piece
    assert len(received) == 2001
    assert received == encode_samples(expected_samples("long enough text", DEMO_VOICE_ID, 16000), "s16le")[:2001]
    assert server.in_flight == 0


async def test_stall_after(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults.append(Fault.stall_after(1000, 0.2))
    stamps: list[tuple[int, float]] = []
    received = 0
    async with client.stream("POST", STREAM, json=tts_body("stall")) as response:
        async for piece in response.aiter_raw():
            received += len(piece)
            stamps.append((received, time.monotonic()))
    assert received == len(expected_samples("stall", DEMO_VOICE_ID, 16000)) * 2
    before = max(t for n, t in stamps if n <= 1000)
    after = min(t for n, t in stamps if n > 1000)
    assert stamps[0][0] <= 1000
    assert after - before >= 0.18


async def test_quota_marker_split_across_chunks(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults.append(Fault.quota_after(1000))
    response, pieces = await raw_pieces(client, SYNC, tts_body("quota please", container="wav"))
    assert response.status_code == 200
    data = b"".join(pieces)
    assert data.endswith(QUOTA_MARKER)
    assert len(data) == 1000 + len(QUOTA_MARKER)
    assert data[:4] == b"RIFF"  # the n bytes count the WAV header
    assert QUOTA_MARKER not in b"".join(p for p in pieces if QUOTA_MARKER[:9] != p and QUOTA_MARKER[9:] != p)
    assert pieces[-2:] == [QUOTA_MARKER[:9], QUOTA_MARKER[9:]]


@pytest.mark.parametrize("container", ["raw", "wav"])
async def test_wrong_format(server: FakeAsyncFlow, client: httpx.AsyncClient, container: str) -> None:
    server.faults.append(Fault.wrong_format(sample_rate=24000, channels=2, encoding="f32le"))
    path = SYNC
    response = await client.post(path, json=tts_body("wrong", container=container, sample_rate=48000))
    assert response.status_code == 200
    data = response.content
    if container == "wav":
        tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", data, 20)
        assert (tag, channels, rate, align, bits) == (3, 2, 24000, 8, 32)
        data = data[44:]
    got = decode_samples(data, "f32le", channels=2)
    want = expected_samples("wrong", DEMO_VOICE_ID, 24000)
    assert got.shape == (len(want), 2)
    assert np.allclose(got[:, 1], want, atol=1e-7)


async def test_stream_faults_wait_for_a_valid_request(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults += [Fault.quota_after(10), Fault.rate_limited()]
    assert (await client.post(STREAM, json=tts_body(voice_id="missing"))).status_code == 404
    assert len(server.faults) == 2  # the first fault is for a request that gets to stream audio
    assert (await client.post(STREAM, json=tts_body())).content == encode_samples(
        expected_samples("Hello there", DEMO_VOICE_ID, 16000), "s16le"
    )[:10] + QUOTA_MARKER
    assert (await client.post(STREAM, json=tts_body())).status_code == 429
    assert server.faults == []


async def test_voice_route_faults(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.faults += [Fault.rate_limited(applies_to="voices")]
    assert (await client.post(STREAM, json=tts_body())).status_code == 200  # not for TTS
    assert (await client.post("/voices")).status_code == 429
    with pytest.raises(ValueError, match="only applies to TTS"):
        Fault.cut_after(5, applies_to="voices")


# ----- concurrency and shutdown --------------------------------------------------------------------------------------


async def test_concurrency_limit(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.max_concurrent = 1
    server.chunk_bytes = 4000
    server.chunk_delay = 0.02
    async with client.stream("POST", STREAM, json=tts_body("slow stream")) as first:
        assert first.status_code == 200
        assert server.in_flight == 1
        second = await client.post(STREAM, json=tts_body())
        assert second.status_code == 429
        assert second.json()["detail"] == {
            "error_code": "TOO_MANY_CONCURRENT_REQUESTS",
            "message": "Too many concurrent requests",
            "extra": {"limit": 1, "current": 2},
        }
        await first.aread()
    assert server.in_flight == 0
    assert server.peak_in_flight == 1
    assert (await client.post(STREAM, json=tts_body())).status_code == 200


async def test_client_going_away_ends_the_request(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    server.chunk_delay = 0.05
    server.chunk_bytes = 100
    async with client.stream("POST", STREAM, json=tts_body("x" * 40)) as response:
        async for _ in response.aiter_raw():
            break
    for _ in range(100):
        if server.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert server.in_flight == 0


async def test_stop_with_streams_in_progress() -> None:
    srv = FakeAsyncFlow()
    await srv.start()
    srv.faults.append(Fault.stall_after(100, 30.0))
    async with (
        httpx.AsyncClient(base_url=srv.base_url, headers=HEADERS) as c,
        c.stream("POST", STREAM, json=tts_body("abcdef")) as response,
    ):
        pieces = response.aiter_raw()
        first = await anext(pieces)
        assert len(first) == 100
        started = time.monotonic()
        await srv.stop()
        assert time.monotonic() - started < 2
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async for _ in pieces:
                pass
    assert srv.in_flight == 0
    with pytest.raises(RuntimeError):
        _ = srv.base_url


# ----- voices --------------------------------------------------------------------------------------------------------


async def test_pagination_walks_every_voice_once(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        response = await client.post("/voices", json={"limit": 7} | ({"after": cursor} if cursor else {}))
        assert response.status_code == 200
        payload = response.json()
        seen += [v["voice_id"] for v in payload["voices"]]
        pages += 1
        cursor = payload["next_cursor"]
        if cursor is None:
            break
        assert cursor == seen[-1]
    assert seen == [v.voice_id for v in server.voices]
    assert len(seen) == len(set(seen)) >= 30
    assert pages == -(-len(seen) // 7)


async def test_voice_objects_and_filters(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    default = (await client.post("/voices")).json()  # no body at all
    assert len(default["voices"]) == 10
    assert default["voices"][0] == {
        "voice_id": DEMO_VOICE_ID,
        "name": "Ethan",
        "description": "Friendly default demo voice.",
        "language": "en",
        "gender": "Male",
        "accent": "American (US)",
        "style": "Conversational",
        "created_at": "2025-05-01T14:37:07.297056",
        "updated_at": "2025-05-01T14:37:07.297056",
        "voice_type": "PREDEFINED",
    }
    french = (await client.post("/voices", json={"language": "fr", "gender": "Female", "limit": 100})).json()
    assert {v["name"] for v in french["voices"]} == {"Camille", "Sanne"}
    assert french["next_cursor"] is None
    assert (await client.post("/voices", json={"limit": 0})).status_code == 422


async def test_get_voice_and_added_voice(server: FakeAsyncFlow, client: httpx.AsyncClient) -> None:
    response = await client.get(f"/voices/{DEMO_VOICE_ID}")
    assert response.json()["voice_id"] == DEMO_VOICE_ID
    missing = await client.get("/voices/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": {
            "error_code": "VOICE_NOT_FOUND",
            "message": "Requested voice with ID nope not found.",
            "extra": {"voice_id": "nope"},
        }
    }
    server.voices.append(Voice("custom-1", "Mine", tone_hz=1000.0))
    audio = (await client.post(STREAM, json=tts_body("mine", voice_id="custom-1"))).content
    want = expected_samples("mine", "custom-1", 16000, tone_hz=1000.0)
    assert np.max(np.abs(decode_samples(audio, "s16le") - want)) <= S16_TOLERANCE


# ----- command line --------------------------------------------------------------------------------------------------


async def test_command_line_runs_until_ctrl_c() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.asyncflow_server",
        "--port",
        "0",
        "--api-key",
        "sk_cli",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith("AsyncFlow stand-in listening on http://127.0.0.1:")
        assert line.rstrip().endswith("(API key: sk_cli)")
        url = line.split()[4]
        async with httpx.AsyncClient(base_url=url, headers={"x-api-key": "sk_cli"}) as c:
            voices = (await c.post("/voices", json={"limit": 1})).json()
        assert json.dumps(voices)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
