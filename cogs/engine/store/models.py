"""What servers and members have chosen: the records and the store interface behind them.

The cogs only see :class:`PreferencesStore`; :mod:`cogs.engine.store.sqlite` is the default
implementation (a PostgreSQL one can follow for multi-process deployments). Reads return defaults
for servers and members that never changed anything, so nothing has to be created up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

EmojiMode = Literal["name", "skip"]

# Proxy bots whose webhook messages are read by default: non-verbal members often speak through them.
PLURALKIT_APP_ID = 466378653216014359
TUPPERBOX_APP_ID = 431544605209788416


@dataclass(frozen=True, slots=True)
class GuildPrefs:
    """One server's settings. Admins change them with /set; /settings shows them."""

    guild_id: int
    linked_channels: frozenset[int] = frozenset()
    """Text channels whose messages are read aloud."""
    read_voice_chat: bool = True
    """Also read messages typed in the text chat of the voice channel the bot is in."""
    default_voice: str | None = None
    """Voice for members who did not pick one (None: the bot's configured voice)."""
    allow_member_voices: bool = True
    """Members' own /voice choice applies here (False: everyone speaks with the server voice)."""
    announce_author: bool = True
    """Say "Alice said" before a message."""
    announce_window_s: int = 60
    """Don't repeat "Alice said" while Alice keeps talking within this many seconds."""
    require_voice: bool = True
    """Only read members who are in the bot's voice channel."""
    auto_join: bool = True
    """Join a member's voice channel when they post in a linked channel and the bot is idle."""
    ignore_prefix: str = "!"
    """Messages starting with this are never read ('' = read everything)."""
    read_bots: bool = False
    """Read messages from bots and webhooks (proxy bots on the allow-list are read regardless)."""
    read_proxies: bool = True
    """Read webhook messages of the proxy bots in ``proxy_allowlist`` (PluralKit, Tupperbox)."""
    proxy_allowlist: frozenset[int] = frozenset({PLURALKIT_APP_ID, TUPPERBOX_APP_ID})
    """Application ids of proxy bots whose webhook messages are read."""
    required_role: int | None = None
    """Only read members with this role (None: everyone)."""
    max_length: int = 300
    """Characters of a message that are read; longer ones are cut at a sentence and end with "and more"."""
    emoji_mode: EmojiMode = "name"
    """'name': read emoji by name; 'skip': leave them out."""
    repeated_characters: int = 3
    """Runs of one character longer than this are shortened to it (0 = off)."""


@dataclass(frozen=True, slots=True)
class MemberPrefs:
    """One member's choices; they follow the member across servers."""

    user_id: int
    voice_id: str | None = None
    opted_out: bool = False
    """Never read this member's messages anywhere."""
    spoken_names: dict[int, str] = field(default_factory=dict)
    """Name spoken in "… said", per server id (set with /nickname)."""


GUILD_FIELDS = frozenset(GuildPrefs.__dataclass_fields__) - {"guild_id"}
MEMBER_FIELDS = frozenset({"voice_id", "opted_out"})


class PreferencesStore(Protocol):
    """Where preferences live. Every method is safe to call concurrently."""

    async def open(self) -> None:
        """Create or migrate the schema; call once before use."""

    async def close(self) -> None: ...

    async def guild(self, guild_id: int) -> GuildPrefs:
        """The server's settings (defaults if it never changed any)."""

    async def update_guild(self, guild_id: int, **changes: object) -> GuildPrefs:
        """Change some settings (names from :data:`GUILD_FIELDS`; anything else raises ``KeyError``)."""

    async def member(self, user_id: int) -> MemberPrefs:
        """The member's choices (defaults if none)."""

    async def update_member(self, user_id: int, **changes: object) -> MemberPrefs:
        """Change ``voice_id`` or ``opted_out`` (anything else raises ``KeyError``)."""

    async def set_spoken_name(self, guild_id: int, user_id: int, name: str | None) -> None:
        """Set or clear (None) the name spoken for this member in this server."""

    async def forget_member(self, user_id: int) -> None:
        """Delete everything stored about this member, in every server."""

    async def usage(self, guild_id: int, day: str) -> int:
        """Characters spoken in ``guild_id`` on ``day`` (an ISO date, UTC)."""
        ...

    async def add_usage(self, guild_id: int, day: str, characters: int) -> int:
        """Count ``characters`` more for ``day`` (older days of the server are dropped); returns the new total."""
        ...

    async def forget_guild(self, guild_id: int) -> None:
        """Delete everything stored about this server (the bot was removed from it)."""
