"""A ``discord.AudioSource`` of Opus packets, filled from the event loop while discord.py's player thread drains it.

The rules come from discord.py 2.7's player (see ``discordpy-voice.md``): ``read()`` runs in the
player thread, must return one 20 ms frame (``b""`` to end) and must not block, because the player
sends a late frame's backlog back to back. The PCM is encoded to Opus as it arrives, in the encoder
pool's worker threads (:mod:`.opus`), so ``read()`` only hands over a finished packet (``is_opus()``:
discord.py sends it as it is, through its transport and DAVE encryption). When the download falls
behind, ``read()`` returns a packet of silence and re-buffers a little before speaking again, which
sounds like a pause instead of stutter. The producer side is bounded: :meth:`write` waits while
``read_ahead`` of audio is buffered, so a ten-minute text never sits in memory.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

import discord

from ..metrics import TTSMetrics
from .formats import FRAME_BYTES, FRAME_MS
from .opus import EncoderPool, SpeechEncoder, default_pool

log = logging.getLogger(__name__)


class SourceClosed(Exception):
    """The player cleaned the source up (skipped, stopped, disconnected): stop producing audio."""


def ms_to_bytes(ms: int) -> int:
    """Bytes of Discord-format audio in ``ms`` milliseconds, rounded to whole frames."""
    frames = max(1, round(ms / 20))
    return frames * FRAME_BYTES


class StreamingAudioSource(discord.AudioSource):
    """Opus packets of one text: PCM written by a coroutine, encoded in the pool, read one by one by the player."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        prebuffer_bytes: int = ms_to_bytes(60),
        read_ahead_bytes: int = ms_to_bytes(2000),
        pool: EncoderPool | None = None,
        metrics: TTSMetrics | None = None,
    ) -> None:
        self._loop = loop
        self._silence_counter = metrics.silence_frames if metrics is not None else None
        self._pool = pool if pool is not None else default_pool()
        self._encoder: SpeechEncoder | None = None  # made on the first write: a cached phrase needs none
        self._prebuffer = max(1, prebuffer_bytes // FRAME_BYTES)
        self._high_water = max(read_ahead_bytes // FRAME_BYTES, self._prebuffer + 1)
        self._low_water = self._high_water // 2
        self._lock = threading.Lock()
        self._packets: deque[bytes] = deque()
        self._partial = b""  # PCM short of a whole frame, encoded with the next write (or padded at the end)
        self._finished = False  # producer wrote everything it will write
        self._closed = False  # cleaned up: nothing more is read or written
        self._buffering = True  # waiting for enough audio before (re)starting to speak
        self._ended = False  # read() reached the natural end of the audio
        self._producer_waiting = False
        self._space = asyncio.Event()
        self._ready = asyncio.Event()
        self._on_cleanup: Callable[[], None] | None = None
        self._recording: list[bytes] | None = None
        self._record_limit = 0
        self.frames_played = 0
        """Packets of real audio handed to the player (the padded last one included)."""
        self.silence_frames = 0
        """Packets of silence handed out because the download fell behind."""

    # -- producer side: the event loop ------------------------------------------------------------

    async def write(self, pcm: bytes) -> None:
        """Append Discord-format PCM (any length): whole frames are encoded in the pool and buffered as packets.
        Waits while the buffer is full. Raises :class:`SourceClosed` after cleanup."""
        if self._closed:
            raise SourceClosed
        pcm = self._partial + pcm
        whole = len(pcm) // FRAME_BYTES * FRAME_BYTES
        self._partial = pcm[whole:]
        if whole:
            packets = await self._pool.encode(self._stream_encoder(), pcm[:whole])
            await self.write_packets(packets)

    async def write_packets(self, packets: Sequence[bytes]) -> None:
        """Append finished Opus packets (a cached phrase's); waits while the buffer is full."""
        if not packets:
            return
        with self._lock:
            if self._closed:
                raise SourceClosed
            self._packets.extend(packets)
            self._record(packets)
            if len(self._packets) >= self._prebuffer:
                self._mark_ready()
            full = len(self._packets) >= self._high_water
            if full:
                self._space.clear()
                self._producer_waiting = True
        if full:
            await self._space.wait()
            if self._closed:
                raise SourceClosed

    async def end(self) -> None:
        """The whole text was written: encode the last, zero-padded frame, then :meth:`finish`."""
        if self._partial and not self._closed:
            last, self._partial = self._partial + bytes(FRAME_BYTES - len(self._partial)), b""
            await self.write_packets(await self._pool.encode(self._stream_encoder(), last))
        self.finish()

    def finish(self) -> None:
        """No more audio will come: play what is buffered, then end (a part-frame not given to :meth:`end` is
        dropped: the download failed there)."""
        with self._lock:
            self._finished = True
            self._mark_ready()

    def record(self, limit_bytes: int) -> None:
        """Keep a copy of every packet written from now on, up to ``limit_bytes`` (then none: too long to keep)."""
        self._recording, self._record_limit = [], limit_bytes

    @property
    def recorded(self) -> list[bytes] | None:
        """The packets written since :meth:`record`, or None if they went past its limit (or nothing recorded)."""
        return self._recording

    def _record(self, packets: Sequence[bytes]) -> None:
        if self._recording is None:
            return
        self._recording.extend(packets)
        self._record_limit -= sum(len(packet) for packet in packets)
        if self._record_limit < 0:
            self._recording = None

    def _stream_encoder(self) -> SpeechEncoder:
        if self._encoder is None:
            self._encoder = self._pool.encoder()
        return self._encoder

    async def wait_ready(self) -> None:
        """Return once enough audio is buffered to start playing without stutter (or the stream ended)."""
        await self._ready.wait()

    @property
    def is_ready(self) -> bool:
        """:meth:`wait_ready` would return at once."""
        return self._ready.is_set()

    @property
    def buffered_frames(self) -> int:
        return len(self._packets)

    @property
    def has_audio(self) -> bool:
        """Whether any audio was ever written (false when the request failed before the first byte)."""
        return self.frames_played > 0 or bool(self._packets)

    @property
    def is_finished(self) -> bool:
        return self._finished

    @property
    def exhausted(self) -> bool:
        """Every packet there will be has been handed to the player (or it was cleaned up): nothing more to hear."""
        return self._closed or (self._finished and not self._packets)

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
            available = len(self._packets)
            if self._buffering:
                if available >= self._prebuffer or self._finished:
                    self._buffering = False
                else:
                    return self._silence()
            if available:
                packet = self._packets.popleft()
            elif self._finished:
                self._ended = True
                return b""
            else:
                # The download fell behind: say nothing for now and re-buffer before speaking again.
                self._buffering = True
                return self._silence()
            self.frames_played += 1
            if self._producer_waiting and len(self._packets) <= self._low_water:
                self._producer_waiting = False
                self._call_on_loop(self._space.set)
            return packet

    def _silence(self) -> bytes:
        self.silence_frames += 1
        if self._silence_counter is not None:
            self._silence_counter.inc()
        return self._pool.silence

    def is_opus(self) -> bool:
        return True

    def cleanup(self) -> None:
        """Called by the player thread when playback ends (and again by ``__del__``): idempotent."""
        lock = getattr(self, "_lock", None)
        if lock is None:  # __del__ of a half-built object
            return
        with lock:
            if self._closed:
                return
            self._closed = True
            self._packets.clear()
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
        seconds = len(self._packets) * FRAME_MS / 1000
        return (
            f"<StreamingAudioSource buffered={seconds:.2f}s played={self.frames_played} "
            f"silence={self.silence_frames} finished={self._finished} closed={self._closed}>"
        )
