"""What servers and members have chosen: the records and the store interface behind them.

The cogs only see :class:`PreferencesStore`; :mod:`cogs.engine.store.sqlite` is the default
implementation, :mod:`cogs.engine.store.postgres` the one for several processes on one database
(:mod:`cogs.engine.store.factory` picks one from ``storage.url``). Reads return defaults for servers and
members that never changed anything, so nothing has to be created up front.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, fields
from typing import Literal, Protocol

from ..asyncflow.model_ids import FASTEST_SPEED, SLOWEST_SPEED
from .setting_kinds import OneOf, OnOff, Prefix, RateOrDefault, RoleOrEveryone, VoiceOrDefault, WholeNumber, setting

EmojiMode = Literal["name", "skip"]
Added = Literal["added", "replaced", "full"]
"""What :meth:`PreferencesStore.set_pronunciation` did ("full": nothing, the dictionary has its maximum)."""

# Proxy bots whose webhook messages are read by default: non-verbal members often speak through them.
PLURALKIT_APP_ID = 466378653216014359
TUPPERBOX_APP_ID = 431544605209788416


@dataclass(frozen=True, slots=True)
class GuildPrefs:
    """One server's settings. Admins change them with /set; /settings shows them.

    Each ``/set`` setting is declared here once, with :func:`setting` (see
    :mod:`~cogs.engine.store.setting_kinds`): its type and default, its ``/set`` name, the words
    admins see and how values are typed. ``/set``, ``/settings``, the store's checks and (through a
    test) README.md's table follow from these declarations; the field order is the order admins see.
    A new field also needs a store migration adding its column with the same default.
    """

    guild_id: int
    linked_channels: frozenset[int] = frozenset()
    """Text channels whose messages are read aloud (``/link``, ``/unlink``)."""
    default_voice: str | None = setting(
        None,
        name="server-voice",
        help="voice for members who didn't pick one (`default` to reset)",
        kind=VoiceOrDefault(),
    )
    allow_member_voices: bool = setting(
        True, name="member-voices", help="members' own /voice choice applies here", kind=OnOff()
    )
    speaking_rate: float | None = setting(
        None,
        name="speaking-rate",
        help=f"speed for members without a /voice speed, {SLOWEST_SPEED}-{FASTEST_SPEED} (`default`: normal)",
        kind=RateOrDefault(),
    )
    announce_author: bool = setting(True, name="announce-author", help='say "Alice said" before messages', kind=OnOff())
    announce_window_s: int = setting(
        60, name="announce-window", help='seconds before "Alice said" is repeated', kind=WholeNumber(0, 3600)
    )
    require_voice: bool = setting(
        True, name="require-voice", help="only read members in the bot's voice channel", kind=OnOff()
    )
    auto_join: bool = setting(
        True, name="auto-join", help="join a member's voice channel when they post and the bot is idle", kind=OnOff()
    )
    read_voice_chat: bool = setting(
        True, name="read-voice-chat", help="read the text chat of the bot's voice channel", kind=OnOff()
    )
    ignore_prefix: str = setting(
        "!",
        name="ignore-prefix",
        help="messages starting with this are not read (`none` to read all)",
        kind=Prefix(max_length=10),
    )
    read_bots: bool = setting(False, name="read-bots", help="read messages from bots and webhooks", kind=OnOff())
    read_proxies: bool = setting(
        True, name="read-proxies", help="read PluralKit/Tupperbox proxied messages", kind=OnOff()
    )
    proxy_allowlist: frozenset[int] = frozenset({PLURALKIT_APP_ID, TUPPERBOX_APP_ID})
    """Application ids of proxy bots whose webhook messages are read when ``read_proxies`` is on."""
    required_role: int | None = setting(
        None,
        name="required-role",
        help="only read members with this role (`none` for everyone)",
        kind=RoleOrEveryone(),
    )
    max_length: int = setting(
        300, name="max-length", help="characters read from one message", kind=WholeNumber(20, 2000)
    )
    emoji_mode: EmojiMode = setting(  # noqa: RUF009 (setting() is a dataclasses.field; the value is a str)
        "name",
        name="emoji",
        help="`name` reads emoji by name, `skip` leaves them out",
        kind=OneOf({"name": "read emoji by name", "skip": "leave them out"}),
    )
    repeated_characters: int = setting(
        3,
        name="repeated-characters",
        help="shorten runs like 'nooooo' to this many (0 = off)",
        kind=WholeNumber(0, 50),
    )
    allow_voice_cloning: bool = setting(
        True, name="voice-cloning", help="members may clone their own voice here (/voice clone)", kind=OnOff()
    )


@dataclass(frozen=True, slots=True)
class MemberPrefs:
    """One member's choices; they follow the member across servers."""

    user_id: int
    voice_id: str | None = None
    opted_out: bool = False
    """Never read this member's messages anywhere."""
    speaking_rate: float | None = None
    """How fast their text is spoken (``/voice speed``); None: the server's ``speaking-rate``."""
    spoken_names: dict[int, str] = field(default_factory=dict)
    """Name spoken in "… said", per server id (set with /nickname)."""


@dataclass(frozen=True, slots=True)
class ClonedVoice:
    """A voice a member cloned from their own sample (``/voice clone``): private to them."""

    voice_id: str
    """AsyncFlow's id of the voice (its ``voice_type`` is CUSTOM)."""
    user_id: int
    name: str
    created_at: float
    """Seconds since the epoch."""


GUILD_FIELDS = frozenset(f.name for f in fields(GuildPrefs)) - {"guild_id"}
MEMBER_FIELDS = frozenset({"voice_id", "opted_out", "speaking_rate"})


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
        """Change ``voice_id``, ``opted_out`` or ``speaking_rate`` (anything else raises ``KeyError``)."""

    async def set_spoken_name(self, guild_id: int, user_id: int, name: str | None) -> None:
        """Set or clear (None) the name spoken for this member in this server."""

    async def forget_member(self, user_id: int) -> None:
        """Delete everything stored about this member, in every server (their clones' records too: delete the
        voices at AsyncFlow first)."""

    async def clones(self, user_id: int) -> list[ClonedVoice]:
        """The member's cloned voices, oldest first."""
        ...

    async def add_clone(self, clone: ClonedVoice, limit: int) -> bool:
        """Keep ``clone`` only if its member then has at most ``limit`` clones, atomically (across processes on
        PostgreSQL); False if their slots were full, and nothing was written."""
        ...

    async def remove_clone(self, user_id: int, voice_id: str) -> bool:
        """Forget the member's clone ``voice_id`` (and their ``/voice set`` of it); False if they had no such clone."""
        ...

    async def clone_owners(self, voice_ids: Collection[str]) -> dict[str, int]:
        """The member each of these voice ids was cloned by, for the ids that are clones (one query)."""
        ...

    async def usage(self, guild_id: int, day: str) -> int:
        """Characters spoken in ``guild_id`` on ``day`` (an ISO date, UTC)."""
        ...

    async def add_usage(self, guild_id: int, day: str, characters: int) -> int:
        """Count ``characters`` more for ``day`` (older days of the server are dropped); returns the new total."""
        ...

    async def add_usage_within(self, guild_id: int, day: str, characters: int, budget: int) -> tuple[bool, int]:
        """Count ``characters`` more for ``day`` only if the total stays within ``budget``, atomically.

        Returns (admitted, characters used on ``day`` afterwards). The check and the addition are one
        transaction, so concurrent callers, in this process or in another one on the same database,
        never take the total past ``budget``. Older days of the server are dropped when adding.
        SQLite: one ``BEGIN IMMEDIATE`` transaction. PostgreSQL can do it in one statement,
        ``INSERT … SELECT $1, $2, $3 WHERE $3 <= $4 ON CONFLICT (guild_id, day) DO UPDATE SET
        characters = daily_usage.characters + excluded.characters WHERE daily_usage.characters +
        excluded.characters <= $4 RETURNING characters`` (no row back: not admitted).
        """
        ...

    async def take_rate(self, guild_id: int, user_id: int | None, limit: int, now: float, per: float) -> float | None:
        """Count one text against a rate of at most ``limit`` texts per ``per`` seconds.

        The member's rate in the server, or the server's own when ``user_id`` is None. A window begins
        with its first text (at ``now``, seconds since the epoch) and lasts ``per`` seconds. Returns None
        if the text is admitted, otherwise the seconds until the window ends. PostgreSQL counts in the
        database, in one statement, so the rate holds for every process together; SQLite counts in
        this process (it serves one process).
        """
        ...

    async def pronunciations(self, guild_id: int) -> dict[str, str]:
        """The server's pronunciation dictionary (``/dictionary``): word → spoken form, as they were added."""
        ...

    async def set_pronunciation(self, guild_id: int, word: str, spoken: str, *, max_entries: int) -> Added:
        """Add ``word`` (or replace the entry of the same word, whatever its case) unless the server already has
        ``max_entries`` other words; the count and the write are one transaction, across processes too."""
        ...

    async def remove_pronunciation(self, guild_id: int, word: str) -> str | None:
        """Remove the entry of ``word`` (whatever its case); the word as it was stored, or None if there was none."""
        ...

    async def forget_guild(self, guild_id: int) -> None:
        """Delete everything stored about this server (the bot was removed from it)."""
