"""AsyncFlow's voice library, cached so autocomplete answers inside Discord's 3-second window."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from .errors import AsyncFlowError
from .models import Voice

if TYPE_CHECKING:
    from .client import AsyncFlowClient

log = logging.getLogger(__name__)

MAX_CHOICES = 25  # Discord rejects an autocomplete answer with more


class VoiceCatalog:
    """Lists voices from the API at most once per ``ttl`` seconds; a failed refresh keeps the old list."""

    def __init__(self, client: AsyncFlowClient, *, ttl: float = 600.0, fetch_timeout: float = 2.0) -> None:
        self._client = client
        self._ttl = ttl
        self._fetch_timeout = fetch_timeout
        self._voices: list[Voice] = []
        self._fetched_at = float("-inf")
        self._refresh_lock = asyncio.Lock()

    async def voices(self) -> list[Voice]:
        if time.monotonic() - self._fetched_at > self._ttl:
            async with self._refresh_lock:
                if time.monotonic() - self._fetched_at > self._ttl:
                    await self._refresh()
        return self._voices

    async def _refresh(self) -> None:
        try:
            async with asyncio.timeout(self._fetch_timeout):
                self._voices = await self._client.list_voices()
            self._fetched_at = time.monotonic()
        except (AsyncFlowError, TimeoutError) as error:
            log.warning("could not list AsyncFlow voices: %s", type(error).__name__)

    async def search(self, typed: str, *, limit: int = MAX_CHOICES) -> list[Voice]:
        """Voices whose name, language, accent or id contain what was typed; names starting with it first."""
        needle = typed.strip().casefold()
        voices = await self.voices()
        if not needle:
            return voices[:limit]
        matches = [v for v in voices if needle in f"{v.name} {v.language} {v.accent} {v.gender} {v.id}".casefold()]
        matches.sort(key=lambda v: (not v.name.casefold().startswith(needle), v.name.casefold()))
        return matches[: min(limit, MAX_CHOICES)]

    async def name_of(self, voice_id: str) -> str | None:
        for voice in await self.voices():
            if voice.id == voice_id:
                return voice.name
        return None


def choice_label(voice: Voice) -> str:
    """``Aria — en, Female`` trimmed to Discord's 100-character limit for choice names."""
    details = ", ".join(part for part in (voice.language, voice.gender, voice.accent) if part)
    label = f"{voice.name} — {details}" if details else voice.name
    return label[:100]
