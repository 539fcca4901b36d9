"""The AsyncFlow HTTP client: one shared connection pool, requests, retries and request slots.

``open_speech`` sends the request (retrying what is worth retrying) and returns once the first
piece of audio has arrived; from then on nothing is retried, since part of the speech may already
have been heard. The response itself, its stall watchdog and the quota marker are in :mod:`.stream`;
turning an error response into a typed error is in :mod:`.errors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, Literal, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_any

from ..audio.formats import REQUESTED_FORMAT
from ..config import AsyncFlowSettings
from ..metrics import Route, TTSMetrics
from .backoff import WaitLongerThan, server_says_or_backoff
from .errors import ApiConnectionError, ApiTimeout, AsyncFlowError, UnexpectedResponse, error_from_response
from .model_ids import honours_speed
from .models import Voice
from .stream import SpeechResponse, read_first_audio

log = logging.getLogger(__name__)
_T = TypeVar("_T")

API_VERSION = "v1"
CLONE_TIMEOUT_S = 60.0
"""How long a clone upload may take to be answered: AsyncFlow processes the sample before it answers."""

RetryNotice = Callable[[AsyncFlowError, float], Awaitable[None]]
"""Called before each retry with the error and the seconds until the next attempt."""
SlotWait = Callable[[bool], None]
"""Called with True when a request starts waiting for a free slot (``max_concurrent_requests``), then False."""


def _nothing() -> None:
    return None


class ApiKeyAuth(httpx.Auth):
    """Adds ``x-api-key`` to each request as it is sent, so the key is in no default header and no repr."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __repr__(self) -> str:
        return "ApiKeyAuth(x-api-key=[hidden])"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self._api_key
        yield request


class AsyncFlowClient:
    """Talks to one AsyncFlow account. Share one instance per process; close it with :meth:`aclose`."""

    def __init__(
        self,
        settings: AsyncFlowSettings,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: TTSMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._metrics = metrics if metrics is not None else TTSMetrics()
        """Where requests, characters and times to first byte are counted (the engine's; else the client's own)."""
        self._http = httpx.AsyncClient(
            base_url=str(settings.base_url).rstrip("/"),
            headers={"version": API_VERSION, "accept": "*/*"},
            auth=ApiKeyAuth(api_key),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                # A backstop only: first_byte_timeout and chunk_timeout are applied around each read, by phase.
                read=max(settings.first_byte_timeout, settings.chunk_timeout),
                write=settings.connect_timeout,
                pool=settings.first_byte_timeout,
            ),
            # No cap on connections: each speaking server holds one for as long as its download runs, so a cap of
            # N made server N+1 wait for another's speech to end, then fail as "AsyncFlow did not answer within
            # 20 s" (bench/connections.py). The plan's limit is max_concurrent_requests.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
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

    def speech_body(self, text: str, voice_id: str | None = None, speed: float | None = None) -> dict[str, Any]:
        """The JSON body for a speech request, as documented. ``speed`` is sent as ``speed_control`` only to the
        models that honour it (:data:`~.models.SPEED_CONTROL_MODELS`)."""
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
        if speed is not None and honours_speed(self._settings.model_id):
            body["speed_control"] = speed
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
        speed: float | None = None,
        on_retry: RetryNotice | None = None,
        on_slot_wait: SlotWait | None = None,
    ) -> SpeechResponse:
        """Request speech and return once its first bytes have arrived. Retries only up to that point."""
        path = self.speech_path
        body = self.speech_body(text, voice_id, speed)
        container: Literal["wav", "raw"] = "wav" if self._settings.endpoint == "file" else "raw"

        async def attempt() -> SpeechResponse:
            # A slot is held from the request until the response is closed, and given back between retries.
            release = await self._take_slot(on_slot_wait)
            record = self._metrics.request("speech")
            self._metrics.characters_sent.inc(len(text))
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
                    first = await read_first_audio(
                        body_iter, container, deadline, self._settings.first_byte_timeout, record.first_byte
                    )
                except BaseException:
                    await response.aclose()
                    raise
            except BaseException as error:
                release()
                record.ended(error)
                raise
            return SpeechResponse(
                response,
                body_iter,
                first,
                container=container,
                chunk_timeout=self._settings.chunk_timeout,
                on_close=release,
                record=record,
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

    # -- voices and status -----------------------------------------------------------------------

    async def list_voices(self, *, page_size: int = 100, max_pages: int = 50) -> list[Voice]:
        """Every voice in the library, following ``next_cursor`` until the last page."""
        voices: list[Voice] = []
        after: str | None = None
        for _ in range(max_pages):
            query: dict[str, Any] = {"limit": page_size}
            if after:
                query["after"] = after
            data = await self._json("voices", "POST", "/voices", json_body=query)
            page = data.get("voices")
            if not isinstance(page, list):
                raise UnexpectedResponse("AsyncFlow's voice list has no 'voices' array", status=200)
            voices.extend(_parse_voice(item) for item in page if isinstance(item, Mapping))
            cursor = data.get("next_cursor")
            if not cursor or not isinstance(cursor, str) or not page:
                break
            after = cursor
        return voices

    async def clone_voice(
        self,
        audio: bytes,
        filename: str,
        content_type: str,
        name: str,
        language: str,
        enhance: bool = True,
        description: str | None = None,
    ) -> str:
        """``POST /voices/clone`` (multipart): the new voice's id. Never retried: an attempt whose answer was lost
        may have created the voice, and a second upload would make a second one."""
        data = {"name": name, "language": language, "enhance": "true" if enhance else "false"}
        if description:
            data["description"] = description
        record = self._metrics.request("voices")
        try:
            response = await self._send(
                "POST",
                "/voices/clone",
                files={"audio": (filename, audio, content_type)},
                data=data,
                read_timeout=CLONE_TIMEOUT_S,
            )
            voice_id = _cloned_voice_id(response)
        except BaseException as error:
            record.ended(error)
            raise
        record.ended(None)
        return voice_id

    async def delete_voice(self, voice_id: str) -> None:
        """``DELETE /voices/{id}`` (retried like any idempotent request); :class:`VoiceNotFound` if it is gone."""

        async def attempt() -> None:
            record = self._metrics.request("voices")
            try:
                await self._send("DELETE", f"/voices/{voice_id}")
            except BaseException as error:
                record.ended(error)
                raise
            record.ended(None)

        await self._with_retries(attempt, None)

    async def get_voice(self, voice_id: str) -> Voice:
        return _parse_voice(await self._json("voices", "GET", f"/voices/{voice_id}"))

    async def status(self) -> dict[str, Any]:
        """``GET /``: whether the API is up (no key needed)."""
        return await self._json("status", "GET", "/")

    async def _json(self, route: Route, method: str, path: str, *, json_body: Any = None) -> dict[str, Any]:
        async def attempt() -> dict[str, Any]:
            record = self._metrics.request(route)
            try:
                response = await self._send(method, path, json_body=json_body, stream=False)
                try:
                    data = response.json()
                except ValueError:
                    raise UnexpectedResponse("AsyncFlow answered with something that is not JSON", status=200) from None
                if not isinstance(data, dict):
                    raise UnexpectedResponse("AsyncFlow answered with JSON of an unexpected shape", status=200)
            except BaseException as error:
                record.ended(error)
                raise
            record.ended(None)
            return data

        return await self._with_retries(attempt, None)

    # -- transport, errors, retries --------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        stream: bool = False,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        data: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request; return a 2xx response (streaming if asked) or raise the typed error."""
        extra: dict[str, Any] = {} if read_timeout is None else {"timeout": read_timeout}
        request = self._http.build_request(method, path, json=json_body, files=files, data=data, **extra)
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
            stop=stop_any(stop_after_attempt(self._settings.max_retries + 1), WaitLongerThan(max_wait)),
            wait=server_says_or_backoff,
            retry=retry_if_exception(lambda error: isinstance(error, AsyncFlowError) and error.retryable),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt_state in retrying:
            with attempt_state:
                return await attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def _cloned_voice_id(response: httpx.Response) -> str:
    """The new voice's id from a clone answer (documented as ``id``; ``voice_id`` accepted too)."""
    try:
        answer = response.json()
    except ValueError:
        raise UnexpectedResponse("AsyncFlow answered a clone with something that is not JSON", status=200) from None
    voice_id = (answer.get("id") or answer.get("voice_id")) if isinstance(answer, dict) else None
    if not isinstance(voice_id, str) or not voice_id:
        raise UnexpectedResponse("AsyncFlow's clone answer has no voice id", status=200)
    return voice_id


def _parse_voice(data: Mapping[str, Any]) -> Voice:
    try:
        return Voice.from_json(data)
    except ValueError as error:
        raise UnexpectedResponse(str(error)) from None
