"""Server and member preferences in PostgreSQL, through an asyncpg pool: one database for every bot process.

The tables are SQLite's (:mod:`.postgres_schema`). Nothing is cached in the process: every read is one
statement, so a member's ``/voice``, ``/opt-out`` or ``/forget-me`` made through one process holds in
every other at once, and so does a server's ``/set`` (also after its shard moved to another process).
Writes that read first lock the row they change, so two processes never lose each other's update.
Rates and the daily budget are counted by one statement each, atomic across processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

import asyncpg

from ..config import ConfigError
from ..text.pronunciation import entry_key
from .models import Added, ClonedVoice, GuildPrefs, MemberPrefs
from .postgres_schema import GUILD_STORED, MEMBER_STORED, NewerSchemaError, migrate
from .postgres_url import WHERE, open_error, redacted
from .stored import checked, checked_text

if TYPE_CHECKING:
    from .postgres_schema import AnyConnection

log = logging.getLogger(__name__)

POOL_SIZE: Final = 10
"""Connections per process at most; a statement holds one only while it runs."""
CONNECT_TIMEOUT_S: Final = 10.0
_RATE_SWEEP_EVERY: Final = 1000  # rate takes between two deletions of windows that are over

DEFAULT_PROXY_ALLOWLIST: Final = GuildPrefs(guild_id=0).proxy_allowlist
_ID_TABLES: Final = {"linked_channels": "channel_id", "proxy_allowlist": "application_id"}
"""The table of each set of ids in :class:`GuildPrefs` (named after the field) and its id column."""
if set(_ID_TABLES) != {name for name, field in GUILD_STORED.items() if field.shape == "ids"}:
    raise TypeError("every set of ids in GuildPrefs needs a table of its own in _ID_TABLES")

_GUILD_COLUMNS: Final = tuple(name for name, field in GUILD_STORED.items() if field.shape != "ids")
_ID_ARRAYS: Final = ", ".join(
    f"ARRAY(SELECT {column} FROM {table} AS t WHERE t.guild_id = g.guild_id ORDER BY 1) AS {table}"  # noqa: S608
    for table, column in _ID_TABLES.items()
)
_SELECT_GUILD: Final = (
    f"SELECT {', '.join(_GUILD_COLUMNS)}, proxy_allowlist_customised, {_ID_ARRAYS} "  # noqa: S608 (whitelisted names)
    "FROM guild_settings AS g WHERE guild_id = $1"
)
_UPDATE_GUILD: Final = (
    "UPDATE guild_settings SET "  # noqa: S608 (whitelisted names)
    + ", ".join(f"{column} = ${n}" for n, column in enumerate((*_GUILD_COLUMNS, "proxy_allowlist_customised"), 2))
    + " WHERE guild_id = $1"
)
_MEMBER_COLUMNS: Final = tuple(MEMBER_STORED)
_SELECT_MEMBER: Final = (
    f"SELECT {', '.join(f'm.{c}' for c in _MEMBER_COLUMNS)}, "  # noqa: S608 (whitelisted names)
    "ARRAY(SELECT guild_id FROM spoken_names WHERE user_id = $1 ORDER BY guild_id) AS name_guilds, "
    "ARRAY(SELECT name FROM spoken_names WHERE user_id = $1 ORDER BY guild_id) AS names "
    "FROM (SELECT $1::BIGINT AS user_id) AS wanted LEFT JOIN member_settings AS m USING (user_id)"
)
_ADD_USAGE: Final = (
    "WITH dropped AS (DELETE FROM daily_usage WHERE guild_id = $1 AND day < $2) "
    "INSERT INTO daily_usage AS u (guild_id, day, characters) VALUES ($1, $2, $3) "
    "ON CONFLICT (guild_id, day) DO UPDATE SET characters = u.characters + excluded.characters "
    "RETURNING characters"
)
_ADD_USAGE_WITHIN: Final = (
    "WITH dropped AS (DELETE FROM daily_usage WHERE guild_id = $1 AND day < $2) "
    "INSERT INTO daily_usage AS u (guild_id, day, characters) "
    "SELECT $1::BIGINT, $2::TEXT, $3::BIGINT WHERE $3 <= $4::BIGINT "
    "ON CONFLICT (guild_id, day) DO UPDATE SET characters = u.characters + excluded.characters "
    "WHERE u.characters + excluded.characters <= $4::BIGINT "
    "RETURNING characters"
)
_TAKE_RATE: Final = (
    # A window that is over starts again with this text; otherwise the text is counted in it (at most
    # limit + 1: enough to know it is full). Both SETs read the row as it was.
    "INSERT INTO rate_windows AS w (guild_id, user_id, window_start, used) VALUES ($1, $2, $3, 1) "
    "ON CONFLICT (guild_id, user_id) DO UPDATE SET "
    "window_start = CASE WHEN $3 > w.window_start + $4 THEN $3 ELSE w.window_start END, "
    "used = CASE WHEN $3 > w.window_start + $4 THEN 1 ELSE LEAST(w.used + 1, $5 + 1) END "
    "RETURNING used, window_start"
)
_DICTIONARY_LOCK: Final = 0x7474_7364
"""The first key of the advisory lock around changing one server's dictionary (the second: its id, hashed)."""
_CLONE_LOCK: Final = 0x636C6F6E
"""The first key of the advisory lock around adding one member's clone (the second is from their id)."""
SERVER_RATE_USER: Final = 0
"""``rate_windows.user_id`` of a server's own rate (no Discord id is 0)."""


class PostgresPreferences:
    """:class:`~cogs.engine.store.models.PreferencesStore` in PostgreSQL (``storage.url``)."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self._url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._open_lock = asyncio.Lock()
        self._rate_takes = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redacted(self._url)!r})"

    async def open(self) -> None:
        """Connect and create or migrate the schema; :class:`ConfigError` in one line if that fails."""
        async with self._open_lock:
            if self._pool is not None:
                return
            try:
                pool = await asyncpg.create_pool(
                    self._url, min_size=1, max_size=self._pool_size, timeout=CONNECT_TIMEOUT_S
                )
            except Exception as error:  # every way to fail becomes one line for the admin
                raise open_error(error, self._url) from None
            try:
                async with pool.acquire() as connection:
                    await migrate(connection)
            except BaseException as error:
                await pool.close()
                if isinstance(error, NewerSchemaError):
                    raise ConfigError(
                        f"{WHERE}: the database {redacted(self._url)} was written by a newer version of the bot "
                        f"({error}): run that version, or point storage.url at another database"
                    ) from None
                raise
            self._pool = pool

    async def close(self) -> None:
        """Close the pool once the statements under way are done; calling it again does nothing."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def guild(self, guild_id: int) -> GuildPrefs:
        async with self._connection() as connection:
            return _guild(guild_id, await connection.fetchrow(_SELECT_GUILD, guild_id))

    async def update_guild(self, guild_id: int, **changes: object) -> GuildPrefs:
        valid: dict[str, Any] = checked(changes, GUILD_STORED, "server")
        if not valid:
            return await self.guild(guild_id)
        async with self._transaction() as connection:
            await connection.execute(
                "INSERT INTO guild_settings (guild_id) VALUES ($1) ON CONFLICT (guild_id) DO NOTHING", guild_id
            )
            # Lock first, read after: the read then sees every change committed before the lock was ours.
            await connection.execute("SELECT 1 FROM guild_settings WHERE guild_id = $1 FOR UPDATE", guild_id)
            prefs = replace(_guild(guild_id, await connection.fetchrow(_SELECT_GUILD, guild_id)), **valid)
            customised = prefs.proxy_allowlist != DEFAULT_PROXY_ALLOWLIST
            await connection.execute(
                _UPDATE_GUILD, guild_id, *(getattr(prefs, column) for column in _GUILD_COLUMNS), customised
            )
            for table, column in _ID_TABLES.items():
                if table in valid:
                    ids: frozenset[int] = getattr(prefs, table)
                    if table == "proxy_allowlist" and not customised:
                        ids = frozenset()  # the built-in list is followed, not copied
                    await connection.execute(f"DELETE FROM {table} WHERE guild_id = $1", guild_id)  # noqa: S608
                    await connection.execute(
                        f"INSERT INTO {table} (guild_id, {column}) SELECT $1, unnest($2::BIGINT[])",
                        guild_id,
                        sorted(ids),
                    )
        return prefs

    async def member(self, user_id: int) -> MemberPrefs:
        async with self._connection() as connection:
            row = await connection.fetchrow(_SELECT_MEMBER, user_id)
        assert row is not None  # noqa: S101 (the statement always returns its one row)
        names = dict(zip(row["name_guilds"], row["names"], strict=True))
        if row["opted_out"] is None:  # no row: defaults
            return MemberPrefs(user_id=user_id, spoken_names=names)
        return MemberPrefs(user_id=user_id, spoken_names=names, **{c: row[c] for c in _MEMBER_COLUMNS})

    async def update_member(self, user_id: int, **changes: object) -> MemberPrefs:
        valid: dict[str, Any] = checked(changes, MEMBER_STORED, "member")
        if valid:
            # One upsert of just the changed columns: a concurrent change of the other one is kept.
            columns = list(valid)
            async with self._connection() as connection:
                await connection.execute(
                    f"INSERT INTO member_settings (user_id, {', '.join(columns)}) "  # noqa: S608 (whitelisted)
                    f"VALUES ($1, {', '.join(f'${n}' for n in range(2, len(columns) + 2))}) "
                    f"ON CONFLICT (user_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns)}",
                    user_id,
                    *valid.values(),
                )
        return await self.member(user_id)

    async def set_spoken_name(self, guild_id: int, user_id: int, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"a spoken name must be a str or None, not {type(name).__name__}")
        if name is not None:
            checked_text("a spoken name", name)
        async with self._connection() as connection:
            if name is None:
                await connection.execute(
                    "DELETE FROM spoken_names WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
                )
            else:
                await connection.execute(
                    "INSERT INTO spoken_names (guild_id, user_id, name) VALUES ($1, $2, $3) "
                    "ON CONFLICT (guild_id, user_id) DO UPDATE SET name = excluded.name",
                    guild_id,
                    user_id,
                    name,
                )

    async def forget_member(self, user_id: int) -> None:
        async with self._transaction() as connection:
            for table in ("member_settings", "spoken_names", "rate_windows", "voice_clones"):
                await connection.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)  # noqa: S608

    async def clones(self, user_id: int) -> list[ClonedVoice]:
        async with self._connection() as connection:
            found = await connection.fetch(
                "SELECT voice_id, name, created_at FROM voice_clones WHERE user_id = $1 ORDER BY created_at, voice_id",
                user_id,
            )
        return [ClonedVoice(row["voice_id"], user_id, row["name"], float(row["created_at"])) for row in found]

    async def add_clone(self, clone: ClonedVoice, limit: int) -> bool:
        checked_text("a clone's name", clone.name)
        async with self._transaction() as connection:
            # One member's clones are counted and added under a lock of theirs: no two processes both see a free slot.
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, ($2 % 2147483647)::INTEGER)", _CLONE_LOCK, clone.user_id
            )
            held = await connection.fetchval("SELECT count(*) FROM voice_clones WHERE user_id = $1", clone.user_id)
            if int(held) >= limit:
                return False
            await connection.execute(
                "INSERT INTO voice_clones (voice_id, user_id, name, created_at) VALUES ($1, $2, $3, $4)",
                clone.voice_id,
                clone.user_id,
                clone.name,
                clone.created_at,
            )
        return True

    async def remove_clone(self, user_id: int, voice_id: str) -> bool:
        async with self._transaction() as connection:
            removed = await connection.fetchval(
                "DELETE FROM voice_clones WHERE user_id = $1 AND voice_id = $2 RETURNING voice_id", user_id, voice_id
            )
            if removed is not None:
                await connection.execute(
                    "UPDATE member_settings SET voice_id = NULL WHERE user_id = $1 AND voice_id = $2", user_id, voice_id
                )
        return removed is not None

    async def clone_owners(self, voice_ids: Collection[str]) -> dict[str, int]:
        if not voice_ids:
            return {}
        async with self._connection() as connection:
            found = await connection.fetch(
                "SELECT voice_id, user_id FROM voice_clones WHERE voice_id = ANY($1::TEXT[])", list(voice_ids)
            )
        return {row["voice_id"]: int(row["user_id"]) for row in found}

    async def usage(self, guild_id: int, day: str) -> int:
        async with self._connection() as connection:
            used = await connection.fetchval(
                "SELECT characters FROM daily_usage WHERE guild_id = $1 AND day = $2", guild_id, day
            )
        return 0 if used is None else int(used)

    async def add_usage(self, guild_id: int, day: str, characters: int) -> int:
        async with self._connection() as connection:
            return int(await connection.fetchval(_ADD_USAGE, guild_id, day, characters))

    async def add_usage_within(self, guild_id: int, day: str, characters: int, budget: int) -> tuple[bool, int]:
        if characters < 0:
            raise ValueError(f"characters must not be negative, not {characters}")
        async with self._connection() as connection:
            total = await connection.fetchval(_ADD_USAGE_WITHIN, guild_id, day, characters, budget)
        if total is None:  # no row written: over the budget
            return False, await self.usage(guild_id, day)
        return True, int(total)

    async def take_rate(self, guild_id: int, user_id: int | None, limit: int, now: float, per: float) -> float | None:
        if limit < 1:
            raise ValueError(f"a rate allows at least 1 text, not {limit}")
        user = SERVER_RATE_USER if user_id is None else user_id
        async with self._connection() as connection:
            taken = await connection.fetchrow(_TAKE_RATE, guild_id, user, now, per, limit)
            assert taken is not None  # noqa: S101 (an upsert with RETURNING returns its row)
            used, window_start = taken["used"], taken["window_start"]
            self._rate_takes += 1
            if self._rate_takes % _RATE_SWEEP_EVERY == 0:
                await connection.execute("DELETE FROM rate_windows WHERE window_start < $1", now - per)
        return None if used <= limit else per - (now - window_start)

    async def pronunciations(self, guild_id: int) -> dict[str, str]:
        async with self._connection() as connection:
            found = await connection.fetch(
                "SELECT word, spoken FROM pronunciations WHERE guild_id = $1 ORDER BY word_key", guild_id
            )
        return {row["word"]: row["spoken"] for row in found}

    async def set_pronunciation(self, guild_id: int, word: str, spoken: str, *, max_entries: int) -> Added:
        checked_text("a word", word)
        checked_text("a spoken form", spoken)
        key = entry_key(word)
        async with self._transaction() as connection:
            # One server's dictionary changes one process at a time, so the count can't be overshot.
            await connection.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext(($2::BIGINT)::TEXT))", _DICTIONARY_LOCK, guild_id
            )
            there = await connection.fetchval(
                "SELECT 1 FROM pronunciations WHERE guild_id = $1 AND word_key = $2", guild_id, key
            )
            held = await connection.fetchval("SELECT count(*) FROM pronunciations WHERE guild_id = $1", guild_id)
            if there is None and held >= max_entries:
                return "full"
            await connection.execute(
                "INSERT INTO pronunciations (guild_id, word_key, word, spoken) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (guild_id, word_key) DO UPDATE SET word = excluded.word, spoken = excluded.spoken",
                guild_id,
                key,
                word,
                spoken,
            )
        return "added" if there is None else "replaced"

    async def remove_pronunciation(self, guild_id: int, word: str) -> str | None:
        async with self._connection() as connection:
            removed = await connection.fetchval(
                "DELETE FROM pronunciations WHERE guild_id = $1 AND word_key = $2 RETURNING word",
                guild_id,
                entry_key(word),
            )
        return None if removed is None else str(removed)

    async def forget_guild(self, guild_id: int) -> None:
        async with self._transaction() as connection:
            tables = (*_ID_TABLES, "guild_settings", "spoken_names", "daily_usage", "rate_windows", "pronunciations")
            for table in tables:
                await connection.execute(f"DELETE FROM {table} WHERE guild_id = $1", guild_id)  # noqa: S608

    def _require_open(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self!r} is not open; call open() first")
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AnyConnection]:
        """A connection of the pool for one or more statements, each committed on its own."""
        async with self._require_open().acquire() as connection:
            yield connection

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AnyConnection]:
        """A connection inside a transaction: committed if the block succeeds, rolled back otherwise."""
        async with self._require_open().acquire() as connection, connection.transaction():
            yield connection


def _guild(guild_id: int, row: asyncpg.Record | None) -> GuildPrefs:
    if row is None:
        return GuildPrefs(guild_id=guild_id)
    fields: dict[str, Any] = {column: row[column] for column in _GUILD_COLUMNS}
    fields["linked_channels"] = frozenset(row["linked_channels"])
    if row["proxy_allowlist_customised"]:
        fields["proxy_allowlist"] = frozenset(row["proxy_allowlist"])
    return GuildPrefs(guild_id=guild_id, **fields)
