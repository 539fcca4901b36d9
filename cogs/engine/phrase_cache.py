"""Audio of short phrases heard recently, so a repeated "gg", "Alice said, lol" or announcement costs no API call.

Keyed by everything that decides the audio (the server, the endpoint and the whole request body: text,
voice, model, language, format), so a hit is exactly what AsyncFlow would have sent again. Entries are
Discord-format PCM, least recently used first out when the byte budget is full. Only whole, successful
downloads are kept: a cut, skipped or failed one never is. The server id is part of the key so one
server can't learn, by how fast the bot answers, what another server said.

``bench/api_cost.py`` measures what it saves on a realistic stream of chat messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cachetools import LRUCache

from .audio_format import DISCORD_FORMAT

MAX_ENTRY_SECONDS = 20
"""A phrase longer than this (in audio) is never kept, whatever the character limit says."""


class PhraseCache:
    """An LRU cache of phrase audio, bounded in bytes. Runs on the event loop only."""

    def __init__(self, *, max_bytes: int, max_chars: int) -> None:
        self.max_chars = max_chars
        self._entries: LRUCache[str, bytes] = LRUCache(maxsize=max(1, max_bytes), getsizeof=len)
        self.max_entry_bytes = min(max_bytes // 4, MAX_ENTRY_SECONDS * DISCORD_FORMAT.bytes_per_second)
        self.hits = 0
        self.misses = 0
        self.characters_saved = 0

    @staticmethod
    def key(scope: int, path: str, body: Mapping[str, Any]) -> str:
        return json.dumps([scope, path, body], sort_keys=True, ensure_ascii=False)

    def wants(self, text: str) -> bool:
        """Whether audio for ``text`` would be kept (short enough to be a phrase worth repeating)."""
        return self.max_entry_bytes > 0 and len(text) <= self.max_chars

    def get(self, key: str, text: str) -> bytes | None:
        if not self.wants(text):
            return None
        audio = self._entries.get(key)
        if audio is None:
            self.misses += 1
            return None
        self.hits += 1
        self.characters_saved += len(text)
        return audio

    def put(self, key: str, audio: bytes) -> None:
        if 0 < len(audio) <= self.max_entry_bytes:
            self._entries[key] = audio

    @property
    def size_bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (
            f"<PhraseCache phrases={len(self)} bytes={self.size_bytes}/{int(self._entries.maxsize)} "
            f"hits={self.hits} misses={self.misses}>"
        )
