"""The AsyncFlow HTTP client: one shared connection pool, typed errors, retries, streamed speech.

``open_speech`` sends the request (retrying what is worth retrying) and returns once the first
piece of audio has arrived; from then on nothing is retried, since part of the speech may already
have been heard. ``SpeechResponse.chunks`` yields the body as it downloads and turns the in-stream
``--ERROR:QUOTA_EXCEEDED--`` marker into :class:`QuotaExceededMidStream` without letting a byte of
it through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_exponential,
    wait_random,
)
from tenacity.stop import stop_base

from ..audio.formats import REQUESTED_FORMAT
from ..audio.wav import WavFormatError, WavStreamReader
from ..config import AsyncFlowSettings
from .errors import (
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

log = logging.getLogger(__name__)
_T = TypeVar("_T")

API_VERSION = "v1"
QUOTA_MARKER = b"--ERROR:QUOTA_EXCEEDED--"

RetryNotice = Callable[[AsyncFlowError, float], Awaitable[None]]
"""Called before each retry with the error and the seconds until the next attempt."""
SlotWait = Callable[[bool], None]
"""Called with True when a request starts waiting for a free slot (``max_concurrent_requests``), then False."""

_ERROR_CLASSES: dict[str, type[AsyncFlowError]] = {
    "INVALID_API_KEY": InvalidApiKey,
    "VOICE_NOT_FOUND": VoiceNotFound,
    "VERSION_NOT_FOUND": VersionNotFound,
    "INVALID_LANGUAGE": InvalidLanguage,
    "FORMAT_NOT_RECOGNIZED": FormatNotRecognized,
    "TOO_MANY_CONCURRENT_REQUESTS": TooManyConcurrentRequests,
    "RATE_LIMIT_EXCEEDED": RateLimited,
    "USAGE_LIMIT_EXCEEDED": QuotaExceeded,
}


@dataclass(frozen=True, slots=True)
class Voice:
    """One entry of AsyncFlow's voice library."""

    id: str
    name: str
    language: str = ""
    gender: str = ""
    accent: str = ""
    description: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Voice:
        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        voice_id = data.get("voice_id") or data.get("id")
        if not isinstance(voice_id, str) or not voice_id:
            raise UnexpectedResponse("AsyncFlow listed a voice without an id")
        return cls(
            id=voice_id,
            name=text("name") or voice_id,
            language=text("language"),
            gender=text("gender"),
            accent=text("accent"),
            description=text("description"),
        )


def _nothing() -> None:
    return None


class SpeechResponse:
    """An open speech download. Iterate :meth:`chunks` once, and always :meth:`aclose` (or use ``async with``)."""

    def __init__(
        self,
        response: httpx.Response,
        body: AsyncIterator[bytes],
        first_chunk: bytes,
        *,
        container: Literal["wav", "raw"],
        chunk_timeout: float,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._response = response
        self._on_close = on_close
        self._body = body
        self._first_chunk = first_chunk
        self._chunk_timeout = chunk_timeout
        self.container = container
        self.raw_format = REQUESTED_FORMAT
        """For ``raw`` audio there is no header: it is in the format we asked for."""
        self.bytes_received = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """Audio bytes as they arrive, with the quota marker removed and turned into an exception."""
        scanner = _MarkerScanner(QUOTA_MARKER)
        pending = self._first_chunk
        self._first_chunk = b""
        watchdog = _StallWatchdog(self._chunk_timeout)
        try:
            while True:
                if pending:
                    self.bytes_received += len(pending)
                    audio, found = scanner.feed(pending)
                    if audio:
                        yield audio
                    if found:
                        raise QuotaExceededMidStream(
                            "AsyncFlow quota exceeded during the stream", code="QUOTA_EXCEEDED"
                        )
                try:
                    with watchdog:
                        pending = await anext(self._body)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise StreamInterrupted(
                        f"AsyncFlow stopped sending audio for more than {self._chunk_timeout:g} s"
                    ) from None
                except httpx.HTTPError as error:
                    raise StreamInterrupted(
                        f"connection to AsyncFlow dropped mid-stream ({type(error).__name__})"
                    ) from None
        finally:
            watchdog.close()
        tail = scanner.flush()
        if tail:
            yield tail

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()  # gives the request slot back (once)

    async def __aenter__(self) -> SpeechResponse:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class _StallWatchdog:
    """``with watchdog: await ...`` raises TimeoutError if that wait lasts longer than ``timeout`` seconds.

    Does what ``asyncio.timeout`` does around each read, with one timer for the whole stream instead of one per
    chunk: scheduling and cancelling a timer per 4 KB chunk was a quarter of the per-chunk cost on the event loop
    (``bench/streams.py``). The timer is re-armed only when it fires early.
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._waiting_since: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired = False

    def __enter__(self) -> None:
        self._task = asyncio.current_task()
        self._waiting_since = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._waiting_since + self._timeout, self._check)

    def __exit__(self, exc_type: type[BaseException] | None, _exc: object, _tb: object) -> None:
        self._waiting_since = None
        if self._fired:
            self._fired = False
            if exc_type is asyncio.CancelledError and self._task is not None and self._task.uncancel() == 0:
                raise TimeoutError

    def _check(self) -> None:
        self._timer = None
        since = self._waiting_since
        if since is None:  # not waiting now: the next wait arms a new timer
            return
        overdue = self._loop.time() - (since + self._timeout)
        if overdue >= 0 and self._task is not None:
            self._fired = True
            self._task.cancel()
        else:
            self._timer = self._loop.call_at(since + self._timeout, self._check)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _MarkerScanner:
    """Finds a marker in a byte stream split at arbitrary points, holding back only a possible marker prefix."""

    def __init__(self, marker: bytes) -> None:
        self._marker = marker
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Return (bytes safe to pass on, whether the marker was found)."""
        window = self._held + data
        index = window.find(self._marker)
        if index >= 0:
            self._held = b""
            return window[:index], True
        keep = self._partial_suffix_length(window)
        self._held = window[len(window) - keep :] if keep else b""
        return window[: len(window) - keep], False

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def _partial_suffix_length(self, window: bytes) -> int:
        """Length of the longest end of ``window`` that is a proper start of the marker."""
        start = max(0, len(window) - len(self._marker) + 1)
        first = self._marker[0]
        position = window.find(first, start)
        while position != -1:
            if self._marker.startswith(window[position:]):
                return len(window) - position
            position = window.find(first, position + 1)
        return 0


class AsyncFlowClient:
    """Talks to one AsyncFlow account. Share one instance per process; close it with :meth:`aclose`."""

    def __init__(
        self,
        settings: AsyncFlowSettings,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=str(settings.base_url).rstrip("/"),
            headers={"x-api-key": api_key, "version": API_VERSION, "accept": "*/*"},
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                # A backstop only: first_byte_timeout and chunk_timeout are applied around each read, by phase.
                read=max(settings.first_byte_timeout, settings.chunk_timeout),
                write=settings.connect_timeout,
                pool=settings.first_byte_timeout,
            ),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=transport,
            follow_redirects=False,
        )
        limit = settings.max_concurrent_requests
        self._slots = asyncio.Semaphore(limit) if limit is not None else None
        """Speech requests open at once, kept under the plan's cap instead of collecting 429s."""
        self.requests_open = 0
        """Speech requests holding a slot now (counted only when there is a limit)."""

    def __repr__(self) -> str:
        return f"AsyncFlowClient(base_url={str(self._settings.base_url)!r})"

    @property
    def settings(self) -> AsyncFlowSettings:
        return self._settings

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- speech ------------------------------------------------------------------------------------

    def speech_body(self, text: str, voice_id: str | None = None) -> dict[str, Any]:
        """The JSON body for a speech request, as documented."""
        container = "wav" if self._settings.endpoint == "file" else "raw"
        body: dict[str, Any] = {
            "model_id": self._settings.model_id,
            "transcript": text,
            "voice": {"mode": "id", "id": voice_id or self._settings.voice_id},
            "output_format": {
                "container": container,
                "encoding": "pcm_s16le",
                "sample_rate": REQUESTED_FORMAT.sample_rate,
            },
        }
        if self._settings.language:
            body["language"] = self._settings.language
        return body

    @property
    def speech_path(self) -> str:
        """The endpoint speech is requested from (``file``: WAV, ``stream``: raw PCM)."""
        return "/text_to_speech" if self._settings.endpoint == "file" else "/text_to_speech/streaming"

    async def open_speech(
        self,
        text: str,
        *,
        voice_id: str | None = None,
        on_retry: RetryNotice | None = None,
        on_slot_wait: SlotWait | None = None,
    ) -> SpeechResponse:
        """Request speech and return once its first bytes have arrived. Retries only up to that point."""
        path = self.speech_path
        body = self.speech_body(text, voice_id)
        container: Literal["wav", "raw"] = "wav" if self._settings.endpoint == "file" else "raw"

        async def attempt() -> SpeechResponse:
            # A slot is held from the request until the response is closed, and given back between retries.
            release = await self._take_slot(on_slot_wait)
            try:
                # first_byte_timeout runs from sending the request to the first audio.
                deadline = asyncio.get_running_loop().time() + self._settings.first_byte_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        response = await self._send("POST", path, json_body=body, stream=True)
                except TimeoutError:
                    raise ApiTimeout(
                        f"AsyncFlow did not answer within {self._settings.first_byte_timeout:g} s"
                    ) from None
                body_iter = response.aiter_bytes()
                try:
                    first = await self._first_audio(body_iter, container, deadline)
                except BaseException:
                    await response.aclose()
                    raise
            except BaseException:
                release()
                raise
            return SpeechResponse(
                response,
                body_iter,
                first,
                container=container,
                chunk_timeout=self._settings.chunk_timeout,
                on_close=release,
            )

        return await self._with_retries(attempt, on_retry)

    @property
    def max_concurrent_requests(self) -> int | None:
        return self._settings.max_concurrent_requests

    async def _take_slot(self, on_wait: SlotWait | None) -> Callable[[], None]:
        """Wait for a free request slot (when ``max_concurrent_requests`` is set); returns its release."""
        slots = self._slots
        if slots is None:
            return _nothing
        notify = None
        if slots.locked():
            log.debug("all %s AsyncFlow request slots are busy; waiting", self._settings.max_concurrent_requests)
            notify = on_wait
        if notify is not None:
            notify(True)
        try:
            await slots.acquire()
        finally:
            if notify is not None:
                notify(False)
        self.requests_open += 1

        def release() -> None:
            self.requests_open -= 1
            slots.release()

        return release

    async def _first_audio(
        self, body: AsyncIterator[bytes], container: Literal["wav", "raw"], deadline: float
    ) -> bytes:
        """The body up to and including its first audio bytes (a WAV header alone is not audio yet).

        Until then nothing has been heard, so a cut or stall is still worth a retry, and a quota marker means the
        quota was used up before this request, not part-way through it.
        """
        received = bytearray()
        scanner = _MarkerScanner(QUOTA_MARKER)
        reader = WavStreamReader() if container == "wav" else None
        try:
            async with asyncio.timeout_at(deadline):
                async for chunk in body:
                    if not chunk:
                        continue
                    received += chunk
                    passed, found = scanner.feed(chunk)
                    if found:
                        raise QuotaExceeded(
                            "AsyncFlow's quota was used up before any audio was sent", code="QUOTA_EXCEEDED"
                        )
                    try:
                        audio = passed if reader is None else reader.feed(passed)
                    except WavFormatError:
                        return bytes(received)  # not playable: the pipeline says why
                    if audio or (reader is not None and reader.complete):
                        return bytes(received)
        except TimeoutError:
            raise ApiTimeout(f"AsyncFlow sent no audio within {self._settings.first_byte_timeout:g} s") from None
        except httpx.TimeoutException:
            raise ApiTimeout("AsyncFlow sent no audio in time") from None
        except httpx.HTTPError as error:
            raise ApiConnectionError(
                f"connection to AsyncFlow dropped before any audio ({type(error).__name__})"
            ) from None
        if received:
            return bytes(received)  # ended before any audio: the pipeline tells an empty WAV from a broken one
        raise UnexpectedResponse("AsyncFlow answered with an empty body instead of audio", status=200)

    # -- voices and status -----------------------------------------------------------------------

    async def list_voices(self, *, page_size: int = 100, max_pages: int = 50) -> list[Voice]:
        """Every voice in the library, following ``next_cursor`` until the last page."""
        voices: list[Voice] = []
        after: str | None = None
        for _ in range(max_pages):
            query: dict[str, Any] = {"limit": page_size}
            if after:
                query["after"] = after
            data = await self._json("POST", "/voices", json_body=query)
            page = data.get("voices")
            if not isinstance(page, list):
                raise UnexpectedResponse("AsyncFlow's voice list has no 'voices' array", status=200)
            voices.extend(Voice.from_json(item) for item in page if isinstance(item, Mapping))
            cursor = data.get("next_cursor")
            if not cursor or not isinstance(cursor, str) or not page:
                break
            after = cursor
        return voices

    async def get_voice(self, voice_id: str) -> Voice:
        return Voice.from_json(await self._json("GET", f"/voices/{voice_id}"))

    async def status(self) -> dict[str, Any]:
        """``GET /``: whether the API is up (no key needed)."""
        return await self._json("GET", "/")

    async def _json(self, method: str, path: str, *, json_body: Any = None) -> dict[str, Any]:
        async def attempt() -> dict[str, Any]:
            response = await self._send(method, path, json_body=json_body, stream=False)
            try:
                data = response.json()
            except ValueError:
                raise UnexpectedResponse("AsyncFlow answered with something that is not JSON", status=200) from None
            if not isinstance(data, dict):
                raise UnexpectedResponse("AsyncFlow answered with JSON of an unexpected shape", status=200)
            return data

        return await self._with_retries(attempt, None)

    # -- transport, errors, retries --------------------------------------------------------------

    async def _send(self, method: str, path: str, *, json_body: Any, stream: bool) -> httpx.Response:
        """Send one request; return a 2xx response (streaming if asked) or raise the typed error."""
        request = self._http.build_request(method, path, json=json_body)
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TimeoutException as error:
            raise ApiTimeout(f"AsyncFlow did not answer in time ({type(error).__name__})") from None
        except httpx.HTTPError as error:
            raise ApiConnectionError(f"could not reach AsyncFlow ({type(error).__name__})") from None
        if response.is_success:
            return response
        try:
            await response.aread()
        except httpx.HTTPError:
            await response.aclose()
            raise ApiConnectionError(
                f"connection to AsyncFlow dropped while reading an HTTP {response.status_code} error"
            ) from None
        await response.aclose()
        raise error_from_response(response.status_code, response.content, response.headers)

    async def _with_retries(self, attempt: Callable[[], Awaitable[_T]], on_retry: RetryNotice | None) -> _T:
        max_wait = self._settings.max_retry_wait

        async def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, AsyncFlowError):
                log.info("AsyncFlow %s; retrying in %.1f s", error.code or type(error).__name__, state.upcoming_sleep)
                if on_retry is not None:
                    await on_retry(error, state.upcoming_sleep)

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=stop_any(stop_after_attempt(self._settings.max_retries + 1), _WaitLongerThan(max_wait)),
            wait=_server_says_or_backoff,
            retry=retry_if_exception(lambda error: isinstance(error, AsyncFlowError) and error.retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt_state in retrying:
            with attempt_state:
                return await attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


class _WaitLongerThan(stop_base):
    """Give up rather than wait longer than ``limit`` seconds (the member is told to try again later)."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return (retry_state.upcoming_sleep or 0.0) > self._limit


_backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)


def _server_says_or_backoff(state: RetryCallState) -> float:
    """Wait as long as the server asked (``retry_after_ms`` or ``Retry-After``), else back off exponentially."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, AsyncFlowError) and error.retry_after is not None:
        return error.retry_after
    return float(_backoff(state))


def error_from_response(status: int, content: bytes, headers: Mapping[str, str]) -> AsyncFlowError:
    """Turn an error response into the matching typed error, whichever documented body shape it has."""
    retry_after = _retry_after_header(headers.get("retry-after"))
    code: str | None = None
    message = ""
    extra: Mapping[str, Any] = {}
    try:
        data: Any = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, Mapping):
        detail = data.get("detail")
        # Wrapped {"detail": {...}} (documented), else unwrapped {"error_code": ...}; 500s have a string detail.
        inner: Mapping[str, Any] = detail if isinstance(detail, Mapping) else data
        raw_code = inner.get("error_code")
        code = raw_code if isinstance(raw_code, str) else None
        raw_message = inner.get("message") or data.get("message")
        message = raw_message if isinstance(raw_message, str) else ""
        raw_extra = inner.get("extra")
        extra = raw_extra if isinstance(raw_extra, Mapping) else {}
        retry_ms = extra.get("retry_after_ms")
        if (
            retry_after is None
            and isinstance(retry_ms, int | float)
            and not isinstance(retry_ms, bool)
            and retry_ms >= 0
        ):
            retry_after = retry_ms / 1000
        if not message and isinstance(detail, str):
            message = detail
        if not message and isinstance(detail, list):
            message = "the request was not valid"

    summary = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    error_class = _ERROR_CLASSES.get(code or "")
    if error_class is None:
        if status >= 500:
            error_class = ServerError
        elif status == 429:
            error_class = RateLimited
        elif status == 401:  # whatever the body says (a proxy's page, say): the key was not accepted
            error_class = InvalidApiKey
        elif data is None and content:
            return UnexpectedResponse(
                f"HTTP {status} with a body that is not JSON", status=status, retry_after=retry_after
            )
        else:
            error_class = BadRequest
    return error_class(summary, status=status, code=code, retry_after=retry_after, extra=extra)


def _retry_after_header(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None when absent or nonsense."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
