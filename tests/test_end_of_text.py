"""The instant after a text's last frame went out (in the player thread) and before the queue hears of its end
(the read after it, 20 ms later, then the event loop): a /skip or /stop there must not tell anyone something that
did not happen. Found by the three-channel soak ("⏭️ Skipped." with nothing cut off; "Someone used /stop, so your
message wasn't spoken." to a member who had heard it all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.playback.speech_queue import SpeechQueue
from cogs.engine.words import STOPPED_BY_SOMEONE
from tests.asyncflow_server import FakeAsyncFlow
from tests.audio_checks import loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory

TEXT = "Heard to its very end"
FRAMES = len(TEXT) * 50 / 20  # the stand-in speaks 50 ms a character


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), ["cogs.speech"], announce_author=False)
    yield harness
    await harness.stop()


def at_the_last_frame(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Run ``action`` on the event loop once, as the first text's last frame is read by the player thread."""
    loop = asyncio.get_running_loop()
    armed = [True]
    read = StreamingAudioSource.read

    def read_then_act(source: StreamingAudioSource) -> bytes:
        frame = read(source)
        if frame and source.exhausted and armed:
            armed.pop()
            loop.call_soon_threadsafe(action)
        return frame

    monkeypatch.setattr(StreamingAudioSource, "read", read_then_act)


def queue_of(harness: BotHarness) -> SpeechQueue:
    session = harness.live_engine.existing_session(harness.fake.guild_id)
    assert session is not None
    return session.queue


async def test_a_skip_just_after_a_texts_last_frame_skips_nothing(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    skipped: list[bool] = []
    at_the_last_frame(monkeypatch, lambda: skipped.append(queue_of(harness).skip()))

    await harness.say(alice, TEXT)
    await harness.wait_until_quiet()

    assert skipped == [False]  # /skip answers "Nothing is being spoken right now."
    assert loud_frames(harness.voice.heard()) == pytest.approx(FRAMES, abs=2)


async def test_a_stop_just_after_a_texts_last_frame_tells_nobody_it_was_not_spoken(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    dropped: list[int] = []
    at_the_last_frame(monkeypatch, lambda: dropped.append(queue_of(harness).stop(tell=STOPPED_BY_SOMEONE)))

    reply = await harness.say(alice, TEXT)
    await harness.wait_until_quiet()

    assert dropped == [0]
    assert STOPPED_BY_SOMEONE not in reply.texts
    assert loud_frames(harness.voice.heard()) == pytest.approx(FRAMES, abs=2)
