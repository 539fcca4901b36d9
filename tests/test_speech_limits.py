"""Abuse and cost: per-member and per-server rates, the daily character budget (seen in /settings, kept across
restarts) and floods of read messages. End to end through the real CommandTree and gateway parsers; what is
checked is what members are told and what reaches AsyncFlow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from cogs.engine.config import LimitsSettings
from cogs.engine.store.limits import SpeechLimits
from tests.asyncflow_server import FakeAsyncFlow
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.store_backends import Backend

EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.server_settings")
HarnessFactory = Callable[..., Coroutine[Any, Any, BotHarness]]


@pytest.fixture
async def make_harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[HarnessFactory]:
    harnesses: list[BotHarness] = []

    async def make(*, announce_author: bool = True, **limits: Any) -> BotHarness:
        harness = await BotHarness.create(
            asyncflow, make_settings(limits_overrides=limits), EXTENSIONS, announce_author=announce_author
        )
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        await harness.stop()


def members_in_voice(harness: BotHarness, *names: str) -> list[int]:
    ids = [harness.fake.add_member(name, voice_channel_id=harness.fake.voice_channel_id) for name in names]
    harness.fake.build_guild()
    return ids


async def test_a_member_over_the_rate_is_told_how_long_to_wait_and_others_still_speak(
    make_harness: HarnessFactory,
) -> None:
    harness = await make_harness(member_messages_per_minute=2, announce_author=False)
    alice, bob = members_in_voice(harness, "Alice", "Bob")

    await harness.say(alice, "one")
    await harness.say(alice, "two")
    refused = await harness.say(alice, "three")
    await harness.say(bob, "bob speaks")
    await harness.wait_until_quiet()

    assert refused.texts == [
        "You're sending messages faster than I can read them here — wait 60 s (at most 2 a minute)."
    ]
    assert refused.sent[0].ephemeral
    assert harness.transcripts() == ["one", "two", "bob speaks"]


async def test_the_server_rate_caps_everyone_together(make_harness: HarnessFactory) -> None:
    harness = await make_harness(server_messages_per_minute=3, announce_author=False)
    alice, bob = members_in_voice(harness, "Alice", "Bob")

    for member, text in [(alice, "a"), (bob, "b"), (alice, "c")]:
        await harness.say(member, text)
    refused = await harness.say(bob, "d")
    await harness.wait_until_quiet()

    assert refused.texts == ["This server is sending more than I can read (3 messages a minute) — wait 60 s."]
    assert harness.transcripts() == ["a", "b", "c"]


async def test_the_daily_budget_refuses_clearly_shows_in_settings_and_survives_a_restart(
    make_harness: HarnessFactory, make_settings: SettingsFactory
) -> None:
    harness = await make_harness(server_daily_characters=20, announce_author=False)
    (alice,) = members_in_voice(harness, "Alice")

    await harness.say(alice, "hello there")  # 11 characters
    refused = await harness.say(alice, "hello again")  # 11 more would make 22 > 20
    await harness.wait_until_quiet()

    assert len(refused.texts) == 1
    assert refused.texts[0].startswith(
        "This server has used its 20 characters of speech for today (11 used); it resets at midnight UTC, in "
    )
    assert harness.transcripts() == ["hello there"]
    settings_lines = (await harness.command(alice, "settings"))[0].splitlines()
    assert "Spoken today: 11 of 20 characters (resets at midnight UTC) (bot config)" in settings_lines

    await harness.restart(make_settings(limits_overrides={"server_daily_characters": 20}))
    assert "Spoken today: 11 of 20 characters (resets at midnight UTC) (bot config)" in (
        (await harness.command(alice, "settings"))[0].splitlines()
    )
    await harness.say(alice, "short")  # 16 of 20: still fits
    await harness.wait_until_quiet()
    assert harness.transcripts() == ["hello there", "short"]


async def test_a_flood_of_read_messages_never_queues_hundreds_of_api_calls(make_harness: HarnessFactory) -> None:
    harness = await make_harness(member_messages_per_minute=0, server_messages_per_minute=0)
    alice, bob = members_in_voice(harness, "Alice", "Bob")
    await harness.command(alice, "link")
    harness.server.realtime_factor = 2.0  # speech takes a while: the queue fills up

    for n in range(300):
        harness.fake.post(alice, f"spam message number {n}")
    await harness.wait_for_event_handlers()  # all 300 were looked at (else some would be read after /stop)

    assert len(harness.server.tts_requests) <= 2  # the one playing and the next: queued text costs nothing yet
    notices = [body["content"] for _channel, body in harness.fake.channel_posts]
    assert notices == ["⚠️ Skipping some messages: too many are waiting to be read. I'll catch up with new ones."]
    stopped = await harness.command(bob, "stop")
    assert stopped and "Stopped" in stopped[0]
    await harness.wait_until_quiet()
    harness.server.realtime_factor = None
    requests_before = len(harness.server.tts_requests)
    harness.fake.post(bob, "after the flood")
    await harness.wait_until_quiet()
    assert harness.transcripts()[requests_before:] == ["Bob said, after the flood"]


async def test_read_messages_over_a_members_rate_are_skipped_with_one_notice(make_harness: HarnessFactory) -> None:
    harness = await make_harness(member_messages_per_minute=3)
    (alice,) = members_in_voice(harness, "Alice")
    await harness.command(alice, "link")

    for n in range(10):
        harness.fake.post(alice, f"message {n}")
    await harness.wait_until_quiet(timeout=20)

    assert harness.transcripts() == ["Alice said, message 0", "message 1", "message 2"]
    notices = [body["content"] for _channel, body in harness.fake.channel_posts]
    assert notices == ["⚠️ Skipping some messages: one member can have at most 3 a minute read aloud."]


async def test_the_rate_resets_a_minute_after_it_began(backend: Backend) -> None:
    now = [1_000_000.0]
    store = await backend.opened()
    try:
        limits = SpeechLimits(
            LimitsSettings(member_messages_per_minute=2, server_messages_per_minute=0, server_daily_characters=0),
            store,
            clock=lambda: now[0],
        )
        assert [await limits.admit(1, 7, 5) for _ in range(2)] == [None, None]
        refusal = await limits.admit(1, 7, 5)
        assert refusal is not None and refusal.reason == "member-rate"
        assert await limits.admit(2, 7, 5) is None  # the same member in another server has their own rate
        now[0] += 30
        refusal = await limits.admit(1, 7, 5)
        assert refusal is not None and "wait 30 s" in refusal.message
        now[0] += 31  # the minute that began with the first message is over
        assert await limits.admit(1, 7, 5) is None
    finally:
        await store.close()


# --- the daily budget under concurrency ---

NOON = 1_700_000_000.0  # one fixed moment: the test never crosses midnight


def budget_only(characters: int) -> LimitsSettings:
    return LimitsSettings(
        member_messages_per_minute=0, server_messages_per_minute=0, server_daily_characters=characters
    )


async def test_concurrent_admits_never_overshoot_the_daily_budget(backend: Backend) -> None:
    store = await backend.opened()
    try:
        limits = SpeechLimits(budget_only(1000), store, clock=lambda: NOON)
        results = await asyncio.gather(*(limits.admit(1, 100 + n, 30) for n in range(50)))
        admitted = sum(result is None for result in results)
        assert admitted == 33  # 33 × 30 = 990; a 34th would make 1,020
        assert {result.reason for result in results if result is not None} == {"daily-budget"}
        assert await store.usage(1, limits.today()) == admitted * 30
    finally:
        await store.close()


async def test_two_stores_on_one_database_share_the_budget_exactly(backend: Backend) -> None:
    """Two stores on one database (as two bot processes would be): check-and-add is atomic in the database.

    SQLite: BEGIN IMMEDIATE takes the write lock; PostgreSQL: one conditional upsert.
    """
    stores = [backend.store() for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        limits = [SpeechLimits(budget_only(1000), store, clock=lambda: NOON) for store in stores]
        results = await asyncio.gather(*(limits[n % 2].admit(1, 100 + n, 30) for n in range(100)))
        admitted = sum(result is None for result in results)
        assert admitted == 33
        assert await stores[0].usage(1, limits[0].today()) == admitted * 30
        assert await stores[1].usage(1, limits[1].today()) == admitted * 30
    finally:
        for store in stores:
            await store.close()


async def test_a_text_counted_without_the_rate_still_counts_against_the_budget(backend: Backend) -> None:
    store = await backend.opened()
    try:
        settings = LimitsSettings(
            member_messages_per_minute=2, server_messages_per_minute=3, server_daily_characters=100
        )
        limits = SpeechLimits(settings, store, clock=lambda: NOON)
        assert [await limits.admit(1, 7, 10, count_rate=False) for _ in range(5)] == [None] * 5  # no rate tokens
        assert [await limits.admit(1, 7, 10) for _ in range(2)] == [None, None]  # the member's 2 are all still there
        refusal = await limits.admit(1, 7, 10)
        assert refusal is not None and refusal.reason == "member-rate"
        assert await limits.admit(1, 7, 10, count_rate=False) is None  # over the rate, but not counted by it
        assert await limits.used_today(1) == 80
        refusal = await limits.admit(1, 8, 30, count_rate=False)
        assert refusal is not None and refusal.reason == "daily-budget"
        assert "(80 used)" in refusal.message
    finally:
        await store.close()
