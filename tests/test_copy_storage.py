"""``python -m bot copy-storage``: a SQLite file filled through the store, copied, read back through PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bot import cli
from cogs.engine.store.models import ClonedVoice, GuildPrefs, MemberPrefs, PreferencesStore
from cogs.engine.store.postgres import PostgresPreferences
from cogs.engine.store.sqlite import SqlitePreferences
from tests.test_preferences_store import ALL_CHANGED, INJECTION

Everything = tuple[list[GuildPrefs], list[MemberPrefs], list[int], list[dict[str, str]], list[list[ClonedVoice]]]
GUILDS = (1, 2, 3, 4)
MEMBERS = (7, 8, 9)
DAY = "2026-03-04"


async def fill(store: PreferencesStore) -> None:
    """Something in every table, and the cases that are easy to get wrong."""
    await store.update_guild(1, **ALL_CHANGED)  # every setting changed, a 64-bit channel id
    await store.update_guild(2, proxy_allowlist=set(), ignore_prefix=INJECTION)  # emptied, not the default
    await store.update_guild(3, read_bots=True)  # a row that follows the built-in allow-list
    await store.update_member(7, voice_id="voice-bob", opted_out=True, speaking_rate=1.35)
    await store.update_member(8, opted_out=False, voice_id=None)  # a row of defaults
    await store.set_spoken_name(1, 7, "Bobby")
    await store.set_spoken_name(2, 7, "Robert 🎉")
    await store.set_spoken_name(1, 9, "Nine")  # a name without a member row
    await store.add_usage(1, DAY, 1234)
    await store.add_usage(2, DAY, 5)
    await store.set_pronunciation(1, "Zoë", "Zo-ee", max_entries=5)
    await store.set_pronunciation(4, "New York", INJECTION, max_entries=5)  # a server with only a dictionary
    await store.add_clone(ClonedVoice("clone-of-7", 7, "Bob's own", 1767225600.25), limit=1)


async def everything(store: PreferencesStore) -> Everything:
    return (
        [await store.guild(g) for g in GUILDS],
        [await store.member(m) for m in MEMBERS],
        [await store.usage(g, DAY) for g in GUILDS],
        [await store.pronunciations(g) for g in GUILDS],
        [await store.clones(m) for m in MEMBERS],
    )


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "preferences.sqlite3"
    store = SqlitePreferences(path)
    await store.open()
    try:
        await fill(store)
    finally:
        await store.close()
    return path


async def read_sqlite(path: Path) -> Everything:
    store = SqlitePreferences(path)
    await store.open()
    try:
        return await everything(store)
    finally:
        await store.close()


async def read_postgres(url: str) -> Everything:
    store = PostgresPreferences(url)
    await store.open()
    try:
        return await everything(store)
    finally:
        await store.close()


def run_cli(*args: str) -> int:
    return cli.main(["copy-storage", *args])


def test_copy_storage_copies_every_table_without_loss_and_says_what_it_copied(
    sqlite_file: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = asyncio.run(read_sqlite(sqlite_file))
    assert expected[0][1].proxy_allowlist == frozenset() and expected[0][2] == GuildPrefs(guild_id=3, read_bots=True)

    assert run_cli("--from", str(sqlite_file), "--to", postgres_url) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        f"copied {sqlite_file} to {postgres_url.replace(':tts_test_pw', '')}:",
        "  guild_settings         3 rows",
        "  linked_channels        3 rows",
        "  proxy_allowlist        1 rows",
        "  member_settings        2 rows",
        "  spoken_names           3 rows",
        "  daily_usage            2 rows",
        "  pronunciations         2 rows",
        "  voice_clones           1 rows",
        "  total                 17 rows",
    ]
    assert "tts_test_pw" not in out
    assert asyncio.run(read_postgres(postgres_url)) == expected


def test_a_target_with_preferences_is_refused_unless_replace_is_given(
    sqlite_file: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prefill() -> None:
        target = PostgresPreferences(postgres_url)
        await target.open()
        await target.update_guild(99, max_length=42)
        await target.update_member(98, voice_id="kept?")
        await target.take_rate(99, 98, 5, 1000.0, 60.0)
        await target.close()

    asyncio.run(prefill())

    assert run_cli("--from", str(sqlite_file), "--to", postgres_url) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "copy-storage: the target already holds preferences (guild_settings 1, member_settings 1 rows): "
        "nothing was copied. Pass --replace to delete them and copy the file in their place."
    )
    assert (asyncio.run(read_postgres(postgres_url)))[0][0] == GuildPrefs(guild_id=1)  # nothing of the file arrived

    assert run_cli("--from", str(sqlite_file), "--to", postgres_url, "--replace") == 0
    assert asyncio.run(read_postgres(postgres_url)) == asyncio.run(read_sqlite(sqlite_file))

    async def leftovers() -> tuple[object, object]:
        connection = await asyncpg.connect(postgres_url)
        try:
            return (
                await connection.fetchval("SELECT count(*) FROM guild_settings WHERE guild_id = 99"),
                await connection.fetchval("SELECT count(*) FROM rate_windows"),
            )
        finally:
            await connection.close()

    assert asyncio.run(leftovers()) == (0, 0)


def test_the_defaults_come_from_storage_settings(
    sqlite_file: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STORAGE_SQLITE_PATH", str(sqlite_file))
    monkeypatch.setenv("STORAGE_URL", postgres_url)
    monkeypatch.setenv("TTSBOT_CONFIG", "")
    monkeypatch.chdir(sqlite_file.parent)
    assert run_cli() == 0
    assert "total                 17 rows" in capsys.readouterr().out
    assert asyncio.run(read_postgres(postgres_url)) == asyncio.run(read_sqlite(sqlite_file))


def test_missing_source_or_target_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STORAGE_URL", raising=False)
    monkeypatch.setenv("TTSBOT_CONFIG", "")
    monkeypatch.chdir(tmp_path)
    assert run_cli("--from", str(tmp_path / "nothing.sqlite3")) == 2
    assert capsys.readouterr().err == (
        "copy-storage needs a PostgreSQL target: set STORAGE_URL (storage.url) or pass --to URL\n"
    )
    missing = tmp_path / "nothing.sqlite3"
    assert run_cli("--from", str(missing), "--to", "postgresql://u:pw@127.0.0.1:1/x") == 2
    assert capsys.readouterr().err == (
        f"copy-storage: {missing} does not exist: pass --from PATH (default storage.sqlite_path)\n"
    )
    assert not missing.exists()  # not created by trying
