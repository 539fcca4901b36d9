"""Soak: a thousand /say through the whole path (CommandTree, player, libopus) with AsyncFlow faults injected at
random. Every utterance ends spoken or reported with the right words, and memory, threads, sockets and tasks
stay flat."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.asyncflow_server import FakeAsyncFlow, Fault
from tests.audio_checks import loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation

UTTERANCES = 1000
BATCH = 100
TEXT = "w{:03d}"  # 40 ms of audio at 10 ms per character: two frames; all different (no phrase cache hits)
HEADER = 44
SEED = 20261124

# Faults that end an utterance, with what its member is told; and faults that are retried and then spoken.
FAILING: dict[str, tuple[Callable[[], Fault], str]] = {
    "invalid-key": (Fault.invalid_key, "The server's AsyncFlow API key was rejected"),
    "voice-gone": (Fault.voice_not_found, "That voice no longer exists on AsyncFlow"),
    "quota": (Fault.usage_limit, "speech quota for the month is used up"),
    "cut": (lambda: Fault.cut_after(HEADER + 960), "The connection to AsyncFlow dropped part-way through"),
    "quota-mid-stream": (lambda: Fault.quota_after(HEADER + 960), "quota ran out part-way through"),
}
RETRIED: dict[str, Callable[[], Fault]] = {
    "rate-limited": lambda: Fault.rate_limited(retry_after_ms=20),
    "server-error": Fault.server_error,
    "dropped-connection": Fault.drop_connection,
}
FAILURE_WORDS = [words for _fault, words in FAILING.values()]
# Share of utterances meeting each fault; the retried 5xx and dropped connection are rarer because their
# backoff (0.5-1 s, real time) is what makes this test long.
WEIGHTS: dict[str, float] = {**dict.fromkeys(FAILING, 0.03), "rate-limited": 0.05, "server-error": 0.01}
WEIGHTS["dropped-connection"] = 0.01


def resources() -> dict[str, int]:
    gc.collect()
    links = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd") if _exists(fd)]
    return {
        "memory": int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE"),
        "threads": threading.active_count(),
        "sockets": sum(1 for link in links if link.startswith("socket:")),
        "tasks": len(asyncio.all_tasks()),
    }


WATCHED_TYPES = ("Utterance", "StreamingAudioSource", "SpeechResponse", "SpeechItem", "Response", "AudioPlayer")
"""Objects made per utterance; the names are unique enough among what this test process holds."""


def live_objects() -> dict[str, int]:
    """How many objects the garbage collector tracks, and how many of each type made per utterance."""
    gc.collect()
    objects = gc.get_objects()
    counts = Counter(type(obj).__name__ for obj in objects if type(obj).__name__ in WATCHED_TYPES)
    return {"all": len(objects), **{name: counts[name] for name in WATCHED_TYPES}}


def _exists(fd: str) -> bool:
    try:
        os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    return True


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    settings = make_settings({"max_retries": 2, "max_retry_wait": 1.0}, {"queue_limit": BATCH + 5})
    harness = await BotHarness.create(asyncflow, settings, ["cogs.speech"], announce_author=False)
    yield harness
    await harness.stop()


@pytest.mark.soak
async def test_a_thousand_utterances_with_random_faults_end_spoken_or_reported_and_leak_nothing(
    harness: BotHarness,
) -> None:
    rng = random.Random(SEED)
    server = harness.server
    server.ms_per_char = 10
    server.chunk_bytes = 2000
    members = [harness.fake.add_member(f"Member {n}", voice_channel_id=harness.fake.voice_channel_id) for n in range(5)]
    harness.fake.build_guild()
    injected: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    heard_frames = 0
    baseline: dict[str, int] = {}
    objects_baseline: dict[str, int] = {}
    for batch in range(UTTERANCES // BATCH):
        conversations: list[Conversation] = []
        for _ in range(BATCH):
            name = rng.choices([*WEIGHTS, None], [*WEIGHTS.values(), 1 - sum(WEIGHTS.values())])[0]
            if name is not None:
                injected[name] += 1
                server.faults.append(FAILING[name][0]() if name in FAILING else RETRIED[name]())
            text = TEXT.format(batch * BATCH + len(conversations))
            conversations.append(await harness.say(rng.choice(members), text))
        await harness.wait_until_quiet(timeout=60)
        # Every utterance is either spoken (its member hears of nothing going wrong) or reported in specific words.
        for conversation in conversations:
            failures = [words for words in FAILURE_WORDS if any(words in text for text in conversation.texts)]
            assert len(failures) <= 1, conversation.texts
            assert failures or not any("wasn't spoken" in text for text in conversation.texts), conversation.texts
            outcomes[failures[0] if failures else "spoken"] += 1
        heard_frames += loud_frames(harness.voice.heard())
        # What the test rig records (requests, packets, replies) is dropped, so only the bot's memory is measured.
        harness.voice.packets.clear()
        server.requests.clear()
        harness.fake.conversations.clear()
        if batch == 0:
            baseline = resources()  # after a warm-up batch: pools, caches and the voice connection exist
            objects_baseline = live_objects()
    final = resources()
    objects_final = live_objects()

    for name, (_fault, words) in FAILING.items():
        assert outcomes[words] == injected[name], (name, outcomes)
    spoken = outcomes["spoken"]
    assert spoken == UTTERANCES - sum(injected[name] for name in FAILING)
    assert not server.faults  # every injected fault was met
    assert heard_frames >= spoken * 2 * 0.9  # the spoken ones were heard

    # Nothing piles up: memory, threads, sockets and tasks are where they were after the first batch.
    assert final["memory"] - baseline["memory"] < 10 * 1024 * 1024, (baseline, final)  # resident set size
    assert final["threads"] <= baseline["threads"] + 1, (baseline, final)
    assert final["sockets"] <= baseline["sockets"] + 2, (baseline, final)
    assert final["tasks"] <= baseline["tasks"] + 1, (baseline, final)
    assert server.in_flight == 0
    # Object by object: nothing made for an utterance outlives it (discord.py's voice client keeps its last
    # player and that player's source), and the garbage collector tracks no more objects than after the first
    # batch, give or take 1 %.
    kept_by_the_voice_client = {"AudioPlayer", "StreamingAudioSource"}  # its last player, finished
    for name in WATCHED_TYPES:
        assert objects_final[name] <= (1 if name in kept_by_the_voice_client else 0), objects_final
    assert objects_final["all"] < objects_baseline["all"] * 1.01, (objects_baseline, objects_final)
