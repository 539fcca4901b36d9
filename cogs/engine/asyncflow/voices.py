"""AsyncFlow's voice library, cached so nothing that answers a Discord interaction waits long for it.

Discord abandons an interaction that is not answered within 3 seconds. So the list is fetched at most once per
``ttl``, a failed fetch is not tried again for ``retry_after_failure`` seconds, concurrent callers share one fetch,
and :meth:`VoiceCatalog.cached_name` never waits at all: it answers from what is cached and leaves a refresh
running in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from .errors import AsyncFlowError
from .models import Voice

if TYPE_CHECKING:
    from .client import AsyncFlowClient

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord rejects an autocomplete answer with more


class VoiceCatalog:
    """Lists voices from the API at most once per ``ttl`` seconds; a failed refresh keeps the old list.

    ``fetch_timeout`` bounds how long a refresh (and so any caller) may wait for the API; after a failed refresh
    none is started for ``retry_after_failure`` seconds. ``clock`` is for tests.
    """

    def __init__(
        self,
        client: AsyncFlowClient,
        *,
        ttl: float = 600.0,
        fetch_timeout: float = 2.0,
        retry_after_failure: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._fetch_timeout = fetch_timeout
        self._retry_after_failure = retry_after_failure
        self._clock = clock
        self._voices: list[Voice] = []
        self._by_id: dict[str, Voice] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._refresh_task: asyncio.Task[None] | None = None
        """The one refresh running now (or the last one): every caller that needs the list waits for this."""
        self._closed = False

    @property
    def has_list(self) -> bool:
        """Whether a voice list was ever fetched: without one, an unknown id may still be a real voice."""
        return self._fetched_at is not None

    async def voices(self) -> list[Voice]:
        """The cached list, refreshed first when it is stale (waiting at most ``fetch_timeout`` for that)."""
        if self._refresh_due():
            task = self._start_refresh()
            # wait() neither raises the refresh's outcome nor cancels it when this caller gives up.
            await asyncio.wait({task}, timeout=self._fetch_timeout)
        return self._voices

    async def find(self, voice_id: str) -> Voice | None:
        """The voice with this id, or None when it is not in the list (or there is no list: see :attr:`has_list`)."""
        return next((voice for voice in await self.voices() if voice.id == voice_id), None)

    def cached_name(self, voice_id: str) -> str | None:
        """The voice's name from the cached list, without waiting; a stale list gets a refresh in the background."""
        if self._refresh_due():
            with contextlib.suppress(RuntimeError):  # no running event loop: answer from the cache all the same
                self._start_refresh()
        voice = self._by_id.get(voice_id)
        return voice.name if voice is not None else None

    async def search(self, typed: str, *, limit: int = MAX_CHOICES, hidden: Collection[str] = ()) -> list[Voice]:
        """Voices whose name, language, accent or id contain what was typed; names starting with it first.

        ``hidden``: ids never to offer (members' private clones, see :mod:`~cogs.engine.playback.private_voices`)."""
        needle = typed.strip().casefold()
        voices = [voice for voice in await self.voices() if voice.id not in hidden]
        if not needle:
            return voices[:limit]
        matches = [v for v in voices if needle in f"{v.name} {v.language} {v.accent} {v.gender} {v.id}".casefold()]
        matches.sort(key=lambda v: (not v.name.casefold().startswith(needle), v.name.casefold()))
        return matches[: min(limit, MAX_CHOICES)]

    async def name_of(self, voice_id: str) -> str | None:
        voice = await self.find(voice_id)
        return voice.name if voice is not None else None

    async def aclose(self) -> None:
        """Cancel a refresh still running; none is started afterwards (the cached list still answers)."""
        self._closed = True
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    def _refresh_due(self) -> bool:
        if self._closed:
            return False
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at <= self._ttl:
            return False
        return self._failed_at is None or now - self._failed_at >= self._retry_after_failure

    def _start_refresh(self) -> asyncio.Task[None]:
        """The refresh running now, or a new one (RuntimeError without a running event loop)."""
        task = self._refresh_task
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._refresh(), name="asyncflow-voice-list")
            self._refresh_task = task
        return task

    async def _refresh(self) -> None:
        """Fetch the list; never raises (but for cancellation): a failure is logged by type and remembered."""
        try:
            async with asyncio.timeout(self._fetch_timeout):
                voices = await self._client.list_voices()
        except Exception as error:  # in the background nobody else would see it
            self._failed_at = self._clock()
            level = logging.WARNING if isinstance(error, AsyncFlowError | TimeoutError) else logging.ERROR
            # The type only: never a message that might quote a request.
            log.log(level, "could not list AsyncFlow voices: %s", type(error).__name__)
            return
        self._voices = voices
        self._by_id = {}
        for voice in voices:
            self._by_id.setdefault(voice.id, voice)  # the first of a repeated id, as find() answers
        self._fetched_at = self._clock()
        self._failed_at = None


def choice_label(voice: Voice) -> str:
    """``Aria — en, Female`` trimmed to Discord's 100-character limit for choice names."""
    details = ", ".join(part for part in (voice.language, voice.gender, voice.accent) if part)
    label = f"{voice.name} — {details}" if details else voice.name
    return label[:100]
