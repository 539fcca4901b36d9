"""Accessibility reading: messages posted in linked channels (and the voice channel's own chat) are spoken.

Load with ``await bot.load_extension("asyncflow_tts.reading")`` (installed; ``"cogs.reading"`` from a checkout);
it needs the privileged Message Content intent.
Which messages are read and how: :mod:`cogs.engine.playback.reading` (the reading rules, then the
server session's one road for speech, the same as ``/say``). This cog hands each gateway event to
the server's session and posts what it says back, quietly and not too often, in the channel.
"""

from __future__ import annotations

import logging
import time

import discord
from discord.ext import commands

from .engine.engine import TTSEngine, engine_for
from .engine.playback.reading import Notice, message_deleted, message_edited, read_message
from .engine.playback.utterance import Notify
from .engine_cog import EngineCog

log = logging.getLogger(__name__)

NOTICE_INTERVAL_S = 600.0  # the same problem is posted in a server at most this often


class ReadingCog(EngineCog, name="Reading"):
    """Reads chat aloud in the voice channel for members who can't or won't read it."""

    def __init__(self, bot: commands.Bot, engine: TTSEngine) -> None:
        super().__init__(bot, engine)
        self._notices: dict[tuple[int, str], float] = {}

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        guild = message.guild
        if guild is None or self.bot.user is None or message.author.id == self.bot.user.id:
            return
        notice = await read_message(
            self.engine.session_for(guild),
            guild,
            message,
            store=self.engine.preferences,
            bot_user_id=self.bot.user.id,
            notify=self._notifier(message.channel, guild.id),
        )
        await self._post(message.channel, guild.id, notice)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        message = payload.message
        if payload.guild_id is None or message.guild is None or self.bot.user is None:
            return
        if payload.cached_message is not None and payload.cached_message.content == message.content:
            return  # an embed was added, not an edit by the author
        session = self.engine.existing_session(payload.guild_id)
        if session is None:
            return
        notice = await message_edited(
            session, message.guild, message, store=self.engine.preferences, bot_user_id=self.bot.user.id
        )
        await self._post(message.channel, payload.guild_id, notice)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        session = self.engine.existing_session(payload.guild_id) if payload.guild_id is not None else None
        if session is not None:
            message_deleted(session, payload.message_id)

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        session = self.engine.existing_session(payload.guild_id) if payload.guild_id is not None else None
        if session is not None:
            for message_id in payload.message_ids:
                message_deleted(session, message_id)

    # -- telling people ----------------------------------------------------------------------------

    def _notifier(self, channel: discord.abc.Messageable, guild_id: int) -> Notify:
        async def notify(text: str) -> None:
            await self._notice(channel, guild_id, text)

        return notify

    async def _post(self, channel: discord.abc.Messageable, guild_id: int, notice: Notice | None) -> None:
        if notice is not None and notice.text:
            await self._notice(channel, guild_id, notice.text, reason=notice.reason)

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


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ReadingCog(bot, engine_for(bot)))
