"""Audio of short phrases heard recently, so a repeated "gg", "Alice said, lol" or announcement costs no API call.

Keyed by everything that decides the audio (the server, the endpoint and the whole request body: text,
voice, model, language, format), so a hit is exactly what AsyncFlow would have sent again. Entries are
Discord-format PCM (kept as mono when both channels are the same, as they are for the mono audio we
request: twice the phrases in the same memory), least recently used first out when the byte budget is full.
A phrase is kept only the second time it is downloaded (a few bytes remember the first time), so the many
texts said once never push out the ones said again and again. Only whole, successful downloads are kept: a
cut, skipped or failed one never is. The server id is part of the key so one
server can't learn, by how fast the bot answers, what another server said.

``bench/api_cost.py`` measures what it saves on a realistic stream of chat messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
from cachetools import LRUCache

from ..audio.convert import mono16_to_stereo
from ..audio.formats import DISCORD_FORMAT

SEEN_ONCE_KEYS = 20_000
"""How many phrases not kept yet are remembered (by hash, not audio) to recognise the next time."""
MAX_ENTRY_SECONDS = 20
"""A phrase longer than this (in audio) is never kept, whatever the character limit says."""


class PhraseCache:
    """An LRU cache of phrase audio, bounded in bytes. Runs on the event loop only."""

    def __init__(self, *, max_bytes: int, max_chars: int, keep_after: int = 2) -> None:
        """``keep_after``: a phrase's audio is kept the ``keep_after``-th time it is downloaded (1: at once)."""
        self.max_chars = max_chars
        self.keep_after = keep_after
        self._entries: LRUCache[str, _Entry] = LRUCache(maxsize=max(1, max_bytes), getsizeof=_Entry.size)
        self._downloads: LRUCache[int, int] = LRUCache(maxsize=SEEN_ONCE_KEYS)  # hash(key) -> times downloaded
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
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self.characters_saved += len(text)
        return entry.audio()

    def put(self, key: str, audio: bytes) -> None:
        """Keep ``audio`` (Discord-format PCM) for ``key``, unless it is empty or too long."""
        if not 0 < len(audio) <= self.max_entry_bytes:
            return
        fingerprint = hash(key)
        downloads = self._downloads.get(fingerprint, 0) + 1
        if downloads < self.keep_after:
            self._downloads[fingerprint] = downloads  # remember that it was said, not the audio
            return
        self._downloads.pop(fingerprint, None)
        self._entries[key] = _Entry.of(audio)

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


class _Entry:
    __slots__ = ("_mono", "_pcm")

    def __init__(self, pcm: bytes, *, mono: bool) -> None:
        self._pcm = pcm
        self._mono = mono

    @classmethod
    def of(cls, stereo: bytes) -> _Entry:
        frames = np.frombuffer(stereo, dtype="<u4")  # one stereo sample pair per element
        left, right = frames & 0xFFFF, frames >> 16
        if np.array_equal(left, right):
            return cls(left.astype("<u2").tobytes(), mono=True)
        return cls(stereo, mono=False)

    def audio(self) -> bytes:
        return mono16_to_stereo(self._pcm) if self._mono else self._pcm

    def size(self) -> int:
        return len(self._pcm)
