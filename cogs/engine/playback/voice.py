"""Getting the bot into the member's voice channel, or saying clearly why it can't."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord

log = logging.getLogger(__name__)

VoiceChannel = discord.VoiceChannel | discord.StageChannel


def current_channel(guild: discord.Guild) -> VoiceChannel | None:
    """The voice channel the bot is in (or connecting to) in ``guild``."""
    voice = guild.voice_client
    channel = voice.channel if voice is not None else None
    return channel if isinstance(channel, discord.VoiceChannel | discord.StageChannel) else None


def missing_voice_permissions(channel: VoiceChannel) -> list[str]:
    """The permissions the bot needs to be heard in ``channel`` that it lacks there, by their names in Discord."""
    permissions = channel.permissions_for(channel.guild.me)
    return [
        name
        for name, granted in (
            ("View Channel", permissions.view_channel),
            ("Connect", permissions.connect),
            ("Speak", permissions.speak),
        )
        if not granted
    ]


def server_muted(guild: discord.Guild) -> bool:
    """A moderator server-muted the bot: Discord drops its audio until they unmute it."""
    state = guild.me.voice
    return state is not None and state.mute


def stage_audience(guild: discord.Guild) -> bool:
    """The bot is on a stage as a listener: Discord drops its audio until it becomes a speaker."""
    channel = current_channel(guild)
    state = guild.me.voice
    return isinstance(channel, discord.StageChannel) and state is not None and state.suppress


def _names(permissions: list[str]) -> str:
    return f"{' and '.join(permissions)} permission{'s' if len(permissions) > 1 else ''}"


def _them(permissions: list[str]) -> str:
    return "them" if len(permissions) > 1 else "it"


def lost_permissions_message(channel: VoiceChannel, missing: list[str]) -> str:
    """Told to members whose messages were dropped because the bot can no longer be heard in ``channel``."""
    return (
        f"I lost the {_names(missing)} in {channel.mention}, so I left and your message wasn't spoken. "
        f"Ask an admin to give {_them(missing)} back."
    )


def silenced_message(guild: discord.Guild) -> str | None:
    """Why nobody hears the bot although it is connected with every permission (server-muted, or in a stage's
    audience), told to members whose messages are dropped for it; None when it can be heard."""
    channel = current_channel(guild)
    if channel is None:
        return None
    if server_muted(guild):
        return f"A moderator server-muted me in {channel.mention}, so your message wasn't spoken."
    if stage_audience(guild):
        return f"A stage moderator moved me to the audience in {channel.mention}, so your message wasn't spoken."
    return None


class JoinRefused(Exception):
    """The bot will not or cannot join; ``str(error)`` is the message for the member."""


def channel_to_join(member: discord.Member, *, current: VoiceChannel | None, busy: bool) -> VoiceChannel:
    """The member's voice channel if the bot may speak there now; else :class:`JoinRefused` saying why.

    ``current``: where the bot's own voice connection is; ``busy``: it has speech playing or queued.
    """
    state = member.voice
    if state is None or state.channel is None:
        raise JoinRefused("Join a voice channel first, then try again.")
    channel = state.channel
    guild = member.guild
    if current is not None and current.id != channel.id and busy:
        raise JoinRefused(f"I'm speaking in {current.mention} right now — join that channel, or wait until I'm done.")
    me = guild.me
    permissions = channel.permissions_for(me)
    missing = missing_voice_permissions(channel)
    if missing:
        raise JoinRefused(
            f"I can't speak in {channel.mention}: I'm missing the {_names(missing)} there. "
            f"Ask an admin to grant {_them(missing)} to me."
        )
    if current is not None and server_muted(guild):
        raise JoinRefused(f"A moderator server-muted me in {current.mention} — ask them to unmute me, then try again.")
    already_there = current is not None and current.id == channel.id
    limit = channel.user_limit
    if limit and not already_there and len(channel.members) >= limit and not permissions.move_members:
        raise JoinRefused(f"{channel.mention} is full ({limit} people), so I can't join it.")
    return channel


async def join(
    channel: VoiceChannel,
    *,
    current: discord.VoiceClient | None,
    cls: type[discord.VoiceClient],
    timeout: float,  # noqa: ASYNC109 - handed to discord.py's connect(), which applies it
) -> discord.VoiceClient:
    """Connect to ``channel``, leaving our ``current`` connection first if it is elsewhere (faster than
    ``move_to``). The caller makes sure ``current`` is ours: a voice client the bot's host started is never
    touched."""
    if current is not None and current.is_connected() and current.channel.id == channel.id:
        voice = current
    else:
        if current is not None:
            await disconnect(current)
        try:
            voice = await channel.connect(cls=cls, timeout=timeout, self_deaf=True, reconnect=True)
        except TimeoutError:
            raise JoinRefused(f"Connecting to {channel.mention} timed out — try again in a moment.") from None
        except discord.ClientException as error:
            log.warning("voice connect refused: %s", error)
            raise JoinRefused(f"I couldn't join {channel.mention} — try again in a moment.") from None
        if not voice.is_connected():
            await voice.disconnect(force=True)
            raise JoinRefused(f"I couldn't connect to {channel.mention} — try again in a moment.")
    return voice


async def speak_on_stage(channel: discord.StageChannel) -> None:
    """Discord seats a bot joining a stage in the audience, where nobody hears it. With the Mute Members
    permission there (a stage moderator) it steps up itself; otherwise it raises its hand and says so."""
    me = channel.guild.me
    state = me.voice
    if state is None or not state.suppress:
        return
    try:
        await me.edit(suppress=False)
        return
    except discord.Forbidden:
        log.info("not allowed to speak on stage %s; requesting to speak", channel.id)
    if state.requested_to_speak_at is None:
        try:
            await me.request_to_speak()
        except discord.HTTPException as error:
            log.warning("could not request to speak on stage %s: %s", channel.id, error)
    raise JoinRefused(
        f"I'm in {channel.mention} as a listener. I've raised my hand — once a stage moderator invites me "
        "to speak, try again."
    )


async def disconnect(voice: discord.VoiceClient) -> None:
    """Disconnect ``voice`` (ours), giving up after 10 s: a stuck disconnect must not hold the server up."""
    try:
        await asyncio.wait_for(voice.disconnect(force=True), timeout=10)
    except TimeoutError:
        log.warning("voice disconnect timed out in guild %s", voice.guild.id)


async def connected_voice(
    current: Callable[[], discord.VoiceClient | None], changed: asyncio.Event, wait_s: float
) -> discord.VoiceClient | None:
    """The voice client ``current()`` gives once it is connected, waiting up to ``wait_s`` seconds for a join under way
    (``changed`` is set whenever the session has a new voice client)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        voice = current()
        if voice is not None and voice.is_connected():
            return voice
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        changed.clear()
        try:
            async with asyncio.timeout(remaining):
                await changed.wait()
        except TimeoutError:
            return None
