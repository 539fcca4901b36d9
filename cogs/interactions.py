"""Shared by the slash-command cogs: private replies, and speaking text in the invoking member's channel."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from .engine.engine import TTSEngine
from .engine.playback.guild_session import QueueFull
from .engine.playback.utterance import Notify, SpeechItem
from .engine.playback.voice import JoinRefused, channel_to_join, join, stage_audience

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


async def reply(interaction: discord.Interaction, message: str) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await followup(interaction)(message)
    else:
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_MENTIONS)


def followup(interaction: discord.Interaction) -> Notify:
    """A way to tell the member something later (for up to 15 minutes, the life of the interaction)."""

    async def send(message: str) -> None:
        try:
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:  # e.g. the interaction token expired
            log.info("could not send a follow-up: %s", error)

    return send


async def speak_for_member(
    engine: TTSEngine, interaction: discord.Interaction, text: str, voice_id: str | None
) -> None:
    """Join the member's voice channel and speak ``text``, telling them where it stands (or why not)."""
    member = interaction.user
    guild = interaction.guild
    if guild is None or not isinstance(member, discord.Member):
        await reply(interaction, "This only works in a server, not in DMs.")
        return
    player = engine.player_for(guild)
    try:
        channel = channel_to_join(member, busy=player.is_active)
    except JoinRefused as refusal:
        await reply(interaction, str(refusal))
        return

    if player.is_full:
        await reply(interaction, f"The queue is full ({engine.settings.speech.queue_limit} messages) — wait a moment.")
        return
    limited = await engine.limits.admit(guild.id, member.id, len(text))
    if limited is not None:
        await reply(interaction, limited.message)
        return

    # Answer within Discord's 3 seconds; the download starts now, alongside the voice connection.
    await interaction.response.defer(ephemeral=True, thinking=True)
    joined = False
    if stage_audience(guild):  # a listener on a stage: try to step up before spending an API call
        try:
            await join(channel, cls=engine.voice_client_class, timeout=engine.settings.speech.connect_timeout)
        except JoinRefused as refusal:
            await reply(interaction, str(refusal))
            return
        joined = True  # Discord's voice state update may lag: don't ask to step up twice
    item = SpeechItem(
        text=text,
        voice_id=await engine.voice_for(guild.id, member.id, voice_id),
        requester_id=member.id,
        notify=followup(interaction),
    )
    try:
        ahead = player.enqueue(item)
    except QueueFull as full:
        await reply(interaction, f"The queue is full ({full.limit} messages) — wait a moment and try again.")
        return
    try:
        if not joined:
            await join(channel, cls=engine.voice_client_class, timeout=engine.settings.speech.connect_timeout)
    except JoinRefused as refusal:
        await player.stop(tell=str(refusal), except_user=member.id)
        await reply(interaction, str(refusal))
        return
    player.voice_ready()
    if ahead == 0:
        await reply(interaction, f"🔊 Speaking in {channel.mention}.")
    else:
        waiting = "message" if ahead == 1 else "messages"
        await reply(interaction, f"Queued in {channel.mention} — {ahead} {waiting} ahead of yours.")


async def explain_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """Tell the member in plain words why their command did not work; log what they can't act on."""
    if isinstance(error, app_commands.MissingPermissions):
        message = "Only members with the Manage Server permission can change this."
    elif isinstance(error, app_commands.CommandOnCooldown):
        message = f"Slow down — try again in {error.retry_after:.0f} s."
    elif isinstance(error, app_commands.CheckFailure):
        message = "You can't use this command here."
    else:
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("command /%s failed", name, exc_info=error)
        message = "Something went wrong on my side — try again. If it keeps happening, tell the bot's admin."
    try:
        await reply(interaction, message)
    except discord.HTTPException as failure:
        log.info("could not explain a command error: %s", failure)
