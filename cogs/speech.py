"""``/say``, ``/skip``, ``/stop`` and ``/leave``: speak text in the member's voice channel.

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

import discord
from discord import app_commands
from discord.ext import commands

from .engine.asyncflow.voices import choice_label
from .engine.engine import engine_for
from .engine.playback.guild_session import GuildSession
from .engine.words import LEFT_BY_SOMEONE, STOPPED_BY_SOMEONE
from .engine_cog import EngineCog
from .interactions import defer, reply, say_for_member

log = logging.getLogger(__name__)


class SpeechCog(EngineCog, name="Speech"):
    """Speaks text in voice channels with AsyncFlow."""

    # -- /say ---------------------------------------------------------------------------------------

    @app_commands.command(name="say", description="Speak text in your voice channel.")
    @app_commands.guild_only()
    @app_commands.describe(text="What to say", voice="Voice to speak with (start typing to search)")
    async def say(self, interaction: discord.Interaction, text: str, voice: str | None = None) -> None:
        await say_for_member(self.engine, interaction, text, voice)

    @say.autocomplete("voice")
    async def _voice_choices(self, _interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        voices = await self.engine.voices.search(current)
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
