"""The PostgreSQL schema: forward-only migrations, applied under an advisory lock, in a version table.

The tables are those of :mod:`cogs.engine.store.sqlite` (same names, same columns), with PostgreSQL
types: ``BOOLEAN`` for on/off, ``BIGINT`` for ids and numbers. The columns of ``guild_settings`` and
``member_settings`` are not written out here: their type, default and check come from the records'
declarations (:func:`column`), so a setting is declared once, on :class:`GuildPrefs`. A migration
names the fields it adds, so an old migration never changes when a field is added later.

Several processes may start at once against one empty database: each takes the same transaction-level
advisory lock before it reads the version, so exactly one applies each migration and the others find
it done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, TypeAlias

import asyncpg

from .models import GUILD_FIELDS, MEMBER_FIELDS, GuildPrefs, MemberPrefs
from .stored import StoredField, stored_fields

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    AnyConnection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    """A connection of its own or one lent by a pool."""

log = logging.getLogger(__name__)

MIGRATION_LOCK: Final = 0x7474_735F_6D69_67
"""The advisory lock key every process takes around migrating (``pg_advisory_xact_lock``)."""

SCHEMA_TABLE: Final = "schema_version"

GUILD_STORED: Final = stored_fields(GuildPrefs, GUILD_FIELDS)
MEMBER_STORED: Final = stored_fields(MemberPrefs, MEMBER_FIELDS)

_PG_TYPES: Final = {
    "bool": "BOOLEAN",
    "int": "BIGINT",
    "optional_int": "BIGINT",
    "str": "TEXT",
    "optional_str": "TEXT",
    "optional_float": "DOUBLE PRECISION",
    "choice": "TEXT",
}


def column(field: StoredField, default: object) -> str:
    """The column definition of a stored field, from its declaration and its record's default."""
    sql_type = _PG_TYPES.get(field.shape)
    if sql_type is None:
        raise TypeError(f"{field.name} ({field.shape}) is kept in a table of its own, not a column")
    if field.shape.startswith("optional_"):
        if default is not None:
            raise TypeError(f"{field.name}: an optional setting must default to None, not {default!r}")
        return f"{field.name} {sql_type}"
    definition = f"{field.name} {sql_type} NOT NULL DEFAULT {_literal(default)}"
    if field.shape == "choice":
        definition += f" CHECK ({field.name} IN ({', '.join(_literal(choice) for choice in field.choices)}))"
    return definition


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {value!r}")


def _guild_columns(*names: str) -> str:
    defaults = GuildPrefs(guild_id=0)
    return ",\n".join(f"    {column(GUILD_STORED[name], getattr(defaults, name))}" for name in names)


def _member_columns(*names: str) -> str:
    defaults = MemberPrefs(user_id=0)
    return ",\n".join(f"    {column(MEMBER_STORED[name], getattr(defaults, name))}" for name in names)


def _schema_1() -> str:
    """Everything SQLite's migrations 1-3 built, and the shared rate windows."""
    guild_columns = _guild_columns(
        "default_voice",
        "allow_member_voices",
        "announce_author",
        "announce_window_s",
        "require_voice",
        "auto_join",
        "read_voice_chat",
        "ignore_prefix",
        "read_bots",
        "read_proxies",
        "required_role",
        "max_length",
        "emoji_mode",
        "repeated_characters",
    )
    return f"""
CREATE TABLE guild_settings (
    guild_id BIGINT PRIMARY KEY,
{guild_columns},
    -- FALSE: the server uses the built-in allow-list and proxy_allowlist holds no rows for it;
    -- TRUE: proxy_allowlist holds the server's own list, which may be empty.
    proxy_allowlist_customised BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE linked_channels (
    guild_id BIGINT NOT NULL REFERENCES guild_settings (guild_id) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
CREATE TABLE proxy_allowlist (
    guild_id BIGINT NOT NULL REFERENCES guild_settings (guild_id) ON DELETE CASCADE,
    application_id BIGINT NOT NULL,
    PRIMARY KEY (guild_id, application_id)
);
CREATE TABLE member_settings (
    user_id BIGINT PRIMARY KEY,
{_member_columns("voice_id", "opted_out")}
);
CREATE TABLE spoken_names (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX spoken_names_by_user ON spoken_names (user_id);
CREATE TABLE daily_usage (
    guild_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    characters BIGINT NOT NULL CHECK (characters >= 0),
    PRIMARY KEY (guild_id, day)
);
-- One row per rate window: a member in a server, or the server itself (user_id 0; no Discord id is 0).
CREATE TABLE rate_windows (
    guild_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    window_start DOUBLE PRECISION NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
"""


def _schema_2() -> str:
    """SQLite's migration 4: the speaking rate of members and the server default."""
    return f"""
ALTER TABLE member_settings ADD COLUMN {_member_columns("speaking_rate").strip()};
ALTER TABLE guild_settings ADD COLUMN {_guild_columns("speaking_rate").strip()};
"""


def _schema_3() -> str:
    """SQLite's migration 5: the pronunciation dictionary per server; ``word_key`` is the casefolded word."""
    return """
CREATE TABLE pronunciations (
    guild_id BIGINT NOT NULL,
    word_key TEXT NOT NULL,
    word TEXT NOT NULL,
    spoken TEXT NOT NULL,
    PRIMARY KEY (guild_id, word_key)
);
"""


def _schema_4() -> str:
    """SQLite's migration 6: members' cloned voices."""
    return """
CREATE TABLE voice_clones (
    voice_id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX voice_clones_by_user ON voice_clones (user_id);
"""


def _schema_5() -> str:
    """SQLite's migration 7: the server's voice-cloning switch."""
    return f"ALTER TABLE guild_settings ADD COLUMN {_guild_columns('allow_voice_cloning').strip()};"


MIGRATIONS: Final[tuple[Callable[[], str], ...]] = (_schema_1, _schema_2, _schema_3, _schema_4, _schema_5)
"""Forward-only schema changes; migration ``n`` (1-based) brings the version from ``n - 1`` to ``n``.

Never edit a released migration: append one. A new setting is added with
``ALTER TABLE guild_settings ADD COLUMN {_guild_columns("new_field").strip()}``, so its type and default
come from its declaration.
"""

SCHEMA_VERSION: Final = len(MIGRATIONS)

COPIED_TABLES: Final = (
    "guild_settings",
    "linked_channels",
    "proxy_allowlist",
    "member_settings",
    "spoken_names",
    "daily_usage",
    "pronunciations",
    "voice_clones",
)
"""What a store keeps for good, parents first (``rate_windows`` only lasts a minute)."""


class NewerSchemaError(Exception):
    """The database was written by a newer version of the bot."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema {found}, this version knows {SCHEMA_VERSION}")
        self.found = found


async def schema_version(connection: AnyConnection) -> int:
    """The database's schema version (0: empty); call it holding :data:`MIGRATION_LOCK`."""
    await connection.execute(
        f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} ("
        "only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), version INTEGER NOT NULL)"
    )
    version = await connection.fetchval(f"SELECT version FROM {SCHEMA_TABLE}")  # noqa: S608 (a constant)
    return 0 if version is None else int(version)


async def migrate(connection: AnyConnection, *, up_to: int | None = None) -> int:
    """Apply the pending :data:`MIGRATIONS` up to ``up_to`` (default: all); return the version reached.

    Each migration is one transaction holding the advisory lock, with its version bump: a failed one
    leaves the previous version. Refuses (:class:`NewerSchemaError`) a database newer than this code,
    before changing anything. Never goes backwards.
    """
    target = SCHEMA_VERSION if up_to is None else up_to
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"up_to must be between 0 and {SCHEMA_VERSION}, not {up_to}")
    while True:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            version = await schema_version(connection)
            if version > SCHEMA_VERSION:
                raise NewerSchemaError(version)
            if version >= target:
                return version
            await connection.execute(MIGRATIONS[version]())
            await connection.execute(
                f"INSERT INTO {SCHEMA_TABLE} (version) VALUES ($1) "  # noqa: S608 (a constant)
                "ON CONFLICT (only_row) DO UPDATE SET version = excluded.version",
                version + 1,
            )
        log.info("preferences database migrated to schema %d", version + 1)
