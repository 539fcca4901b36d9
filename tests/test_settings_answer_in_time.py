"""/settings and /set answer Discord (defer) before anything that may wait: the store and the voice catalog.

Discord abandons an interaction not answered within 3 seconds; after a deferral the reply can take
up to 15 minutes. Every call into the store and the catalog records whether the interaction had
already been answered at that moment.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest

from tests.asyncflow_server import FakeAsyncFlow
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation

EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.members", "cogs.server_settings")
STORE_CALLS = ("guild", "member", "update_guild", "usage")


class Watched:
    """A bot whose store and voice catalog note, at each call, whether the interaction was answered yet."""

    def __init__(self, harness: BotHarness, monkeypatch: pytest.MonkeyPatch, *, catalog_delay: float) -> None:
        self.harness = harness
        self.interaction: discord.Interaction[Any] | None = None
        self.calls: list[tuple[str, bool]] = []
        engine = harness.live_engine
        for name in STORE_CALLS:
            monkeypatch.setattr(engine.preferences, name, self._watch(name, getattr(engine.preferences, name)))
        original_voices = engine.voices.voices

        async def slow_voices() -> Any:
            await asyncio.sleep(catalog_delay)  # AsyncFlow slow to list its voices
            return await original_voices()

        monkeypatch.setattr(engine.voices, "voices", self._watch("voices", slow_voices))

    def _watch(self, name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(call)
        async def watched(*args: Any, **kwargs: Any) -> Any:
            if self.interaction is not None:
                self.calls.append((name, self.interaction.response.is_done()))
            return await call(*args, **kwargs)

        return watched

    async def command(self, user_id: int, name: str, options: dict[str, Any] | None = None) -> Conversation:
        interaction, conversation = self.harness.fake.interaction(user_id, name, options)
        self.interaction = interaction
        try:
            await self.harness.bot.tree._call(interaction)
        finally:
            self.interaction = None
        return conversation


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS)
    yield harness
    await harness.stop()


def alice_in_voice(harness: BotHarness) -> int:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    return alice


async def test_settings_defers_before_the_store_and_the_catalog(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, asyncflow: FakeAsyncFlow
) -> None:
    alice = alice_in_voice(harness)
    voice = asyncflow.voices[4]
    await harness.command(alice, "set", {"setting": "server-voice", "value": voice.voice_id})
    await harness.command(alice, "voice", {"voice": asyncflow.voices[5].voice_id}, subcommand="set")
    watched = Watched(harness, monkeypatch, catalog_delay=0.3)

    conversation = await watched.command(alice, "settings")

    assert [sent.kind for sent in conversation.sent] == ["defer", "followup"]
    assert all(sent.ephemeral for sent in conversation.sent)
    assert {name for name, _ in watched.calls} >= {"guild", "member", "usage"}
    assert [call for call in watched.calls if not call[1]] == []  # nothing was awaited before the deferral
    text = conversation.texts[0]
    assert f"`server-voice`: {voice.name} — " in text
    assert f"Voice: {asyncflow.voices[5].name} (`/voice set`)" in text


@pytest.mark.parametrize(
    ("setting", "value", "answer"),
    [
        ("max-length", "120", "`max-length` is now 120."),
        ("server-voice", "VOICE", "`server-voice` is now NAME."),
        ("server-voice", "not-a-voice", "I don't know that voice — pick one from the list as you type."),
    ],
)
async def test_set_defers_before_the_store_and_the_catalog(
    harness: BotHarness,
    monkeypatch: pytest.MonkeyPatch,
    asyncflow: FakeAsyncFlow,
    setting: str,
    value: str,
    answer: str,
) -> None:
    alice = alice_in_voice(harness)
    voice = asyncflow.voices[7]
    watched = Watched(harness, monkeypatch, catalog_delay=0.3)

    conversation = await watched.command(
        alice, "set", {"setting": setting, "value": value.replace("VOICE", voice.voice_id)}
    )

    assert [sent.kind for sent in conversation.sent] == ["defer", "followup"]
    assert conversation.texts == [answer.replace("NAME", voice.name)]
    assert watched.calls and [call for call in watched.calls if not call[1]] == []


@pytest.mark.parametrize(
    ("setting", "value", "answer"),
    [
        ("max-length", "5", "`max-length` must be from 20 to 2000."),
        ("emoji", "loud", "`emoji` is `name` (read emoji by name) or `skip` (leave them out)."),
        ("no-such-setting", "1", "Pick a setting from the list."),
    ],
)
async def test_set_answers_a_mistyped_value_at_once(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, setting: str, value: str, answer: str
) -> None:
    """Nothing to wait for: the mistake is explained in the first answer, and nothing is stored."""
    alice = alice_in_voice(harness)
    watched = Watched(harness, monkeypatch, catalog_delay=0.3)

    conversation = await watched.command(alice, "set", {"setting": setting, "value": value})

    assert [(sent.kind, sent.content) for sent in conversation.sent] == [("response", answer)]
    assert watched.calls == []
