"""The Discord permissions the bot needs, declared once: the README's invite URL carries their integer.

Each is used by the code, and nothing more is asked for:

* View Channels: see the voice channel to join and the text channels it reads (``cogs/reading.py``).
* Send Messages, Send Messages in Threads: the quiet notices reading posts where it reads, threads included
  (slash-command replies need no permission).
* Connect, Speak: join a voice channel and be heard (``playback/voice.py`` checks these before joining).

On a stage, the bot also steps up to speak by itself where it has Mute Members there (a stage moderator);
without it, it raises its hand. That is optional and granted per stage, so the invite does not ask for it.
"""

from __future__ import annotations

import discord

NEEDED = {
    "view_channel": "View Channels",
    "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads",
    "connect": "Connect",
    "speak": "Speak",
}
"""The permissions the bot needs, by their ``discord.Permissions`` flag and the name Discord shows for them."""

BOT_PERMISSIONS = discord.Permissions(**dict.fromkeys(NEEDED, True))
"""What the invite asks for (``BOT_PERMISSIONS.value`` is the ``permissions=`` of the invite URL)."""

INVITE_SCOPES = ("bot", "applications.commands")
"""``applications.commands`` lets the bot register its slash commands in the server."""


def invite_url(application_id: int | str) -> str:
    """The OAuth2 URL that adds the bot to a server with :data:`BOT_PERMISSIONS`."""
    return discord.utils.oauth_url(application_id, permissions=BOT_PERMISSIONS, scopes=INVITE_SCOPES)
