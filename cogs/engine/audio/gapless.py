"""One discord.py player for a whole run of queued texts: each text's first packet follows the last one's.

discord.py's ``AudioPlayer`` is a thread with its own 20 ms clock; starting one per text means a thread
torn down and started, a burst of closing silence and a fresh clock between every two texts. A
:class:`GaplessStream` is the one source a server's player plays: the queue hands it each text's
:class:`~.source.StreamingAudioSource` ahead of time, and ``read()`` moves from one to the next within the
same frame. It ends (and the player sends its closing silence) only when nothing more was handed in.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import discord

from ..metrics import LATE_FRAME_GAP_S, TTSMetrics
from .source import StreamingAudioSource

log = logging.getLogger(__name__)

Ended = Callable[[Exception | None], None]
"""Called on the event loop once the stream is done with a text: with the player's error, if it failed."""


@dataclass(slots=True)
class _Entry:
    source: StreamingAudioSource
    on_start: Callable[[], None]
    """Called in the player thread, under the stream's lock, as the text's first packet is read."""
    on_end: Ended


class GaplessStream(discord.AudioSource):
    """Opus packets of the texts handed in, back to back. ``read()`` runs in the player thread; the rest on the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        metrics: TTSMetrics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._current: _Entry | None = None
        self._upcoming: deque[_Entry] = deque()
        self._ended = False
        self._error: Exception | None = None
        self._late_frames = metrics.late_frames if metrics is not None else None
        self._clock = clock
        self._frames = 0
        self._last_frame_at = 0.0

    def add(self, source: StreamingAudioSource, *, on_start: Callable[[], None], on_end: Ended) -> bool:
        """Play ``source`` after what was handed in before. False once the stream has ended: start another."""
        with self._lock:
            if self._ended:
                return False
            self._upcoming.append(_Entry(source, on_start, on_end))
            return True

    def take_back(self, source: StreamingAudioSource) -> bool:
        """Withdraw ``source`` if it has not started being heard (its ``on_end`` is never called then)."""
        with self._lock:
            for entry in self._upcoming:
                if entry.source is source:
                    self._upcoming.remove(entry)
                    return True
            return False

    def holds(self, source: StreamingAudioSource) -> bool:
        """``source`` is being heard, or waits its turn in this stream."""
        with self._lock:
            current = self._current
            return (current is not None and current.source is source) or any(
                entry.source is source for entry in self._upcoming
            )

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def upcoming(self) -> int:
        """Texts handed in that have not started being heard."""
        with self._lock:
            return len(self._upcoming)

    def player_failed(self, error: Exception | None) -> None:
        """discord.py's ``after`` callback (player thread): the error every text not yet done ends with."""
        self._error = error

    # -- discord.py's player thread ------------------------------------------------------------------

    def read(self) -> bytes:
        with self._lock:
            while not self._ended:
                if self._current is None:
                    if not self._upcoming:
                        self._ended = True  # nothing more: the player ends and sends its closing silence
                        break
                    self._current = self._upcoming.popleft()
                    self._current.on_start()
                packet = self._current.source.read()
                if packet:
                    self._time_frame()
                    return packet
                done, self._current = self._current, None  # played to its end, or cut off (cleaned up)
                self._finish(done)
            return b""

    def _time_frame(self) -> None:
        """Count a frame going out more than ``LATE_FRAME_GAP_S`` after the one before it. Not the second frame:
        discord.py's player sends it 40 ms after the first (its clock starts at the first read), then every 20 ms."""
        if self._late_frames is None:
            return
        now = self._clock()
        self._frames += 1
        if self._frames > 2 and now - self._last_frame_at > LATE_FRAME_GAP_S:
            self._late_frames.inc()
        self._last_frame_at = now

    def is_opus(self) -> bool:
        return True

    def cleanup(self) -> None:
        """The player is done (ended, stopped, disconnected): every text still here ends with it."""
        with self._lock:
            self._ended = True
            entries = ([self._current] if self._current is not None else []) + list(self._upcoming)
            self._current = None
            self._upcoming.clear()
        for entry in entries:
            self._finish(entry)

    def _finish(self, entry: _Entry) -> None:
        entry.source.cleanup()  # what discord.py's player did for each source: frees it, ends its download
        try:
            self._loop.call_soon_threadsafe(entry.on_end, self._error)
        except RuntimeError:  # the loop is closed: the process is shutting down
            log.debug("event loop closed; dropping the end of %r", entry.source)

    def __repr__(self) -> str:
        return f"<GaplessStream current={self._current is not None} upcoming={len(self._upcoming)} ended={self._ended}>"
