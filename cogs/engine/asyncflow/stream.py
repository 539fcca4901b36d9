"""A streamed speech response: the audio as it downloads, the stall watchdog and the quota marker.

:func:`read_first_audio` reads a response up to its first audio (until then a failure is still worth a retry);
:class:`SpeechResponse` yields the rest and turns the in-stream ``--ERROR:QUOTA_EXCEEDED--`` marker into
:class:`QuotaExceededMidStream` without letting a byte of it through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx

from ..audio.formats import REQUESTED_FORMAT
from ..audio.wav import WavFormatError, WavStreamReader
from ..metrics import RequestRecord
from .errors import (
    QUOTA_MARKER_CODE,
    ApiConnectionError,
    ApiTimeout,
    AsyncFlowError,
    QuotaExceeded,
    QuotaExceededMidStream,
    StreamInterrupted,
    UnexpectedResponse,
)

QUOTA_MARKER = b"--ERROR:QUOTA_EXCEEDED--"


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
        record: RequestRecord | None = None,
    ) -> None:
        self._response = response
        self._on_close = on_close
        self._record = record
        """Counts the request once it is over: ok, or the error that ended the stream."""
        self._error: AsyncFlowError | None = None
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
                            "AsyncFlow quota exceeded during the stream", code=QUOTA_MARKER_CODE
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
        except AsyncFlowError as error:
            self._error = error  # what the request ended with
            raise
        finally:
            watchdog.close()
        tail = scanner.flush()
        if tail:
            yield tail

    async def aclose(self, error: AsyncFlowError | None = None) -> None:
        """Close the download. ``error``: what made its reader give up on the audio (unplayable, say), if not one
        the stream raised itself; the request counts as failed with it."""
        try:
            await self._response.aclose()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()  # gives the request slot back (once)
            if self._record is not None:
                self._record.ended(self._error or error)  # (once; a skip or stop after audio arrived is "ok")

    async def __aenter__(self) -> SpeechResponse:
        return self

    async def __aexit__(self, _type: type[BaseException] | None, error: BaseException | None, _tb: object) -> None:
        await self.aclose(error if isinstance(error, AsyncFlowError) else None)


class _StallWatchdog:
    """``with watchdog: await ...`` raises TimeoutError if that wait lasts longer than ``timeout`` seconds.

    Does what ``asyncio.timeout`` does around each read, with one timer for the whole stream instead of one per
    chunk: scheduling and cancelling a timer per 4 KB chunk was a quarter of the per-chunk cost on the event loop
    (measured with ``bench.streams``, now ``bench.capacity``). The timer is re-armed only when it fires early.
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


async def read_first_audio(
    body: AsyncIterator[bytes],
    container: Literal["wav", "raw"],
    deadline: float,
    first_byte_timeout: float,
    on_first_byte: Callable[[], None] | None = None,
) -> bytes:
    """The body up to and including its first audio bytes (a WAV header alone is not audio yet).

    Until then nothing has been heard, so a cut or stall is still worth a retry, and a quota marker means the
    quota was used up before this request, not part-way through it. ``on_first_byte`` is called as the first
    bytes of the body arrive.
    """
    received = bytearray()
    scanner = _MarkerScanner(QUOTA_MARKER)
    reader = WavStreamReader() if container == "wav" else None
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in body:
                if not chunk:
                    continue
                if not received and on_first_byte is not None:
                    on_first_byte()
                received += chunk
                passed, found = scanner.feed(chunk)
                if found:
                    raise QuotaExceeded(
                        "AsyncFlow's quota was used up before any audio was sent", code=QUOTA_MARKER_CODE
                    )
                try:
                    audio = passed if reader is None else reader.feed(passed)
                except WavFormatError:
                    return bytes(received)  # not playable: the pipeline says why
                if audio or (reader is not None and reader.complete):
                    return bytes(received)
    except TimeoutError:
        raise ApiTimeout(f"AsyncFlow sent no audio within {first_byte_timeout:g} s") from None
    except httpx.TimeoutException:
        raise ApiTimeout("AsyncFlow sent no audio in time") from None
    except httpx.HTTPError as error:
        raise ApiConnectionError(f"connection to AsyncFlow dropped before any audio ({type(error).__name__})") from None
    if received:
        return bytes(received)  # ended before any audio: the pipeline tells an empty WAV from a broken one
    raise UnexpectedResponse("AsyncFlow answered with an empty body instead of audio", status=200)
