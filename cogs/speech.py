"""``/say``, ``/skip``, ``/stop`` and ``/leave``: speak text in the member's voice channel.

Load with ``await bot.load_extension("cogs.speech")``. Where a ``/say`` goes next:
:mod:`cogs.engine.playback.guild_session` (queue) → :mod:`cogs.engine.playback.utterance` (download task) →
:mod:`cogs.engine.asyncflow.client` (HTTP) → :mod:`cogs.engine.audio.pipeline` (WAV → PCM) →
:mod:`cogs.engine.audio.source` (frames for discord.py's player, which encodes them to Opus).
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from .engine.asyncflow.voices import choice_label
from .engine.engine import TTSEngine, engine_for
from .engine.playback.guild_session import (
    CHANNEL_DELETED,
    DISCONNECTED,
    LEFT_ALONE,
    LEFT_BY_SOMEONE,
    STOPPED_BY_SOMEONE,
    GuildPlayer,
)
from .engine.playback.voice import (
    current_channel,
    leave,
    lost_permissions_message,
    missing_voice_permissions,
    silenced_message,
)
from .engine_cog import EngineCog
from .interactions import followup, reply, speak_for_member

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


class SpeechCog(EngineCog, name="Speech"):
    """Speaks text in voice channels with AsyncFlow."""

    def __init__(self, bot: commands.Bot, engine: TTSEngine) -> None:
        super().__init__(bot, engine)
        self._alone_timers: dict[int, asyncio.Task[None]] = {}

    async def cog_unload(self) -> None:
        for timer in self._alone_timers.values():
            timer.cancel()
        await super().cog_unload()

    # -- /say ---------------------------------------------------------------------------------------

    @app_commands.command(name="say", description="Speak text in your voice channel.")
    @app_commands.guild_only()
    @app_commands.describe(text="What to say", voice="Voice to speak with (start typing to search)")
    async def say(self, interaction: discord.Interaction, text: str, voice: str | None = None) -> None:
        member = interaction.user
        guild = interaction.guild
        if guild is None or not isinstance(member, discord.Member):
            await reply(interaction, "Use /say in a server, not in DMs.")
            return
        text = text.strip()
        limit = self.engine.settings.speech.max_text_length
        if not text:
            await reply(interaction, "There's nothing to say — give me some text.")
            return
        if len(text) > limit:
            await reply(
                interaction,
                f"That's {len(text)} characters; the limit here is {limit}. Shorten it or split it into parts.",
            )
            return
        await speak_for_member(self.engine, interaction, text, voice.strip() if voice else None)

    @say.autocomplete("voice")
    async def _voice_choices(self, _interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        voices = await self.engine.voices.search(current)
        return [app_commands.Choice(name=choice_label(v), value=v.id) for v in voices]

    # -- /skip, /stop, /leave ------------------------------------------------------------------------

    @app_commands.command(name="skip", description="Skip the message being spoken; the queue goes on.")
    @app_commands.guild_only()
    async def skip(self, interaction: discord.Interaction) -> None:
        player = await self._player_for_listener(interaction)
        if player is None:
            return
        if player.skip():
            await reply(interaction, "⏭️ Skipped.")
        else:
            await reply(interaction, "Nothing is being spoken right now.")

    @app_commands.command(name="stop", description="Stop speaking and clear the queue.")
    @app_commands.guild_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        player = await self._player_for_listener(interaction)
        if player is None:
            return
        dropped = await player.stop(tell=STOPPED_BY_SOMEONE, except_user=interaction.user.id)
        if dropped:
            await reply(interaction, f"⏹️ Stopped and cleared {dropped} message{'s' if dropped != 1 else ''}.")
        else:
            await reply(interaction, "Nothing was being spoken or queued.")

    @app_commands.command(name="leave", description="Stop speaking and leave the voice channel.")
    @app_commands.guild_only()
    async def leave(self, interaction: discord.Interaction) -> None:
        player = await self._player_for_listener(interaction)
        if player is None or interaction.guild is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await player.stop(tell=LEFT_BY_SOMEONE, except_user=interaction.user.id)
        await leave(interaction.guild)
        await followup(interaction)("👋 Left the voice channel.")

    async def _player_for_listener(self, interaction: discord.Interaction) -> GuildPlayer | None:
        """The guild's player if the member is in the bot's voice channel; otherwise answers why not."""
        guild = interaction.guild
        member = interaction.user
        if guild is None or not isinstance(member, discord.Member):
            await reply(interaction, "This command only works in a server.")
            return None
        channel = current_channel(guild)
        if channel is None:
            await reply(interaction, "I'm not in a voice channel.")
            return None
        if member.voice is None or member.voice.channel is None or member.voice.channel.id != channel.id:
            await reply(interaction, f"Join {channel.mention} to control what I say there.")
            return None
        return self.engine.player_for(guild)

    # -- leaving an empty channel ------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        guild = member.guild
        if self.bot.user is not None and member.id == self.bot.user.id:
            if after.channel is None:  # we left, were kicked, or the channel was deleted
                player = self.engine.existing_player(guild.id)
                if player is not None:
                    deleted = before.channel is not None and guild.get_channel(before.channel.id) is None
                    await player.stop(tell=CHANNEL_DELETED if deleted else DISCONNECTED)
                self._cancel_alone_timer(guild.id)
            elif before.channel is not None and after.channel.id != before.channel.id:
                self._check_alone(guild)  # moved by a moderator
            elif (after.mute and not before.mute) or (after.suppress and not before.suppress):
                await self._stop_if_unheard(guild)  # server-muted, or sent to a stage's audience
            return
        channel = current_channel(guild)
        if channel is None:
            return
        if (before.channel and before.channel.id == channel.id) or (after.channel and after.channel.id == channel.id):
            self._check_alone(guild)

    # -- the channel is deleted, or the bot can no longer be heard there ---------------------------

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        current = current_channel(channel.guild)
        if current is None or current.id != channel.id:
            return
        log.info("voice channel %s deleted under the bot in guild %s", channel.id, channel.guild.id)
        player = self.engine.existing_player(channel.guild.id)
        if player is not None:
            await player.stop(tell=CHANNEL_DELETED)
        self._cancel_alone_timer(channel.guild.id)
        await leave(channel.guild)

    @commands.Cog.listener()
    async def on_guild_channel_update(self, _before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        current = current_channel(after.guild)
        if current is not None and current.id == after.id:
            await self._stop_if_unheard(after.guild)

    @commands.Cog.listener()
    async def on_guild_role_update(self, _before: discord.Role, after: discord.Role) -> None:
        await self._stop_if_unheard(after.guild)

    @commands.Cog.listener()
    async def on_member_update(self, _before: discord.Member, after: discord.Member) -> None:
        if self.bot.user is not None and after.id == self.bot.user.id:
            await self._stop_if_unheard(after.guild)  # e.g. a role was taken away from the bot

    async def _stop_if_unheard(self, guild: discord.Guild) -> None:
        """Permissions changed or a moderator muted the bot: whatever it would say now, nobody would hear.

        Lost permissions: stop, tell those waiting, leave (``/say`` then explains what is missing).
        Server-muted or sent to a stage's audience: stop and tell them, but stay: a moderator can undo it.
        """
        channel = current_channel(guild)
        if channel is None:
            return
        player = self.engine.existing_player(guild.id)
        missing = missing_voice_permissions(channel)
        if missing:
            log.warning("lost %s in voice channel %s of guild %s; leaving", missing, channel.id, guild.id)
            if player is not None:
                await player.stop(tell=lost_permissions_message(channel, missing))
            self._cancel_alone_timer(guild.id)
            await leave(guild)
        elif (silenced := silenced_message(guild)) is not None and player is not None and player.is_active:
            log.info("silenced in voice channel %s of guild %s (%s); queue cleared", channel.id, guild.id, silenced)
            await player.stop(tell=silenced)

    def _check_alone(self, guild: discord.Guild) -> None:
        channel = current_channel(guild)
        if channel is None:
            return
        humans = [m for m in channel.members if not m.bot]
        if humans:
            self._cancel_alone_timer(guild.id)
        elif guild.id not in self._alone_timers:
            self._alone_timers[guild.id] = asyncio.create_task(self._leave_when_still_alone(guild))

    async def _leave_when_still_alone(self, guild: discord.Guild) -> None:
        try:
            await asyncio.sleep(self.engine.settings.speech.leave_when_alone_after)
            channel = current_channel(guild)
            if channel is None or any(not m.bot for m in channel.members):
                return
            log.info("leaving voice in guild %s: no humans left", guild.id)
            player = self.engine.existing_player(guild.id)
            if player is not None:
                await player.stop(tell=LEFT_ALONE)  # e.g. a moderator moved the bot to an empty channel
            await leave(guild)
        finally:
            self._alone_timers.pop(guild.id, None)

    def _cancel_alone_timer(self, guild_id: int) -> None:
        timer = self._alone_timers.pop(guild_id, None)
        if timer is not None:
            timer.cancel()


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(SpeechCog(bot, engine_for(bot)))
