"""Audio of short phrases heard recently, so a repeated "gg", "Alice said, lol" or announcement costs no API call.

Keyed by everything that decides the audio (the server, the endpoint and the whole request body: text,
voice, model, language, format, speaking rate), so a hit is exactly what AsyncFlow would have sent again.
Entries are the Opus packets the first playing sent (a repeat costs no encoding either, and a phrase takes a
sixteenth of the memory its PCM would), least recently used first out when the byte budget is full.
A phrase is kept only the second time it is downloaded (a few bytes remember the first time), so the many
texts said once never push out the ones said again and again. Only whole, successful downloads are kept: a
cut, skipped or failed one never is. The server id is part of the key so one
server can't learn, by how fast the bot answers, what another server said.

``bench/api_cost.py`` measures what it saves on a realistic stream of chat messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from cachetools import LRUCache

from ..audio.formats import FRAME_MS

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
        self._entries: LRUCache[str, tuple[bytes, ...]] = LRUCache(maxsize=max(1, max_bytes), getsizeof=entry_size)
        self._downloads: LRUCache[int, int] = LRUCache(maxsize=SEEN_ONCE_KEYS)  # hash(key) -> times downloaded
        self.max_entry_bytes = max_bytes // 4
        """The most packet bytes one phrase keeps (:meth:`put` also refuses more than ``MAX_ENTRY_SECONDS``)."""
        self.hits = 0
        self.misses = 0
        self.characters_saved = 0

    @staticmethod
    def key(scope: int, path: str, body: Mapping[str, Any]) -> str:
        return json.dumps([scope, path, body], sort_keys=True, ensure_ascii=False)

    def wants(self, text: str) -> bool:
        """Whether audio for ``text`` would be kept (short enough to be a phrase worth repeating)."""
        return self.max_entry_bytes > 0 and len(text) <= self.max_chars

    def get(self, key: str, text: str) -> tuple[bytes, ...] | None:
        if not self.wants(text):
            return None
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self.characters_saved += len(text)
        return entry

    def put(self, key: str, packets: Sequence[bytes]) -> None:
        """Keep ``packets`` (one Opus packet per 20 ms) for ``key``, unless there are none or too many."""
        if not 0 < len(packets) <= MAX_ENTRY_SECONDS * 1000 // FRAME_MS:
            return
        entry = tuple(packets)
        if entry_size(entry) > self.max_entry_bytes:
            return
        fingerprint = hash(key)
        downloads = self._downloads.get(fingerprint, 0) + 1
        if downloads < self.keep_after:
            self._downloads[fingerprint] = downloads  # remember that it was said, not the audio
            return
        self._downloads.pop(fingerprint, None)
        self._entries[key] = entry

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


PACKET_OVERHEAD_BYTES = 40
"""What Python spends on one packet besides its bytes (a bytes object's header and its slot in the tuple)."""


def entry_size(packets: tuple[bytes, ...]) -> int:
    """Memory one cached phrase takes, near enough: its packets and their overhead."""
    return sum(len(packet) for packet in packets) + PACKET_OVERHEAD_BYTES * len(packets)
