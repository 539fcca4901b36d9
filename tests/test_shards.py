"""Shards: ``[discord] shard_count`` and ``shard_ids`` as an admin writes them, and the bot the runner builds from them.

No gateway is needed: the bot is discord.py's real ``AutoShardedBot``, and its own ``launch_shards`` is run with
``launch_shard`` recorded, so the test sees exactly which shards this process would identify as.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yarl
from discord.ext import commands

from bot.runner import TTSBot, describe_shards, format_shard_ids
from cogs.engine.config import ConfigError, Settings, load_settings, parse_shard_ids
from cogs.engine.engine import TTSEngine


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("DISCORD_", "ASYNCFLOW_", "TTSBOT_", "STORAGE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASYNCFLOW_API_KEY", "sk_test_valid_key")
    monkeypatch.setenv("STORAGE_SQLITE_PATH", str(tmp_path / "preferences.sqlite3"))


@pytest.mark.parametrize(
    ("written", "ids"),
    [("0-3", (0, 1, 2, 3)), ("0,1", (0, 1)), ("0-3,8", (0, 1, 2, 3, 8)), ("2", (2,)), (" 4 - 5 , 7 ", (4, 5, 7))],
)
def test_shard_ids_are_read_as_written_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, written: str, ids: tuple[int, ...]
) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "16")
    monkeypatch.setenv("DISCORD_SHARD_IDS", written)
    discord_settings = load_settings().discord
    assert (discord_settings.shard_count, discord_settings.shard_ids) == (16, ids)


def test_shard_ids_in_the_file_as_text_or_a_list(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[discord]\nshard_count = 4\nshard_ids = "2-3"\n')
    assert load_settings(path).discord.shard_ids == (2, 3)
    path.write_text("[discord]\nshard_count = 4\nshard_ids = [1, 0]\n")
    assert load_settings(path).discord.shard_ids == (0, 1)


def test_an_empty_variable_leaves_the_ids_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """``DISCORD_SHARD_IDS=`` in an env file, as compose and systemd write an unset value."""
    monkeypatch.setenv("DISCORD_SHARD_IDS", "")
    assert load_settings().discord.shard_ids is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"DISCORD_SHARD_IDS": "0-1"},
            "config: discord.shard_ids = 0-1: shard_ids needs shard_count, the shards of the whole bot across "
            "every process: set DISCORD_SHARD_COUNT or shard_count under [discord] [set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "2-4"},
            "config: discord.shard_ids = 2-4: shard 4 is not below shard_count = 4 (shards are 0 to 3) "
            "[set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "first"},
            "config: discord.shard_ids = first: write shard ids like 0-3, 0,1 or 0-3,8 (not 'first') "
            "[set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "3-1"},
            "config: discord.shard_ids = 3-1: the range 3-1 runs backwards: write 1-3 [set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0-1,1"},
            "config: discord.shard_ids = 0-1,1: a shard id is listed twice [set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "-1"},
            "config: discord.shard_ids = -1: write shard ids like 0-3, 0,1 or 0-3,8 (not '-1') "
            "[set by env DISCORD_SHARD_IDS]",
        ),
        (
            {"DISCORD_SHARD_COUNT": "0"},
            "config: discord.shard_count = 0: out of range (allowed: 1 or more) [set by env DISCORD_SHARD_COUNT]",
        ),
    ],
    ids=["ids-without-count", "id-beyond-count", "nonsense", "backwards", "twice", "negative", "zero-count"],
)
def test_a_bad_shard_setting_stops_start_up_with_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == expected


def test_parsed_ids_read_back_as_written() -> None:
    for written in ("0-3", "0,2", "0-3,8", "5", "0-1,3-4"):
        assert format_shard_ids(list(parse_shard_ids(written))) == written


@pytest.fixture
async def built() -> AsyncIterator[list[TTSBot]]:
    """Bots built from settings as ``python -m bot run`` builds them; closed (with their engines) afterwards."""
    bots: list[TTSBot] = []
    yield bots
    for bot in bots:
        await bot.close()


async def build(bots: list[TTSBot], settings: Settings) -> tuple[TTSBot, list[tuple[int, bool]]]:
    """The runner's bot, with discord.py's ``launch_shard`` recorded instead of connecting to the gateway."""
    bot = TTSBot(settings, TTSEngine(settings))
    bots.append(bot)
    await bot._async_setup_hook()  # what `async with bot` and login() do first
    launched: list[tuple[int, bool]] = []

    async def launch_shard(gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        launched.append((shard_id, initial))

    async def get_bot_gateway(**_: Any) -> tuple[int, str, dict[str, int]]:
        return 3, "wss://gateway.example", {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}

    bot.launch_shard = launch_shard  # type: ignore[method-assign]
    bot.http.get_bot_gateway = get_bot_gateway  # type: ignore[method-assign, assignment]
    await bot.launch_shards()
    return bot, launched


async def test_set_shards_are_the_only_ones_this_process_identifies(
    monkeypatch: pytest.MonkeyPatch, built: list[TTSBot]
) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "2-3")
    bot, launched = await build(built, load_settings())
    assert isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_ids) == (4, [2, 3])
    assert launched == [(2, True), (3, False)]
    assert describe_shards(bot) == "shards 2-3 of 4"


async def test_a_count_alone_runs_every_shard_of_it_here(monkeypatch: pytest.MonkeyPatch, built: list[TTSBot]) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "2")
    bot, launched = await build(built, load_settings())
    assert (bot.shard_count, bot.shard_ids) == (2, None)
    assert launched == [(0, True), (1, False)]


async def test_unset_is_discord_pys_automatic_sharding(built: list[TTSBot]) -> None:
    """discord.py asks Discord how many shards the bot needs (3 here) and runs them all in this process."""
    bot, launched = await build(built, load_settings())
    assert isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_ids is None
    assert launched == [(0, True), (1, False), (2, False)]
    assert bot.shard_count == 3
