"""Accessibility reading: messages posted in linked channels (and the voice channel's own chat) are spoken.

Load with ``await bot.load_extension("cogs.reading")`` (needs the privileged Message Content intent).
Which messages are read: :mod:`cogs.engine.text.read_filter`. How they are said:
:mod:`cogs.engine.text.cleaner`. They then join the same per-server queue as ``/say``, keyed by
message id, so a deleted message is never spoken (or stops) and an edited one is spoken as edited.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import discord
from discord.ext import commands

from .engine.engine import TTSEngine, engine_for
from .engine.playback.guild_session import QueueFull
from .engine.playback.utterance import Notify, SpeechItem
from .engine.playback.voice import (
    JoinRefused,
    channel_to_join,
    current_channel,
    join,
    server_muted,
    stage_audience,
)
from .engine.store.models import GuildPrefs, MemberPrefs
from .engine.text.cleaner import CleanOptions, MessageParts, Names, clean_message
from .engine.text.message_parts import mention_names, message_parts
from .engine.text.read_filter import in_reading_channel, is_proxy_message, reason_not_to_read
from .engine_cog import EngineCog

log = logging.getLogger(__name__)

NOTICE_INTERVAL_S = 600.0  # the same problem is posted in a server at most this often
MAX_REMEMBERED_PREFIXES = 2000
QUEUE_FULL_NOTICE = "Skipping some messages: too many are waiting to be read. I'll catch up with new ones."


class Announcer:
    """Decides when to say "Alice said": not again while the same speaker keeps talking within the window."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[str, float]] = {}

    def prefix(self, guild_id: int, speaker: str, name: str, window_s: float, now: float) -> str:
        previous = self._last.get(guild_id)
        self._last[guild_id] = (speaker, now)
        if previous is not None and previous[0] == speaker and now - previous[1] <= window_s:
            return ""
        return f"{name} said, "


class ReadingCog(EngineCog, name="Reading"):
    """Reads chat aloud in the voice channel for members who can't or won't read it."""

    def __init__(self, bot: commands.Bot, engine: TTSEngine) -> None:
        super().__init__(bot, engine)
        self.announcer = Announcer()
        self._prefixes: OrderedDict[int, str] = OrderedDict()  # message id -> the "Alice said" it was given
        self._notices: dict[tuple[int, str], float] = {}

    # -- new messages ------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        guild = message.guild
        if guild is None or self.bot.user is None or message.author.id == self.bot.user.id:
            return
        prefs = await self.engine.preferences.guild(guild.id)
        voice_chat_id = message.channel.id if isinstance(message.channel, discord.VoiceChannel) else None
        if not in_reading_channel(message, prefs, voice_chat_id):
            return  # the common case in a big server: cheap, and no player is created for it
        player = self.engine.player_for(guild)
        bot_channel = current_channel(guild)
        join_channel = self._channel_to_join(message, prefs, bot_channel, idle=not player.is_active)
        listening_in = join_channel or bot_channel
        proxy = is_proxy_message(message, prefs)
        author_prefs = None if proxy or message.webhook_id else await self.engine.preferences.member(message.author.id)
        reason = reason_not_to_read(
            message,
            prefs,
            author_prefs,
            voice_channel_id=listening_in.id if listening_in else None,
            bot_user_id=self.bot.user.id,
        )
        if reason is not None:
            log.debug("not reading message %s: %s", message.id, reason)
            return
        if bot_channel is not None and join_channel is None and (server_muted(guild) or stage_audience(guild)):
            why = "A moderator server-muted me" if server_muted(guild) else "I'm only a listener on the stage"
            notice = f"{why} in {bot_channel.mention}, so I'm not reading messages aloud."
            await self._notice(message.channel, guild.id, notice, reason="silenced")
            return
        text = self._speech_for(message, prefs, author_prefs, remember_prefix=True)
        if text is None:
            return
        if player.is_full:
            await self._notice(message.channel, guild.id, QUEUE_FULL_NOTICE, reason="queue-full")
            return
        refusal = await self.engine.limits.admit(guild.id, message.author.id, len(text))
        if refusal is not None:
            log.info("not reading message %s in guild %s: %s", message.id, guild.id, refusal.reason)
            await self._notice(message.channel, guild.id, refusal.notice, reason=refusal.reason)
            return
        if join_channel is not None and isinstance(message.author, discord.Member):
            try:
                channel_to_join(message.author, busy=False)
                await join(
                    join_channel,
                    cls=self.engine.voice_client_class,
                    timeout=self.engine.settings.speech.connect_timeout,
                )
            except JoinRefused as refusal:
                await self._notice(message.channel, guild.id, str(refusal))
                return
            player.voice_ready()
        voice = await self.engine.voice_for(guild.id, None if author_prefs is None else message.author.id)
        item = SpeechItem(
            text=text,
            voice_id=voice,
            requester_id=message.author.id,
            notify=self._notifier(message.channel, guild.id),
            key=message.id,
            notify_retries=False,
        )
        try:
            player.enqueue(item)
        except QueueFull:  # filled up while we were joining
            await self._notice(message.channel, guild.id, QUEUE_FULL_NOTICE, reason="queue-full")

    def _channel_to_join(
        self,
        message: discord.Message,
        prefs: GuildPrefs,
        bot_channel: discord.VoiceChannel | discord.StageChannel | None,
        *,
        idle: bool,
    ) -> discord.VoiceChannel | discord.StageChannel | None:
        """The author's voice channel, when auto-join applies: the bot is idle and somewhere else (or nowhere)."""
        author = message.author
        if not prefs.auto_join or not idle or not isinstance(author, discord.Member) or author.voice is None:
            return None
        channel = author.voice.channel
        if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
            return None
        if bot_channel is not None and bot_channel.id == channel.id:
            return None
        return channel if in_reading_channel(message, prefs, channel.id) else None

    def _speech_for(
        self,
        message: discord.Message,
        prefs: GuildPrefs,
        author: MemberPrefs | None,
        *,
        remember_prefix: bool,
    ) -> str | None:
        """The words to say for ``message``, "Alice said" included, or None if nothing is worth saying."""
        guild_id = message.guild.id if message.guild else 0
        options = CleanOptions(
            max_length=prefs.max_length,
            emoji_mode=prefs.emoji_mode,
            repeated_characters=prefs.repeated_characters,
        )
        reply_to = _replied_author(message)
        cleaned = clean_message(message_parts(message, reply_to=reply_to), mention_names(message), options)
        if cleaned is None:
            return None
        if not prefs.announce_author:
            return cleaned
        if not remember_prefix:
            return self._prefixes.get(message.id, "") + cleaned
        spoken = author.spoken_names.get(guild_id) if author else None
        name = _speakable_name(spoken or message.author.display_name)
        speaker = f"{message.author.id}:{message.author.display_name}"  # proxies share one webhook user id
        prefix = self.announcer.prefix(guild_id, speaker, name, prefs.announce_window_s, time.monotonic())
        self._prefixes[message.id] = prefix
        while len(self._prefixes) > MAX_REMEMBERED_PREFIXES:
            self._prefixes.popitem(last=False)
        return prefix + cleaned

    # -- edits and deletions -----------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        message = payload.message
        if payload.guild_id is None or message.guild is None:
            return
        if payload.cached_message is not None and payload.cached_message.content == message.content:
            return  # an embed was added, not an edit by the author
        player = self.engine.existing_player(payload.guild_id)
        if player is None:
            return
        prefs = await self.engine.preferences.guild(payload.guild_id)
        author = None if message.webhook_id else await self.engine.preferences.member(message.author.id)
        text = self._speech_for(message, prefs, author, remember_prefix=False)
        if text is None:
            await player.withdraw(message.id)
        else:
            await player.revise(message.id, text)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        if payload.guild_id is None:
            return
        player = self.engine.existing_player(payload.guild_id)
        if player is not None:
            await player.withdraw(payload.message_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is None:
            return
        player = self.engine.existing_player(payload.guild_id)
        if player is not None:
            for message_id in payload.message_ids:
                await player.withdraw(message_id)

    # -- telling people ----------------------------------------------------------------------------

    def _notifier(self, channel: discord.abc.Messageable, guild_id: int) -> Notify:
        async def notify(text: str) -> None:
            await self._notice(channel, guild_id, text)

        return notify

    async def _notice(
        self, channel: discord.abc.Messageable, guild_id: int, text: str, *, reason: str | None = None
    ) -> None:
        """Post a problem in the channel being read, silently, and not again for a while (per text or reason)."""
        now = time.monotonic()
        key = (guild_id, reason or text)
        if now - self._notices.get(key, float("-inf")) < NOTICE_INTERVAL_S:
            return
        self._notices[key] = now
        try:
            await channel.send(f"⚠️ {text}", silent=True, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.info("could not post a reading notice: %s", error)


def _replied_author(message: discord.Message) -> str | None:
    reference = message.reference
    if reference is None or reference.type is not discord.MessageReferenceType.default:
        return None
    resolved = reference.resolved
    if isinstance(resolved, discord.Message):
        return _speakable_name(resolved.author.display_name)
    return None


def _speakable_name(name: str) -> str:
    cleaned = clean_message(MessageParts(content=name), Names(), CleanOptions(max_length=60))
    return cleaned or "Someone"


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ReadingCog(bot, engine_for(bot)))
