"""The phrase cache: a repeated short text is heard the same without another API call, and nothing partial,
failed or foreign is ever replayed. End to end through /say, the real player and libopus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from cogs.engine.asyncflow_client import AsyncFlowClient
from cogs.engine.audio_format import DISCORD_FORMAT
from cogs.engine.audio_source import StreamingAudioSource
from cogs.engine.phrase_cache import PhraseCache
from cogs.engine.utterance import SpeechItem, Utterance
from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import dominant_hz, loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory


def expected_frames(text: str) -> float:
    return len(text) * 50 / 20  # the stand-in speaks 50 ms per character; a frame is 20 ms


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(
        asyncflow, make_settings(speech_overrides={"phrase_cache_max_chars": 20}), ["cogs.speech"]
    )
    yield harness
    await harness.stop()


@pytest.fixture
def alice(harness: BotHarness) -> int:
    """Alice, in the voice channel."""
    member_id = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    return member_id


async def say_and_wait(harness: BotHarness, member_id: int, text: str, **options: str) -> None:
    await harness.say(member_id, text, **options)
    await harness.wait_until_quiet()


async def test_a_repeated_phrase_is_heard_again_without_a_second_request(harness: BotHarness, alice: int) -> None:
    await say_and_wait(harness, alice, "good game")
    first = harness.voice.heard()
    await say_and_wait(harness, alice, "good game")

    assert harness.transcripts() == ["good game"]  # one API call for two hearings
    heard = harness.voice.heard()
    assert loud_frames(heard) == pytest.approx(2 * expected_frames("good game"), abs=3)
    assert dominant_hz(heard[len(first) :]) == pytest.approx(tone_for(DEMO_VOICE_ID), abs=3)
    cache = harness.live_engine.phrase_cache
    assert cache is not None and (cache.hits, cache.characters_saved) == (1, len("good game"))


async def test_another_voice_or_another_text_is_requested(harness: BotHarness, alice: int) -> None:
    other_voice = harness.server.voices[4].voice_id
    await say_and_wait(harness, alice, "good game")
    await say_and_wait(harness, alice, "good game", voice=other_voice)
    await say_and_wait(harness, alice, "good games")

    assert harness.transcripts() == ["good game", "good game", "good games"]
    assert harness.voices_used()[1] == other_voice


async def test_long_texts_are_not_cached(harness: BotHarness, alice: int) -> None:
    text = "this one is longer than twenty characters"
    await say_and_wait(harness, alice, text)
    await say_and_wait(harness, alice, text)

    assert harness.transcripts() == [text, text]
    assert loud_frames(harness.voice.heard()) == pytest.approx(2 * expected_frames(text), abs=3)


@pytest.mark.parametrize(
    "fault",
    [Fault.cut_after(44 + 9_600), Fault.quota_after(44 + 9_600), Fault.server_error()],
    ids=["cut-mid-stream", "quota-mid-stream", "server-error"],
)
async def test_a_failed_download_is_not_replayed(harness: BotHarness, alice: int, fault: Fault) -> None:
    harness.server.faults.append(fault)
    harness.server.chunk_bytes = 2000
    await say_and_wait(harness, alice, "hello there")
    await say_and_wait(harness, alice, "hello there")

    assert harness.transcripts()[-1] == "hello there"
    assert len(harness.transcripts()) >= 2  # asked again: the broken audio was not kept
    assert loud_frames(harness.voice.heard()) >= expected_frames("hello there") - 2  # the second time all of it


async def test_a_skipped_phrase_is_not_kept_half_heard(harness: BotHarness, alice: int) -> None:
    harness.server.realtime_factor = 1.0  # slow enough to skip in the middle
    await harness.say(alice, "skip me half way")
    await harness.wait_until_speaking()
    await asyncio.sleep(0.2)
    await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()
    harness.server.realtime_factor = None
    await say_and_wait(harness, alice, "skip me half way")

    assert harness.transcripts() == ["skip me half way", "skip me half way"]


async def test_the_cache_can_be_turned_off(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> None:
    harness = await BotHarness.create(
        asyncflow, make_settings(speech_overrides={"phrase_cache_mb": 0}), ["cogs.speech"]
    )
    try:
        member = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
        harness.fake.build_guild()
        await say_and_wait(harness, member, "gg")
        await say_and_wait(harness, member, "gg")
        assert harness.transcripts() == ["gg", "gg"]
        assert harness.live_engine.phrase_cache is None
    finally:
        await harness.stop()


async def test_one_server_never_hears_another_servers_cached_audio(
    asyncflow: FakeAsyncFlow, make_client: Callable[..., AsyncFlowClient]
) -> None:
    client = make_client()
    cache = PhraseCache(max_bytes=10_000_000, max_chars=50)

    async def speak(server_id: int) -> Utterance:
        loop = asyncio.get_running_loop()
        source = StreamingAudioSource(loop=loop)
        utterance = Utterance(
            SpeechItem("hi all", None, 1, _ignore), client=client, source=source, cache=cache, cache_scope=server_id
        )
        await utterance.wait_ready()
        await asyncio.wait_for(_drain(source), 5)
        await utterance.discard()
        return utterance

    first, other_server, same_server = await speak(1), await speak(2), await speak(1)

    assert [first.from_cache, other_server.from_cache, same_server.from_cache] == [False, False, True]
    assert len(asyncflow.tts_requests) == 2


async def _ignore(_message: str) -> None:
    return None


async def _drain(source: StreamingAudioSource) -> None:
    while source.read():
        await asyncio.sleep(0)


def test_the_byte_budget_holds_and_the_least_recently_used_phrase_goes_first() -> None:
    second = DISCORD_FORMAT.bytes_per_second
    cache = PhraseCache(max_bytes=8 * second, max_chars=50)  # entries up to 2 s (a quarter)
    cache.put("a", bytes(2 * second))
    cache.put("b", bytes(2 * second))
    cache.put("c", bytes(2 * second))
    assert cache.get("a", "text a") is not None  # a is now the most recently used
    cache.put("d", bytes(2 * second))
    cache.put("e", bytes(2 * second))  # over budget: b, the least recently used, goes

    assert cache.get("b", "text b") is None
    assert all(cache.get(key, "text") is not None for key in "acde")
    assert cache.size_bytes <= 8 * second
    cache.put("huge", bytes(3 * second))  # more than a quarter of the budget: never kept
    assert cache.get("huge", "text") is None
    assert not cache.wants("x" * 51)
