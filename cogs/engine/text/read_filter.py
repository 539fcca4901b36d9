"""Which chat messages get read aloud: every rule in one place, each with a reason for the logs."""

from __future__ import annotations

import discord

from ..store.models import GuildPrefs, MemberPrefs


def is_proxy_message(message: discord.Message, prefs: GuildPrefs) -> bool:
    """A webhook message from an allowed proxy bot (PluralKit, Tupperbox): a member speaking through a proxy."""
    return (
        message.webhook_id is not None
        and prefs.read_proxies
        and message.application_id is not None
        and message.application_id in prefs.proxy_allowlist
    )


def in_reading_channel(message: discord.Message, prefs: GuildPrefs, voice_channel_id: int | None) -> bool:
    """Posted in a linked text channel (or a thread of one), or in the text chat of the bot's voice channel."""
    channel = message.channel
    if channel.id in prefs.linked_channels:
        return True
    parent_id = getattr(channel, "parent_id", None)
    if parent_id is not None and parent_id in prefs.linked_channels:
        return True
    return prefs.read_voice_chat and voice_channel_id is not None and channel.id == voice_channel_id


def reason_not_to_read(
    message: discord.Message,
    prefs: GuildPrefs,
    author: MemberPrefs | None,
    *,
    voice_channel_id: int | None,
    bot_user_id: int,
) -> str | None:
    """Why ``message`` is not read, or None if it is. ``voice_channel_id``: where the bot is (or is joining)."""
    if message.guild is None:
        return "not in a server"
    if message.author.id == bot_user_id:
        return "our own message"
    if message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return "a system message"
    if not in_reading_channel(message, prefs, voice_channel_id):
        return "not a reading channel"
    if voice_channel_id is None:
        return "not in a voice channel"
    if message.flags.suppress_notifications:
        return "an @silent message"
    if prefs.ignore_prefix and message.content.startswith(prefs.ignore_prefix):
        return "starts with the ignore prefix"
    proxy = is_proxy_message(message, prefs)
    if (message.webhook_id is not None or message.author.bot) and not proxy and not prefs.read_bots:
        return "from a bot or webhook"
    if author is not None and author.opted_out:
        return "the author opted out"
    if proxy:
        return None  # a proxy has no member to check roles or voice presence for
    member = message.author
    if not isinstance(member, discord.Member):
        return "author is not a member" if not prefs.read_bots else None
    if prefs.required_role is not None and member.get_role(prefs.required_role) is None:
        return "author lacks the required role"
    if prefs.require_voice and (
        member.voice is None or member.voice.channel is None or member.voice.channel.id != voice_channel_id
    ):
        return "author is not in the bot's voice channel"
    return None
