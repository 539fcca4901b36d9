"""``python -m bot copy-storage``: every row of a SQLite preferences file into a PostgreSQL database.

Both ends are brought to the current schema first (each by its own store's migrations), so the tables
and columns match; the rows are then read in one SQLite transaction (a running bot may keep writing:
the copy is one moment of the file) and written in one PostgreSQL transaction that checks the counts
before it commits. Nothing is half-copied. A target that already holds rows is refused unless
``replace`` is set, which empties it in the same transaction. ``rate_windows`` is not copied: a rate
window lasts a minute.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import asyncpg

from ..config import ConfigError
from .postgres import PostgresPreferences
from .postgres_schema import COPIED_TABLES
from .postgres_url import open_error, redacted
from .sqlite import SqlitePreferences

Table = tuple[list[str], list[tuple[Any, ...]]]
"""A table's column names and its rows."""


class CopyRefused(Exception):
    """The target already holds preferences; ``str(error)`` says what, and how to replace them."""


async def copy_sqlite_to_postgres(source: Path, target_url: str, *, replace: bool = False) -> dict[str, int]:
    """Copy every table of the SQLite file ``source`` into the database at ``target_url``; rows per table.

    :class:`ConfigError` if either end can't be opened, :class:`CopyRefused` if the target isn't empty
    and ``replace`` is not set.
    """
    if not await asyncio.to_thread(source.is_file):
        raise ConfigError(f"copy-storage: {source} does not exist: pass --from PATH (default storage.sqlite_path)")
    sqlite_store = SqlitePreferences(source)
    await sqlite_store.open()  # brings an older file to the current schema; refuses a newer one
    await sqlite_store.close()
    tables = await asyncio.to_thread(_read_sqlite, source)

    postgres_store = PostgresPreferences(target_url)
    await postgres_store.open()  # connects (errors in one line) and creates or migrates the schema
    await postgres_store.close()
    try:
        connection = await asyncpg.connect(target_url)
    except Exception as error:  # the same problems open() reports, if the server went away meanwhile
        raise open_error(error, target_url) from None
    try:
        async with connection.transaction():
            return await _write(connection, tables, replace=replace)
    finally:
        await connection.close()


def _read_sqlite(path: Path) -> dict[str, Table]:
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)) as lite:
        lite.execute("BEGIN")  # one snapshot of every table
        tables: dict[str, Table] = {}
        for table in COPIED_TABLES:
            columns = [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
            rows = lite.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()  # noqa: S608 (table names)
            tables[table] = (columns, rows)
        lite.execute("COMMIT")
    return tables


async def _write(connection: asyncpg.Connection[Any], tables: dict[str, Table], *, replace: bool) -> dict[str, int]:
    held = {table: await _count(connection, table) for table in COPIED_TABLES}
    if any(held.values()):
        if not replace:
            listed = ", ".join(f"{table} {rows}" for table, rows in held.items() if rows)
            raise CopyRefused(
                f"copy-storage: the target already holds preferences ({listed} rows): nothing was copied. "
                "Pass --replace to delete them and copy the file in their place."
            )
        await connection.execute(f"TRUNCATE {', '.join(COPIED_TABLES)}, rate_windows")
    booleans = {
        (table, column)
        for table, column in await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'boolean'"
        )
    }
    copied: dict[str, int] = {}
    for table in COPIED_TABLES:  # parents first, for the foreign keys
        columns, rows = tables[table]
        as_bool = [(table, column) in booleans for column in columns]
        records = [
            tuple(bool(v) if b and v is not None else v for v, b in zip(row, as_bool, strict=True)) for row in rows
        ]
        try:
            await connection.copy_records_to_table(table, records=records, columns=columns)
        except asyncpg.PostgresError as error:
            raise ConfigError(
                f"copy-storage: PostgreSQL refused a row of {table} ({error}): nothing was copied"
            ) from None
        copied[table] = await _count(connection, table)
        if copied[table] != len(rows):
            raise RuntimeError(f"copy-storage: {table} has {copied[table]} rows after copying {len(rows)}")
    return copied


async def _count(connection: asyncpg.Connection[Any], table: str) -> int:
    return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 (table names)


def describe(source: Path, target_url: str, copied: dict[str, int]) -> str:
    """What the command prints: where from, where to (no password), and the rows of each table."""
    width = max(len(table) for table in copied)
    lines = [f"copied {source} to {redacted(target_url)}:"]
    lines += [f"  {table:<{width}}  {rows:>7} rows" for table, rows in copied.items()]
    lines.append(f"  {'total':<{width}}  {sum(copied.values()):>7} rows")
    return "\n".join(lines)
