"""The SQLite preferences file's schema: forward-only migrations, gated by ``PRAGMA user_version``.

:mod:`.postgres_schema` builds the same tables for PostgreSQL (its first migration is these first three).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Final

import aiosqlite

from .sqlite_rows import fetch_int, fetch_value

log = logging.getLogger(__name__)

MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: servers, their linked channels and proxy allow-list, members.
    """
    CREATE TABLE guild_settings (
        guild_id INTEGER PRIMARY KEY,
        read_voice_chat INTEGER NOT NULL DEFAULT 1 CHECK (read_voice_chat IN (0, 1)),
        default_voice TEXT,
        allow_member_voices INTEGER NOT NULL DEFAULT 1 CHECK (allow_member_voices IN (0, 1)),
        announce_author INTEGER NOT NULL DEFAULT 1 CHECK (announce_author IN (0, 1)),
        announce_window_s INTEGER NOT NULL DEFAULT 60,
        require_voice INTEGER NOT NULL DEFAULT 1 CHECK (require_voice IN (0, 1)),
        auto_join INTEGER NOT NULL DEFAULT 1 CHECK (auto_join IN (0, 1)),
        ignore_prefix TEXT NOT NULL DEFAULT '!',
        read_bots INTEGER NOT NULL DEFAULT 0 CHECK (read_bots IN (0, 1)),
        read_proxies INTEGER NOT NULL DEFAULT 1 CHECK (read_proxies IN (0, 1)),
        -- 0: the server uses the built-in allow-list and proxy_allowlist holds no rows for it;
        -- 1: proxy_allowlist holds the server's own list, which may be empty.
        proxy_allowlist_customised INTEGER NOT NULL DEFAULT 0 CHECK (proxy_allowlist_customised IN (0, 1)),
        required_role INTEGER,
        max_length INTEGER NOT NULL DEFAULT 300,
        emoji_mode TEXT NOT NULL DEFAULT 'name' CHECK (emoji_mode IN ('name', 'skip'))
    );
    CREATE TABLE linked_channels (
        guild_id INTEGER NOT NULL REFERENCES guild_settings (guild_id) ON DELETE CASCADE,
        channel_id INTEGER NOT NULL,
        PRIMARY KEY (guild_id, channel_id)
    ) WITHOUT ROWID;
    CREATE TABLE proxy_allowlist (
        guild_id INTEGER NOT NULL REFERENCES guild_settings (guild_id) ON DELETE CASCADE,
        application_id INTEGER NOT NULL,
        PRIMARY KEY (guild_id, application_id)
    ) WITHOUT ROWID;
    CREATE TABLE member_settings (
        user_id INTEGER PRIMARY KEY,
        voice_id TEXT,
        opted_out INTEGER NOT NULL DEFAULT 0 CHECK (opted_out IN (0, 1))
    );
    """,
    # 2: per-server spoken names (/nickname) and shortening runs of one character.
    """
    ALTER TABLE guild_settings ADD COLUMN repeated_characters INTEGER NOT NULL DEFAULT 3;
    CREATE TABLE spoken_names (
        guild_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX spoken_names_by_user ON spoken_names (user_id);
    """,
    # 3: characters spoken per server per UTC day (the daily budget).
    """
    CREATE TABLE daily_usage (
        guild_id INTEGER NOT NULL,
        day TEXT NOT NULL,
        characters INTEGER NOT NULL CHECK (characters >= 0),
        PRIMARY KEY (guild_id, day)
    ) WITHOUT ROWID;
    """,
    # 4: speaking rates (/voice speed, /set speaking-rate); NULL: not chosen.
    """
    ALTER TABLE member_settings ADD COLUMN speaking_rate REAL;
    ALTER TABLE guild_settings ADD COLUMN speaking_rate REAL;
    """,
    # 5: the pronunciation dictionary per server (/dictionary); word_key is the casefolded word.
    """
    CREATE TABLE pronunciations (
        guild_id INTEGER NOT NULL,
        word_key TEXT NOT NULL,
        word TEXT NOT NULL,
        spoken TEXT NOT NULL,
        PRIMARY KEY (guild_id, word_key)
    ) WITHOUT ROWID;
    """,
    # 6: members' cloned voices (/voice clone); each is private to its member.
    """
    CREATE TABLE voice_clones (
        voice_id TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX voice_clones_by_user ON voice_clones (user_id);
    """,
    # 7: whether members may clone their voice in a server (/set voice-cloning).
    """
    ALTER TABLE guild_settings ADD COLUMN allow_voice_cloning INTEGER NOT NULL DEFAULT 1
        CHECK (allow_voice_cloning IN (0, 1));
    """,
)
"""Forward-only schema changes; migration ``n`` (1-based) brings ``user_version`` from ``n - 1`` to ``n``.

Never edit a released migration: append a new one. Add columns with a default (existing rows get it),
so a newer version keeps every old row. A migration that rebuilds a table must follow SQLite's
"generalized ALTER TABLE procedure"; the foreign-key check after each migration catches mistakes.
"""

SCHEMA_VERSION: Final = len(MIGRATIONS)
"""The schema this version of the code writes."""


async def migrate(connection: aiosqlite.Connection, *, up_to: int | None = None) -> int:
    """Apply the pending :data:`MIGRATIONS` up to number ``up_to`` (default: all); return the version reached.

    Each migration runs in its own transaction together with its ``user_version`` bump, so a failed
    one leaves the database at the previous version. The version is re-read inside each transaction,
    so two processes opening the same new file don't both run a migration. Never goes backwards.
    """
    known = len(MIGRATIONS)
    target = known if up_to is None else up_to
    if not 0 <= target <= known:
        raise ValueError(f"up_to must be between 0 and {known}, not {up_to}")
    while True:
        try:
            await connection.execute("BEGIN IMMEDIATE")
            version = await schema_version(connection)
            if version >= target:
                await connection.commit()
                return version
            for statement in _statements(MIGRATIONS[version]):
                await connection.execute(statement)
            await connection.execute(f"PRAGMA user_version = {version + 1}")
            if await fetch_value(connection, "PRAGMA foreign_key_check") is not None:
                raise RuntimeError(f"preferences migration {version + 1} broke a foreign key")
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
        log.info("preferences database migrated to schema %d", version + 1)


async def schema_version(connection: aiosqlite.Connection) -> int:
    """The database's ``user_version``; a database from a newer version of this code is refused."""
    version = await fetch_int(connection, "PRAGMA user_version")
    if version > len(MIGRATIONS):
        files = await connection.execute_fetchall("PRAGMA database_list")
        name = next((row[2] for row in files if row[1] == "main"), "") or ":memory:"
        raise RuntimeError(
            f"preferences database {name} was written by a newer version "
            f"(schema {version}, this version knows {len(MIGRATIONS)})"
        )
    return version


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3's executescript would commit our transaction first)."""
    statements, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):  # a ';' inside a string or a trigger body is not the end
            if pending.strip(" \t\n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \t\n;"):
        raise ValueError(f"incomplete SQL statement in a migration: {pending.strip()!r}")
    return statements
