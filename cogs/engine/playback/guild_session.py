"""One owner per server: its voice connection, queue, prefetch, announcer and pending messages.

The cogs turn Discord events into calls on a :class:`GuildSession` and its outcomes into replies;
nothing else joins, plays or reads a server's state. Every decision that touches the voice
connection (join, move, leave, react to a voice or permission event) runs under one lock, from the
decision through the join, so two members, or a member and a gateway event, can never act on a
half-made change. Queue changes are synchronous (see :mod:`.speech_queue`), so a delete or an edit
that arrives while a join is under way takes effect at once.

:meth:`GuildSession.speak` is the one road for speech: ``/say``, read messages, the Speak menu and
previews all pass through the same cleaning, voice choice, attribution, limits and queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import discord

from ..asyncflow.client import AsyncFlowClient
from ..asyncflow.voices import VoiceCatalog
from ..audio.opus import EncoderPool
from ..config import Settings
from ..metrics import TTSMetrics
from ..store.limits import Refusal, SpeechLimits
from ..store.models import Added, GuildPrefs, PreferencesStore
from ..text.pronunciation import MAX_ENTRIES, NO_PRONUNCIATIONS, Pronunciations
from ..words import (
    CHANNEL_DELETED,
    DISCONNECTED,
    FOREIGN_VOICE,
    LEFT_ALONE,
    NOTHING_SPEAKABLE,
    QUEUE_FULL_NOTICE,
    queue_full,
)
from .announcer import Announcer
from .pending import PendingMessages
from .phrase_cache import PhraseCache
from .request import Accepted, Outcome, SpeechRequest, refused
from .road import choose_speed, choose_voice, clean_request, words_to_say
from .speech_queue import QueueFull, SpeechQueue
from .utterance import SpeechItem
from .voice import (
    JoinRefused,
    VoiceChannel,
    disconnect,
    join,
    lost_permissions_message,
    missing_voice_permissions,
    silenced_message,
    speak_on_stage,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SessionParts:
    """What every session is handed by the engine (it never reaches for the engine itself)."""

    client: AsyncFlowClient
    settings: Settings
    preferences: PreferencesStore
    limits: SpeechLimits
    voices: VoiceCatalog
    cache: PhraseCache | None
    encoders: EncoderPool
    voice_client_class: type[discord.VoiceClient]
    metrics: TTSMetrics


ChannelChoice = Callable[[VoiceChannel | None, bool], VoiceChannel | None]
"""Given where the bot's voice is (None: nowhere) and whether it is busy, where to speak: raises
:class:`JoinRefused` to refuse, or returns None to speak where the bot already is."""


class GuildSession:
    """Everything one server's speech needs, applied in order. All methods run on the event loop."""

    def __init__(self, guild_id: int, parts: SessionParts) -> None:
        self.guild_id = guild_id
        self._parts = parts
        self._lock = asyncio.Lock()
        self._voice: discord.VoiceClient | None = None
        """Our voice connection, once connected (None while joining or moving: nothing plays then)."""
        self.queue = SpeechQueue(
            client=parts.client,
            settings=parts.settings.speech,
            voice=lambda: self._voice,
            cache=parts.cache,
            encoders=parts.encoders,
            guild_id=guild_id,
            metrics=parts.metrics,
        )
        self.announcer = Announcer()
        self.pending = PendingMessages()
        self._alone_timer: asyncio.Task[None] | None = None
        self._joining: VoiceChannel | None = None
        self._pronunciations: Pronunciations = NO_PRONUNCIATIONS
        """The server's dictionary as last read, compiled (rebuilt only when the stored entries differ)."""

    def __repr__(self) -> str:
        return f"<GuildSession {self.guild_id} active={self.is_active} voice={self.channel_id}>"

    @property
    def is_active(self) -> bool:
        """Speaking, about to speak, holding queued texts, or in the middle of a voice change."""
        return self.queue.is_active or self._lock.locked()

    @property
    def channel(self) -> VoiceChannel | None:
        """Where our own voice connection is (never a voice client the bot's host started)."""
        voice = self._voice
        channel = voice.channel if voice is not None else None
        return channel if isinstance(channel, discord.VoiceChannel | discord.StageChannel) else None

    @property
    def listening_in(self) -> VoiceChannel | None:
        """Where the bot is, or is joining right now: where a message posted now would be heard."""
        return self.channel or self._joining

    @property
    def channel_id(self) -> int | None:
        channel = self.channel
        return channel.id if channel is not None else None

    # -- the one road for speech -----------------------------------------------------------------

    def turn(self) -> asyncio.Lock:
        """``async with session.turn():`` — this server's commands and events, one at a time, in arrival order
        (asyncio's lock is first come, first served)."""
        return self._lock

    async def speak(self, guild: discord.Guild, request: SpeechRequest, where: ChannelChoice) -> Outcome:
        """Clean, attribute, choose the voice, count and queue ``request``, joining the channel ``where``
        chooses; the outcome says where it is spoken or why not, in the member's words."""
        async with self._lock:
            return await self.speak_in_turn(guild, request, where)

    async def speak_in_turn(self, guild: discord.Guild, request: SpeechRequest, where: ChannelChoice) -> Outcome:
        """:meth:`speak` for a caller that already holds :meth:`turn`."""
        ours = self._current_voice(guild)
        if isinstance(ours, Refusal):
            return ours
        try:
            target = where(self.channel, self.queue.is_active)
        except JoinRefused as refusal:
            return refused(str(refusal), "join-refused")
        prefs = await self._parts.preferences.guild(guild.id)
        voice_id = await choose_voice(request, prefs, self._parts.voices, self._parts.preferences)
        if isinstance(voice_id, Refusal):
            return voice_id
        said_as = await self.pronunciations()
        words = words_to_say(request, prefs, self.announcer, guild_id=self.guild_id, pronunciations=said_as)
        if words is None:
            return refused(NOTHING_SPEAKABLE, "nothing-to-say")
        prefix, text = words
        channel = target or self.channel
        if channel is None:
            return refused("I'm not in a voice channel.", "not-in-voice")
        if self.queue.is_full:
            return Refusal(queue_full(self._parts.settings.speech.queue_limit), QUEUE_FULL_NOTICE, "queue-full")
        limited = await self._parts.limits.admit(guild.id, request.requester_id, len(text))
        if limited is not None:
            return limited
        entry = self.pending.get(request.key) if request.key is not None else None
        if entry is not None and entry.deleted:
            return refused("", "deleted")  # deleted while we checked: never spoken, nobody to tell
        if isinstance(target, discord.StageChannel):
            try:  # step up (or raise a hand) before paying for speech nobody may hear
                await self._join(target)
            except JoinRefused as refusal:
                return refused(str(refusal), "join-refused")
            target = None
        item = SpeechItem(
            text=text,
            voice_id=voice_id,
            speed=choose_speed(request, prefs),
            requester_id=request.requester_id,
            notify=request.notify,
            key=request.key,
            notify_retries=request.notify_retries,
        )
        try:
            ahead = self.queue.enqueue(item)  # the download starts now, alongside the voice connection
        except QueueFull as full:
            return refused(queue_full(full.limit), "queue-full")
        if not request.preview and prefs.announce_author:
            self.announcer.spoke(request.speaker, time.monotonic())
        if entry is not None:
            entry.prefix = prefix
        if target is not None:
            try:
                await self._join(target)
            except JoinRefused as refusal:
                self.queue.stop(tell=str(refusal), except_user=request.requester_id)
                return refused(str(refusal), "join-refused")
        return Accepted(channel.mention, ahead)

    async def count(self, guild_id: int, author_id: int, text: str, *, old: str | None) -> Refusal | None:
        """Count an edited text against the rates and the daily budget: a download that starts again counts in
        full (``old`` None), a text still waiting only by how much it grew."""
        if old is None:
            return await self._parts.limits.admit(guild_id, author_id, len(text))
        grown = len(text) - len(old)
        if grown <= 0:
            return None
        return await self._parts.limits.admit(guild_id, author_id, grown, count_rate=False)

    def words_for_edit(self, request: SpeechRequest, prefs: GuildPrefs) -> str | None:
        """The new words for an edited message, keeping the "Alice said" it was first given."""
        entry = self.pending.get(request.key) if request.key is not None else None
        cleaned = clean_request(request, prefs, self._pronunciations)  # the dictionary as the text was first read
        if cleaned is None:
            return None
        return (entry.prefix if entry is not None else "") + cleaned

    # -- the pronunciation dictionary ---------------------------------------------------------------

    async def pronunciations(self) -> Pronunciations:
        """The server's dictionary, compiled; read from the store each time (another process may have changed
        it), compiled again only when it changed."""
        entries = await self._parts.preferences.pronunciations(self.guild_id)
        if not self._pronunciations.holds(entries):
            self._pronunciations = Pronunciations(entries)
        return self._pronunciations

    async def add_pronunciation(self, word: str, spoken: str) -> Added:
        """``/dictionary add``, in turn with this server's speech: a text taken after it is said the new way."""
        async with self._lock:
            added = await self._parts.preferences.set_pronunciation(
                self.guild_id, word, spoken, max_entries=MAX_ENTRIES
            )
            await self.pronunciations()
            return added

    async def remove_pronunciation(self, word: str) -> str | None:
        """``/dictionary remove``: the word as it was stored, or None if the dictionary didn't have it."""
        async with self._lock:
            removed = await self._parts.preferences.remove_pronunciation(self.guild_id, word)
            await self.pronunciations()
            return removed

    # -- the voice connection ----------------------------------------------------------------------

    def _current_voice(self, guild: discord.Guild) -> discord.VoiceClient | Refusal | None:
        """Our voice client if we have one; a refusal if the guild's voice connection belongs to someone else."""
        present = guild.voice_client
        if self._voice is not None and present is not self._voice:
            self._voice = None  # ours ended (discord.py cleaned it up after a disconnect)
        if present is not None and present is not self._voice:
            return refused(FOREIGN_VOICE, "foreign-voice")
        return self._voice

    async def _join(self, channel: VoiceChannel) -> None:
        """Connect to ``channel`` (moving there if ours is elsewhere); under the lock. Nothing plays meanwhile."""
        current = self._voice
        if current is None or not current.is_connected() or current.channel.id != channel.id:
            self._voice, self._joining = None, channel
            try:
                voice = await join(channel, current=current, cls=self._parts.voice_client_class, timeout=self._timeout)
            finally:
                self._joining = None
            self._voice = voice
            self.queue.voice_ready()
            self._check_alone()
        if isinstance(channel, discord.StageChannel):
            await speak_on_stage(channel)  # raises JoinRefused (hand raised) if we may not speak there

    @property
    def _timeout(self) -> float:
        return self._parts.settings.speech.connect_timeout

    async def leave(self, *, tell: str | None = None, except_user: int | None = None) -> bool:
        """Stop, tell those waiting, and disconnect our voice connection. False if we had none."""
        async with self._lock:
            return await self._leave(tell=tell, except_user=except_user)

    async def _leave(self, *, tell: str | None = None, except_user: int | None = None) -> bool:
        await self.stop(tell=tell, except_user=except_user)
        self._cancel_alone_timer()
        voice, self._voice = self._voice, None
        if voice is None:
            return False
        await disconnect(voice)
        return True

    def skip(self) -> bool:
        return self.queue.skip()

    async def stop(self, *, tell: str | None = None, except_user: int | None = None) -> int:
        """Clear the queue and stop speaking; returns how many texts were dropped, once their members are told."""
        dropped = self.queue.stop(tell=tell, except_user=except_user)
        await self.queue.told()
        return dropped

    # -- what happens to the voice channel ---------------------------------------------------------

    async def bot_voice_changed(
        self, guild: discord.Guild, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Our own voice state changed. Judged by where our connection is *now*: the events of our own move
        (leaving one channel, joining the next) arrive while the move is under way and are not news."""
        async with self._lock:
            voice = self._voice
            if voice is None:
                return  # not ours, or we already know
            ours = voice.channel.id
            if after.channel is None:
                if before.channel is not None and before.channel.id != ours:
                    return  # a channel we had already left (our own move)
                now = guild.me.voice  # Discord's latest word on where we are (this event may be an old one)
                if now is not None and now.channel is not None and now.channel.id == ours:
                    return  # our own leaving of this channel before a move away and back: we are here again
                deleted = guild.get_channel(ours) is None
                log.info("voice connection in guild %s ended from outside (channel deleted: %s)", guild.id, deleted)
                await self._leave(tell=CHANNEL_DELETED if deleted else DISCONNECTED)
            elif after.channel.id == ours and before.channel is not None and before.channel.id != ours:
                self._check_alone()  # a moderator moved us
            elif after.channel.id == ours and (after.mute > before.mute or after.suppress > before.suppress):
                self._stop_if_unheard(guild)  # newly server-muted, or sent to a stage's audience

    def member_voice_changed(self, before: discord.VoiceState, after: discord.VoiceState) -> None:
        ours = self.channel_id
        if ours is not None and ours in (getattr(before.channel, "id", None), getattr(after.channel, "id", None)):
            self._check_alone()

    async def channel_deleted(self, channel: discord.abc.GuildChannel) -> None:
        async with self._lock:
            if channel.id == self.channel_id:
                log.info("voice channel %s deleted under the bot in guild %s", channel.id, channel.guild.id)
                await self._leave(tell=CHANNEL_DELETED)

    async def permissions_changed(self, guild: discord.Guild) -> None:
        """Permissions changed: whatever the bot would say now, nobody may hear. Lost permissions: stop, tell
        those waiting, leave (``/say`` then explains what is missing). Muted or in a stage's audience: stop, stay."""
        async with self._lock:
            channel = self.channel
            if channel is None:
                return
            missing = missing_voice_permissions(channel)
            if missing:
                log.warning("lost %s in voice channel %s of guild %s; leaving", missing, channel.id, guild.id)
                await self._leave(tell=lost_permissions_message(channel, missing))
            else:
                self._stop_if_unheard(guild)

    def _stop_if_unheard(self, guild: discord.Guild) -> None:
        silenced = silenced_message(guild)
        if silenced is not None and self.queue.is_active:
            log.info("silenced in voice channel %s of guild %s; queue cleared", self.channel_id, guild.id)
            self.queue.stop(tell=silenced)

    # -- leaving an empty channel ------------------------------------------------------------------

    def _check_alone(self) -> None:
        channel = self.channel
        if channel is None:
            return
        if any(not member.bot for member in channel.members):
            self._cancel_alone_timer()
        elif self._alone_timer is None or self._alone_timer.done():
            self._alone_timer = asyncio.create_task(self._leave_when_still_alone(), name="asyncflow-alone-timer")

    async def _leave_when_still_alone(self) -> None:
        await asyncio.sleep(self._parts.settings.speech.leave_when_alone_after)
        async with self._lock:
            channel = self.channel
            if channel is None or any(not member.bot for member in channel.members):
                return
            log.info("leaving voice in guild %s: no humans left", self.guild_id)
            self._alone_timer = None  # don't cancel ourselves
            await self._leave(tell=LEFT_ALONE)

    def _cancel_alone_timer(self) -> None:
        timer, self._alone_timer = self._alone_timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def close(self) -> None:
        """Stop speaking and leave voice (the extensions are unloading or the bot is shutting down)."""
        self._cancel_alone_timer()
        await self.queue.close()
        voice, self._voice = self._voice, None
        if voice is not None and voice.is_connected():
            await disconnect(voice)
