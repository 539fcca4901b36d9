"""Soak: one server, three voice channels, members spread over them and moving, a linked text channel; a few hundred
operations at random: /say from every channel, posts that are read, edits (readable, or to start with the ignore
prefix) and deletes at any point, /skip and /stop, members moving. Every item (each /say and each post) is kept in a
ledger and, once everything is quiet, must have ended in exactly one way a member would understand:

* heard, in full, in the channel its member was told (for a post: where its author was), as last edited;
* refused, with a message to its member ("I'm speaking in <#ch> right now — join that channel, or wait until I'm
  done." while the bot is busy elsewhere);
* withdrawn by its delete, or by an edit that is not read (the ignore prefix, or its author has left the bot's
  channel): never heard, or cut off if it was being heard;
* dropped by /stop (a /say member is told "Someone used /stop, so your message wasn't spoken.") or /skip;
* cut off part-way by a /skip or /stop;
* (a post only) not read, its author not being where the bot was.

What was heard is told apart by each member's voice (each has its own tone) and by the pause the stand-in puts
before and after each text, as recorded speech has, and by discord.py's closing silence after each: one
stretch of speech is one text. The server has one queue, played in order, so the
stretches heard are some of the items in the order they were sent; the test finds the match that leaves the fewest
frames unexplained, and each skip or stop may account for no more items than it said it dropped.

The seed is random unless ``SOAK_CHANNELS_SEED`` is set; it is printed, and is in every failure message (which also
prints what happened around each item in question). Timing varies from run to run, so a seed replays the same
operations, not always the same interleaving.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import AsyncIterator

import pytest

from tests.asyncflow_server import FakeAsyncFlow
from tests.audio_checks import loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.soak_judge import FULL_TOLERANCE, STOPPED, STOPPED_REST, Judge
from tests.soak_ledger import MS_PER_CHAR, PAUSE_MS, frames_for
from tests.soak_operations import Soak

pytestmark = pytest.mark.soak

EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.members", "cogs.server_settings")

JOIN_LATENCY_S = 0.3
"""Discord's voice join takes about 0.8 s; 0.3 s here so that the bot's many moves fit the soak's time budget."""
REALTIME_FACTOR = 3.0
"""The stand-in streams three times faster than real time: the next text is downloading while one is heard, and
texts posted in a burst queue up behind it."""
CHANNEL_NOTICES_ALLOWED = {f"⚠️ {STOPPED}", f"⚠️ {STOPPED_REST}"}
"""What may be posted in the read channel: a read message dropped by /stop is told there (quietly, once a while)."""


@pytest.fixture
async def bot(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(speech_overrides={"queue_limit": 200}), EXTENSIONS)
    harness.fake.connect_latency = JOIN_LATENCY_S
    yield harness
    await harness.stop()


async def test_three_channels_with_edits_deletes_skips_and_moves_every_item_ends_one_clear_way(
    bot: BotHarness,
) -> None:
    seed = int(os.environ.get("SOAK_CHANNELS_SEED", random.randrange(1_000_000)))
    print(f"soak seed: {seed} (SOAK_CHANNELS_SEED={seed} to replay)", flush=True)  # noqa: T201
    bot.server.ms_per_char = MS_PER_CHAR
    bot.server.pause_ms = PAUSE_MS  # as recorded speech: a text cut off and the next are told apart by it
    bot.server.realtime_factor = REALTIME_FACTOR
    soak = Soak(bot, seed)
    await soak.setup()

    await soak.run()

    judge = Judge(soak)
    outcomes = judge.judge()
    fake = bot.fake
    said = [t for c in fake.conversations for t in c.texts] + [str(b.get("content", "")) for _, b in fake.channel_posts]
    if told := [t for t in said if "disconnected" in t]:
        judge.problems.append(f"members were told of a disconnect: {told}")
    if posts := [
        str(b.get("content", "")) for _, b in fake.channel_posts if b.get("content") not in CHANNEL_NOTICES_ALLOWED
    ]:
        judge.problems.append(f"posted in the read channel: {posts}")
    lags = sorted(judge.lags) or [0.0]
    summary = (
        f"seed {seed}: operations {soak.ledger.counts}, outcomes {outcomes}, cut off after "
        f"{lags[len(lags) // 2]:.3f} s (median), {lags[-1]:.3f} s (most)"
    )
    print(summary, flush=True)  # noqa: T201
    items = {item.tag: item.submitted for item in soak.ledger.items}
    around = {tag: items[tag] for problem in judge.problems for tag in re.findall(r"\bt\d{3}\b", problem)}
    around |= {
        at: float(at) for problem in judge.problems if "/skip" in problem for at in re.findall(r"\d+\.\d{3}", problem)
    }
    for what, at in sorted(around.items(), key=lambda pair: pair[1])[:6]:
        print(f"-- around {what}:", *judge.chronology(at - 2, at + 3), sep="\n")  # noqa: T201
    assert judge.problems == [], f"{summary}\n" + "\n".join(judge.problems[:30])
    bot.assert_no_missed_deadlines()

    # At the end the server is idle, and a /say from any channel is heard there.
    assert not bot.guild_is_busy(), seed
    for member, channel in zip(soak.anchors, soak.channels, strict=True):
        before = loud_frames(fake.heard_in(channel))
        reply = await bot.say(member, f"the last word in {channel}")
        await bot.wait_until_quiet(timeout=20)
        assert reply.texts == [f"🔊 Speaking in <#{channel}>."], (seed, reply.texts)
        transcript = next(t for t in reversed(bot.transcripts()) if f"the last word in {channel}" in t)
        heard = loud_frames(fake.heard_in(channel)) - before
        assert heard == pytest.approx(frames_for(transcript), abs=FULL_TOLERANCE), (seed, channel, heard, transcript)
    assert not bot.guild_is_busy(), seed
    assert bot.server.in_flight == 0, seed
    bot.assert_no_missed_deadlines()
