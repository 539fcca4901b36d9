"""What only the PostgreSQL store has: its schema and migrations, several processes on one database, URL errors.

Two stores on one database are two bot processes as far as PostgreSQL can tell: each has its own pool
of connections, so its own sessions, locks and transactions.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot import cli
from cogs.engine.config import ConfigError, LimitsSettings, Settings, StorageSettings
from cogs.engine.store import postgres_schema
from cogs.engine.store import sqlite_schema as sqlite_store
from cogs.engine.store.factory import build_store
from cogs.engine.store.limits import SpeechLimits
from cogs.engine.store.models import GUILD_FIELDS, MEMBER_FIELDS, GuildPrefs, MemberPrefs
from cogs.engine.store.postgres import PostgresPreferences
from cogs.engine.store.sqlite import SqlitePreferences
from tests.store_backends import with_database

PASSWORD = "pw-that-must-never-show"
NOON = 1_700_000_000.0


async def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    connection = await asyncpg.connect(url)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def opened(url: str) -> PostgresPreferences:
    store = PostgresPreferences(url)
    await store.open()
    return store


# --- the schema ---


async def test_the_schema_is_sqlites_with_columns_from_the_declarations(postgres_url: str) -> None:
    """Same tables and columns as SQLite; the settings' types and defaults follow GuildPrefs (a new field fails here)."""
    store = await opened(postgres_url)
    await store.close()
    rows = await fetch(
        postgres_url,
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    postgres = {(table, column) for table, column, *_ in rows}
    with closing(sqlite3.connect(":memory:")) as lite:
        for migration in sqlite_store.MIGRATIONS:
            lite.executescript(migration)
        tables = [name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        sqlite = {(table, row[1]) for table in tables for row in lite.execute(f"PRAGMA table_info({table})")}
    extra = {(table, column) for table, column in postgres if table in ("rate_windows", "schema_version")}
    assert postgres - extra == sqlite

    guild = {
        column: (kind, nullable, default)
        for table, column, kind, nullable, default in rows
        if table == "guild_settings"
    }
    assert set(guild) - {"guild_id", "proxy_allowlist_customised"} == GUILD_FIELDS - {
        "linked_channels",
        "proxy_allowlist",
    }
    member = {column for table, column, *_ in rows if table == "member_settings"}
    assert member - {"user_id"} == MEMBER_FIELDS
    defaults = GuildPrefs(guild_id=0)
    for name, (kind, nullable, default) in guild.items():
        if name in ("guild_id", "proxy_allowlist_customised"):
            continue
        value = getattr(defaults, name)
        if value is None:
            assert (nullable, default) == ("YES", None), name
        elif isinstance(value, bool):
            assert (kind, nullable, default) == ("boolean", "NO", str(value).lower()), name
        elif isinstance(value, int):
            assert (kind, nullable, default) == ("bigint", "NO", str(value)), name
        else:
            assert (kind, nullable, default) == ("text", "NO", f"'{value}'::text"), name


async def test_several_processes_opening_one_empty_database_at_once_migrate_it_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=postgres_schema.__name__)
    stores = [PostgresPreferences(postgres_url) for _ in range(8)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        migrated = [r.getMessage() for r in caplog.records if r.name == postgres_schema.__name__]
        assert migrated == [
            f"preferences database migrated to schema {n}" for n in range(1, 1 + postgres_schema.SCHEMA_VERSION)
        ]
        assert await fetch(postgres_url, "SELECT version FROM schema_version") == [(postgres_schema.SCHEMA_VERSION,)]
        await stores[0].update_guild(1, max_length=42)
        assert [(await store.guild(1)).max_length for store in stores] == [42] * 8
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_newer_database_is_refused_untouched(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute("CREATE TABLE schema_version (only_row BOOLEAN PRIMARY KEY, version INTEGER)")
        await connection.execute("INSERT INTO schema_version VALUES (TRUE, 99)")
    finally:
        await connection.close()
    store = PostgresPreferences(postgres_url)
    with pytest.raises(ConfigError) as refused:
        await store.open()
    message = str(refused.value)
    assert (
        "newer version of the bot" in message
        and f"(schema 99, this version knows {postgres_schema.SCHEMA_VERSION})" in message
    )
    assert message.startswith("storage.url (STORAGE_URL or [storage] url in config.toml): ")
    tables = await fetch(postgres_url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    assert tables == [("schema_version",)]
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)


async def test_a_failing_migration_changes_nothing(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = await opened(postgres_url)
    await store.update_guild(1, max_length=77)
    await store.close()
    broken = "CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(postgres_schema, "MIGRATIONS", (*postgres_schema.MIGRATIONS, lambda: broken))
    monkeypatch.setattr(postgres_schema, "SCHEMA_VERSION", postgres_schema.SCHEMA_VERSION + 1)

    with pytest.raises(asyncpg.UndefinedTableError, match="no_such_table"):
        await PostgresPreferences(postgres_url).open()
    assert await fetch(postgres_url, "SELECT version FROM schema_version") == [(postgres_schema.SCHEMA_VERSION - 1,)]
    assert await fetch(postgres_url, "SELECT to_regclass('extra')") == [(None,)]
    assert await fetch(postgres_url, "SELECT max_length FROM guild_settings") == [(77,)]


async def test_migrate_refuses_a_bad_target(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        with pytest.raises(ValueError, match="up_to"):
            await postgres_schema.migrate(connection, up_to=postgres_schema.SCHEMA_VERSION + 1)
        assert await postgres_schema.migrate(connection, up_to=0) == 0
        assert await postgres_schema.migrate(connection) == postgres_schema.SCHEMA_VERSION
        assert await postgres_schema.migrate(connection, up_to=0) == postgres_schema.SCHEMA_VERSION  # never back
    finally:
        await connection.close()


# --- several processes on one database ---


async def test_a_members_choice_through_one_process_holds_in_another_at_once(postgres_url: str) -> None:
    one, other = await opened(postgres_url), await opened(postgres_url)
    try:
        assert await other.member(7) == MemberPrefs(user_id=7)  # read first: nothing may keep this answer
        assert await other.guild(1) == GuildPrefs(guild_id=1)
        await one.update_member(7, voice_id="voice-bob")
        assert (await other.member(7)).voice_id == "voice-bob"
        await one.update_member(7, opted_out=True)
        assert (await other.member(7)).opted_out is True
        await one.set_spoken_name(1, 7, "Bobby")
        assert (await other.member(7)).spoken_names == {1: "Bobby"}
        await one.forget_member(7)
        assert await other.member(7) == MemberPrefs(user_id=7)
        await one.update_guild(1, max_length=50, linked_channels={10})
        prefs = await other.guild(1)
        assert (prefs.max_length, prefs.linked_channels) == (50, frozenset({10}))
        await one.forget_guild(1)
        assert await other.guild(1) == GuildPrefs(guild_id=1)
    finally:
        await one.close()
        await other.close()


async def test_two_processes_changing_one_member_at_once_lose_nothing(postgres_url: str) -> None:
    one, other = await opened(postgres_url), await opened(postgres_url)
    try:
        await asyncio.gather(one.update_member(7, voice_id="v"), other.update_member(7, opted_out=True))
        await asyncio.gather(
            *(
                s.update_guild(1, **{f: v})
                for s, (f, v) in zip(
                    [one, other] * 2,
                    [("max_length", 99), ("read_bots", True), ("linked_channels", {5}), ("emoji_mode", "skip")],
                    strict=True,
                )
            )
        )
        assert await one.member(7) == MemberPrefs(user_id=7, voice_id="v", opted_out=True)
        assert await other.guild(1) == GuildPrefs(
            guild_id=1, max_length=99, read_bots=True, linked_channels=frozenset({5}), emoji_mode="skip"
        )
    finally:
        await one.close()
        await other.close()


async def test_two_engines_on_one_database_never_overshoot_the_budget_or_a_rate(postgres_url: str) -> None:
    """Two processes' stores and SpeechLimits, admitting at once: the totals hold for both together."""
    stores = [await opened(postgres_url), await opened(postgres_url)]
    try:

        def limits(**settings: int) -> list[SpeechLimits]:
            values = {"member_messages_per_minute": 0, "server_messages_per_minute": 0, "server_daily_characters": 0}
            return [SpeechLimits(LimitsSettings(**(values | settings)), s, clock=lambda: NOON) for s in stores]

        budget = limits(server_daily_characters=1000)
        results = await asyncio.gather(*(budget[n % 2].admit(1, 100 + n, 30) for n in range(100)))
        assert sum(r is None for r in results) == 33  # 33 × 30 = 990; a 34th would make 1,020
        assert {r.reason for r in results if r is not None} == {"daily-budget"}
        assert await stores[1].usage(1, budget[0].today()) == 990

        member = limits(member_messages_per_minute=5)
        results = await asyncio.gather(*(member[n % 2].admit(2, 7, 10) for n in range(40)))
        assert sum(r is None for r in results) == 5
        refused = [r for r in results if r is not None]
        assert {r.message for r in refused} == {
            "You're sending messages faster than I can read them here — wait 60 s (at most 5 a minute)."
        }

        server = limits(server_messages_per_minute=7)
        results = await asyncio.gather(*(server[n % 2].admit(3, 100 + n, 10) for n in range(40)))
        assert sum(r is None for r in results) == 7
        assert {r.reason for r in results if r is not None} == {"server-rate"}
    finally:
        for store in stores:
            await store.close()


# --- storage.url: choosing the backend, and what an admin is told ---


def test_storage_url_chooses_the_backend(tmp_path: Path) -> None:
    assert isinstance(build_store(StorageSettings(sqlite_path=tmp_path / "p.sqlite3")), SqlitePreferences)
    assert isinstance(build_store(StorageSettings.model_validate({"url": ""})), SqlitePreferences)
    chosen = build_store(StorageSettings.model_validate({"url": f"postgresql://bot:{PASSWORD}@db:5432/tts"}))
    assert isinstance(chosen, PostgresPreferences)
    assert repr(chosen) == "PostgresPreferences('postgresql://bot@db:5432/tts')"
    settings = Settings.model_validate({"storage": {"url": f"postgres://bot:{PASSWORD}@db/tts"}})
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)


def test_a_url_of_another_database_stops_start_up_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORAGE_URL", f"mysql://bot:{PASSWORD}@db/tts")
    monkeypatch.setenv("TTSBOT_CONFIG", "")
    monkeypatch.chdir(Path(__file__).parent)  # no config.toml here
    assert cli.main(["check"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("config: storage.url = (hidden): ") and "postgresql://" in error and PASSWORD not in error
    assert error.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://tts_test:{password}@127.0.0.1:1/postgres",
            "cannot reach the PostgreSQL server of postgresql://tts_test@127.0.0.1:1/postgres",
        ),
        ("postgresql://tts_test:{password}@127.0.0.1:port/postgres", "is not a valid postgresql:// URL"),
    ],
)
async def test_a_server_that_cant_be_reached_is_one_line_without_the_password(url: str, expected: str) -> None:
    store = PostgresPreferences(url.format(password=PASSWORD))
    with pytest.raises(ConfigError) as failed:
        await store.open()
    message = str(failed.value)
    assert expected in message and PASSWORD not in message and "\n" not in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


async def test_a_wrong_password_or_a_missing_database_is_one_line_without_the_password(postgres_url: str) -> None:
    wrong = postgres_url.replace(":tts_test_pw@", f":{PASSWORD}@")
    assert wrong != postgres_url
    with pytest.raises(ConfigError) as failed:
        await PostgresPreferences(wrong).open()
    assert "PostgreSQL refused the password for postgresql://tts_test@" in str(failed.value)
    assert PASSWORD not in str(failed.value)

    missing = with_database(postgres_url, "no_such_database")
    with pytest.raises(ConfigError) as failed:
        await PostgresPreferences(missing).open()
    assert "the database no_such_database does not exist" in str(failed.value)
    assert "tts_test_pw" not in str(failed.value)


def test_the_bot_stops_before_logging_in_when_storage_url_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORAGE_URL", f"postgresql://bot:{PASSWORD}@127.0.0.1:1/tts")
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-real-token")
    monkeypatch.setenv("ASYNCFLOW_API_KEY", "sk_test")
    monkeypatch.setenv("TTSBOT_CONFIG", "")
    monkeypatch.chdir(Path(__file__).parent)
    assert cli.main(["run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("storage.url (STORAGE_URL or [storage] url in config.toml): cannot reach")
    assert PASSWORD not in error and error.count("\n") == 1


async def test_nothing_logged_while_opening_shows_the_password(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = await opened(postgres_url)
    await store.update_guild(1, max_length=50)
    await store.close()
    assert "tts_test_pw" not in caplog.text and "tts_test_pw" not in repr(store)
