"""How the records are read from and written to SQLite rows, inside a transaction the store opened.

Column names in SQL only ever come from the records' own field names (:data:`GUILD_STORED`,
:data:`MEMBER_STORED`), which :mod:`cogs.engine.store.stored` derives from their annotations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

import aiosqlite

from ..text.pronunciation import entry_key
from .models import GUILD_FIELDS, MEMBER_FIELDS, Added, ClonedVoice, GuildPrefs, MemberPrefs
from .stored import stored_fields

# The whitelists of what update_guild() and update_member() may change.
GUILD_STORED: Final = stored_fields(GuildPrefs, GUILD_FIELDS)
MEMBER_STORED: Final = stored_fields(MemberPrefs, MEMBER_FIELDS)
DEFAULT_PROXY_ALLOWLIST: Final = GuildPrefs(guild_id=0).proxy_allowlist

_GUILD_COLUMNS: Final = tuple(name for name, field in GUILD_STORED.items() if field.shape != "ids")
_ALL_GUILD_COLUMNS: Final = (*_GUILD_COLUMNS, "proxy_allowlist_customised")
_SELECT_GUILD: Final = f"SELECT {', '.join(_ALL_GUILD_COLUMNS)} FROM guild_settings WHERE guild_id = ?"  # noqa: S608 (whitelisted names)
_UPSERT_GUILD: Final = (
    f"INSERT INTO guild_settings (guild_id, {', '.join(_ALL_GUILD_COLUMNS)}) "  # noqa: S608 (whitelisted names)
    f"VALUES (?{', ?' * len(_ALL_GUILD_COLUMNS)}) "
    f"ON CONFLICT (guild_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _ALL_GUILD_COLUMNS)}"
)
_ID_SETS: Final[Mapping[str, tuple[str, str, str]]] = {
    "linked_channels": (
        "SELECT channel_id FROM linked_channels WHERE guild_id = ?",
        "DELETE FROM linked_channels WHERE guild_id = ?",
        "INSERT INTO linked_channels (guild_id, channel_id) VALUES (?, ?)",
    ),
    "proxy_allowlist": (
        "SELECT application_id FROM proxy_allowlist WHERE guild_id = ?",
        "DELETE FROM proxy_allowlist WHERE guild_id = ?",
        "INSERT INTO proxy_allowlist (guild_id, application_id) VALUES (?, ?)",
    ),
}
if set(_ID_SETS) != {name for name, field in GUILD_STORED.items() if field.shape == "ids"}:
    raise TypeError("every set of ids in GuildPrefs needs a table of its own in _ID_SETS")
_MEMBER_COLUMNS: Final = tuple(MEMBER_STORED)
_SELECT_MEMBER: Final = f"SELECT {', '.join(_MEMBER_COLUMNS)} FROM member_settings WHERE user_id = ?"  # noqa: S608 (whitelisted names)
_UPSERT_MEMBER: Final = (
    f"INSERT INTO member_settings (user_id, {', '.join(_MEMBER_COLUMNS)}) "  # noqa: S608 (whitelisted names)
    f"VALUES (?{', ?' * len(_MEMBER_COLUMNS)}) "
    f"ON CONFLICT (user_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _MEMBER_COLUMNS)}"
)


async def fetch_value(connection: aiosqlite.Connection, sql: str, parameters: tuple[object, ...] = ()) -> object:
    """The first column of the first row; None if there is no row."""
    async with connection.execute(sql, parameters) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]


async def fetch_int(connection: aiosqlite.Connection, sql: str, parameters: tuple[object, ...] = ()) -> int:
    """An integer the query returns, 0 if it returns no row or NULL."""
    value = await fetch_value(connection, sql, parameters)
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    raise TypeError(f"{sql!r} returned {value!r}, not an integer")


async def load_guild(connection: aiosqlite.Connection, guild_id: int) -> GuildPrefs:
    async with connection.execute(_SELECT_GUILD, (guild_id,)) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return GuildPrefs(guild_id=guild_id)
    *values, customised = row
    fields: dict[str, Any] = {
        column: bool(value) if GUILD_STORED[column].shape == "bool" else value
        for column, value in zip(_GUILD_COLUMNS, values, strict=True)
    }
    fields["linked_channels"] = await _load_ids(connection, "linked_channels", guild_id)
    if customised:
        fields["proxy_allowlist"] = await _load_ids(connection, "proxy_allowlist", guild_id)
    return GuildPrefs(guild_id=guild_id, **fields)


async def save_guild(connection: aiosqlite.Connection, prefs: GuildPrefs, *, changed: Collection[str]) -> None:
    """Write the server's row, and those of its id sets named in ``changed``."""
    customised = prefs.proxy_allowlist != DEFAULT_PROXY_ALLOWLIST
    row = [int(v) if isinstance(v, bool) else v for v in (getattr(prefs, c) for c in _GUILD_COLUMNS)]
    await connection.execute(_UPSERT_GUILD, (prefs.guild_id, *row, int(customised)))
    if "linked_channels" in changed:
        await _replace_ids(connection, "linked_channels", prefs.guild_id, prefs.linked_channels)
    if "proxy_allowlist" in changed:
        kept = prefs.proxy_allowlist if customised else frozenset()
        await _replace_ids(connection, "proxy_allowlist", prefs.guild_id, kept)


async def save_member(connection: aiosqlite.Connection, prefs: MemberPrefs) -> None:
    """Write the member's row (spoken names have their own table)."""
    row = [int(v) if isinstance(v, bool) else v for v in (getattr(prefs, c) for c in _MEMBER_COLUMNS)]
    await connection.execute(_UPSERT_MEMBER, (prefs.user_id, *row))


async def load_member(connection: aiosqlite.Connection, user_id: int) -> MemberPrefs:
    async with connection.execute(_SELECT_MEMBER, (user_id,)) as cursor:
        row = await cursor.fetchone()
    names = await connection.execute_fetchall("SELECT guild_id, name FROM spoken_names WHERE user_id = ?", (user_id,))
    spoken_names = {int(guild_id): str(name) for guild_id, name in names}
    if row is None:
        return MemberPrefs(user_id=user_id, spoken_names=spoken_names)
    fields: dict[str, Any] = {
        column: bool(value) if MEMBER_STORED[column].shape == "bool" else value
        for column, value in zip(_MEMBER_COLUMNS, row, strict=True)
    }
    return MemberPrefs(user_id=user_id, spoken_names=spoken_names, **fields)


async def _load_ids(connection: aiosqlite.Connection, field: str, guild_id: int) -> frozenset[int]:
    rows = await connection.execute_fetchall(_ID_SETS[field][0], (guild_id,))
    return frozenset(int(row[0]) for row in rows)


async def _replace_ids(connection: aiosqlite.Connection, field: str, guild_id: int, ids: frozenset[int]) -> None:
    _, delete, insert = _ID_SETS[field]
    await connection.execute(delete, (guild_id,))
    await connection.executemany(insert, [(guild_id, id_) for id_ in sorted(ids)])


async def usage(connection: aiosqlite.Connection, guild_id: int, day: str) -> int:
    sql = "SELECT characters FROM daily_usage WHERE guild_id = ? AND day = ?"
    return await fetch_int(connection, sql, (guild_id, day))


async def add_usage(connection: aiosqlite.Connection, guild_id: int, day: str, characters: int) -> int:
    """Count ``characters`` more for ``day`` and drop the server's older days; the new total."""
    await connection.execute(
        "INSERT INTO daily_usage (guild_id, day, characters) VALUES (?, ?, ?) "
        "ON CONFLICT (guild_id, day) DO UPDATE SET characters = characters + excluded.characters",
        (guild_id, day, characters),
    )
    await connection.execute("DELETE FROM daily_usage WHERE guild_id = ? AND day < ?", (guild_id, day))
    return await usage(connection, guild_id, day)


async def load_pronunciations(connection: aiosqlite.Connection, guild_id: int) -> dict[str, str]:
    found = await connection.execute_fetchall(
        "SELECT word, spoken FROM pronunciations WHERE guild_id = ? ORDER BY word_key", (guild_id,)
    )
    return {str(word): str(spoken) for word, spoken in found}


async def set_pronunciation(
    connection: aiosqlite.Connection, guild_id: int, word: str, spoken: str, *, max_entries: int
) -> Added:
    key = entry_key(word)
    held = await fetch_int(connection, "SELECT count(*) FROM pronunciations WHERE guild_id = ?", (guild_id,))
    there = await fetch_value(
        connection, "SELECT 1 FROM pronunciations WHERE guild_id = ? AND word_key = ?", (guild_id, key)
    )
    if there is None and held >= max_entries:
        return "full"
    await connection.execute(
        "INSERT INTO pronunciations (guild_id, word_key, word, spoken) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, word_key) DO UPDATE SET word = excluded.word, spoken = excluded.spoken",
        (guild_id, key, word, spoken),
    )
    return "added" if there is None else "replaced"


async def remove_pronunciation(connection: aiosqlite.Connection, guild_id: int, word: str) -> str | None:
    where = (guild_id, entry_key(word))
    stored = await fetch_value(connection, "SELECT word FROM pronunciations WHERE guild_id = ? AND word_key = ?", where)
    await connection.execute("DELETE FROM pronunciations WHERE guild_id = ? AND word_key = ?", where)
    return None if stored is None else str(stored)


async def load_clones(connection: aiosqlite.Connection, user_id: int) -> list[ClonedVoice]:
    found = await connection.execute_fetchall(
        "SELECT voice_id, name, created_at FROM voice_clones WHERE user_id = ? ORDER BY created_at, voice_id",
        (user_id,),
    )
    return [ClonedVoice(str(row[0]), user_id, str(row[1]), float(row[2])) for row in found]


async def insert_clone(connection: aiosqlite.Connection, clone: ClonedVoice) -> None:
    await connection.execute(
        "INSERT INTO voice_clones (voice_id, user_id, name, created_at) VALUES (?, ?, ?, ?)",
        (clone.voice_id, clone.user_id, clone.name, clone.created_at),
    )


async def delete_clone(connection: aiosqlite.Connection, user_id: int, voice_id: str) -> bool:
    """Delete the clone's row and the member's choice of it as their voice; whether there was such a clone."""
    cursor = await connection.execute(
        "DELETE FROM voice_clones WHERE user_id = ? AND voice_id = ?", (user_id, voice_id)
    )
    if cursor.rowcount == 0:
        return False
    await connection.execute(
        "UPDATE member_settings SET voice_id = NULL WHERE user_id = ? AND voice_id = ?", (user_id, voice_id)
    )
    return True


async def clone_owners(connection: aiosqlite.Connection, voice_ids: Collection[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(voice_ids))
    owners: dict[str, int] = {}
    for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit is far above this
        part = wanted[start : start + 500]
        found = await connection.execute_fetchall(
            f"SELECT voice_id, user_id FROM voice_clones WHERE voice_id IN ({', '.join('?' * len(part))})",  # noqa: S608
            part,
        )
        owners.update({str(row[0]): int(row[1]) for row in found})
    return owners
