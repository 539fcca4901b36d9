"""The phrase cache: a repeated short text is heard the same without another API call, and nothing partial,
failed or foreign is ever replayed. End to end through /say, the real player and libopus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.playback.phrase_cache import MAX_ENTRY_SECONDS, PhraseCache, entry_size
from cogs.engine.playback.utterance import SpeechItem, Utterance
from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import dominant_hz, loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory


def expected_frames(text: str) -> float:
    return len(text) * 50 / 20  # the stand-in speaks 50 ms per character; a frame is 20 ms


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(
        asyncflow,
        make_settings(speech_overrides={"phrase_cache_max_chars": 20}),
        ["cogs.speech"],
        announce_author=False,
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


async def test_a_phrase_said_again_and_again_is_downloaded_twice_then_played_from_memory(
    harness: BotHarness, alice: int
) -> None:
    for _ in range(2):  # the first download is only remembered as "said once"; the second is kept
        await say_and_wait(harness, alice, "good game")
    before = len(harness.voice.heard())
    await say_and_wait(harness, alice, "good game")
    await say_and_wait(harness, alice, "good game")

    assert harness.transcripts() == ["good game", "good game"]  # two API calls for four hearings
    heard = harness.voice.heard()
    assert loud_frames(heard) == pytest.approx(4 * expected_frames("good game"), abs=5)
    assert loud_frames(heard[before:]) == pytest.approx(2 * expected_frames("good game"), abs=3)
    assert dominant_hz(heard[before:]) == pytest.approx(tone_for(DEMO_VOICE_ID), abs=3)
    cache = harness.live_engine.phrase_cache
    assert cache is not None and (cache.hits, cache.characters_saved) == (2, 2 * len("good game"))


async def test_a_cached_phrase_sends_the_same_packets_as_the_download_it_was_kept_from(
    harness: BotHarness, alice: int
) -> None:
    await say_and_wait(harness, alice, "good game")
    before = len(harness.voice.speech_packets())
    await say_and_wait(harness, alice, "good game")  # downloaded again: kept
    downloaded = harness.voice.speech_packets()[before:]
    await say_and_wait(harness, alice, "good game")  # from memory: no encoding, no API call
    replayed = harness.voice.speech_packets()[before + len(downloaded) :]

    assert harness.transcripts() == ["good game", "good game"]
    assert replayed == downloaded and len(downloaded) >= expected_frames("good game")


async def test_another_voice_or_another_text_is_requested(harness: BotHarness, alice: int) -> None:
    other_voice = harness.server.voices[4].voice_id
    await say_and_wait(harness, alice, "good game")
    await say_and_wait(harness, alice, "good game", voice=other_voice)
    await say_and_wait(harness, alice, "good games")

    assert harness.transcripts() == ["good game", "good game", "good games"]
    assert harness.voices_used()[1] == other_voice


async def test_long_texts_are_not_cached(harness: BotHarness, alice: int) -> None:
    text = "this one is longer than twenty characters"
    for _ in range(3):
        await say_and_wait(harness, alice, text)

    assert harness.transcripts() == [text] * 3
    assert loud_frames(harness.voice.heard()) == pytest.approx(3 * expected_frames(text), abs=4)


@pytest.mark.parametrize(
    "fault",
    [Fault.cut_after(44 + 9_600), Fault.quota_after(44 + 9_600), Fault.server_error()],
    ids=["cut-mid-stream", "quota-mid-stream", "server-error"],
)
async def test_a_failed_download_is_never_replayed(harness: BotHarness, alice: int, fault: Fault) -> None:
    harness.server.chunk_bytes = 2000
    await say_and_wait(harness, alice, "hello there")  # said once: the next whole download would be kept
    harness.server.faults.append(fault)
    await say_and_wait(harness, alice, "hello there")  # fails part-way or at once: nothing is kept
    before = len(harness.voice.heard())
    await say_and_wait(harness, alice, "hello there")

    assert harness.transcripts() == ["hello there"] * 3  # asked again: the broken audio was not kept
    assert loud_frames(harness.voice.heard()[before:]) == pytest.approx(expected_frames("hello there"), abs=2)


async def test_a_skipped_phrase_is_not_kept_half_heard(harness: BotHarness, alice: int) -> None:
    await say_and_wait(harness, alice, "skip me half way")
    harness.server.realtime_factor = 1.0  # slow enough to skip in the middle
    await harness.say(alice, "skip me half way")
    await harness.wait_until_speaking()
    await asyncio.sleep(0.2)
    await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()
    harness.server.realtime_factor = None
    before = len(harness.voice.heard())
    await say_and_wait(harness, alice, "skip me half way")

    assert harness.transcripts() == ["skip me half way"] * 3
    assert loud_frames(harness.voice.heard()[before:]) == pytest.approx(expected_frames("skip me half way"), abs=2)


async def test_the_cache_can_be_turned_off(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> None:
    harness = await BotHarness.create(
        asyncflow, make_settings(speech_overrides={"phrase_cache_mb": 0}), ["cogs.speech"], announce_author=False
    )
    try:
        member = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
        harness.fake.build_guild()
        for _ in range(3):
            await say_and_wait(harness, member, "gg")
        assert harness.transcripts() == ["gg"] * 3
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

    heard = [await speak(server_id) for server_id in (1, 1, 2, 2, 1)]

    assert [utterance.from_cache for utterance in heard] == [False, False, False, False, True]
    assert len(asyncflow.tts_requests) == 4


async def _ignore(_message: str) -> None:
    return None


async def _drain(source: StreamingAudioSource) -> None:
    while source.read():
        await asyncio.sleep(0)


def packets(seconds: float, size: int = 200) -> list[bytes]:
    """Stand-in Opus packets: one of ``size`` bytes per 20 ms (80 kbit/s at 200)."""
    return [bytes([n % 256]) * size for n in range(int(seconds * 50))]


def test_the_byte_budget_holds_and_the_least_recently_used_phrase_goes_first() -> None:
    two_seconds = entry_size(tuple(packets(2)))
    cache = PhraseCache(max_bytes=4 * two_seconds, max_chars=50, keep_after=1)  # entries up to a quarter

    cache.put("a", packets(2))
    cache.put("b", packets(2))
    cache.put("c", packets(2))
    assert cache.get("a", "text a") is not None  # a is now the most recently used
    cache.put("d", packets(2))
    cache.put("e", packets(2))  # over budget: b, the least recently used, goes

    assert cache.get("b", "text b") is None
    assert all(cache.get(key, "text") is not None for key in "acde")
    assert cache.size_bytes <= 4 * two_seconds
    cache.put("huge", packets(3))  # more than a quarter of the budget: never kept
    assert cache.get("huge", "text") is None
    assert not cache.wants("x" * 51)


def test_a_phrase_longer_than_the_longest_kept_is_never_kept() -> None:
    cache = PhraseCache(max_bytes=100_000_000, max_chars=50, keep_after=1)
    cache.put("long", packets(MAX_ENTRY_SECONDS + 1, size=10))
    assert cache.get("long", "text") is None


def test_a_phrase_is_kept_only_when_downloaded_again() -> None:
    cache = PhraseCache(max_bytes=10_000_000, max_chars=50)
    phrase = packets(1)
    cache.put("once", phrase)
    assert cache.get("once", "text") is None
    cache.put("once", phrase)
    assert cache.get("once", "text") == tuple(phrase)
    assert cache.size_bytes == entry_size(tuple(phrase))
