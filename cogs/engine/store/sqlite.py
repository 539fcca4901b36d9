"""Server and member preferences in one SQLite file, through aiosqlite so the event loop never blocks.

``guild_settings`` has a row per server that changed anything, one column per :class:`GuildPrefs`
field; its two id sets live in ``linked_channels`` and ``proxy_allowlist``. Members are in
``member_settings`` and their per-server names in ``spoken_names``. The schema is built and moved
forward by :data:`MIGRATIONS`, gated by ``PRAGMA user_version``; :mod:`.sqlite_rows` reads and writes
the rows.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from . import sqlite_rows as rows
from .models import Added, ClonedVoice, GuildPrefs, MemberPrefs
from .rates import ProcessRates
from .sqlite_rows import GUILD_STORED, MEMBER_STORED, fetch_int, fetch_value
from .stored import checked, checked_text

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

BUSY_TIMEOUT_MS = 5000  # another process (a backup, the sqlite3 shell) holding the write lock
_CACHE_LIMIT = 10_000  # entries per cache; the oldest goes first (members can be many)

_T = TypeVar("_T")


class SqlitePreferences:
    """:class:`~cogs.engine.store.models.PreferencesStore` in one SQLite file, with a read-through cache.

    One connection and one lock around every transaction. Writes can't interleave, and a cache miss
    is read under the same lock, so a read can never put a value in the cache that a concurrent write
    has just replaced. Cache hits (almost every message read) never wait for the lock.
    """

    def __init__(self, path: str | Path) -> None:
        self._path: str | Path = ":memory:" if str(path) == ":memory:" else Path(path)
        self._connection: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._guilds: dict[int, GuildPrefs] = {}
        self._members: dict[int, MemberPrefs] = {}
        self._pronunciations: dict[int, dict[str, str]] = {}
        self._rates = ProcessRates()
        """Rates are counted in this process: a SQLite file serves one bot process."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._path)!r})"

    @property
    def path(self) -> str | Path:
        return self._path

    async def open(self) -> None:
        """Connect, create or migrate the schema. Refuses a database written by a newer version."""
        if self._connection is not None:
            return
        in_memory = isinstance(self._path, str)
        if isinstance(self._path, Path):
            await asyncio.to_thread(self._path.parent.mkdir, parents=True, exist_ok=True)
        # isolation_level=None: sqlite3 opens no transactions behind our back; we BEGIN explicitly.
        connection = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            await connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await connection.execute("PRAGMA foreign_keys = ON")
            await _schema_version(connection)  # refuse a newer database before changing anything in it
            if not in_memory:
                mode = await fetch_value(connection, "PRAGMA journal_mode = WAL")
                if str(mode).lower() != "wal":
                    log.warning("preferences database %s stays in %s journal mode (WAL unavailable)", self, mode)
                # With WAL this can lose the last commits on power loss, never corrupt the file.
                await connection.execute("PRAGMA synchronous = NORMAL")
            await migrate(connection)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def close(self) -> None:
        """Close the connection after any transaction under way; calling it again does nothing."""
        async with self._lock:
            connection, self._connection = self._connection, None
            self._guilds.clear()
            self._members.clear()
            self._pronunciations.clear()
            if connection is not None:
                await connection.close()

    async def guild(self, guild_id: int) -> GuildPrefs:
        return await self._cached(self._guilds, guild_id, rows.load_guild)

    async def update_guild(self, guild_id: int, **changes: object) -> GuildPrefs:
        valid: dict[str, Any] = checked(changes, GUILD_STORED, "server")
        if not valid:
            return await self.guild(guild_id)
        async with self._transaction(write=True, invalidate=lambda: self._guilds.pop(guild_id, None)) as connection:
            prefs: GuildPrefs = replace(await rows.load_guild(connection, guild_id), **valid)
            await rows.save_guild(connection, prefs, changed=valid)
        return prefs

    async def member(self, user_id: int) -> MemberPrefs:
        return _copy(await self._cached(self._members, user_id, rows.load_member))

    async def update_member(self, user_id: int, **changes: object) -> MemberPrefs:
        valid: dict[str, Any] = checked(changes, MEMBER_STORED, "member")
        if not valid:
            return await self.member(user_id)
        async with self._transaction(write=True, invalidate=lambda: self._members.pop(user_id, None)) as connection:
            prefs: MemberPrefs = replace(await rows.load_member(connection, user_id), **valid)
            await rows.save_member(connection, prefs)
        return prefs

    async def set_spoken_name(self, guild_id: int, user_id: int, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a spoken name must be a str or None, not {type(name).__name__}")
        if name is not None:
            checked_text("a spoken name", name)
        async with self._transaction(write=True, invalidate=lambda: self._members.pop(user_id, None)) as connection:
            if name is None:
                await connection.execute(
                    "DELETE FROM spoken_names WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
                )
            else:
                await connection.execute(
                    "INSERT INTO spoken_names (guild_id, user_id, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id, user_id) DO UPDATE SET name = excluded.name",
                    (guild_id, user_id, name),
                )

    async def forget_member(self, user_id: int) -> None:
        self._rates.forget_member(user_id)
        async with self._transaction(write=True, invalidate=lambda: self._members.pop(user_id, None)) as connection:
            await connection.execute("DELETE FROM member_settings WHERE user_id = ?", (user_id,))
            await connection.execute("DELETE FROM spoken_names WHERE user_id = ?", (user_id,))
            await connection.execute("DELETE FROM voice_clones WHERE user_id = ?", (user_id,))

    async def clones(self, user_id: int) -> list[ClonedVoice]:
        async with self._transaction(write=False) as connection:
            return await rows.load_clones(connection, user_id)

    async def add_clone(self, clone: ClonedVoice, limit: int) -> bool:
        checked_text("a clone's name", clone.name)
        async with self._transaction(write=True) as connection:  # BEGIN IMMEDIATE: the count and insert are one
            if len(await rows.load_clones(connection, clone.user_id)) >= limit:
                return False
            await rows.insert_clone(connection, clone)
            return True

    async def remove_clone(self, user_id: int, voice_id: str) -> bool:
        async with self._transaction(write=True, invalidate=lambda: self._members.pop(user_id, None)) as connection:
            return await rows.delete_clone(connection, user_id, voice_id)

    async def clone_owners(self, voice_ids: Collection[str]) -> dict[str, int]:
        if not voice_ids:
            return {}
        async with self._transaction(write=False) as connection:
            return await rows.clone_owners(connection, voice_ids)

    async def usage(self, guild_id: int, day: str) -> int:
        async with self._transaction(write=False) as connection:
            return await rows.usage(connection, guild_id, day)

    async def add_usage(self, guild_id: int, day: str, characters: int) -> int:
        async with self._transaction(write=True) as connection:
            return await rows.add_usage(connection, guild_id, day, characters)

    async def add_usage_within(self, guild_id: int, day: str, characters: int, budget: int) -> tuple[bool, int]:
        if characters < 0:
            raise ValueError(f"characters must not be negative, not {characters}")
        # BEGIN IMMEDIATE: no other connection (another process) can add between our read and our write.
        async with self._transaction(write=True) as connection:
            used = await rows.usage(connection, guild_id, day)
            if used + characters > budget:
                return False, used
            return True, await rows.add_usage(connection, guild_id, day, characters)

    async def take_rate(self, guild_id: int, user_id: int | None, limit: int, now: float, per: float) -> float | None:
        self._require_open()
        return self._rates.take(guild_id, user_id, limit, now, per)

    async def pronunciations(self, guild_id: int) -> dict[str, str]:
        cached: dict[str, str] = await self._cached(self._pronunciations, guild_id, rows.load_pronunciations)
        return dict(cached)

    async def set_pronunciation(self, guild_id: int, word: str, spoken: str, *, max_entries: int) -> Added:
        checked_text("a word", word)
        checked_text("a spoken form", spoken)
        async with self._transaction(write=True, invalidate=lambda: self._pronunciations.pop(guild_id, None)) as c:
            return await rows.set_pronunciation(c, guild_id, word, spoken, max_entries=max_entries)

    async def remove_pronunciation(self, guild_id: int, word: str) -> str | None:
        async with self._transaction(write=True, invalidate=lambda: self._pronunciations.pop(guild_id, None)) as c:
            return await rows.remove_pronunciation(c, guild_id, word)

    async def forget_guild(self, guild_id: int) -> None:
        def invalidate() -> None:
            self._guilds.pop(guild_id, None)
            self._pronunciations.pop(guild_id, None)
            self._rates.forget_guild(guild_id)
            for user_id in [u for u, m in self._members.items() if guild_id in m.spoken_names]:
                del self._members[user_id]

        async with self._transaction(write=True, invalidate=invalidate) as connection:
            # Explicit deletes rather than relying on ON DELETE CASCADE: spoken_names has no parent row.
            tables = ("linked_channels", "proxy_allowlist", "guild_settings", "spoken_names", "daily_usage")
            for table in (*tables, "pronunciations"):
                await connection.execute(f"DELETE FROM {table} WHERE guild_id = ?", (guild_id,))  # noqa: S608 (fixed names)

    def _require_open(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise RuntimeError(f"{self!r} is not open; call open() first")
        return self._connection

    async def _cached(
        self, cache: dict[int, _T], key: int, load: Callable[[aiosqlite.Connection, int], Awaitable[_T]]
    ) -> _T:
        """``cache[key]``, read from the file on a miss (unless another task filled it while we waited for the lock)."""
        self._require_open()
        value = cache.get(key)
        if value is None:
            async with self._transaction(write=False) as connection:
                value = cache.get(key)
                if value is None:
                    value = await load(connection, key)
                    _remember(cache, key, value)
        return value

    @asynccontextmanager
    async def _transaction(
        self, *, write: bool, invalidate: Callable[[], object] = lambda: None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction under the lock: committed if the block succeeds, rolled back otherwise.

        ``invalidate`` drops cache entries afterwards, whatever happened. BEGIN IMMEDIATE takes the
        write lock up front, so a write never fails half-way because another process wrote first.
        Commit and rollback are shielded: a cancelled task must not leave the connection inside a
        transaction for the next caller.
        """
        async with self._lock:
            connection = self._require_open()  # close() may have run while we waited
            try:
                try:  # BEGIN inside: if we are cancelled while it is queued, it still runs, and needs undoing
                    await connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    yield connection
                    await asyncio.shield(connection.commit())
                except BaseException:
                    await asyncio.shield(connection.rollback())
                    raise
            finally:
                invalidate()


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
            version = await _schema_version(connection)
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


async def _schema_version(connection: aiosqlite.Connection) -> int:
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


def _remember(cache: dict[int, _T], key: int, value: _T) -> None:
    if len(cache) >= _CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[key] = value


def _copy(prefs: MemberPrefs) -> MemberPrefs:
    """A copy with its own ``spoken_names`` dict, so a caller changing it can't change the cache."""
    return replace(prefs, spoken_names=dict(prefs.spoken_names))
