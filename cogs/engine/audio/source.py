"""A ``discord.AudioSource`` filled from the event loop while discord.py's player thread drains it.

The rules come from discord.py 2.7's player (see ``discordpy-voice.md``): ``read()`` runs in the
player thread, must return exactly 3840 bytes of ``bytes`` (or ``b""`` to end) and must not block,
because the player sends a late frame's backlog back to back. So ``read()`` never waits: when the
download falls behind it returns silence and re-buffers a little before speaking again, which
sounds like a pause instead of stutter. The producer side is bounded: :meth:`write` waits while
``read_ahead`` bytes are buffered, so a ten-minute text never sits in memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import discord

from .formats import DISCORD_FORMAT, FRAME_BYTES, SILENCE_FRAME

log = logging.getLogger(__name__)


class SourceClosed(Exception):
    """The player cleaned the source up (skipped, stopped, disconnected): stop producing audio."""


def ms_to_bytes(ms: int) -> int:
    """Bytes of Discord-format audio in ``ms`` milliseconds, rounded to whole frames."""
    frames = max(1, round(ms / 20))
    return frames * FRAME_BYTES


class StreamingAudioSource(discord.AudioSource):
    """PCM in Discord's format, written by a coroutine and read frame by frame by the player thread."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        prebuffer_bytes: int = ms_to_bytes(60),
        read_ahead_bytes: int = ms_to_bytes(2000),
    ) -> None:
        self._loop = loop
        self._prebuffer = prebuffer_bytes
        self._high_water = max(read_ahead_bytes, prebuffer_bytes + FRAME_BYTES)
        self._low_water = self._high_water // 2
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._finished = False  # producer wrote everything it will write
        self._closed = False  # cleaned up: nothing more is read or written
        self._buffering = True  # waiting for enough audio before (re)starting to speak
        self._ended = False  # read() reached the natural end of the audio
        self._producer_waiting = False
        self._space = asyncio.Event()
        self._ready = asyncio.Event()
        self._on_cleanup: Callable[[], None] | None = None
        self.frames_played = 0
        """Frames of real audio handed to the player (the padded last one included)."""
        self.silence_frames = 0
        """Frames of silence handed out because the download fell behind."""

    # -- producer side: the event loop ------------------------------------------------------------

    async def write(self, pcm: bytes) -> None:
        """Append audio; waits while the buffer is full. Raises :class:`SourceClosed` after cleanup."""
        if not pcm:
            return
        with self._lock:
            if self._closed:
                raise SourceClosed
            self._buffer += pcm
            if len(self._buffer) >= self._prebuffer:
                self._mark_ready()
            full = len(self._buffer) >= self._high_water
            if full:
                self._space.clear()
                self._producer_waiting = True
        if full:
            await self._space.wait()
            if self._closed:
                raise SourceClosed

    def finish(self) -> None:
        """No more audio will come: play what is buffered, then end."""
        with self._lock:
            self._finished = True
            self._mark_ready()

    async def wait_ready(self) -> None:
        """Return once enough audio is buffered to start playing without stutter (or the stream ended)."""
        await self._ready.wait()

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    @property
    def has_audio(self) -> bool:
        """Whether any audio was ever written (false when the request failed before the first byte)."""
        return self.frames_played > 0 or bool(self._buffer)

    @property
    def is_finished(self) -> bool:
        return self._finished

    @property
    def exhausted(self) -> bool:
        """Every frame there will be has been handed to the player (or it was cleaned up): nothing more to hear."""
        return self._closed or (self._finished and not self._buffer)

    @property
    def played_to_end(self) -> bool:
        """Everything written was played: the source ended by itself, not by skip, stop or disconnect."""
        return self._ended

    def on_cleanup(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the event loop once the player is done with this source."""
        self._on_cleanup = callback

    def _mark_ready(self) -> None:
        # Called with the lock held, on the loop thread; Event is not thread-safe, hence no calls from read().
        self._ready.set()

    # -- consumer side: discord.py's player thread -------------------------------------------------

    def read(self) -> bytes:
        with self._lock:
            if self._closed:
                return b""
            available = len(self._buffer)
            if self._buffering:
                if available >= self._prebuffer or self._finished:
                    self._buffering = False
                else:
                    self.silence_frames += 1
                    return SILENCE_FRAME
            if available >= FRAME_BYTES:
                frame = bytes(self._buffer[:FRAME_BYTES])
                del self._buffer[:FRAME_BYTES]
            elif self._finished:
                if not available:
                    self._ended = True
                    return b""
                frame = bytes(self._buffer) + bytes(FRAME_BYTES - available)
                self._buffer.clear()
            else:
                # The download fell behind: say nothing for now and re-buffer before speaking again.
                self._buffering = True
                self.silence_frames += 1
                return SILENCE_FRAME
            self.frames_played += 1
            if self._producer_waiting and len(self._buffer) <= self._low_water:
                self._producer_waiting = False
                self._call_on_loop(self._space.set)
            return frame

    def is_opus(self) -> bool:
        return False

    def cleanup(self) -> None:
        """Called by the player thread when playback ends (and again by ``__del__``): idempotent."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __del__ of a half-built object
            return
        with lock:
            if self._closed:
                return
            self._closed = True
            self._buffer.clear()
            self._producer_waiting = False
            # discord.py's voice client keeps its last player, and so this source: let go of the utterance.
            callback, self._on_cleanup = self._on_cleanup, None
        self._call_on_loop(self._space.set)
        if callback is not None:
            self._call_on_loop(callback)

    def _call_on_loop(self, callback: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed: the process is shutting down
            log.debug("event loop closed; dropping %r", callback)

    def __repr__(self) -> str:
        seconds = len(self._buffer) / DISCORD_FORMAT.bytes_per_second
        return (
            f"<StreamingAudioSource buffered={seconds:.2f}s played={self.frames_played} "
            f"silence={self.silence_frames} finished={self._finished} closed={self._closed}>"
        )
