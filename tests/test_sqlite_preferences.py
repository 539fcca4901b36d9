"""The SQLite preferences store on real files: defaults, round trips, migrations, forgetting, concurrency, cache."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogs.engine.store import sqlite as sqlite_preferences
from cogs.engine.store.models import (
    GUILD_FIELDS,
    MEMBER_FIELDS,
    PLURALKIT_APP_ID,
    TUPPERBOX_APP_ID,
    GuildPrefs,
    MemberPrefs,
    PreferencesStore,
)
from cogs.engine.store.sqlite import SqlitePreferences, migrate

TABLES = ("guild_settings", "linked_channels", "proxy_allowlist", "member_settings", "spoken_names")
INJECTION = "x'); DROP TABLE guild_settings; --"

# Every server setting changed away from its default.
ALL_CHANGED: dict[str, Any] = {
    "linked_channels": frozenset({111, 222, 2**63 - 1}),
    "read_voice_chat": False,
    "default_voice": "voice-aria",
    "allow_member_voices": False,
    "announce_author": False,
    "announce_window_s": 15,
    "require_voice": False,
    "auto_join": False,
    "ignore_prefix": "",
    "read_bots": True,
    "read_proxies": False,
    "proxy_allowlist": frozenset({42}),
    "required_role": 987654321987654321,
    "max_length": 120,
    "emoji_mode": "skip",
    "repeated_characters": 0,
}


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


# --- opening, defaults, lifecycle ---


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


async def test_reads_return_defaults_and_write_nothing(store: SqlitePreferences, db_path: Path) -> None:
    assert await store.guild(1) == GuildPrefs(guild_id=1)
    assert (await store.guild(1)).proxy_allowlist == {PLURALKIT_APP_ID, TUPPERBOX_APP_ID}
    assert await store.member(2) == MemberPrefs(user_id=2)
    assert await store.update_guild(1) == GuildPrefs(guild_id=1)  # no changes: a read
    assert await store.update_member(2) == MemberPrefs(user_id=2)
    assert set(row_counts(db_path).values()) == {0}


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


async def test_close_is_idempotent_and_a_closed_store_refuses_use(db_path: Path) -> None:
    store = SqlitePreferences(db_path)
    assert repr(store) == f"SqlitePreferences({str(db_path)!r})"
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)
    await store.open()
    await store.open()  # a second open() is harmless
    await store.update_guild(1, read_bots=True)
    await store.guild(1)  # cached
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)  # not answered from the cache either
    with pytest.raises(RuntimeError, match="not open"):
        await store.update_guild(1, read_bots=False)
    await store.open()  # and it can be opened again
    assert (await store.guild(1)).read_bots is True
    await store.close()


# --- round trips ---


async def test_every_server_setting_round_trips_and_survives_a_restart(store: SqlitePreferences, db_path: Path) -> None:
    expected = GuildPrefs(guild_id=1, **ALL_CHANGED)
    assert expected != GuildPrefs(guild_id=1)
    assert set(ALL_CHANGED) == GUILD_FIELDS  # the test really covers every field
    assert await store.update_guild(1, **ALL_CHANGED) == expected
    assert await store.guild(1) == expected
    await store.close()

    again = await reopened(db_path)
    try:
        assert await again.guild(1) == expected
        assert await again.guild(2) == GuildPrefs(guild_id=2)
    finally:
        await again.close()


async def test_optional_settings_go_back_to_none(store: SqlitePreferences, db_path: Path) -> None:
    await store.update_guild(1, default_voice="v1", required_role=77, linked_channels={5})
    await store.update_guild(1, default_voice=None, required_role=None, linked_channels=set())
    await store.close()
    again = await reopened(db_path)
    try:
        prefs = await again.guild(1)
        assert (prefs.default_voice, prefs.required_role, prefs.linked_channels) == (None, None, frozenset())
        assert query(db_path, "SELECT default_voice, required_role FROM guild_settings") == [(None, None)]
    finally:
        await again.close()


async def test_updates_merge_with_earlier_ones(store: SqlitePreferences) -> None:
    await store.update_guild(1, linked_channels=[10, 11], max_length=99)
    prefs = await store.update_guild(1, emoji_mode="skip")
    assert (prefs.linked_channels, prefs.max_length, prefs.emoji_mode) == (frozenset({10, 11}), 99, "skip")


async def test_member_voice_and_opt_out_round_trip(store: SqlitePreferences, db_path: Path) -> None:
    assert await store.update_member(7, voice_id="voice-bob") == MemberPrefs(user_id=7, voice_id="voice-bob")
    assert await store.update_member(7, opted_out=True) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True)
    await store.update_member(8, opted_out=True)
    await store.update_member(8, opted_out=False, voice_id=None)
    await store.close()
    again = await reopened(db_path)
    try:
        assert await again.member(7) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True)
        assert await again.member(8) == MemberPrefs(user_id=8)
        assert await again.member(9) == MemberPrefs(user_id=9)
    finally:
        await again.close()


async def test_spoken_names_are_per_server(store: SqlitePreferences, db_path: Path) -> None:
    await store.update_member(7, voice_id="v")
    await store.set_spoken_name(100, 7, "Alice")
    await store.set_spoken_name(200, 7, "Ali")
    await store.set_spoken_name(100, 8, "Bob")  # a member with no other settings
    assert (await store.member(7)).spoken_names == {100: "Alice", 200: "Ali"}
    assert await store.member(8) == MemberPrefs(user_id=8, spoken_names={100: "Bob"})
    assert row_counts(db_path)["member_settings"] == 1  # a name creates no member row

    await store.set_spoken_name(100, 7, "Al")  # replace
    await store.set_spoken_name(200, 7, None)  # clear
    await store.set_spoken_name(300, 7, None)  # clearing what was never set is fine
    await store.close()
    again = await reopened(db_path)
    try:
        assert await again.member(7) == MemberPrefs(user_id=7, voice_id="v", spoken_names={100: "Al"})
        assert (await again.member(8)).spoken_names == {100: "Bob"}
    finally:
        await again.close()


async def test_returned_spoken_names_cannot_change_the_cache(store: SqlitePreferences) -> None:
    await store.set_spoken_name(1, 7, "Alice")
    (await store.member(7)).spoken_names[1] = "Mallory"
    assert (await store.member(7)).spoken_names == {1: "Alice"}


# --- validation ---


async def test_unknown_setting_raises_key_error_and_writes_nothing(store: SqlitePreferences, db_path: Path) -> None:
    with pytest.raises(KeyError, match="volume"):
        await store.update_guild(1, max_length=10, volume=3)
    with pytest.raises(KeyError, match="spoken_names"):
        await store.update_member(1, opted_out=True, spoken_names={1: "x"})
    assert set(row_counts(db_path).values()) == {0}
    assert await store.guild(1) == GuildPrefs(guild_id=1)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"read_bots": "yes"}, TypeError),
        ({"read_bots": 1}, TypeError),
        ({"max_length": "300"}, TypeError),
        ({"max_length": True}, TypeError),
        ({"max_length": 2**64}, ValueError),
        ({"announce_window_s": 1.5}, TypeError),
        ({"default_voice": 5}, TypeError),
        ({"ignore_prefix": None}, TypeError),
        ({"required_role": "123"}, TypeError),
        ({"linked_channels": "123"}, TypeError),
        ({"linked_channels": [1, "2"]}, TypeError),
        ({"linked_channels": None}, TypeError),
        ({"proxy_allowlist": [True]}, TypeError),
        ({"emoji_mode": 1}, TypeError),
        ({"emoji_mode": "shout"}, ValueError),
        ({"max_length": 10, "read_proxies": "no"}, TypeError),  # one bad value: nothing written
    ],
)
async def test_wrong_types_are_refused(
    store: SqlitePreferences, db_path: Path, changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.update_guild(1, **changes)
    assert set(row_counts(db_path).values()) == {0}


@pytest.mark.parametrize("changes", [{"opted_out": "no"}, {"opted_out": 0}, {"voice_id": 3}])
async def test_wrong_member_types_are_refused(
    store: SqlitePreferences, db_path: Path, changes: dict[str, object]
) -> None:
    with pytest.raises(TypeError):
        await store.update_member(1, **changes)
    with pytest.raises(TypeError):
        await store.set_spoken_name(1, 1, 5)  # type: ignore[arg-type]
    assert set(row_counts(db_path).values()) == {0}


# --- the proxy allow-list ---


async def test_proxy_allowlist_default_versus_emptied(store: SqlitePreferences, db_path: Path) -> None:
    default = GuildPrefs(guild_id=0).proxy_allowlist
    await store.update_guild(1, read_bots=True)  # a row exists, the allow-list was never changed
    assert (await store.guild(1)).proxy_allowlist == default
    assert query(db_path, "SELECT proxy_allowlist_customised FROM guild_settings") == [(0,)]
    assert row_counts(db_path)["proxy_allowlist"] == 0

    assert (await store.update_guild(1, proxy_allowlist=set())).proxy_allowlist == frozenset()
    assert query(db_path, "SELECT proxy_allowlist_customised FROM guild_settings") == [(1,)]
    await store.update_guild(2, proxy_allowlist=[PLURALKIT_APP_ID, 555])
    await store.close()

    again = await reopened(db_path)
    try:
        assert (await again.guild(1)).proxy_allowlist == frozenset()  # emptied stays empty
        assert (await again.guild(2)).proxy_allowlist == {PLURALKIT_APP_ID, 555}
        assert (await again.guild(3)).proxy_allowlist == default
        # Choosing exactly the built-in list again means "follow the default" (and its future changes).
        assert (await again.update_guild(1, proxy_allowlist=default)).proxy_allowlist == default
        assert query(db_path, "SELECT guild_id, proxy_allowlist_customised FROM guild_settings ORDER BY 1") == [
            (1, 0),
            (2, 1),
        ]
        assert query(db_path, "SELECT guild_id, application_id FROM proxy_allowlist ORDER BY 2") == [
            (2, 555),
            (2, PLURALKIT_APP_ID),
        ]
    finally:
        await again.close()


# --- migrations ---


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


# --- forgetting ---


async def test_forget_member_removes_only_that_member(store: SqlitePreferences, db_path: Path) -> None:
    for user in (7, 8):
        await store.update_member(user, voice_id=f"v{user}", opted_out=True)
        await store.set_spoken_name(100, user, f"name{user}")
        await store.set_spoken_name(200, user, f"other{user}")
    await store.update_guild(100, read_bots=True)
    await store.member(7)  # cached

    await store.forget_member(7)
    assert await store.member(7) == MemberPrefs(user_id=7)
    assert query(db_path, "SELECT user_id FROM member_settings") == [(8,)]
    assert query(db_path, "SELECT guild_id, user_id, name FROM spoken_names ORDER BY 1") == [
        (100, 8, "name8"),
        (200, 8, "other8"),
    ]
    assert (await store.guild(100)).read_bots is True
    await store.forget_member(12345)  # unknown member: nothing to do


async def test_forget_guild_removes_only_that_server(store: SqlitePreferences, db_path: Path) -> None:
    for guild in (100, 200):
        await store.update_guild(guild, linked_channels={guild + 1}, proxy_allowlist={guild + 2}, max_length=guild)
        await store.set_spoken_name(guild, 7, f"seven@{guild}")
    await store.update_member(7, voice_id="v7")
    assert (await store.member(7)).spoken_names == {100: "seven@100", 200: "seven@200"}  # cached
    await store.guild(100)  # cached

    await store.forget_guild(100)
    assert await store.guild(100) == GuildPrefs(guild_id=100)
    assert await store.member(7) == MemberPrefs(user_id=7, voice_id="v7", spoken_names={200: "seven@200"})
    assert await store.guild(200) == GuildPrefs(
        guild_id=200, linked_channels=frozenset({201}), proxy_allowlist=frozenset({202}), max_length=200
    )
    for table in ("guild_settings", "linked_channels", "proxy_allowlist", "spoken_names"):
        assert query(db_path, f"SELECT DISTINCT guild_id FROM {table}") == [(200,)], table  # noqa: S608
    assert query(db_path, "SELECT user_id FROM member_settings") == [(7,)]


# --- concurrency and atomicity ---


async def test_concurrent_updates_all_land(store: SqlitePreferences, db_path: Path) -> None:
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


async def test_concurrent_member_writes_and_reads(store: SqlitePreferences) -> None:
    await asyncio.gather(
        *(store.set_spoken_name(g, 7, f"n{g}") for g in range(20)),
        store.update_member(7, voice_id="v"),
        store.update_member(7, opted_out=True),
        *(store.member(7) for _ in range(10)),
    )
    assert await store.member(7) == MemberPrefs(
        user_id=7, voice_id="v", opted_out=True, spoken_names={g: f"n{g}" for g in range(20)}
    )


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


async def test_cancelled_updates_leave_the_store_usable(store: SqlitePreferences) -> None:
    """Cancel an update at every step it awaits: it lands whole or not at all, and no transaction stays open."""
    for steps in range(30):
        before = await store.guild(1)
        wanted = frozenset(range(steps, steps + 50))
        task = asyncio.create_task(store.update_guild(1, linked_channels=wanted, max_length=steps))
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        after = await store.guild(1)
        assert (after.linked_channels, after.max_length) in (
            (wanted, steps),
            (before.linked_channels, before.max_length),
        )
        assert (await store.update_guild(2, max_length=steps)).max_length == steps


async def test_usage_within_a_budget_is_checked_and_added_together(store: SqlitePreferences, db_path: Path) -> None:
    await store.add_usage(1, "2026-01-01", 50)  # yesterday: dropped when today is first added to
    assert await store.add_usage_within(1, "2026-01-02", 60, 100) == (True, 60)
    assert await store.add_usage_within(1, "2026-01-02", 41, 100) == (False, 60)  # 101 > 100: nothing added
    assert await store.add_usage_within(1, "2026-01-02", 40, 100) == (True, 100)  # exactly the budget fits
    assert await store.add_usage_within(1, "2026-01-02", 0, 100) == (True, 100)
    assert await store.add_usage_within(1, "2026-01-02", 1, 100) == (False, 100)
    assert await store.add_usage_within(2, "2026-01-02", 101, 100) == (False, 0)  # too long on its own
    with pytest.raises(ValueError, match="negative"):
        await store.add_usage_within(1, "2026-01-02", -5, 100)
    assert query(db_path, "SELECT guild_id, day, characters FROM daily_usage") == [(1, "2026-01-02", 100)]


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


# --- injection and cache ---


async def test_sql_in_values_is_stored_verbatim(store: SqlitePreferences, db_path: Path) -> None:
    await store.set_spoken_name(1, 7, INJECTION)
    await store.update_guild(1, ignore_prefix=INJECTION, default_voice=INJECTION)
    await store.update_member(7, voice_id=INJECTION)
    await store.close()
    again = await reopened(db_path)
    try:
        assert (await again.member(7)).spoken_names == {1: INJECTION}
        assert (await again.member(7)).voice_id == INJECTION
        prefs = await again.guild(1)
        assert (prefs.ignore_prefix, prefs.default_voice) == (INJECTION, INJECTION)
        assert set(row_counts(db_path)) == set(TABLES)  # every table still there
    finally:
        await again.close()


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


# --- any valid settings ---

_ids = st.frozensets(st.integers(min_value=0, max_value=2**63 - 1), max_size=4)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_text = st.text(max_size=40)
_GUILD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "linked_channels": _ids,
    "proxy_allowlist": _ids,
    "default_voice": st.none() | _text,
    "required_role": st.none() | _ints,
    "ignore_prefix": _text,
    "emoji_mode": st.sampled_from(["name", "skip"]),
    "announce_window_s": _ints,
    "max_length": _ints,
    "repeated_characters": _ints,
} | {field: st.booleans() for field in GUILD_FIELDS if isinstance(getattr(GuildPrefs(guild_id=0), field), bool)}


@settings(max_examples=40, deadline=None)
@given(changes=st.fixed_dictionaries({}, optional=_GUILD_VALUES), name=_text)
def test_any_valid_settings_round_trip(changes: dict[str, Any], name: str) -> None:
    assert set(_GUILD_VALUES) == GUILD_FIELDS

    async def run() -> None:
        store = SqlitePreferences(":memory:")
        await store.open()
        try:
            await store.update_guild(1, **changes)
            await store.set_spoken_name(1, 2, name)
            assert await store.guild(1) == replace(GuildPrefs(guild_id=1), **changes)  # read back from SQLite
            assert (await store.member(2)).spoken_names == {1: name}
        finally:
            await store.close()

    asyncio.run(run())
