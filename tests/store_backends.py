"""The two preferences backends for the shared store tests: a SQLite file, and a fresh PostgreSQL database.

PostgreSQL tests need a real server: ``TTS_TEST_POSTGRES_URL`` names a role that may create databases
(``export TTS_TEST_POSTGRES_URL=$(bash .ci/postgres)`` sets one up on Debian). Each test gets a database
of its own, dropped afterwards, so tests can run in parallel. Without the variable those tests are
skipped, saying how to run them; with ``TTS_REQUIRE_POSTGRES=1`` (CI sets it) they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from cogs.engine.store.models import PreferencesStore
from cogs.engine.store.postgres import PostgresPreferences
from cogs.engine.store.sqlite import SqlitePreferences

POSTGRES_URL_ENV = "TTS_TEST_POSTGRES_URL"
REQUIRE_POSTGRES_ENV = "TTS_REQUIRE_POSTGRES"
HOW_TO_RUN = (
    f"PostgreSQL tests need a server: set {POSTGRES_URL_ENV} to the URL of a role that may create databases "
    f"(on Debian, as root: export {POSTGRES_URL_ENV}=$(bash .ci/postgres))"
)

STORE_TABLES = (
    "guild_settings",
    "linked_channels",
    "proxy_allowlist",
    "member_settings",
    "spoken_names",
    "pronunciations",
    "voice_clones",
)
"""The tables of preferences (daily usage aside)."""


def admin_url() -> str:
    """The URL of the role the tests create databases with; skips (or fails, in CI) without one."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        if os.environ.get(REQUIRE_POSTGRES_ENV, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_POSTGRES_ENV} is set but {POSTGRES_URL_ENV} is not. {HOW_TO_RUN}")
        pytest.skip(HOW_TO_RUN)
    return url


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    admin = admin_url()
    name = f"tts_test_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield with_database(admin, name)
    finally:
        try:
            await drop_database(connection, name)
        finally:
            await connection.close()


async def drop_database(connection: asyncpg.Connection, name: str) -> None:
    """Drop ``name``, ending the test's own sessions on it (FORCE).

    An autovacuum worker on the new database is the server's own session, which our role may not end: FORCE
    then fails ("must be a member of the role whose process is being terminated", seen once in six runs of the
    suite at -n 4). The worker is done within moments, so try again for a few seconds.
    """
    for attempt in range(50):
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except (asyncpg.InsufficientPrivilegeError, asyncpg.ObjectInUseError):
            if attempt == 49:
                raise
            await asyncio.sleep(0.1)


@dataclass
class Backend:
    """One database, and ways to open stores on it and look at it behind their back."""

    name: str
    sqlite_path: Path | None = None
    postgres_url: str | None = None

    def store(self) -> PreferencesStore:
        """A new store on this database, not yet opened."""
        if self.sqlite_path is not None:
            return SqlitePreferences(self.sqlite_path)
        assert self.postgres_url is not None
        return PostgresPreferences(self.postgres_url)

    async def opened(self) -> PreferencesStore:
        store = self.store()
        await store.open()
        return store

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run ``sql`` on a connection of its own (SQL both databases understand, no parameters)."""
        if self.sqlite_path is not None:
            with closing(sqlite3.connect(self.sqlite_path, isolation_level=None)) as sqlite:
                return sqlite.execute(sql).fetchall()
        postgres = await asyncpg.connect(self.postgres_url)
        try:
            return [tuple(row) for row in await postgres.fetch(sql)]
        finally:
            await postgres.close()

    async def row_counts(self) -> dict[str, int]:
        return {table: (await self.query(f"SELECT count(*) FROM {table}"))[0][0] for table in STORE_TABLES}  # noqa: S608


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each shared store test runs on both: a SQLite file (not created yet) and an empty PostgreSQL database."""
    if request.param == "sqlite":
        return Backend("sqlite", sqlite_path=tmp_path / "data" / "preferences.sqlite3")
    return Backend("postgresql", postgres_url=request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[PreferencesStore]:
    opened = await backend.opened()
    yield opened
    await opened.close()
