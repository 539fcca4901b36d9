"""Speaking rate end to end: /voice speed and /set speaking-rate through discord.py's real CommandTree, and the
``speed_control`` AsyncFlow receives (only for the model that honours it), the phrase cache keeping rates apart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.model_ids import MODELS, SPEED_CONTROL_MODELS
from cogs.engine.words import SPEED_OUT_OF_RANGE, speed_has_no_effect
from tests.asyncflow_server import CURRENT_MODELS, FakeAsyncFlow
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.conftest import SettingsFactory

EXTENSIONS = ("cogs.speech", "cogs.members", "cogs.server_settings")


async def rate_harness(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory, **asyncflow_overrides: Any
) -> tuple[BotHarness, int, int]:
    harness = await BotHarness.create(asyncflow, make_settings(asyncflow_overrides), EXTENSIONS, announce_author=False)
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    return harness, alice, bob


@pytest.fixture
async def flash(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[tuple[BotHarness, int, int]]:
    """The bot on ``async_flash_v1.0`` (the default, and the one model that honours ``speed_control``)."""
    harness, alice, bob = await rate_harness(asyncflow, make_settings)
    yield harness, alice, bob
    await harness.stop()


def speeds_sent(harness: BotHarness) -> list[float | None]:
    return [request.json.get("speed_control") for request in harness.server.tts_requests if request.json]


async def speed(harness: BotHarness, user_id: int, **options: Any) -> list[str]:
    return await harness.command(user_id, "voice", options, subcommand="speed")


async def test_the_members_rate_wins_over_the_servers_and_none_is_sent_without_either(
    flash: tuple[BotHarness, int, int],
) -> None:
    harness, alice, bob = flash
    await harness.say(bob, "no rate yet")
    await harness.wait_until_quiet()
    assert await harness.command(alice, "set", {"setting": "speaking-rate", "value": "125%"}) == [
        "`speaking-rate` is now 1.25×."
    ]
    assert await speed(harness, alice, value=1.5) == [
        "Your speaking rate is now **1.5×**, in every server with this bot."
    ]

    await harness.say(alice, "mine")
    await harness.say(bob, "the server's")
    await harness.wait_until_quiet()

    assert harness.transcripts() == ["no rate yet", "mine", "the server's"]
    assert speeds_sent(harness) == [None, 1.5, 1.25]
    assert await speed(harness, bob) == [
        "You haven't picked a speaking rate, so you're spoken at this server's **1.25×**. "
        "`/voice speed value:` picks your own (0.7–2.0)."
    ]
    assert await speed(harness, alice, reset=True) == [
        "You'll now be spoken at this server's **1.25×**. `/voice speed value:` picks your own (0.7–2.0)."
    ]
    assert (await harness.live_engine.preferences.member(alice)).speaking_rate is None
    every_message_is_private_and_pings_nobody(harness)


async def test_the_phrase_cache_keeps_rates_apart(flash: tuple[BotHarness, int, int]) -> None:
    harness, alice, _ = flash
    for _ in range(3):  # kept on its second download: the third is played from memory
        await harness.say(alice, "gg")
        await harness.wait_until_quiet()
    assert speeds_sent(harness) == [None, None]

    await speed(harness, alice, value=1.5)
    await harness.say(alice, "gg")
    await harness.wait_until_quiet()

    assert speeds_sent(harness) == [None, None, 1.5]  # not the phrase kept at normal speed


async def test_out_of_range_and_contradictory_rates_are_refused(flash: tuple[BotHarness, int, int]) -> None:
    harness, alice, _ = flash
    assert await speed(harness, alice, value=2.5) == [SPEED_OUT_OF_RANGE]  # Discord's client would stop it first
    assert await speed(harness, alice, value=0.5) == [SPEED_OUT_OF_RANGE]
    assert await speed(harness, alice, value=1.2, reset=True) == ["Give a speed or `reset`, not both."]
    assert await harness.command(alice, "set", {"setting": "speaking-rate", "value": "3"}) == [SPEED_OUT_OF_RANGE]
    assert await harness.command(alice, "set", {"setting": "speaking-rate", "value": "fast"}) == [
        f"`speaking-rate` is a number like `1.25` — {SPEED_OUT_OF_RANGE}"
    ]
    assert (await harness.live_engine.preferences.member(alice)).speaking_rate is None
    assert (await harness.live_engine.preferences.guild(harness.fake.guild_id)).speaking_rate is None


async def test_with_another_model_rates_are_saved_never_sent_and_everyone_is_told(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    model = "async_flash_v1.5"
    harness, alice, _ = await rate_harness(asyncflow, make_settings, model_id=model, endpoint="stream")
    try:
        assert await speed(harness, alice, value=1.5) == [
            "Your speaking rate is now **1.5×**, in every server with this bot.\n" + speed_has_no_effect(model)
        ]
        assert await harness.command(alice, "set", {"setting": "speaking-rate", "value": "0.8"}) == [
            "`speaking-rate` is now 0.8×.\n" + speed_has_no_effect(model)
        ]
        await harness.say(alice, "same speed")
        await harness.wait_until_quiet()

        assert harness.transcripts() == ["same speed"]
        assert speeds_sent(harness) == [None]
        assert f"`{model}` model, which ignores the speaking rate" in speed_has_no_effect(model)
    finally:
        await harness.stop()


@pytest.mark.parametrize("model", MODELS)
async def test_speed_control_goes_only_to_the_models_that_honour_it(
    make_client: Callable[..., AsyncFlowClient], model: str
) -> None:
    client = make_client(model_id=model)
    assert "speed_control" not in client.speech_body("hi", None)  # no rate chosen: AsyncFlow's normal speed
    body = client.speech_body("hi", None, 1.5)
    assert body.get("speed_control") == (1.5 if model in SPEED_CONTROL_MODELS else None)
    assert (model in SPEED_CONTROL_MODELS) is (model == "async_flash_v1.0")  # the API reference says so
    assert set(MODELS) == set(CURRENT_MODELS)  # the stand-in's list
