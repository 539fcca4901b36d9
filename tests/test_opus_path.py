"""What reaches Discord now that we encode: Opus packets that decode back to the speech AsyncFlow sent, one
player for texts queued back to back, and the ``[opus]`` settings in the packets themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from cogs.engine.audio.gapless import GaplessStream
from tests.asyncflow_server import FakeAsyncFlow, tone_for
from tests.audio_checks import FRAME, dominant_hz
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory

MS_PER_CHAR = 50.0


def speech_like(seconds: float) -> np.ndarray:
    """A voice-like signal: a few harmonics of a wandering pitch, in syllables of about a quarter of a second."""
    t = np.arange(round(48_000 * seconds)) / 48_000
    syllables = 0.5 * (1 - np.cos(2 * np.pi * 3.7 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.9 * t))
    pitch = 2 * np.pi * np.cumsum(160 + 30 * np.sin(2 * np.pi * 1.3 * t)) / 48_000
    voiced = sum(np.sin(k * pitch) / k for k in (1, 2, 3, 5, 8))
    signal: np.ndarray = 0.35 * syllables * voiced
    return signal


def envelope(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    rms: np.ndarray = np.sqrt(np.mean(frames**2, axis=1))
    return rms


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), ["cogs.speech"], announce_author=False)
    yield harness
    await harness.stop()


async def test_the_packets_decode_back_to_the_speech_asyncflow_sent(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    speech = speech_like(10)
    harness.server.speech_samples = speech
    text = "A few seconds of something that sounds like speech"

    await harness.say(alice, text)
    await harness.wait_until_quiet()

    sent = speech[: round(48_000 * len(text) * MS_PER_CHAR / 1000)]
    heard = harness.voice.heard()
    assert len(heard) == pytest.approx(len(sent), rel=0.05)  # duration within 5 %
    heard_envelope, sent_envelope = envelope(heard), envelope(sent)
    n = min(len(heard_envelope), len(sent_envelope))
    assert np.corrcoef(heard_envelope[:n], sent_envelope[:n])[0, 1] >= 0.95


async def test_texts_queued_back_to_back_play_on_one_player_with_no_silence_between(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    second_voice = harness.server.voices[7].voice_id

    await harness.say(alice, "The first text, long enough for the second to download")
    await harness.say(bob, "And the second", voice=second_voice)
    await harness.wait_until_quiet()

    voice = harness.voice
    assert len(voice.ended_at) == 1  # one player for both: no thread torn down and started between them
    from_source = [came for _, came, _ in voice.packets]
    assert from_source == [True] * (len(from_source) - 5) + [False] * 5  # the closing silence only at the end
    heard = voice.heard()
    frames = heard[: len(heard) // FRAME * FRAME].reshape(-1, FRAME)
    quiet = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) <= 0.1)
    assert len(quiet) <= 2  # the two texts' fades: not a single frame of silence between them
    assert dominant_hz(heard[: FRAME * 20]) == pytest.approx(tone_for(harness.server.voices[0].voice_id), abs=3)
    assert dominant_hz(heard[-FRAME * 10 :]) == pytest.approx(tone_for(second_voice), abs=3)


async def test_a_skip_moves_to_the_next_text_on_the_same_player(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    second_voice = harness.server.voices[2].voice_id

    await harness.say(alice, "A long text that is skipped part of the way through, long before its end")
    await harness.say(alice, "Next", voice=second_voice)
    await harness.wait_until_speaking()
    # The skip finds the next text handed to the stream: a text whose audio had not yet arrived would start a
    # player of its own, as it must (on a busy machine its download can still be under way when the skip comes).
    async with asyncio.timeout(10):
        while not (isinstance(stream := harness.voice.source, GaplessStream) and stream.upcoming == 1):
            await asyncio.sleep(0.005)
    reply = await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()

    assert reply.texts == ["⏭️ Skipped."]
    assert len(harness.voice.ended_at) == 1
    assert dominant_hz(harness.voice.heard()[-FRAME * 8 :]) == pytest.approx(tone_for(second_voice), abs=3)


async def test_the_packets_are_mono_as_configured(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()

    await harness.say(alice, "Mono is enough for one voice")
    await harness.wait_until_quiet()

    packets = harness.voice.speech_packets()
    assert packets and all(packet[0] & 0x04 == 0 for packet in packets)  # the TOC byte's stereo flag is off
