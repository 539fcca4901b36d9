"""A bot with our extensions loaded into discord.py's real machinery, its engine aimed at the AsyncFlow stand-in.

Used by the end-to-end tests: they send slash commands and gateway events through ``fake`` and check
what members would see and hear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import discord
from discord.ext import commands

from cogs.engine.config import Settings
from cogs.engine.engine import ENGINE_ATTRIBUTE, TTSEngine
from tests.asyncflow_server import FakeAsyncFlow
from tests.discord_fakes import Conversation, FakeDiscord, RecordingVoiceClient


async def shortened_sleep(seconds: float) -> None:
    """Retry waits, a tenth as long: members are still told the real wait, and the suite stays quick."""
    await asyncio.sleep(seconds / 10)


class BotHarness:
    def __init__(self, fake: FakeDiscord, server: FakeAsyncFlow, extensions: Sequence[str]) -> None:
        self.bot = fake.bot
        self.fake = fake
        self.server = server
        self.extensions = tuple(extensions)
        self.engine: TTSEngine | None = None

    @classmethod
    async def create(
        cls, server: FakeAsyncFlow, settings: Settings, extensions: Sequence[str], *, announce_author: bool = True
    ) -> BotHarness:
        """``announce_author=False``: the server's ``announce-author`` is off, so what AsyncFlow is asked to say
        is exactly the member's text (for tests about audio and faults; attribution has tests of its own)."""
        bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
        await bot._async_setup_hook()
        harness = cls(FakeDiscord(bot), server, extensions)
        await harness.start(settings)
        if not announce_author:
            await harness.live_engine.preferences.update_guild(harness.fake.guild_id, announce_author=False)
        return harness

    async def start(self, settings: Settings) -> None:
        """Load the extensions with a new engine (on the settings' SQLite file)."""
        self.engine = TTSEngine(settings, voice_client_class=RecordingVoiceClient, retry_sleep=shortened_sleep)
        setattr(self.bot, ENGINE_ATTRIBUTE, self.engine)
        for extension in self.extensions:
            await self.bot.load_extension(extension)

    async def stop(self, *, check_deadlines: bool = True) -> None:
        """Unload the extensions, leave voice and close the engine, as a shutting-down bot would; then check that
        every interaction was answered within Discord's 3 seconds (``check_deadlines``)."""
        for extension in self.extensions:
            await self.bot.unload_extension(extension)
        guild = self.bot.get_guild(self.fake.guild_id)
        if guild is not None and guild.voice_client is not None:
            await guild.voice_client.disconnect(force=True)
        if self.engine is not None:
            await self.engine.aclose()
        await self.fake.settle()
        self.fake.release_voice_clients()
        if check_deadlines:
            self.assert_no_missed_deadlines()

    def assert_no_missed_deadlines(self) -> None:
        """Discord refused no initial response for coming more than 3 s after its interaction."""
        assert self.fake.missed_deadlines == [], self.fake.missed_deadlines

    async def restart(self, settings: Settings) -> None:
        await self.stop()
        await self.start(settings)

    @property
    def live_engine(self) -> TTSEngine:
        assert self.engine is not None
        return self.engine

    @property
    def voice(self) -> RecordingVoiceClient:
        voice = self.fake.voice_client
        assert voice is not None, "the bot is not in a voice channel"
        return voice

    # -- what members do -----------------------------------------------------------------------------

    async def say(self, user_id: int, text: str, **options: Any) -> Conversation:
        return await self.fake.run_command(user_id, "say", {"text": text, **options})

    async def command(self, user_id: int, name: str, options: dict[str, Any] | None = None, **kwargs: Any) -> list[str]:
        return (await self.fake.run_command(user_id, name, options, **kwargs)).texts

    async def join_voice(self, user_id: int) -> None:
        """Get the bot into the member's channel the way a member would: with /say."""
        await self.command(user_id, "say", {"text": "hi"})
        await self.wait_until_quiet()

    # -- what AsyncFlow was asked for ------------------------------------------------------------------

    def transcripts(self) -> list[str]:
        return [r.json["transcript"] for r in self.server.tts_requests if r.json]

    def voices_used(self) -> list[str]:
        return [r.json["voice"]["id"] for r in self.server.tts_requests if r.json]

    # -- waiting -----------------------------------------------------------------------------------------

    @staticmethod
    def event_handlers_running() -> bool:
        """Whether a listener for a dispatched gateway event (a task named ``discord.py: on_...``) is running."""
        return any(task.get_name().startswith("discord.py: on_") for task in asyncio.all_tasks())

    async def wait_for_event_handlers(self, timeout: float = 10.0) -> None:
        """Wait until every gateway event dispatched so far (e.g. a burst of posted messages) has been handled."""
        async with asyncio.timeout(timeout):
            while self.event_handlers_running():
                await asyncio.sleep(0.01)

    def guild_is_busy(self) -> bool:
        """Whether the bot has speech playing, about to play or queued in the test guild.

        The one place the harness asks the engine this: rename here when the engine's names change.
        """
        session = self.live_engine.existing_session(self.fake.guild_id)
        return session is not None and session.is_active

    def _audio_playing(self) -> bool:
        """A voice client of ours (not the host bot's) still has a player running. (A player whose thread gave up
        waiting for a lost connection still says ``is_playing()``; it is not waited for.)"""
        return any(
            voice.is_playing() and voice._player is not None and voice._player.is_alive()
            for voice in self.fake.voice_clients
            if not voice.host_owned
        )

    def _quiet(self) -> bool:
        return not (
            self.fake.pending_gateway_events
            or self.event_handlers_running()
            or self.guild_is_busy()
            or self._audio_playing()
        )

    async def wait_until_quiet(self, timeout: float = 10.0) -> None:
        """Wait until Discord has sent the events it owes, every event handler has finished, and then nothing is
        queued or playing; again until all of that holds at once (a handler may queue speech, speech may end in a
        disconnect that sends events)."""
        for _ in range(5):
            await asyncio.sleep(0.01)
        async with asyncio.timeout(timeout):
            while True:
                await self.fake.settle(timeout)
                await self.wait_for_event_handlers(timeout)
                while self.guild_is_busy() or self._audio_playing():
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.01)
                if self._quiet():
                    return

    async def wait_until_speaking(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while self.fake.voice_client is None or not self.fake.voice_client.speech_packets():
                await asyncio.sleep(0.01)


def every_message_is_private_and_pings_nobody(harness: BotHarness) -> None:
    """Every reply to a slash command was ephemeral and allowed no mentions."""
    for conversation in harness.fake.conversations:
        for sent in conversation.sent:
            assert sent.ephemeral, sent
            if sent.kind != "defer":
                assert sent.allowed_mentions is not None and sent.allowed_mentions.to_dict()["parse"] == [], sent
