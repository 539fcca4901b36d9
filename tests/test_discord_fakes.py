"""The fakes themselves: voice and interactions behave as strictly as Discord and discord.py do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import discord
import numpy as np
import pytest
from discord.ext import commands

from tests.audio_checks import dominant_hz, loud_frames
from tests.discord_fakes import BOT_ID, FakeDiscord, RecordingVoiceClient


class Tone(discord.AudioSource):
    """``frames`` 20 ms frames of a 1 kHz tone, then the end."""

    def __init__(self, frames: int) -> None:
        t = np.arange(960) / 48_000
        mono = (np.sin(2 * np.pi * 1000 * t) * 16_000).astype("<i2")
        self._frame = np.repeat(mono, 2).tobytes()
        self._left = frames

    def read(self) -> bytes:
        if self._left <= 0:
            return b""
        self._left -= 1
        return self._frame


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.default())
    await bot._async_setup_hook()
    fake = FakeDiscord(bot)
    fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
    fake.build_guild()
    yield fake
    voice = fake.guild.voice_client
    if voice is not None:
        await voice.disconnect(force=True)
    await fake.settle()
    fake.release_voice_clients()


def lounge(fake: FakeDiscord) -> discord.VoiceChannel:
    channel = fake.guild.get_channel(fake.voice_channel_id)
    assert isinstance(channel, discord.VoiceChannel)
    return channel


def bot_voice_updates(fake: FakeDiscord) -> list[tuple[int | None, int | None]]:
    """(before, after) channel ids of every on_voice_state_update for the bot, recorded as listeners see them."""
    seen: list[tuple[int | None, int | None]] = []

    async def on_voice_state_update(
        member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        if member.id == BOT_ID:
            seen.append((before.channel.id if before.channel else None, after.channel.id if after.channel else None))

    fake.bot.add_listener(on_voice_state_update)
    return seen


async def test_connect_registers_the_client_first_and_discord_answers_while_it_is_under_way(fake: FakeDiscord) -> None:
    fake.connect_latency = 0.3
    seen = bot_voice_updates(fake)
    started = time.monotonic()

    connecting = asyncio.create_task(lounge(fake).connect(cls=RecordingVoiceClient))
    await asyncio.sleep(0.15)
    assert isinstance(fake.guild.voice_client, RecordingVoiceClient)  # registered before connect() returns
    assert not fake.guild.voice_client.is_connected()
    assert seen == [(None, fake.voice_channel_id)]  # the listener already ran
    assert fake.guild.me.voice is not None and fake.guild.me.voice.channel is not None
    voice = await connecting

    assert time.monotonic() - started == pytest.approx(0.3, abs=0.1)
    assert voice.is_connected() and fake.voice_clients == [voice]


async def test_disconnect_waits_for_discords_confirmation_and_listeners_hear_of_it(fake: FakeDiscord) -> None:
    voice = await lounge(fake).connect(cls=RecordingVoiceClient)
    seen = bot_voice_updates(fake)
    fake.disconnect_latency = 0.2
    started = time.monotonic()

    await voice.disconnect(force=True)

    assert time.monotonic() - started == pytest.approx(0.2, abs=0.1)
    assert fake.guild.voice_client is None and not voice.is_connected()
    await asyncio.sleep(0.01)
    assert seen == [(fake.voice_channel_id, None)]


async def test_a_client_disconnected_while_connecting_times_out_as_discord_py_does(fake: FakeDiscord) -> None:
    fake.connect_latency = 0.2
    connecting = asyncio.create_task(lounge(fake).connect(cls=RecordingVoiceClient, timeout=0.5))
    await asyncio.sleep(0.05)
    voice = fake.guild.voice_client
    assert voice is not None

    await voice.disconnect(force=True)

    with pytest.raises(TimeoutError):
        await connecting
    assert fake.guild.voice_client is None


async def test_a_moderator_disconnect_removes_the_voice_client(fake: FakeDiscord) -> None:
    voice = await lounge(fake).connect(cls=RecordingVoiceClient)
    voice.play(Tone(500))
    seen = bot_voice_updates(fake)

    fake.disconnect_bot()
    await asyncio.sleep(0.05)

    assert fake.guild.voice_client is None
    assert not voice.is_connected() and not voice.is_playing()
    assert seen == [(fake.voice_channel_id, None)]


async def test_audio_is_recorded_in_the_channel_it_was_sent_into(fake: FakeDiscord) -> None:
    voice = await lounge(fake).connect(cls=RecordingVoiceClient)
    voice.play(Tone(100))
    await asyncio.sleep(0.5)
    fake.move_bot(fake.other_voice_channel_id)
    async with asyncio.timeout(5):
        while voice.is_playing():
            await asyncio.sleep(0.02)

    lounge_frames = loud_frames(fake.heard_in(fake.voice_channel_id))
    gaming_frames = loud_frames(fake.heard_in(fake.other_voice_channel_id))
    assert voice.channel.id == fake.other_voice_channel_id
    assert lounge_frames > 10 and gaming_frames > 10
    assert lounge_frames + gaming_frames == pytest.approx(100, abs=2)
    assert dominant_hz(fake.heard_in(fake.other_voice_channel_id)) == pytest.approx(1000, abs=3)
    assert fake.channels_with_speech() == {fake.voice_channel_id, fake.other_voice_channel_id}


async def test_an_answer_after_three_seconds_is_refused_and_recorded(fake: FakeDiscord) -> None:
    alice = int(fake._members[1]["user"]["id"])
    interaction, conversation = fake.interaction(alice, "say", {"text": "hi"})
    fake.advance_clock(3.5)

    with pytest.raises(discord.NotFound) as refused:
        await interaction.response.defer(ephemeral=True, thinking=True)

    assert refused.value.code == 10062
    assert [(m.command, m.what) for m in fake.missed_deadlines] == [("say", "defer")]
    assert conversation.sent == [] and not interaction.response.is_done()


async def test_follow_ups_work_for_fifteen_minutes(fake: FakeDiscord) -> None:
    alice = int(fake._members[1]["user"]["id"])
    interaction, conversation = fake.interaction(alice, "say", {"text": "hi"})
    await interaction.response.defer(ephemeral=True, thinking=True)
    fake.advance_clock(14 * 60)
    await interaction.followup.send("still here", ephemeral=True)
    fake.advance_clock(2 * 60)

    with pytest.raises(discord.NotFound) as expired:
        await interaction.followup.send("too late", ephemeral=True)

    assert expired.value.code == 10015
    assert conversation.texts == ["still here"]
    assert fake.missed_deadlines == []


async def test_a_test_can_act_exactly_when_a_player_ends(fake: FakeDiscord) -> None:
    voice = await lounge(fake).connect(cls=RecordingVoiceClient)
    order: list[str] = []
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    voice.on_player_end = lambda: order.append("hook")

    def after_on_the_loop() -> None:
        order.append("after")
        done.set()

    voice.play(Tone(10), after=lambda _error: loop.call_soon_threadsafe(after_on_the_loop))

    await asyncio.wait_for(done.wait(), 2)

    assert order == ["hook", "after"]  # the hook runs on the loop before what the after callback schedules
    assert len(voice.ended_at) == 1 and voice.on_player_end is None  # once
