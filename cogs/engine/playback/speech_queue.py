"""One server's queue of texts, played one after another into the voice client its session hands it.

While an item plays, the next one is already downloading (up to its read-ahead) and, once it has audio, is
handed to the server's :class:`~..audio.gapless.GaplessStream`, so its first packet follows this one's last
on the same 20 ms clock, on the same player. The queue never connects to voice: its session does, and says
when a voice client is ready (:meth:`SpeechQueue.voice_ready`). Every change to the queue (enqueue, skip, stop,
withdraw, revise) is made synchronously, before any ``await``, so the playback loop can never see a half-made
change; discarded downloads are closed in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import discord

from ..asyncflow.client import AsyncFlowClient
from ..audio.gapless import GaplessStream
from ..audio.opus import EncoderPool
from ..config import SpeechSettings
from ..metrics import TTSMetrics
from ..words import (
    DISCONNECTED,
    NOT_CONNECTED,
    PLAYBACK_FAILED,
    cut_short,
    describe_error,
    waiting_for_slot_message,
)
from .handoff import hand, start_stream, take_back
from .phrase_cache import PhraseCache
from .utterance import SpeechItem, Utterance, UtteranceParts
from .voice import connected_voice

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
        metrics: TTSMetrics | None = None,
    ) -> None:
        self._client = client
        self._metrics = metrics
        self._start = UtteranceParts(client, settings, encoders, cache, guild_id, metrics).start
        self._stream: GaplessStream | None = None
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
    def is_playing(self) -> bool:
        """A discord.py player is playing this server's texts (between two texts of one run too)."""
        return self._stream is not None and not self._stream.ended

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
            self._current = self._start(item, at_once=True)  # idle: download now, before the voice join completes
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
        upcoming = self._next
        if upcoming is not None and upcoming.started:  # the stream has moved on to it: the current one is over
            current = upcoming
        if current is None or current.interrupted or current.source.exhausted:
            return False  # (exhausted: its last packet has gone out, the queue hasn't heard of its end yet)
        current.interrupted = True
        current.cancel()  # its source ends: the stream moves to the next at once (or it never starts)
        return True

    def stop(self, *, tell: str | None = None, except_user: int | None = None) -> int:
        """Clear the queue and stop speaking. Returns how many items were dropped, the current one included.

        With ``tell``, every member whose message was dropped (but ``except_user``) is told so.
        """
        dropped = [(item, False) for item in self._queue]  # (item, whether its member heard the start of it)
        self._queue.clear()
        upcoming, self._next = self._next, None
        if upcoming is not None:
            if not (upcoming.started and upcoming.source.exhausted):
                dropped.append((upcoming.item, upcoming.started))
            self._close(upcoming)
        current = self._current
        if current is not None and not current.interrupted and not current.source.exhausted:
            dropped.append((current.item, current.started))  # (an exhausted one was heard to its end)
        self.skip()
        if tell is not None:
            for item, heard_start in dropped:
                if item.requester_id != except_user:
                    self._tell_later(item, cut_short(tell) if heard_start else tell)
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
            if not take_back(self._stream, upcoming):
                return None  # the stream has started it
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
        upcoming = self._next
        if upcoming is not None and upcoming.item.key == key:
            take_back(self._stream, upcoming)  # handed to the stream ahead of its turn: not until it is judged
        try:
            yield
        finally:
            left = self._held.pop(key, 1) - 1
            if left > 0:
                self._held[key] = left
            self._released.set()
            self._kick()  # it may be handed to the stream now

    async def _wait_until_released(self, utterance: Utterance) -> None:
        key = utterance.item.key
        while key is not None and key in self._held and not utterance.interrupted:
            self._released.clear()
            await self._released.wait()

    def downloading(self, key: int) -> bool:
        """The item with ``key`` is downloading ahead of being heard (an edit starts its download again)."""
        current, upcoming = self._current, self._next
        if upcoming is not None and upcoming.item.key == key:
            return not upcoming.started
        return current is not None and current.item.key == key and not current.started and not current.interrupted

    def text_of(self, key: int) -> str | None:
        """The text of the queued or prefetched item with ``key`` (not one being spoken)."""
        for item in self._items():
            if item.key == key:
                heard = [u for u in (self._current, self._next) if u is not None and u.item is item and u.started]
                return None if heard else item.text
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
        finished = utterance.playing
        if finished is None:  # not handed to the stream ahead of its turn
            if not await self._wait_ready(utterance):
                if utterance.error is not None and not utterance.interrupted:
                    await _tell(utterance.item, describe_error(utterance.error))
                return
            voice = await connected_voice(self._voice, self._voice_changed, self._settings.connect_timeout)
            await self._wait_until_released(utterance)
            if voice is None or utterance.interrupted:
                if not utterance.interrupted:
                    await _tell(utterance.item, NOT_CONNECTED)
                return
            finished = self._play(voice, utterance)
        while not finished.done():
            if self._next is None and self._queue:
                self._next = self._start(self._queue.popleft())
            next_ready = self._hand_next()
            self._wakeup.clear()
            wakeup: asyncio.Future[bool] = asyncio.ensure_future(self._wakeup.wait())
            waits: set[asyncio.Future[Any]] = {finished, wakeup}
            if next_ready is not None:
                waits.add(next_ready)
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            wakeup.cancel()
            if next_ready is not None:
                next_ready.cancel()
        player_error = finished.result()
        voice = self._voice()
        if player_error is not None:
            log.error("voice player failed", exc_info=player_error)
            await _tell(utterance.item, PLAYBACK_FAILED)
        elif utterance.downloaded and utterance.error is not None:
            await _tell(utterance.item, describe_error(utterance.error))
        elif not utterance.source.played_to_end and not utterance.interrupted and not (voice and voice.is_connected()):
            # discord.py ends playback quietly when the voice connection is lost for good (an item handed to the
            # stream ahead of its turn may not have started).
            utterance.interrupted = True
            await _tell(utterance.item, cut_short(DISCONNECTED) if utterance.started else NOT_CONNECTED)

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
        """Hand ``utterance`` to the stream ``voice`` plays, starting a stream (and discord.py's player) if it has
        none running. It counts as heard from now on."""
        utterance.started = True
        stream = self._stream
        finished = hand(stream, utterance) if stream is not None and voice.source is stream else None
        if finished is None:
            self._stream, finished = start_stream(voice, utterance, self._metrics)
        return finished

    def _hand_next(self) -> asyncio.Future[None] | None:
        """Hand the next item to the stream once it has audio, so it follows this one without a gap. Returns what
        to wait for before trying again (its audio), or None."""
        upcoming, stream = self._next, self._stream
        if upcoming is None or upcoming.playing is not None or upcoming.interrupted or stream is None:
            return None
        if upcoming.item.key is not None and upcoming.item.key in self._held:
            return None  # an edit is being judged: the release kicks the loop
        if not upcoming.source.is_ready:
            return asyncio.ensure_future(upcoming.source.wait_ready())
        if upcoming.source.has_audio:  # no audio: it failed, and its turn will say so
            hand(stream, upcoming)
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
