"""``/say``, ``/skip``, ``/stop``, ``/leave`` and the Speak message menu: speak text in the member's voice channel.

Load with ``await bot.load_extension("asyncflow_tts.speech")`` (installed; ``"cogs.speech"`` from a checkout).
Where a ``/say`` goes next:
:mod:`cogs.engine.playback.guild_session` (the server's one owner: voice, queue, the one road for
speech) → :mod:`cogs.engine.playback.speech_queue` → :mod:`cogs.engine.playback.utterance` (download
task) → :mod:`cogs.engine.asyncflow.client` (HTTP) → :mod:`cogs.engine.audio.pipeline` (WAV → PCM) →
:mod:`cogs.engine.audio.source` (frames for discord.py's player, which encodes them to Opus).
This cog only turns Discord events into calls on the session, and its outcomes into replies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import discord
from discord import app_commands
from discord.ext import commands

from .engine.asyncflow.voices import choice_label
from .engine.engine import TTSEngine, engine_for
from .engine.playback.guild_session import GuildSession
from .engine.playback.private_voices import visible_voices
from .engine.playback.reading import message_deleted
from .engine.words import LEFT_BY_SOMEONE, STOPPED_BY_SOMEONE
from .engine_cog import EngineCog
from .interactions import defer, explain_command_error, reply, say_for_member, speak_message_for_member

log = logging.getLogger(__name__)

SPEAK_MENU = "Speak"
"""The message context menu's name (right-click a message → Apps → Speak)."""


class SpeechCog(EngineCog, name="Speech"):
    """Speaks text in voice channels with AsyncFlow."""

    def __init__(self, bot: commands.Bot, engine: TTSEngine) -> None:
        super().__init__(bot, engine)
        # A context menu can't be a cog method: it is added to the tree with the cog, and taken out with it.
        self.speak_menu = app_commands.ContextMenu(
            name=SPEAK_MENU,
            callback=self._speak_message,
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False),
        )
        self.speak_menu.error(explain_command_error)

    async def cog_load(self) -> None:
        await super().cog_load()
        self.bot.tree.add_command(self.speak_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.speak_menu.name, type=self.speak_menu.type)
        await super().cog_unload()

    # -- the Speak menu (right-click a message → Apps → Speak) ------------------------------------------

    async def _speak_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        await speak_message_for_member(self.engine, interaction, message)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self._chosen_message_deleted(payload.guild_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        self._chosen_message_deleted(payload.guild_id, payload.message_ids)

    def _chosen_message_deleted(self, guild_id: int | None, message_ids: Iterable[int]) -> None:
        """A message chosen with Speak is withdrawn when it is deleted (the reading cog, if loaded, does the same
        for read messages; this one works without it)."""
        session = self.engine.existing_session(guild_id) if guild_id is not None else None
        if session is None:
            return
        for message_id in message_ids:
            entry = session.pending.get(message_id)
            if entry is not None and entry.chosen:
                message_deleted(session, message_id)

    # -- /say ---------------------------------------------------------------------------------------

    @app_commands.command(name="say", description="Speak text in your voice channel.")
    @app_commands.guild_only()
    @app_commands.describe(text="What to say", voice="Voice to speak with (start typing to search)")
    async def say(self, interaction: discord.Interaction, text: str, voice: str | None = None) -> None:
        await say_for_member(self.engine, interaction, text, voice)

    @say.autocomplete("voice")
    async def _voice_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        voices = await visible_voices(self.engine.voices, self.engine.preferences, current, interaction.user.id)
        return [app_commands.Choice(name=choice_label(v), value=v.id) for v in voices]

    # -- /skip, /stop, /leave ------------------------------------------------------------------------

    @app_commands.command(name="skip", description="Skip the message being spoken; the queue goes on.")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        session = await self._session_for_listener(interaction)
        if session is None:
            return
        if session.skip():
            await reply(interaction, "⏭️ Skipped.")
        else:
            await reply(interaction, "Nothing is being spoken right now.")

    @app_commands.command(name="stop", description="Stop speaking and clear the queue.")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        session = await self._session_for_listener(interaction)
        if session is None:
            return
        dropped = await session.stop(tell=STOPPED_BY_SOMEONE, except_user=interaction.user.id)
        if dropped:
            await reply(interaction, f"⏹️ Stopped and cleared {dropped} message{'s' if dropped != 1 else ''}.")
        else:
            await reply(interaction, "Nothing was being spoken or queued.")

    @app_commands.command(name="leave", description="Stop speaking and leave the voice channel.")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        session = await self._session_for_listener(interaction)
        if session is None:
            return
        await defer(interaction)  # a disconnect takes a moment, and may wait for a join under way
        if await session.leave(tell=LEFT_BY_SOMEONE, except_user=interaction.user.id):
            await reply(interaction, "👋 Left the voice channel.")
        else:
            await reply(interaction, "I'm not in a voice channel.")

    async def _session_for_listener(self, interaction: discord.Interaction) -> GuildSession | None:
        """The guild's session if the member is in the bot's voice channel; otherwise answers why not."""
        guild = interaction.guild
        member = interaction.user
        if guild is None or not isinstance(member, discord.Member):
            await reply(interaction, "This command only works in a server.")
            return None
        session = self.engine.existing_session(guild.id)
        channel = session.channel if session is not None else None
        if session is None or channel is None:
            await reply(interaction, "I'm not in a voice channel.")
            return None
        if member.voice is None or member.voice.channel is None or member.voice.channel.id != channel.id:
            await reply(interaction, f"Join {channel.mention} to control what I say there.")
            return None
        return session

    # -- what happens to voice channels: the session judges ------------------------------------------

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        session = self.engine.existing_session(member.guild.id)
        if session is None:
            return
        if self.bot.user is not None and member.id == self.bot.user.id:
            await session.bot_voice_changed(member.guild, before, after)
        else:
            session.member_voice_changed(before, after)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        session = self.engine.existing_session(channel.guild.id)
        if session is not None:
            await session.channel_deleted(channel)

    @commands.Cog.listener()
    async def on_guild_channel_update(self, _before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        session = self.engine.existing_session(after.guild.id)
        if session is not None and session.channel_id == after.id:
            await session.permissions_changed(after.guild)

    @commands.Cog.listener()
    async def on_guild_role_update(self, _before: discord.Role, after: discord.Role) -> None:
        session = self.engine.existing_session(after.guild.id)
        if session is not None:
            await session.permissions_changed(after.guild)

    @commands.Cog.listener()
    async def on_member_update(self, _before: discord.Member, after: discord.Member) -> None:
        session = self.engine.existing_session(after.guild.id)
        if session is not None and self.bot.user is not None and after.id == self.bot.user.id:
            await session.permissions_changed(after.guild)  # e.g. a role was taken away from the bot


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(SpeechCog(bot, engine_for(bot)))
