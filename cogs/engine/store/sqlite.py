"""Server and member preferences in one SQLite file, through aiosqlite so the event loop never blocks.

``guild_settings`` has a row per server that changed anything, one column per :class:`GuildPrefs`
field; its two id sets live in ``linked_channels`` and ``proxy_allowlist``. Members are in
``member_settings`` and their per-server names in ``spoken_names``. The schema is built and moved
forward by :mod:`.sqlite_schema`'s migrations, gated by ``PRAGMA user_version``; :mod:`.sqlite_rows` reads and writes
the rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from . import sqlite_rows as rows
from .models import Added, ClonedVoice, GuildPrefs, MemberPrefs
from .rates import ProcessRates
from .sqlite_rows import GUILD_STORED, MEMBER_STORED, fetch_value
from .sqlite_schema import migrate, schema_version
from .stored import checked, checked_text

log = logging.getLogger(__name__)

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
            await schema_version(connection)  # refuse a newer database before changing anything in it
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


def _remember(cache: dict[int, _T], key: int, value: _T) -> None:
    if len(cache) >= _CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[key] = value


def _copy(prefs: MemberPrefs) -> MemberPrefs:
    """A copy with its own ``spoken_names`` dict, so a caller changing it can't change the cache."""
    return replace(prefs, spoken_names=dict(prefs.spoken_names))
