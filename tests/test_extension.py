"""The cog drops into someone else's discord.py bot: loads from configuration, registers its commands, unloads cleanly."""

from __future__ import annotations

import os

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from cogs.engine.engine import ENGINE_ATTRIBUTE, TTSEngine
from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow

EXPECTED_COMMANDS = {"say", "skip", "stop", "leave", "Speak"}


@pytest.fixture
def env_config(asyncflow: FakeAsyncFlow, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "ASYNCFLOW_", "SPEECH_", "TTSBOT_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.setenv("ASYNCFLOW_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("ASYNCFLOW_BASE_URL", asyncflow.base_url)


async def test_load_extension_into_a_plain_bot_builds_the_engine_from_the_environment(env_config: None) -> None:
    bot = commands.Bot(command_prefix="?", intents=discord.Intents.default())
    await bot.load_extension("cogs.speech")

    engine = getattr(bot, ENGINE_ATTRIBUTE)
    assert isinstance(engine, TTSEngine)
    assert {c.name for c in bot.tree.get_commands()} == EXPECTED_COMMANDS
    assert engine.client.settings.base_url is not None
    voices = await engine.voices.search("")
    assert len(voices) == 25

    await bot.unload_extension("cogs.speech")
    assert not hasattr(bot, ENGINE_ATTRIBUTE)  # the extension built it, so the extension closed it
    assert bot.tree.get_commands() == []


async def test_an_engine_handed_in_by_the_bot_is_used_and_left_open(env_config: None, asyncflow: FakeAsyncFlow) -> None:
    from cogs.engine.config import load_settings

    bot = commands.Bot(command_prefix="?", intents=discord.Intents.default())
    engine = TTSEngine(load_settings())
    setattr(bot, ENGINE_ATTRIBUTE, engine)
    await bot.load_extension("cogs.speech")
    await bot.unload_extension("cogs.speech")
    assert getattr(bot, ENGINE_ATTRIBUTE) is engine
    assert await engine.client.status()  # still usable: the bot owns it
    await engine.aclose()


async def test_every_command_is_guild_only_described_and_has_described_options(env_config: None) -> None:
    bot = commands.Bot(command_prefix="?", intents=discord.Intents.default())
    await bot.load_extension("cogs.speech")
    try:
        for command in bot.tree.get_commands():
            if isinstance(command, app_commands.ContextMenu):  # no description or options: a name and a target
                assert (command.name, command.type) == ("Speak", discord.AppCommandType.message)
                assert command.allowed_contexts is not None and command.allowed_contexts.guild
                assert not command.allowed_contexts.dm_channel and not command.allowed_contexts.private_channel
                continue
            assert isinstance(command, app_commands.Command)
            assert command.description and command.description != "…"
            assert command.guild_only
            for parameter in command.parameters:
                assert parameter.description and parameter.description != "…", (command.name, parameter.name)
    finally:
        await bot.unload_extension("cogs.speech")
