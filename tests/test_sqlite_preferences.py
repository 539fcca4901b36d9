"""What only the SQLite store has: its file (WAL, user_version), migrations, its cache, and the write lock.

Everything both backends do is tested on both in ``test_preferences_store.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from cogs.engine.store import sqlite_schema as sqlite_preferences
from cogs.engine.store.models import (
    GUILD_FIELDS,
    MEMBER_FIELDS,
    GuildPrefs,
    MemberPrefs,
    PreferencesStore,
)
from cogs.engine.store.sqlite import SqlitePreferences
from cogs.engine.store.sqlite_schema import migrate
from tests.test_preferences_store import ALL_CHANGED

TABLES = ("guild_settings", "linked_channels", "proxy_allowlist", "member_settings", "spoken_names")


def query(path: Path, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
    """Read or change the file behind the store's back, with a connection of its own."""
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        return connection.execute(sql, parameters).fetchall()


def row_counts(path: Path) -> dict[str, int]:
    return {table: query(path, f"SELECT count(*) FROM {table}")[0][0] for table in TABLES}  # noqa: S608


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "preferences.sqlite3"  # "data" does not exist yet: open() creates it


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqlitePreferences]:
    store = SqlitePreferences(db_path)
    await store.open()
    yield store
    await store.close()


async def reopened(path: Path) -> SqlitePreferences:
    store = SqlitePreferences(path)
    await store.open()
    return store


async def test_nothing_touches_the_disk_until_open(db_path: Path) -> None:
    store = SqlitePreferences(str(db_path))
    assert not db_path.parent.exists()
    await store.open()
    try:
        assert query(db_path, "SELECT count(*) FROM sqlite_master") != [(0,)]
        assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
        assert query(db_path, "PRAGMA user_version") == [(sqlite_preferences.SCHEMA_VERSION,)]
    finally:
        await store.close()


def test_repr_names_the_file(db_path: Path) -> None:
    assert repr(SqlitePreferences(db_path)) == f"SqlitePreferences({str(db_path)!r})"


async def test_in_memory_database_works() -> None:
    store: PreferencesStore = SqlitePreferences(":memory:")
    await store.open()
    try:
        assert (await store.update_guild(5, max_length=50)).max_length == 50
        assert (await store.guild(5)).max_length == 50
        await store.set_spoken_name(5, 6, "Al")
        assert (await store.member(6)).spoken_names == {5: "Al"}
    finally:
        await store.close()


def test_schema_matches_the_records() -> None:
    """Adding a GuildPrefs field without a migration (or with another default) fails here."""
    with closing(sqlite3.connect(":memory:")) as connection:
        for number in range(1, sqlite_preferences.SCHEMA_VERSION + 1):
            connection.executescript(sqlite_preferences.MIGRATIONS[number - 1])
        columns = {row[1]: row for row in connection.execute("PRAGMA table_info(guild_settings)")}
        member_columns = {row[1] for row in connection.execute("PRAGMA table_info(member_settings)")}
    assert set(columns) - {"guild_id", "proxy_allowlist_customised"} == GUILD_FIELDS - {
        "linked_channels",
        "proxy_allowlist",
    }
    assert member_columns - {"user_id"} == MEMBER_FIELDS
    defaults = GuildPrefs(guild_id=0)
    for name in set(columns) - {"guild_id", "proxy_allowlist_customised"}:
        _, _, _, not_null, sql_default, _ = columns[name]
        value = getattr(defaults, name)
        if value is None:
            assert (not_null, sql_default) == (0, None), name
        else:
            literal = f"'{value}'" if isinstance(value, str) else str(int(value))
            assert (not_null, sql_default) == (1, literal), name


async def test_migration_keeps_data_from_schema_1(db_path: Path) -> None:
    db_path.parent.mkdir()
    async with aiosqlite.connect(db_path, isolation_level=None) as connection:
        assert await migrate(connection, up_to=1) == 1
        await connection.executescript(
            """
            INSERT INTO guild_settings (guild_id, max_length, read_bots, emoji_mode, proxy_allowlist_customised)
                VALUES (1, 120, 1, 'skip', 1);
            INSERT INTO guild_settings (guild_id, announce_author) VALUES (2, 0);
            INSERT INTO linked_channels VALUES (1, 10), (1, 11);
            INSERT INTO proxy_allowlist VALUES (1, 42);
            INSERT INTO member_settings (user_id, voice_id, opted_out) VALUES (7, 'voice-bob', 1);
            """
        )
    assert query(db_path, "PRAGMA user_version") == [(1,)]
    assert not query(db_path, "SELECT name FROM sqlite_master WHERE name = 'spoken_names'")

    store = await reopened(db_path)
    try:
        assert query(db_path, "PRAGMA user_version") == [(sqlite_preferences.SCHEMA_VERSION,)]
        assert await store.guild(1) == GuildPrefs(
            guild_id=1,
            max_length=120,
            read_bots=True,
            emoji_mode="skip",
            linked_channels=frozenset({10, 11}),
            proxy_allowlist=frozenset({42}),
            repeated_characters=3,  # the column migration 2 added, with its default
        )
        assert await store.guild(2) == GuildPrefs(guild_id=2, announce_author=False)
        assert await store.member(7) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True)
        # And what migration 2 brought works.
        await store.set_spoken_name(1, 7, "Bobby")
        assert (await store.member(7)).spoken_names == {1: "Bobby"}
        assert (await store.update_guild(1, repeated_characters=5)).max_length == 120
    finally:
        await store.close()

    again = await reopened(db_path)  # opening an up-to-date database runs nothing
    try:
        assert (await again.guild(1)).repeated_characters == 5
    finally:
        await again.close()


async def test_a_failing_migration_changes_nothing(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await reopened(db_path)
    await store.update_guild(1, max_length=77)
    await store.close()
    broken = "CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(sqlite_preferences, "MIGRATIONS", (*sqlite_preferences.MIGRATIONS, broken))

    store = SqlitePreferences(db_path)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        await store.open()
    assert query(db_path, "PRAGMA user_version") == [(sqlite_preferences.SCHEMA_VERSION,)]
    assert not query(db_path, "SELECT name FROM sqlite_master WHERE name = 'extra'")
    assert query(db_path, "SELECT max_length FROM guild_settings") == [(77,)]


async def test_a_newer_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir()
    query(db_path, "PRAGMA user_version = 99")
    store = SqlitePreferences(db_path)
    message = (
        f"preferences database {db_path} was written by a newer version "
        f"(schema 99, this version knows {sqlite_preferences.SCHEMA_VERSION})"
    )
    with pytest.raises(RuntimeError) as refused:
        await store.open()
    assert str(refused.value) == message
    assert query(db_path, "PRAGMA user_version") == [(99,)]
    assert query(db_path, "SELECT name FROM sqlite_master") == []  # untouched
    assert query(db_path, "PRAGMA journal_mode") == [("delete",)]
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)


async def test_migrate_refuses_a_bad_target() -> None:
    async with aiosqlite.connect(":memory:", isolation_level=None) as connection:
        with pytest.raises(ValueError, match="up_to"):
            await migrate(connection, up_to=sqlite_preferences.SCHEMA_VERSION + 1)
        assert await migrate(connection, up_to=0) == 0
        assert await migrate(connection) == sqlite_preferences.SCHEMA_VERSION
        assert await migrate(connection, up_to=1) == sqlite_preferences.SCHEMA_VERSION  # never backwards


async def test_concurrent_updates_all_land_in_the_order_they_were_made(store: SqlitePreferences, db_path: Path) -> None:
    fields = sorted(GUILD_FIELDS)
    updates: list[tuple[str, Any]] = []
    for i in range(50):
        field = fields[i % len(fields)]
        changed = ALL_CHANGED[field]
        if isinstance(changed, bool) or field == "emoji_mode":
            value: object = changed
        elif isinstance(changed, frozenset):
            value = frozenset({1000 + i})
        elif isinstance(changed, int):
            value = 1000 + i
        elif isinstance(changed, float):
            value = 1.0 + i / 100
        else:
            value = f"v{i}"
        updates.append((field, value))

    results = await asyncio.gather(*(store.update_guild(1, **{field: value}) for field, value in updates))

    for (field, value), result in zip(updates, results, strict=True):
        assert getattr(result, field) == value  # each call returns a record with its own change
    expected = GuildPrefs(guild_id=1, **dict(updates))  # later updates of a field win (the lock is FIFO)
    assert await store.guild(1) == expected
    await store.close()
    again = await reopened(db_path)
    try:
        assert await again.guild(1) == expected
    finally:
        await again.close()


async def test_a_failing_update_is_rolled_back_entirely(store: SqlitePreferences, db_path: Path) -> None:
    await store.update_guild(1, linked_channels={1, 2}, max_length=50)
    query(
        db_path,
        "CREATE TRIGGER boom BEFORE INSERT ON linked_channels WHEN NEW.channel_id = 666 "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END",
    )
    with pytest.raises(sqlite3.IntegrityError, match="boom"):
        await store.update_guild(1, linked_channels={3, 666}, max_length=99)  # fails after deleting 1 and 2
    assert query(db_path, "SELECT max_length FROM guild_settings") == [(50,)]
    assert query(db_path, "SELECT channel_id FROM linked_channels ORDER BY 1") == [(1,), (2,)]
    assert (await store.guild(1)).linked_channels == {1, 2}
    assert (await store.update_guild(1, linked_channels={3})).linked_channels == {3}  # no transaction left open


async def test_usage_within_a_budget_waits_for_another_connections_write(
    store: SqlitePreferences, db_path: Path
) -> None:
    """Another process holding the write lock: the check waits for its commit rather than reading around it."""
    with closing(sqlite3.connect(db_path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO daily_usage VALUES (1, '2026-01-02', 90)")
        pending = asyncio.create_task(store.add_usage_within(1, "2026-01-02", 20, 100))
        await asyncio.sleep(0.2)
        assert not pending.done()
        other.execute("COMMIT")
    assert await pending == (False, 90)


async def test_reads_are_cached_and_writes_invalidate(store: SqlitePreferences, db_path: Path) -> None:
    await store.update_guild(1, max_length=50)
    await store.update_member(7, voice_id="v")
    assert (await store.guild(1)).max_length == 50
    assert (await store.member(7)).voice_id == "v"
    # Changed behind the store's back: the cache still answers...
    query(db_path, "UPDATE guild_settings SET read_bots = 1")
    query(db_path, "UPDATE member_settings SET opted_out = 1")
    assert (await store.guild(1)).read_bots is False
    assert (await store.member(7)).opted_out is False
    # ...until the store writes, which re-reads the row in its transaction and drops the entry.
    prefs = await store.update_guild(1, max_length=60)
    assert (prefs.read_bots, prefs.max_length) == (True, 60)
    assert ((await store.guild(1)).read_bots, (await store.guild(1)).max_length) == (True, 60)
    await store.set_spoken_name(1, 7, "Seven")
    assert await store.member(7) == MemberPrefs(user_id=7, voice_id="v", opted_out=True, spoken_names={1: "Seven"})
