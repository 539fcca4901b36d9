"""Shutdown: SIGTERM or Ctrl-C stops the players, closes the HTTP client and the database within seconds, and
what was saved just before is there after a restart. The signal test runs a real process with the runner's own
``TTSBot`` and ``stop_on_signals`` (everything ``python -m bot run`` does except logging in to Discord)."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import cast

import pytest
from discord.ext import commands

from bot.runner import TTSBot
from cogs.engine.engine import TTSEngine
from cogs.engine.store.sqlite import SqlitePreferences
from tests.asyncflow_server import FakeAsyncFlow
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import FakeDiscord, RecordingVoiceClient

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BOT_PROCESS = textwrap.dedent(
    """
    import asyncio, logging, sys
    from bot.runner import TTSBot, stop_on_signals
    from cogs.engine.engine import TTSEngine
    from cogs.engine.config import Settings

    async def main(db: str) -> None:
        settings = Settings.model_validate({
            "discord": {"token": "not-used", "sync_commands": False},
            "asyncflow": {"api_key": "sk_test_valid_key"},
            "storage": {"sqlite_path": db},
        })
        engine = TTSEngine(settings)
        async with TTSBot(settings, engine) as bot:  # as run_bot does, minus bot.start(token)
            stop_on_signals(bot)
            await engine.start()
            await engine.preferences.update_guild(42, announce_author=False, ignore_prefix="?")
            print("READY", flush=True)
            await bot.stopped.wait()
        print("STOPPED", flush=True)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main(sys.argv[1]))
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
async def test_a_signal_stops_the_bot_cleanly_and_keeps_what_was_just_saved(
    tmp_path: Path, signum: signal.Signals
) -> None:
    db = tmp_path / "preferences.sqlite3"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BOT_PROCESS, str(db), stdout=PIPE, stderr=PIPE, cwd=PROJECT_ROOT
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"READY\n"
        process.send_signal(signum)
        out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    out, err = out_bytes.decode(), err_bytes.decode()

    assert process.returncode == 0, err
    assert out == "STOPPED\n"
    assert f"received {signum.name}, shutting down" in err
    assert "Traceback" not in err and "WARNING" not in err
    store = SqlitePreferences(db)
    await store.open()
    try:
        prefs = await store.guild(42)
    finally:
        await store.close()
    assert (prefs.announce_author, prefs.ignore_prefix) == (False, "?")


async def test_closing_while_speaking_ends_playback_the_download_and_the_database(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    engine = TTSEngine(settings, voice_client_class=RecordingVoiceClient)
    bot = TTSBot(settings, engine)
    await bot._async_setup_hook()
    # The fakes are typed for commands.Bot; the runner's bot is an AutoShardedBot, with the same state and tree.
    harness = BotHarness(FakeDiscord(cast(commands.Bot, bot)), asyncflow, ["cogs.speech"])
    harness.engine = engine
    await bot.load_extension("cogs.speech")
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    asyncflow.realtime_factor = 1.0  # a long text still downloading when the bot stops
    await harness.say(alice, "A long message that is still being spoken when the bot is told to stop")
    await harness.wait_until_speaking()
    voice = harness.voice

    async with asyncio.timeout(5):
        await bot.close()
        await bot.close()  # again, as `async with` and discord.py do: waits for the same run

    assert bot.stopped.is_set()
    assert harness.fake.guild.voice_client is None
    packets = len(voice.packets)
    await asyncio.sleep(0.1)
    assert len(voice.packets) == packets  # nothing more is sent
    assert asyncflow.in_flight == 0  # the download was closed
    with pytest.raises(RuntimeError, match="not open"):
        await engine.preferences.guild(1)
