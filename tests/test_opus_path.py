"""What reaches Discord now that we encode: Opus packets that decode back to the speech AsyncFlow sent, the
``[opus]`` settings in the packets themselves, and the instant after a text's last packet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.playback.speech_queue import SpeechQueue
from cogs.engine.words import STOPPED_BY_SOMEONE as STOPPED
from tests.asyncflow_server import FakeAsyncFlow
from tests.audio_checks import FRAME, loud_frames
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


async def test_the_packets_are_mono_as_configured(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()

    await harness.say(alice, "Mono is enough for one voice")
    await harness.wait_until_quiet()

    packets = harness.voice.speech_packets()
    assert packets and all(packet[0] & 0x04 == 0 for packet in packets)  # the TOC byte's stereo flag is off


def at_the_last_packet(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` on the event loop once, as the first text's last packet goes out (in the player thread), long
    before the read after it ends the text: the window before the queue hears of the end."""
    loop = asyncio.get_running_loop()
    armed = [True]
    read = StreamingAudioSource.read

    def read_then_act(source: StreamingAudioSource) -> bytes:
        packet = read(source)
        if packet and source.exhausted and armed:
            armed.pop()
            loop.call_soon_threadsafe(action)
        return packet

    monkeypatch.setattr(StreamingAudioSource, "read", read_then_act)


async def test_a_skip_just_after_a_texts_last_packet_skips_nothing(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A /skip there must not say it skipped something (the soak found "⏭️ Skipped." with nothing cut off)."""
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    skipped: list[bool] = []
    at_the_last_packet(monkeypatch, lambda: skipped.append(queue_of(harness).skip()))
    text = "Heard to its very end"
    await harness.say(alice, text)
    await harness.wait_until_quiet()

    assert skipped == [False]
    assert loud_frames(harness.voice.heard()) == pytest.approx(len(text) * MS_PER_CHAR / 20, abs=2)


async def test_a_stop_just_after_a_texts_last_packet_tells_nobody_it_was_not_spoken(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its member heard it all: "Someone used /stop, so your message wasn't spoken." would be untrue (the soak found
    it told)."""
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    dropped: list[int] = []
    at_the_last_packet(monkeypatch, lambda: dropped.append(queue_of(harness).stop(tell=STOPPED)))
    text = "Heard to its very end"
    reply = await harness.say(alice, text)
    await harness.wait_until_quiet()

    assert dropped == [0]
    assert STOPPED not in reply.texts
    assert loud_frames(harness.voice.heard()) == pytest.approx(len(text) * MS_PER_CHAR / 20, abs=2)


def queue_of(harness: BotHarness) -> SpeechQueue:
    session = harness.live_engine.existing_session(harness.fake.guild_id)
    assert session is not None
    return session.queue
