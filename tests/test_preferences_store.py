"""The preferences store, the same tests on both backends: a SQLite file and a real PostgreSQL database.

Defaults, round trips, restarts, validation, the proxy allow-list, forgetting, concurrency, the daily
budget and rates. What only one backend has (SQLite's file, cache and migrations; PostgreSQL's
migrations, URL errors and several processes) is in ``test_sqlite_preferences.py`` and
``test_postgres_preferences.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from itertools import count
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cogs.engine.store.models import (
    GUILD_FIELDS,
    PLURALKIT_APP_ID,
    TUPPERBOX_APP_ID,
    ClonedVoice,
    GuildPrefs,
    MemberPrefs,
    PreferencesStore,
)
from tests.store_backends import STORE_TABLES, Backend

INJECTION = "x'); DROP TABLE guild_settings; --"

# Every server setting changed away from its default.
ALL_CHANGED: dict[str, Any] = {
    "linked_channels": frozenset({111, 222, 2**63 - 1}),
    "read_voice_chat": False,
    "default_voice": "voice-aria",
    "allow_member_voices": False,
    "speaking_rate": 1.25,
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
    "allow_voice_cloning": False,
}


# --- defaults and lifecycle ---


async def test_reads_return_defaults_and_write_nothing(store: PreferencesStore, backend: Backend) -> None:
    assert await store.guild(1) == GuildPrefs(guild_id=1)
    assert (await store.guild(1)).proxy_allowlist == {PLURALKIT_APP_ID, TUPPERBOX_APP_ID}
    assert await store.member(2) == MemberPrefs(user_id=2)
    assert await store.update_guild(1) == GuildPrefs(guild_id=1)  # no changes: a read
    assert await store.update_member(2) == MemberPrefs(user_id=2)
    assert await store.usage(1, "2026-01-01") == 0
    assert set((await backend.row_counts()).values()) == {0}


async def test_close_is_idempotent_and_a_closed_store_refuses_use(backend: Backend) -> None:
    store = backend.store()
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)
    await store.open()
    await store.open()  # a second open() is harmless
    await store.update_guild(1, read_bots=True)
    await store.guild(1)
    await store.close()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.guild(1)  # not answered from a cache either
    with pytest.raises(RuntimeError, match="not open"):
        await store.update_guild(1, read_bots=False)
    with pytest.raises(RuntimeError, match="not open"):
        await store.take_rate(1, 2, 5, 1000.0, 60.0)
    await store.open()  # and it can be opened again
    assert (await store.guild(1)).read_bots is True
    await store.close()


# --- round trips ---


async def test_every_server_setting_round_trips_and_survives_a_restart(
    store: PreferencesStore, backend: Backend
) -> None:
    expected = GuildPrefs(guild_id=1, **ALL_CHANGED)
    assert expected != GuildPrefs(guild_id=1)
    assert set(ALL_CHANGED) == GUILD_FIELDS  # the test really covers every field
    assert await store.update_guild(1, **ALL_CHANGED) == expected
    assert await store.guild(1) == expected
    await store.close()

    again = await backend.opened()
    try:
        assert await again.guild(1) == expected
        assert await again.guild(2) == GuildPrefs(guild_id=2)
    finally:
        await again.close()


async def test_optional_settings_go_back_to_none(store: PreferencesStore, backend: Backend) -> None:
    await store.update_guild(1, default_voice="v1", required_role=77, linked_channels={5})
    await store.update_guild(1, default_voice=None, required_role=None, linked_channels=set())
    await store.close()
    again = await backend.opened()
    try:
        prefs = await again.guild(1)
        assert (prefs.default_voice, prefs.required_role, prefs.linked_channels) == (None, None, frozenset())
        assert await backend.query("SELECT default_voice, required_role FROM guild_settings") == [(None, None)]
    finally:
        await again.close()


async def test_updates_merge_with_earlier_ones(store: PreferencesStore) -> None:
    await store.update_guild(1, linked_channels=[10, 11], max_length=99)
    prefs = await store.update_guild(1, emoji_mode="skip")
    assert (prefs.linked_channels, prefs.max_length, prefs.emoji_mode) == (frozenset({10, 11}), 99, "skip")


async def test_member_voice_and_opt_out_round_trip(store: PreferencesStore, backend: Backend) -> None:
    assert await store.update_member(7, voice_id="voice-bob") == MemberPrefs(user_id=7, voice_id="voice-bob")
    assert await store.update_member(7, opted_out=True) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True)
    await store.update_member(8, opted_out=True)
    await store.update_member(8, opted_out=False, voice_id=None)
    await store.close()
    again = await backend.opened()
    try:
        assert await again.member(7) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True)
        assert await again.member(8) == MemberPrefs(user_id=8)
        assert await again.member(9) == MemberPrefs(user_id=9)
    finally:
        await again.close()


async def test_member_speaking_rate_round_trips_without_touching_the_rest(
    store: PreferencesStore, backend: Backend
) -> None:
    await store.update_member(7, voice_id="voice-bob", opted_out=True)
    assert (await store.update_member(7, speaking_rate=1.5)).speaking_rate == 1.5
    await store.update_member(8, speaking_rate=0.7)
    await store.update_member(8, speaking_rate=None)
    await store.update_member(9, speaking_rate=2)  # an int is a rate too: kept as a float
    await store.close()
    again = await backend.opened()
    try:
        assert await again.member(7) == MemberPrefs(user_id=7, voice_id="voice-bob", opted_out=True, speaking_rate=1.5)
        assert await again.member(8) == MemberPrefs(user_id=8)
        assert (await again.member(9)).speaking_rate == 2.0
        await again.forget_member(7)
        assert await again.member(7) == MemberPrefs(user_id=7)
    finally:
        await again.close()


async def test_spoken_names_are_per_server(store: PreferencesStore, backend: Backend) -> None:
    await store.update_member(7, voice_id="v")
    await store.set_spoken_name(100, 7, "Alice")
    await store.set_spoken_name(200, 7, "Ali")
    await store.set_spoken_name(100, 8, "Bob")  # a member with no other settings
    assert (await store.member(7)).spoken_names == {100: "Alice", 200: "Ali"}
    assert await store.member(8) == MemberPrefs(user_id=8, spoken_names={100: "Bob"})
    assert (await backend.row_counts())["member_settings"] == 1  # a name creates no member row

    await store.set_spoken_name(100, 7, "Al")  # replace
    await store.set_spoken_name(200, 7, None)  # clear
    await store.set_spoken_name(300, 7, None)  # clearing what was never set is fine
    await store.close()
    again = await backend.opened()
    try:
        assert await again.member(7) == MemberPrefs(user_id=7, voice_id="v", spoken_names={100: "Al"})
        assert (await again.member(8)).spoken_names == {100: "Bob"}
    finally:
        await again.close()


async def test_returned_spoken_names_cannot_change_what_is_stored(store: PreferencesStore) -> None:
    await store.set_spoken_name(1, 7, "Alice")
    (await store.member(7)).spoken_names[1] = "Mallory"
    assert (await store.member(7)).spoken_names == {1: "Alice"}


# --- validation ---


async def test_unknown_setting_raises_key_error_and_writes_nothing(store: PreferencesStore, backend: Backend) -> None:
    with pytest.raises(KeyError, match="volume"):
        await store.update_guild(1, max_length=10, volume=3)
    with pytest.raises(KeyError, match="spoken_names"):
        await store.update_member(1, opted_out=True, spoken_names={1: "x"})
    assert set((await backend.row_counts()).values()) == {0}
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
    store: PreferencesStore, backend: Backend, changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.update_guild(1, **changes)
    assert set((await backend.row_counts()).values()) == {0}


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"opted_out": "no"}, TypeError),
        ({"opted_out": 0}, TypeError),
        ({"voice_id": 3}, TypeError),
        ({"speaking_rate": "1.5"}, TypeError),
        ({"speaking_rate": True}, TypeError),
        ({"speaking_rate": float("nan")}, ValueError),
        ({"speaking_rate": float("inf")}, ValueError),
    ],
)
async def test_wrong_member_types_are_refused(
    store: PreferencesStore, backend: Backend, changes: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await store.update_member(1, **changes)
    with pytest.raises(TypeError):
        await store.set_spoken_name(1, 1, 5)  # type: ignore[arg-type]
    assert set((await backend.row_counts()).values()) == {0}


async def test_text_with_a_nul_character_is_refused(store: PreferencesStore, backend: Backend) -> None:
    """PostgreSQL's text can't hold NUL, so neither backend takes it: a SQLite file always copies over."""
    with pytest.raises(ValueError, match="NUL"):
        await store.update_guild(1, ignore_prefix="a\x00")
    with pytest.raises(ValueError, match="NUL"):
        await store.set_spoken_name(1, 7, "Al\x00ice")
    assert set((await backend.row_counts()).values()) == {0}


# --- the proxy allow-list ---


async def test_proxy_allowlist_default_versus_emptied(store: PreferencesStore, backend: Backend) -> None:
    default = GuildPrefs(guild_id=0).proxy_allowlist
    await store.update_guild(1, read_bots=True)  # a row exists, the allow-list was never changed
    assert (await store.guild(1)).proxy_allowlist == default
    assert await backend.query("SELECT proxy_allowlist_customised FROM guild_settings") == [(0,)]  # 0 == False
    assert (await backend.row_counts())["proxy_allowlist"] == 0

    assert (await store.update_guild(1, proxy_allowlist=set())).proxy_allowlist == frozenset()
    assert await backend.query("SELECT proxy_allowlist_customised FROM guild_settings") == [(1,)]
    await store.update_guild(2, proxy_allowlist=[PLURALKIT_APP_ID, 555])
    await store.close()

    again = await backend.opened()
    try:
        assert (await again.guild(1)).proxy_allowlist == frozenset()  # emptied stays empty
        assert (await again.guild(2)).proxy_allowlist == {PLURALKIT_APP_ID, 555}
        assert (await again.guild(3)).proxy_allowlist == default
        # Choosing exactly the built-in list again means "follow the default" (and its future changes).
        assert (await again.update_guild(1, proxy_allowlist=default)).proxy_allowlist == default
        customised = "SELECT guild_id, proxy_allowlist_customised FROM guild_settings ORDER BY 1"
        assert await backend.query(customised) == [(1, 0), (2, 1)]
        assert await backend.query("SELECT guild_id, application_id FROM proxy_allowlist ORDER BY 2") == [
            (2, 555),
            (2, PLURALKIT_APP_ID),
        ]
    finally:
        await again.close()


# --- forgetting ---


async def test_forget_member_removes_only_that_member(store: PreferencesStore, backend: Backend) -> None:
    for user in (7, 8):
        await store.update_member(user, voice_id=f"v{user}", opted_out=True)
        await store.set_spoken_name(100, user, f"name{user}")
        await store.set_spoken_name(200, user, f"other{user}")
    await store.update_guild(100, read_bots=True)
    await store.member(7)  # cached, where there is a cache

    await store.forget_member(7)
    assert await store.member(7) == MemberPrefs(user_id=7)
    assert await backend.query("SELECT user_id FROM member_settings") == [(8,)]
    assert await backend.query("SELECT guild_id, user_id, name FROM spoken_names ORDER BY 1") == [
        (100, 8, "name8"),
        (200, 8, "other8"),
    ]
    assert (await store.guild(100)).read_bots is True
    await store.forget_member(12345)  # unknown member: nothing to do


# --- members' cloned voices ---


async def test_clones_are_kept_per_member_within_their_limit(store: PreferencesStore, backend: Backend) -> None:
    assert await store.clones(7) == []
    first = ClonedVoice("clone-a", 7, "Alex", 1000.0)
    assert await store.add_clone(first, limit=1)
    assert not await store.add_clone(ClonedVoice("clone-b", 7, "Alex 2", 1001.0), limit=1)  # slots full
    assert await store.add_clone(ClonedVoice("clone-c", 8, "Sam", 1002.0), limit=1)
    assert await store.add_clone(ClonedVoice("clone-b", 7, INJECTION, 1003.0), limit=2)
    assert await store.clones(7) == [first, ClonedVoice("clone-b", 7, INJECTION, 1003.0)]
    assert await store.clone_owners(["clone-a", "clone-c", "voice-aria", "clone-a"]) == {"clone-a": 7, "clone-c": 8}
    assert await store.clone_owners([]) == {}
    again = await backend.opened()  # another process (or a restart) sees them
    try:
        assert await again.clones(8) == [ClonedVoice("clone-c", 8, "Sam", 1002.0)]
    finally:
        await again.close()


async def test_concurrent_clones_never_pass_the_limit(store: PreferencesStore) -> None:
    added = await asyncio.gather(
        *(store.add_clone(ClonedVoice(f"c{n}", 7, "Alex", float(n)), limit=2) for n in range(8))
    )
    assert sum(added) == 2
    assert len(await store.clones(7)) == 2


async def test_removing_a_clone_also_drops_it_as_the_members_voice(store: PreferencesStore) -> None:
    await store.add_clone(ClonedVoice("clone-a", 7, "Alex", 1.0), limit=1)
    await store.update_member(7, voice_id="clone-a")
    await store.update_member(8, voice_id="clone-a")  # not 8's clone: 8's choice is not 7's to clear
    await store.member(7)  # cached, where there is a cache
    assert not await store.remove_clone(8, "clone-a")  # not theirs
    assert await store.remove_clone(7, "clone-a")
    assert not await store.remove_clone(7, "clone-a")
    assert (await store.member(7)).voice_id is None
    assert (await store.member(8)).voice_id == "clone-a"
    assert await store.clones(7) == []


async def test_forget_member_removes_their_clones(store: PreferencesStore, backend: Backend) -> None:
    await store.add_clone(ClonedVoice("clone-a", 7, "Alex", 1.0), limit=1)
    await store.add_clone(ClonedVoice("clone-c", 8, "Sam", 2.0), limit=1)
    await store.forget_member(7)
    assert await store.clones(7) == []
    assert await backend.query("SELECT voice_id, user_id FROM voice_clones") == [("clone-c", 8)]


async def test_forget_guild_removes_only_that_server(store: PreferencesStore, backend: Backend) -> None:
    for guild in (100, 200):
        await store.update_guild(guild, linked_channels={guild + 1}, proxy_allowlist={guild + 2}, max_length=guild)
        await store.set_spoken_name(guild, 7, f"seven@{guild}")
        await store.add_usage(guild, "2026-01-02", guild)
        await store.set_pronunciation(guild, "gg", f"gg@{guild}", max_entries=5)
    await store.update_member(7, voice_id="v7")
    assert (await store.member(7)).spoken_names == {100: "seven@100", 200: "seven@200"}
    await store.guild(100)

    await store.forget_guild(100)
    assert await store.guild(100) == GuildPrefs(guild_id=100)
    assert await store.member(7) == MemberPrefs(user_id=7, voice_id="v7", spoken_names={200: "seven@200"})
    assert await store.guild(200) == GuildPrefs(
        guild_id=200, linked_channels=frozenset({201}), proxy_allowlist=frozenset({202}), max_length=200
    )
    assert (await store.usage(100, "2026-01-02"), await store.usage(200, "2026-01-02")) == (0, 200)
    for table in (
        "guild_settings",
        "linked_channels",
        "proxy_allowlist",
        "spoken_names",
        "daily_usage",
        "pronunciations",
    ):
        assert await backend.query(f"SELECT DISTINCT guild_id FROM {table}") == [(200,)], table  # noqa: S608
    assert await backend.query("SELECT user_id FROM member_settings") == [(7,)]


# --- concurrency and atomicity ---


async def test_concurrent_updates_of_different_settings_all_land(store: PreferencesStore, backend: Backend) -> None:
    """Every setting changed at once by its own call: none of them is lost to another's read-modify-write."""
    results = await asyncio.gather(*(store.update_guild(1, **{field: value}) for field, value in ALL_CHANGED.items()))
    for (field, value), result in zip(ALL_CHANGED.items(), results, strict=True):
        assert getattr(result, field) == value  # each call returns a record with its own change
    expected = GuildPrefs(guild_id=1, **ALL_CHANGED)
    assert await store.guild(1) == expected
    await store.close()
    again = await backend.opened()
    try:
        assert await again.guild(1) == expected
    finally:
        await again.close()


async def test_concurrent_member_writes_and_reads(store: PreferencesStore) -> None:
    await asyncio.gather(
        *(store.set_spoken_name(g, 7, f"n{g}") for g in range(20)),
        store.update_member(7, voice_id="v"),
        store.update_member(7, opted_out=True),
        *(store.member(7) for _ in range(10)),
    )
    assert await store.member(7) == MemberPrefs(
        user_id=7, voice_id="v", opted_out=True, spoken_names={g: f"n{g}" for g in range(20)}
    )


async def test_cancelled_updates_leave_the_store_usable(store: PreferencesStore) -> None:
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


async def test_usage_within_a_budget_is_checked_and_added_together(store: PreferencesStore, backend: Backend) -> None:
    await store.add_usage(1, "2026-01-01", 50)  # yesterday: dropped when today is first added to
    assert await store.add_usage_within(1, "2026-01-02", 60, 100) == (True, 60)
    assert await store.add_usage_within(1, "2026-01-02", 41, 100) == (False, 60)  # 101 > 100: nothing added
    assert await store.add_usage_within(1, "2026-01-02", 40, 100) == (True, 100)  # exactly the budget fits
    assert await store.add_usage_within(1, "2026-01-02", 0, 100) == (True, 100)
    assert await store.add_usage_within(1, "2026-01-02", 1, 100) == (False, 100)
    assert await store.add_usage_within(2, "2026-01-02", 101, 100) == (False, 0)  # too long on its own
    with pytest.raises(ValueError, match="negative"):
        await store.add_usage_within(1, "2026-01-02", -5, 100)
    assert await backend.query("SELECT guild_id, day, characters FROM daily_usage") == [(1, "2026-01-02", 100)]
    assert await store.add_usage(1, "2026-01-02", 5) == 105  # add_usage counts without a budget


# --- rates ---


async def test_a_rate_admits_its_limit_per_window_and_says_how_long_to_wait(store: PreferencesStore) -> None:
    start = 1_700_000_000.0
    assert [await store.take_rate(1, 7, 2, start + n, 60.0) for n in range(2)] == [None, None]
    assert await store.take_rate(1, 7, 2, start + 15, 60.0) == 45.0  # the window began at the first text
    assert await store.take_rate(1, 7, 2, start + 16, 60.0) == 44.0  # a refusal doesn't move the window
    assert await store.take_rate(1, 8, 2, start + 16, 60.0) is None  # another member: a window of its own
    assert await store.take_rate(2, 7, 2, start + 16, 60.0) is None  # the same member in another server
    assert await store.take_rate(1, None, 1, start + 16, 60.0) is None  # the server's own rate
    assert await store.take_rate(1, None, 1, start + 17, 60.0) == 59.0
    assert await store.take_rate(1, 7, 2, start + 60.5, 60.0) is None  # the window is over: a new one begins
    assert await store.take_rate(1, 7, 2, start + 61, 60.0) is None
    assert await store.take_rate(1, 7, 2, start + 62, 60.0) == 58.5


async def test_concurrent_takes_never_overshoot_a_rate(store: PreferencesStore) -> None:
    results = await asyncio.gather(*(store.take_rate(1, 7, 5, 1_700_000_000.0, 60.0) for _ in range(40)))
    assert sum(wait is None for wait in results) == 5


# --- injection and any valid value ---


async def test_sql_in_values_is_stored_verbatim(store: PreferencesStore, backend: Backend) -> None:
    await store.set_spoken_name(1, 7, INJECTION)
    await store.set_pronunciation(1, INJECTION, INJECTION, max_entries=1)
    await store.update_guild(1, ignore_prefix=INJECTION, default_voice=INJECTION)
    await store.update_member(7, voice_id=INJECTION)
    await store.close()
    again = await backend.opened()
    try:
        assert (await again.member(7)).spoken_names == {1: INJECTION}
        assert (await again.member(7)).voice_id == INJECTION
        prefs = await again.guild(1)
        assert (prefs.ignore_prefix, prefs.default_voice) == (INJECTION, INJECTION)
        assert len(await backend.row_counts()) == len(STORE_TABLES)  # every table still there
    finally:
        await again.close()


# --- the pronunciation dictionary ---


async def test_pronunciations_are_added_replaced_removed_and_survive_a_restart(
    store: PreferencesStore, backend: Backend
) -> None:
    assert await store.pronunciations(1) == {}
    assert await store.set_pronunciation(1, "Zoë", "Zo-ee", max_entries=3) == "added"
    assert await store.set_pronunciation(1, "New York", "Noo Yawk", max_entries=3) == "added"
    assert await store.set_pronunciation(2, "Zoë", "Zoe elsewhere", max_entries=3) == "added"
    assert await store.set_pronunciation(1, "ZOË", "Zo-eh", max_entries=3) == "replaced"  # same word, any case
    assert await store.pronunciations(1) == {"New York": "Noo Yawk", "ZOË": "Zo-eh"}
    assert await store.remove_pronunciation(1, "new york") == "New York"
    assert await store.remove_pronunciation(1, "new york") is None  # not there (any more)
    assert await store.set_pronunciation(1, INJECTION, INJECTION, max_entries=3) == "added"
    await store.close()
    again = await backend.opened()
    try:
        assert await again.pronunciations(1) == {"ZOË": "Zo-eh", INJECTION: INJECTION}
        assert await again.pronunciations(2) == {"Zoë": "Zoe elsewhere"}
    finally:
        await again.close()


async def test_a_full_dictionary_refuses_new_words_but_replaces_old_ones(store: PreferencesStore) -> None:
    for n in range(3):
        assert await store.set_pronunciation(1, f"word{n}", "x", max_entries=3) == "added"
    assert await store.set_pronunciation(1, "one more", "x", max_entries=3) == "full"
    assert await store.set_pronunciation(1, "WORD1", "y", max_entries=3) == "replaced"
    assert await store.pronunciations(1) == {"word0": "x", "WORD1": "y", "word2": "x"}
    with pytest.raises(ValueError, match="NUL"):
        await store.set_pronunciation(1, "word0", "a\x00b", max_entries=3)


async def test_concurrent_additions_never_overshoot_the_dictionary_limit(store: PreferencesStore) -> None:
    added = await asyncio.gather(*(store.set_pronunciation(1, f"w{n}", "x", max_entries=5) for n in range(12)))
    assert sorted(added) == ["added"] * 5 + ["full"] * 7
    assert len(await store.pronunciations(1)) == 5


async def test_forget_guild_removes_its_dictionary_only(store: PreferencesStore, backend: Backend) -> None:
    await store.set_pronunciation(1, "gg", "good game", max_entries=5)
    await store.set_pronunciation(2, "gg", "gee gee", max_entries=5)
    assert await store.pronunciations(1) == {"gg": "good game"}  # cached, where the backend caches
    await store.forget_guild(1)
    assert await store.pronunciations(1) == {}
    assert await store.pronunciations(2) == {"gg": "gee gee"}
    assert await backend.query("SELECT DISTINCT guild_id FROM pronunciations") == [(2,)]


_ids = st.frozensets(st.integers(min_value=0, max_value=2**63 - 1), max_size=4)
_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
)  # NUL: refused, see above
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
    "speaking_rate": st.none() | st.floats(allow_nan=False, allow_infinity=False),
} | {field: st.booleans() for field in GUILD_FIELDS if isinstance(getattr(GuildPrefs(guild_id=0), field), bool)}
_guild_ids = count(1)


@pytest.fixture
def writer_and_reader(
    backend: Backend,
) -> Iterator[tuple[asyncio.AbstractEventLoop, PreferencesStore, PreferencesStore]]:
    """Two stores on the test's one database, on one event loop, opened once for every example of a property
    test (a pool and a migration check per example made the PostgreSQL run take 45 s)."""
    loop = asyncio.new_event_loop()
    writer = loop.run_until_complete(backend.opened())
    reader = loop.run_until_complete(backend.opened())
    try:
        yield loop, writer, reader
    finally:
        loop.run_until_complete(writer.close())
        loop.run_until_complete(reader.close())
        loop.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.fixed_dictionaries({}, optional=_GUILD_VALUES), name=_text)
def test_any_valid_settings_round_trip(
    writer_and_reader: tuple[asyncio.AbstractEventLoop, PreferencesStore, PreferencesStore],
    changes: dict[str, Any],
    name: str,
) -> None:
    """Each example is a new server and member on the test's one database, written through one store and read
    back through another, which has never read them (SQLite's caches are per store): what the database holds."""
    assert set(_GUILD_VALUES) == GUILD_FIELDS
    loop, writer, reader = writer_and_reader
    guild_id = user_id = next(_guild_ids)

    async def run() -> None:
        await writer.update_guild(guild_id, **changes)
        await writer.set_spoken_name(guild_id, user_id, name)
        assert await reader.guild(guild_id) == replace(GuildPrefs(guild_id=guild_id), **changes)
        assert (await reader.member(user_id)).spoken_names[guild_id] == name

    loop.run_until_complete(run())
