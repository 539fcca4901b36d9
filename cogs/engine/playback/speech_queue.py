"""One server's queue of texts, played one after another into the voice client its session hands it.

While an item plays, the next one is already downloading (up to its read-ahead), so speech follows
speech with no gap. The queue never connects to voice: its :class:`~.guild_session.GuildSession`
does, and says when a voice client is ready with :meth:`SpeechQueue.voice_ready`. Every change to
the queue (enqueue, skip, stop, withdraw, revise) is made synchronously, before any ``await``, so the
playback loop can never see a half-made change; discarded downloads are closed in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace

import discord

from ..asyncflow.client import AsyncFlowClient
from ..audio.opus import EncoderPool
from ..audio.source import StreamingAudioSource, ms_to_bytes
from ..config import SpeechSettings
from ..words import (
    DISCONNECTED,
    NOT_CONNECTED,
    PLAYBACK_FAILED,
    describe_error,
    waiting_for_slot_message,
)
from .phrase_cache import PhraseCache
from .utterance import SpeechItem, Utterance

log = logging.getLogger(__name__)

ReadyVoice = Callable[[], discord.VoiceClient | None]
"""The voice client the session has made ready for this queue, or None while it has none (joining, moving)."""

_TELL = "asyncflow-tell"
SLOT_NOTICE_AFTER_S = 1.0
"""A member whose turn has come but whose request waits for a free slot is told after this long."""


class QueueFull(Exception):
    """The server's queue already holds ``limit`` items."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the queue is full ({limit} messages)")
        self.limit = limit


class SpeechQueue:
    """Owns one guild's queue and playback. All methods run on the event loop."""

    def __init__(
        self,
        *,
        client: AsyncFlowClient,
        settings: SpeechSettings,
        voice: ReadyVoice,
        cache: PhraseCache | None = None,
        encoders: EncoderPool | None = None,
        guild_id: int = 0,
    ) -> None:
        self._client = client
        self._encoders = encoders
        self._cache = cache
        self._guild_id = guild_id
        self._settings = settings
        self._voice = voice
        self._queue: deque[SpeechItem] = deque()
        self._current: Utterance | None = None
        self._next: Utterance | None = None
        self._wakeup = asyncio.Event()
        self._voice_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._held: dict[int, int] = {}
        self._released = asyncio.Event()

    # -- what the session asks ---------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """Speaking, about to speak, or holding queued items."""
        return self._current is not None or self._next is not None or bool(self._queue)

    @property
    def pending(self) -> int:
        """Items waiting behind the one being spoken."""
        return len(self._queue) + (1 if self._next is not None else 0)

    @property
    def is_full(self) -> bool:
        """:meth:`enqueue` would raise :class:`QueueFull`."""
        return self.pending >= self._settings.queue_limit

    def holds(self, key: int) -> bool:
        """An item with ``key`` is queued, downloading or being spoken."""
        return any(item.key == key for item in self._items())

    def enqueue(self, item: SpeechItem) -> int:
        """Queue ``item`` and return how many items are ahead of it (0: it is spoken next, right away)."""
        current = self._current
        ahead = self.pending + (1 if current is not None and not current.interrupted else 0)  # skipped: ending
        if self.is_full:
            raise QueueFull(self._settings.queue_limit)
        if not self.is_active:
            self._current = self._start(item)  # idle: start downloading now, before the voice join completes
        else:
            self._queue.append(item)
        self._kick()
        return ahead

    def voice_ready(self) -> None:
        """The session has a connected voice client (again): items waiting for it may play."""
        self._voice_changed.set()

    def skip(self) -> bool:
        """Stop the item being spoken; the queue goes on. False if nothing was being spoken."""
        current = self._current
        if current is None or current.interrupted:
            return False
        if current.source.exhausted:
            return False  # its last packet has gone out (the queue hasn't heard of its end yet): nothing to cut
        current.interrupted = True
        voice = self._voice()
        if voice is not None and voice.source is current.source:
            voice.stop()  # the player's `after` callback ends the item
        else:
            current.cancel()  # not playing yet: its wait for audio ends at once
        return True

    def stop(self, *, tell: str | None = None, except_user: int | None = None) -> int:
        """Clear the queue and stop speaking. Returns how many items were dropped, the current one included.

        With ``tell``, every member whose message was dropped (but ``except_user``) is told so.
        """
        dropped = list(self._queue)
        self._queue.clear()
        upcoming, self._next = self._next, None
        if upcoming is not None:
            dropped.append(upcoming.item)
            self._close(upcoming)
        current = self._current
        if current is not None and not current.interrupted and not current.source.exhausted:
            dropped.append(current.item)  # (an exhausted one was heard to its end: nothing of it was dropped)
        self.skip()
        if tell is not None:
            for item in dropped:
                if item.requester_id != except_user:
                    self._tell_later(item, tell)
        return len(dropped)

    def withdraw(self, key: int) -> bool:
        """Drop the item with ``key`` wherever it is: never spoken if queued, cut off if being spoken."""
        for item in self._queue:
            if item.key == key:
                self._queue.remove(item)
                return True
        upcoming = self._next
        if upcoming is not None and upcoming.item.key == key:
            self._next = None
            self._close(upcoming)
            self._kick()
            return True
        current = self._current
        if current is not None and current.item.key == key:
            return self.skip()
        return False

    def revise(self, key: int, text: str) -> str | None:
        """Replace the text of the item with ``key`` if it has not started being spoken.

        Returns where it was: ``"queued"`` (nothing downloaded yet), ``"prefetched"`` (its download
        had started with the old text and starts again), or None (not here, or already being heard).
        """
        for index, item in enumerate(self._queue):
            if item.key == key:
                self._queue[index] = replace(item, text=text)
                return "queued"
        upcoming = self._next
        if upcoming is not None and upcoming.item.key == key:
            self._next = self._start(replace(upcoming.item, text=text))
            self._close(upcoming)
            self._kick()
            return "prefetched"
        current = self._current
        if current is not None and current.item.key == key and not current.started and not current.interrupted:
            current.interrupted = True  # its old download ends; the new one is spoken next, in its place
            current.cancel()
            behind = self._next
            if behind is not None:
                self._queue.appendleft(behind.item)
                self._close(behind)
            self._next = self._start(replace(current.item, text=text))
            self._kick()
            return "prefetched"
        return None

    @contextlib.contextmanager
    def hold(self, key: int) -> Iterator[None]:
        """Keep the item with ``key`` from starting to be heard while the ``with`` block runs: an edit being judged
        (which awaits the store) must not lose the race against the voice join that would start it. Taken at once,
        before the block's first ``await``."""
        self._held[key] = self._held.get(key, 0) + 1
        try:
            yield
        finally:
            left = self._held.pop(key, 1) - 1
            if left > 0:
                self._held[key] = left
            self._released.set()

    async def _wait_until_released(self, utterance: Utterance) -> None:
        key = utterance.item.key
        while key is not None and key in self._held and not utterance.interrupted:
            self._released.clear()
            await self._released.wait()

    def downloading(self, key: int) -> bool:
        """The item with ``key`` is downloading ahead of being heard (an edit starts its download again)."""
        current, upcoming = self._current, self._next
        if upcoming is not None and upcoming.item.key == key:
            return True
        return current is not None and current.item.key == key and not current.started and not current.interrupted

    def text_of(self, key: int) -> str | None:
        """The text of the queued or prefetched item with ``key`` (not one being spoken)."""
        for item in self._items():
            if item.key == key:
                current = self._current
                return None if current is not None and current.item is item and current.started else item.text
        return None

    async def told(self) -> None:
        """Wait until the members whose messages :meth:`stop` dropped have been told."""
        tells = {task for task in self._closing if task.get_name() == _TELL}
        if tells:
            await asyncio.wait(tells)

    async def close(self) -> None:
        self.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        if self._closing:
            await asyncio.wait(set(self._closing))

    # -- the playback loop -------------------------------------------------------------------------

    def _items(self, *, include_current: bool = True) -> Iterator[SpeechItem]:
        yield from self._queue
        if self._next is not None:
            yield self._next.item
        if include_current and self._current is not None and not self._current.interrupted:
            yield self._current.item

    def _kick(self) -> None:
        """Wake the loop, starting it if it has ended: called after every change, so nothing is stranded."""
        self._wakeup.set()
        if self.is_active and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name=f"asyncflow-speech-queue-{self._guild_id}")

    def _close(self, utterance: Utterance) -> None:
        """Stop ``utterance`` now and close its HTTP response in the background."""
        utterance.cancel()
        task = asyncio.create_task(utterance.discard(), name="asyncflow-discard")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _start(self, item: SpeechItem) -> Utterance:
        source = StreamingAudioSource(
            loop=asyncio.get_running_loop(),
            prebuffer_bytes=ms_to_bytes(self._settings.prebuffer_ms),
            read_ahead_bytes=ms_to_bytes(self._settings.read_ahead_ms),
            pool=self._encoders,
        )
        return Utterance(item, client=self._client, source=source, cache=self._cache, cache_scope=self._guild_id)

    async def _run(self) -> None:
        while True:
            if self._current is None:
                if self._next is not None:
                    self._current, self._next = self._next, None
                elif self._queue:
                    self._current = self._start(self._queue.popleft())
                else:
                    return
            utterance = self._current
            try:
                await self._speak(utterance)
            except Exception:
                log.exception("playback of a queued item failed")
                await _tell(utterance.item, PLAYBACK_FAILED)
            finally:
                if self._current is utterance:
                    self._current = None
                await utterance.discard()

    async def _speak(self, utterance: Utterance) -> None:
        if not await self._wait_ready(utterance):
            if utterance.error is not None and not utterance.interrupted:
                await _tell(utterance.item, describe_error(utterance.error))
            return
        voice = await self._connected_voice()
        await self._wait_until_released(utterance)
        if voice is None or utterance.interrupted:
            if not utterance.interrupted:
                await _tell(utterance.item, NOT_CONNECTED)
            return
        finished = self._play(voice, utterance)
        while not finished.done():
            if self._next is None and self._queue:
                self._next = self._start(self._queue.popleft())
            self._wakeup.clear()
            wakeup: asyncio.Future[bool] = asyncio.ensure_future(self._wakeup.wait())
            await asyncio.wait((finished, wakeup), return_when=asyncio.FIRST_COMPLETED)
            wakeup.cancel()
        player_error = finished.result()
        if player_error is not None:
            log.error("voice player failed", exc_info=player_error)
            await _tell(utterance.item, PLAYBACK_FAILED)
        elif utterance.downloaded and utterance.error is not None:
            await _tell(utterance.item, describe_error(utterance.error))
        elif not utterance.source.played_to_end and not utterance.interrupted and not voice.is_connected():
            # discord.py ends playback quietly when the voice connection is lost for good.
            utterance.interrupted = True
            await _tell(utterance.item, DISCONNECTED)

    async def _wait_ready(self, utterance: Utterance) -> bool:
        """:meth:`Utterance.wait_ready`, telling the member if their turn has come but the request waits for a
        slot. Only here: a prefetch that waits while the message before it plays delays nobody."""
        ready = asyncio.ensure_future(utterance.wait_ready())
        try:
            done, _ = await asyncio.wait({ready}, timeout=SLOT_NOTICE_AFTER_S)
            if not done and utterance.waiting_for_slot and utterance.item.notify_retries:
                await _tell(utterance.item, waiting_for_slot_message(self._client.max_concurrent_requests))
            return await ready
        finally:
            ready.cancel()

    def _play(self, voice: discord.VoiceClient, utterance: Utterance) -> asyncio.Future[Exception | None]:
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[Exception | None] = loop.create_future()

        def resolve(error: Exception | None) -> None:
            if not finished.done():
                finished.set_result(error)

        def after(error: Exception | None) -> None:  # runs in discord.py's player thread
            with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
                loop.call_soon_threadsafe(resolve, error)

        if voice.is_playing() or voice.is_paused():
            voice.stop()  # our own finished player can still claim to be playing (see discordpy-voice.md §0.5)
        utterance.started = True
        voice.play(utterance.source, after=after)  # Opus packets: discord.py sends them as they are
        return finished

    async def _connected_voice(self) -> discord.VoiceClient | None:
        """The session's voice client once it is connected, waiting for a join that is under way."""
        deadline = asyncio.get_running_loop().time() + self._settings.connect_timeout
        while True:
            voice = self._voice()
            if voice is not None and voice.is_connected():
                return voice
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return None
            self._voice_changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._voice_changed.wait()
            except TimeoutError:
                return None

    def _tell_later(self, item: SpeechItem, message: str) -> None:
        task = asyncio.create_task(_tell(item, message), name=_TELL)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _tell(item: SpeechItem, message: str) -> None:
    try:
        await item.notify(message)
    except Exception:
        log.exception("could not tell a member what happened to their message")
