"""Shared by the slash-command cogs: private replies, and handing a member's text to their server's session."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from .engine.engine import TTSEngine
from .engine.playback.guild_session import ChannelChoice, GuildSession
from .engine.playback.request import Outcome, SpeechRequest, speakable_name, typed_text_problem
from .engine.playback.speak_menu import speak_chosen_message
from .engine.playback.utterance import Notify
from .engine.playback.voice import JoinRefused, VoiceChannel, channel_to_join
from .engine.store.limits import Refusal
from .engine.text.message_parts import text_names
from .engine.text.parts import MessageParts

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


async def reply(interaction: discord.Interaction, message: str) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await followup(interaction)(message)
    else:
        await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def defer(interaction: discord.Interaction) -> None:
    """Answer Discord within its 3 seconds ("thinking…") when what follows may wait (a join, the store)."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


def followup(interaction: discord.Interaction) -> Notify:
    """A way to tell the member something later (for up to 15 minutes, the life of the interaction)."""

    async def send(message: str) -> None:
        try:
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:  # e.g. the interaction token expired
            log.info("could not send a follow-up: %s", error)

    return send


async def server_member(interaction: discord.Interaction) -> tuple[discord.Guild, discord.Member] | None:
    """The server and the member who asked; None (and they are told) in a DM."""
    member = interaction.user
    guild = interaction.guild
    if guild is None or not isinstance(member, discord.Member):
        await reply(interaction, "This only works in a server, not in DMs.")
        return None
    return guild, member


async def members_channel(
    interaction: discord.Interaction, session: GuildSession, member: discord.Member
) -> ChannelChoice | None:
    """How the session finds the member's voice channel when their turn comes; None (and they are told) when a
    common refusal already applies. The session decides again, in order, under its lock."""
    try:
        channel_to_join(member, current=session.channel, busy=session.queue.is_active)
    except JoinRefused as refusal:
        await reply(interaction, str(refusal))
        return None

    def in_members_channel(current: VoiceChannel | None, busy: bool) -> VoiceChannel:
        return channel_to_join(member, current=current, busy=busy)

    return in_members_channel


async def say_for_member(
    engine: TTSEngine,
    interaction: discord.Interaction,
    text: str,
    voice_id: str | None,
    *,
    preview: bool = False,
) -> None:
    """Speak ``text`` in the member's voice channel on the one road, telling them where it stands (or why not)."""
    found = await server_member(interaction)
    if found is None:
        return
    guild, member = found
    limit = engine.settings.speech.max_text_length
    problem = typed_text_problem(text, limit)
    if problem is not None:
        await reply(interaction, problem)
        return
    session = engine.session_for(guild)
    in_members_channel = await members_channel(interaction, session, member)
    if in_members_channel is None:
        return
    await defer(interaction)

    async with session.turn():  # in order with this server's other commands and events
        request = SpeechRequest(
            parts=MessageParts(content=text.strip()),
            names=text_names(guild, text),
            author_id=member.id,
            author_name=member.display_name,
            requester_id=member.id,
            notify=followup(interaction),
            author_prefs=await engine.preferences.member(member.id),
            chosen_voice=voice_id.strip() if voice_id and voice_id.strip() else None,
            preview=preview,
            max_length=limit,
        )
        outcome = await session.speak_in_turn(guild, request, in_members_channel)
    await tell_outcome(interaction, outcome)


async def tell_outcome(interaction: discord.Interaction, outcome: Outcome, *, what: str = "") -> None:
    """Tell the member where their text stands: spoken now, queued behind others, or why not. ``what``
    names it ("Alice's message") when it isn't their own."""
    if isinstance(outcome, Refusal):
        await reply(interaction, outcome.message)
    elif outcome.ahead == 0:
        await reply(interaction, f"🔊 Speaking {what + ' ' if what else ''}in {outcome.channel_mention}.")
    else:
        waiting = "message" if outcome.ahead == 1 else "messages"
        queued = f"Queued {what} in" if what else "Queued in"
        whose = "it" if what else "yours"
        await reply(interaction, f"{queued} {outcome.channel_mention} — {outcome.ahead} {waiting} ahead of {whose}.")


async def speak_message_for_member(
    engine: TTSEngine, interaction: discord.Interaction, message: discord.Message
) -> None:
    """The Speak menu: read ``message`` aloud in the member's voice channel (see :mod:`.engine.playback.speak_menu`)."""
    found = await server_member(interaction)
    if found is None:
        return
    guild, member = found
    session = engine.session_for(guild)
    in_members_channel = await members_channel(interaction, session, member)
    if in_members_channel is None:
        return

    outcome = await speak_chosen_message(
        session,
        guild,
        message,
        requester=member,
        store=engine.preferences,
        notify=followup(interaction),
        where=in_members_channel,
        answer_first=lambda: defer(interaction),
    )
    await tell_outcome(interaction, outcome, what=f"{speakable_name(message.author.display_name)}'s message")


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
