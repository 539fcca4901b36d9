"""What of a ``discord.Message`` the text cleaner may speak, extracted once so the cleaner stays pure."""

from __future__ import annotations

import re

import discord

from .parts import Attachment, MessageParts, Names

_USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
_ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
_CHANNEL_MENTION = re.compile(r"<#(\d{15,21})>")
_MAX_LOOKUPS = 50  # a message with thousands of mentions must not cost thousands of lookups


def message_parts(message: discord.Message, *, reply_to: str | None = None) -> MessageParts:
    """The speakable parts of ``message``; ``reply_to`` is the spoken name of the author replied to, if any."""
    snapshot = message.message_snapshots[0] if message.message_snapshots else None
    content = message.content or (snapshot.content if snapshot else "")
    attachments = message.attachments or (snapshot.attachments if snapshot else [])
    return MessageParts(
        content=content,
        attachments=tuple(Attachment(a.filename, a.content_type) for a in attachments),
        stickers=tuple(sticker.name for sticker in message.stickers),
        poll_question=message.poll.question if message.poll is not None else None,
        reply_to=reply_to,
        forwarded=snapshot is not None,
        voice_message=message.flags.voice,
    )


def mention_names(message: discord.Message, spoken: dict[int, str] | None = None) -> Names:
    """Display names for the users, roles and channels ``message`` mentions (``spoken`` overrides user names)."""
    users: dict[int, str] = {user.id: user.display_name for user in message.mentions}
    roles: dict[int, str] = {role.id: role.name for role in message.role_mentions}
    channels: dict[int, str] = {channel.id: channel.name for channel in message.channel_mentions}
    names = _names_in(message.guild, message.content, users, roles, channels)
    users.update(spoken or {})  # the same dict the names hold: spoken names win over display names
    return names


def text_names(guild: discord.Guild, text: str) -> Names:
    """Display names for the mentions typed in ``text`` (a ``/say``), looked up in ``guild``."""
    return _names_in(guild, text, {}, {}, {})


def _names_in(
    guild: discord.Guild | None,
    content: str,
    users: dict[int, str],
    roles: dict[int, str],
    channels: dict[int, str],
) -> Names:
    if guild is not None:
        for match in list(_USER_MENTION.finditer(content))[:_MAX_LOOKUPS]:
            user_id = int(match.group(1))
            member = guild.get_member(user_id)
            if member is not None:
                users.setdefault(user_id, member.display_name)
        for match in list(_ROLE_MENTION.finditer(content))[:_MAX_LOOKUPS]:
            role = guild.get_role(int(match.group(1)))
            if role is not None:
                roles.setdefault(role.id, role.name)
        for match in list(_CHANNEL_MENTION.finditer(content))[:_MAX_LOOKUPS]:
            channel = guild.get_channel_or_thread(int(match.group(1)))
            if channel is not None:
                channels.setdefault(channel.id, channel.name)
    return Names(users=users, roles=roles, channels=channels)
