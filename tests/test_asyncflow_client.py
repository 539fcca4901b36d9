"""The AsyncFlow client against a real HTTP stand-in: requests, every error shape, retries, streaming faults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import (
    ApiConnectionError,
    ApiTimeout,
    AsyncFlowError,
    BadRequest,
    FormatNotRecognized,
    InvalidApiKey,
    InvalidLanguage,
    QuotaExceeded,
    QuotaExceededMidStream,
    RateLimited,
    ServerError,
    StreamInterrupted,
    TooManyConcurrentRequests,
    UnexpectedResponse,
    VersionNotFound,
    VoiceNotFound,
)
from cogs.engine.asyncflow.stream import QUOTA_MARKER, _MarkerScanner
from cogs.engine.words import describe_error, describe_retry
from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID, FakeAsyncFlow, Fault
from tests.conftest import RecordedSleeps

MakeClient = Callable[..., AsyncFlowClient]


async def read_all(client: AsyncFlowClient, text: str = "Hello there", **kwargs: object) -> bytes:
    response = await client.open_speech(text, **kwargs)  # type: ignore[arg-type]
    async with response:
        return b"".join([chunk async for chunk in response.chunks()])


async def test_speech_request_has_the_documented_headers_and_body(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    body = await read_all(make_client(), "Hello everyone")
    assert body.startswith(b"RIFF")
    request = asyncflow.tts_requests[-1]
    assert (request.method, request.path) == ("POST", "/text_to_speech")
    assert request.headers["x-api-key"] == DEFAULT_API_KEY
    assert request.headers["version"] == "v1"
    assert request.json == {
        "model_id": "async_flash_v1.0",
        "transcript": "Hello everyone",
        "voice": {"mode": "id", "id": DEMO_VOICE_ID},
        "output_format": {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 48000},
    }


async def test_stream_endpoint_asks_for_raw_pcm(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    client = make_client(endpoint="stream", model_id="async_flash_v1.5", language="fr")
    body = await read_all(client, "Bonjour", voice_id=asyncflow.voices[3].voice_id)
    request = asyncflow.tts_requests[-1]
    assert request.path == "/text_to_speech/streaming"
    assert request.json is not None
    assert request.json["output_format"] == {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 48000}
    assert request.json["voice"]["id"] == asyncflow.voices[3].voice_id
    assert request.json["language"] == "fr"
    assert request.json["model_id"] == "async_flash_v1.5"
    assert len(body) == 48000 * 2 * 7 * 50 // 1000  # 7 characters x 50 ms of mono s16le


async def test_the_body_arrives_in_several_chunks_as_it_downloads(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.chunk_bytes = 1000
    response = await make_client().open_speech("A longer sentence to speak")
    async with response:
        chunks = [chunk async for chunk in response.chunks()]
    assert len(chunks) > 10


ERROR_CASES = [
    (Fault.invalid_key(), InvalidApiKey, "INVALID_API_KEY"),
    (Fault.voice_not_found(), VoiceNotFound, "VOICE_NOT_FOUND"),
    (Fault.version_not_found(), VersionNotFound, "VERSION_NOT_FOUND"),
    (Fault.invalid_language(), InvalidLanguage, "INVALID_LANGUAGE"),
    (Fault.format_not_recognized(), FormatNotRecognized, "FORMAT_NOT_RECOGNIZED"),
    (Fault.usage_limit(), QuotaExceeded, "USAGE_LIMIT_EXCEEDED"),
    (Fault.invalid_key(shape="unwrapped"), InvalidApiKey, "INVALID_API_KEY"),
    (Fault.voice_not_found(shape="unwrapped"), VoiceNotFound, "VOICE_NOT_FOUND"),
    (Fault.usage_limit(shape="unwrapped"), QuotaExceeded, "USAGE_LIMIT_EXCEEDED"),
    (
        Fault.unexpected_json(422, {"detail": [{"loc": ["body", "transcript"], "msg": "field required"}]}),
        BadRequest,
        None,
    ),
    (Fault.unexpected_json(400, {}), BadRequest, None),
]


@pytest.mark.parametrize(("fault", "error_class", "code"), ERROR_CASES, ids=lambda v: getattr(v, "__name__", None))
async def test_each_documented_error_becomes_its_typed_error_without_retrying(
    asyncflow: FakeAsyncFlow,
    make_client: MakeClient,
    sleeps: RecordedSleeps,
    fault: Fault,
    error_class: type[AsyncFlowError],
    code: str | None,
) -> None:
    asyncflow.faults.append(fault)
    with pytest.raises(error_class) as raised:
        await read_all(make_client())
    assert raised.value.code == code
    assert len(asyncflow.tts_requests) == 1 and sleeps.waits == []
    assert describe_error(raised.value)  # every error has words for the member


async def test_voice_not_found_names_the_voice(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    with pytest.raises(VoiceNotFound) as raised:
        await read_all(make_client(), voice_id="17c7c0de-0000-0000-0000-000000000000")
    assert raised.value.voice_id == "17c7c0de-0000-0000-0000-000000000000"
    assert describe_error(raised.value) == "That voice no longer exists on AsyncFlow — pick another one."


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        (Fault.rate_limited(retry_after_ms=1200), RateLimited),
        (Fault.concurrency(), TooManyConcurrentRequests),
        (Fault.server_error(), ServerError),
        (Fault.gateway_error(502), ServerError),
        (Fault.gateway_error(503), ServerError),
        (Fault.drop_connection(), ApiConnectionError),
    ],
    ids=["rate-limit", "concurrency", "500", "502-html", "503-text", "dropped"],
)
async def test_retryable_failures_are_retried_and_the_member_is_told(
    asyncflow: FakeAsyncFlow,
    make_client: MakeClient,
    sleeps: RecordedSleeps,
    fault: Fault,
    error_class: type[AsyncFlowError],
) -> None:
    asyncflow.faults.append(fault)
    notices: list[str] = []

    async def on_retry(error: AsyncFlowError, delay: float) -> None:
        assert isinstance(error, error_class)
        notices.append(describe_retry(error, delay))

    body = await read_all(make_client(), on_retry=on_retry)
    assert body.startswith(b"RIFF")
    assert len(asyncflow.tts_requests) == 2
    assert len(sleeps.waits) == 1 and len(notices) == 1
    assert "retrying in" in notices[0]


async def test_rate_limit_waits_as_long_as_the_server_says(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sleeps: RecordedSleeps
) -> None:
    asyncflow.faults.append(Fault.rate_limited(retry_after_ms=4000))
    notices: list[str] = []

    async def on_retry(error: AsyncFlowError, delay: float) -> None:
        notices.append(describe_retry(error, delay))

    await read_all(make_client(), on_retry=on_retry)
    assert sleeps.waits == [4.0]
    assert notices == ["AsyncFlow is busy, retrying in 4 s…"]


async def test_a_retry_after_header_wins_over_the_body(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sleeps: RecordedSleeps
) -> None:
    asyncflow.faults.append(Fault.rate_limited(retry_after_ms=9000, header="2"))
    await read_all(make_client())
    assert sleeps.waits == [2.0]


async def test_a_wait_longer_than_allowed_is_not_waited_out(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sleeps: RecordedSleeps
) -> None:
    asyncflow.faults.append(Fault.rate_limited(retry_after_ms=60_000))
    with pytest.raises(RateLimited) as raised:
        await read_all(make_client(max_retry_wait=30))
    assert sleeps.waits == []
    assert describe_error(raised.value) == "AsyncFlow is rate-limiting this bot — try again in 60 s."


async def test_retries_stop_after_max_retries(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sleeps: RecordedSleeps
) -> None:
    asyncflow.faults.extend([Fault.server_error()] * 5)
    with pytest.raises(ServerError):
        await read_all(make_client(max_retries=2))
    assert len(asyncflow.tts_requests) == 3
    assert len(sleeps.waits) == 2 and all(0 < wait <= 8.5 for wait in sleeps.waits)


async def test_refused_connection_is_a_connection_error(
    make_settings: Callable[..., object], sleeps: RecordedSleeps
) -> None:
    from cogs.engine.config import AsyncFlowSettings

    settings = AsyncFlowSettings.model_validate({"base_url": "http://127.0.0.1:9", "max_retries": 1})
    client = AsyncFlowClient(settings, "sk_x", sleep=sleeps)
    try:
        with pytest.raises(ApiConnectionError):
            await read_all(client)
    finally:
        await client.aclose()
    assert len(sleeps.waits) == 1


async def test_no_first_byte_in_time_is_a_timeout_and_is_retried(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sleeps: RecordedSleeps
) -> None:
    asyncflow.first_byte_delay = 1.0
    with pytest.raises(ApiTimeout):
        await read_all(make_client(first_byte_timeout=0.2, max_retries=1))
    assert len(asyncflow.tts_requests) == 2


async def test_quota_marker_mid_stream_keeps_the_audio_before_it_and_drops_every_marker_byte(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.chunk_bytes = 1000
    asyncflow.faults.append(Fault.quota_after(5_000))
    received = bytearray()
    response = await make_client(endpoint="stream").open_speech("This will run out of quota part-way")
    with pytest.raises(QuotaExceededMidStream):
        async with response:
            async for chunk in response.chunks():
                received += chunk
    assert len(received) == 5_000
    assert b"--ERROR" not in received and b"QUOTA" not in received
    assert len(asyncflow.tts_requests) == 1  # never retried: the start was already heard


async def test_a_connection_cut_mid_stream_is_reported_and_not_retried(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.chunk_bytes = 1000
    asyncflow.faults.append(Fault.cut_after(6_000))
    received = bytearray()
    response = await make_client().open_speech("This connection will be cut")
    with pytest.raises(StreamInterrupted):
        async with response:
            async for chunk in response.chunks():
                received += chunk
    assert 0 < len(received) <= 6_000
    assert len(asyncflow.tts_requests) == 1


async def test_a_stall_longer_than_the_chunk_timeout_is_reported(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.chunk_bytes = 1000
    asyncflow.faults.append(Fault.stall_after(3_000, seconds=3))
    response = await make_client(chunk_timeout=0.3).open_speech("This stream will stall")
    with pytest.raises(StreamInterrupted, match="stopped sending audio"):
        async with response:
            async for _ in response.chunks():
                pass


async def test_the_chunk_timeout_counts_only_time_spent_waiting_for_asyncflow(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    """A slow consumer (the player's back-pressure) is not a stalled server; a stall after it still is."""
    asyncflow.chunk_bytes = 1000
    asyncflow.faults.append(Fault.stall_after(6_000, seconds=3))
    loop = asyncio.get_running_loop()
    response = await make_client(chunk_timeout=0.3).open_speech("A stream read slowly, then stalled")
    received = 0
    started = loop.time()
    with pytest.raises(StreamInterrupted, match=r"stopped sending audio for more than 0\.3 s"):
        async with response:
            async for chunk in response.chunks():
                received += len(chunk)
                if received < 3_000:
                    await asyncio.sleep(0.4)  # longer than chunk_timeout, but we are the slow ones
                stalled_from = loop.time()
    assert received >= 5_000  # everything before the stall arrived
    assert 0.25 < loop.time() - stalled_from < 1.5  # reported about chunk_timeout after the server went quiet
    assert loop.time() - started > 0.8  # the slow reads took their time without tripping the timeout


async def test_a_non_json_error_body_is_an_unexpected_response(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.faults.append(Fault.gateway_error(400))
    with pytest.raises(UnexpectedResponse):
        await read_all(make_client())


async def test_the_api_key_never_appears_in_errors_or_logs(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = DEFAULT_API_KEY
    client = make_client()
    asyncflow.api_keys = ["sk_some_other_key"]
    asyncflow.faults.extend([Fault.server_error(), Fault.rate_limited(retry_after_ms=10)])
    with pytest.raises(InvalidApiKey) as raised:
        await read_all(client)
    texts = [str(raised.value), repr(raised.value), describe_error(raised.value), repr(client), caplog.text]
    assert all(key not in text and key[:8] not in text for text in texts)


async def test_the_api_key_is_sent_with_each_request_but_is_in_no_header_or_repr(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    """The key is added per request (an httpx.Auth): the client's default headers and the reprs never hold it."""
    key = DEFAULT_API_KEY
    client = make_client()
    sent: list[httpx.Request] = []
    received: list[httpx.Response] = []
    client._http.event_hooks = {"request": [_keep(sent)], "response": [_keep(received)]}
    await read_all(client, "Hello")
    await client.list_voices(page_size=100, max_pages=1)

    assert [r.headers["x-api-key"] for r in asyncflow.requests] == [key, key]  # the stand-in still gets it
    assert "x-api-key" not in client._http.headers
    reprs = [repr(client), repr(client._http.headers), repr(client._http.auth), repr(client._http)]
    reprs += [repr(message) for message in (*sent, *received)]
    assert len(reprs) == 8
    assert all(key not in text and key[:8] not in text for text in reprs), reprs


def _keep(into: list[Any]) -> Callable[[Any], Awaitable[None]]:
    async def hook(message: Any) -> None:
        into.append(message)

    return hook


async def test_voices_are_listed_across_every_page(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    voices = await make_client().list_voices(page_size=7)
    assert [v.id for v in voices] == [v.voice_id for v in asyncflow.voices]
    assert len([r for r in asyncflow.requests if r.path == "/voices"]) == -(-len(asyncflow.voices) // 7)
    assert all(v.name and v.language for v in voices)


async def test_status_needs_no_key(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    assert (await make_client().status())["status"] == "ok"


@pytest.mark.parametrize("split", range(len(QUOTA_MARKER) + 2))
def test_the_marker_is_found_wherever_the_chunks_split_it(split: int) -> None:
    stream = b"audio-before" + QUOTA_MARKER
    scanner = _MarkerScanner(QUOTA_MARKER)
    first, found_first = scanner.feed(stream[: 12 + split])
    second, found_second = scanner.feed(stream[12 + split :])
    assert first + second == b"audio-before"
    assert found_first or found_second


def test_bytes_that_only_look_like_the_start_of_the_marker_are_passed_on() -> None:
    scanner = _MarkerScanner(QUOTA_MARKER)
    out1, _ = scanner.feed(b"xx--ERR")
    out2, found = scanner.feed(b"OR but not a marker")
    assert not found
    assert out1 + out2 + scanner.flush() == b"xx--ERROR but not a marker"


# -- client-side concurrency limit ------------------------------------------------------------------------------------


async def test_the_concurrency_limit_keeps_requests_under_the_plans_cap(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.max_concurrent = 2  # the plan's cap: a third open request would get a 429
    asyncflow.realtime_factor = 4.0  # each download stays open ~0.3 s
    client = make_client(max_concurrent_requests=2)

    bodies = await asyncio.gather(*(read_all(client, text=f"message {n}") for n in range(6)))

    assert all(body.startswith(b"RIFF") for body in bodies)
    assert asyncflow.peak_in_flight == 2
    assert len(asyncflow.tts_requests) == 6  # no 429 was collected and retried
    assert client.requests_open == 0


async def test_without_the_limit_the_cap_is_met_with_429s_and_retries(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.max_concurrent = 2
    asyncflow.realtime_factor = 4.0
    client = make_client()

    await asyncio.gather(*(read_all(client, text=f"message {n}") for n in range(4)), return_exceptions=True)

    assert len(asyncflow.tts_requests) > 4  # the contrast: refused requests had to be sent again


async def test_a_slot_is_given_back_when_a_request_fails_or_is_abandoned(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    client = make_client(max_concurrent_requests=1, max_retries=0)
    asyncflow.faults.append(Fault.voice_not_found())
    with pytest.raises(VoiceNotFound):
        await read_all(client)
    response = await client.open_speech("left open, then closed without reading")
    await response.aclose()
    await response.aclose()  # twice: the slot is given back once

    assert client.requests_open == 0
    assert (await read_all(client)).startswith(b"RIFF")  # the single slot is free again


async def test_more_than_a_hundred_servers_can_download_speech_at_once(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    """Each speaking server holds a connection for as long as its download runs. httpx's default pool (100
    connections) made the 101st server's request wait for another server's speech to end, then fail as "AsyncFlow
    did not answer"."""
    speaking = 101
    asyncflow.faults += [Fault.stall_after(2_000, seconds=60) for _ in range(speaking)]  # each one held open
    # No retries, and first-byte and pool waits longer than the test: on a busy machine a 2 s first-byte timeout
    # retried a slow request, which took a second stall fault and left the 101st request none to hold it open.
    # With a cap on connections the 101st request still waits for a slot until the test gives up.
    client = make_client(first_byte_timeout=50, connect_timeout=10, max_retries=0)
    async with asyncio.timeout(30):  # well before any stalled download would let its connection go
        responses = await asyncio.gather(*(client.open_speech(f"Server {n} speaking") for n in range(speaking)))
        while asyncflow.in_flight < speaking:
            await asyncio.sleep(0.01)
    try:
        assert asyncflow.in_flight == speaking
        assert all([await response.chunks().__anext__() for response in responses])  # each one is receiving audio
    finally:
        await asyncio.gather(*(response.aclose() for response in responses))
