"""Members using the bot at the same time, with Discord's real timing: a voice join takes 0.8 s, events arrive
while handlers are still awaiting, interactions have 3 seconds.

Every check is on what members would notice: the audio that reached each voice channel (decoded, told apart by
each voice's tone), what each member was told, what AsyncFlow was asked to speak. Every "not spoken" check comes
after the bot's event handlers have finished (``wait_until_quiet``).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import numpy as np
import pytest

from cogs.engine.audio.source import StreamingAudioSource
from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, tone_for
from tests.audio_checks import frames_in_tone, loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import RecordingVoiceClient

pytestmark = pytest.mark.races

EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.members", "cogs.server_settings")
JOIN_LATENCY_S = 0.8
"""Discord's voice join, about 0.8 s."""
MS_PER_CHAR = 25.0
"""The stand-in speaks twice as fast as its default here: the same races, half the listening."""

BotFactory = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
async def make_bot(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotFactory]:
    """A bot with every extension, joins taking 0.8 s. Tests check the interaction deadlines themselves (in the
    test, so that an expected failure covers them)."""
    started: list[BotHarness] = []

    async def make(**settings: Any) -> BotHarness:
        harness = await BotHarness.create(asyncflow, make_settings(**settings), EXTENSIONS)
        harness.fake.connect_latency = JOIN_LATENCY_S
        harness.server.ms_per_char = MS_PER_CHAR
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await harness.stop(check_deadlines=False)


@pytest.fixture
async def bot(make_bot: BotFactory) -> BotHarness:
    return await make_bot()


# -- what members notice ----------------------------------------------------------------------------------------


def spoken_frames(transcript: str) -> float:
    """20 ms frames the stand-in speaks for ``transcript``."""
    return len(transcript) * MS_PER_CHAR / 20


def everything_said(bot: BotHarness) -> list[str]:
    """Every reply to a command and every notice posted in a channel, in no particular order."""
    replies = [text for conversation in bot.fake.conversations for text in conversation.texts]
    return replies + [str(body.get("content", "")) for _channel, body in bot.fake.channel_posts]


def nobody_was_told(bot: BotHarness, needle: str) -> None:
    told = [text for text in everything_said(bot) if needle in text]
    assert told == [], told


def frames_heard(bot: BotHarness, channel_id: int, voice_id: str | None = None) -> int:
    """Loud 20 ms frames heard in a voice channel (in one voice, if given)."""
    heard = bot.fake.heard_in(channel_id)
    return loud_frames(heard) if voice_id is None else frames_in_tone(heard, tone_for(voice_id))


def answered_in_time(bot: BotHarness) -> None:
    bot.assert_no_missed_deadlines()


def speaking_in(channel_id: int) -> str:
    return f"🔊 Speaking in <#{channel_id}>."


def busy_in(channel_id: int) -> str:
    return f"I'm speaking in <#{channel_id}> right now — join that channel, or wait until I'm done."


async def until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def requested(bot: BotHarness, fragment: str) -> bool:
    """AsyncFlow was asked to speak a transcript containing ``fragment``."""
    return any(fragment in transcript for transcript in bot.transcripts())


def members(bot: BotHarness, *names: str, channel: str = "lounge") -> list[int]:
    channel_id = bot.fake.voice_channel_id if channel == "lounge" else bot.fake.other_voice_channel_id
    ids = [bot.fake.add_member(name, voice_channel_id=channel_id) for name in names]
    bot.fake.build_guild()
    return ids


async def link(bot: BotHarness, admin: int) -> None:
    assert (await bot.command(admin, "link"))[0].startswith("I'll read messages posted in")


async def give_voice(bot: BotHarness, member_id: int, voice_index: int) -> str:
    """The member's own voice (each voice has its own tone, so its frames can be counted)."""
    voice_id = bot.server.voices[voice_index].voice_id
    await bot.live_engine.preferences.update_member(member_id, voice_id=voice_id)
    return voice_id


# -- 1, 2: two channels ------------------------------------------------------------------------------------------


async def test_two_channels_at_once_one_member_is_spoken_for_and_the_other_told_where_the_bot_is(
    bot: BotHarness,
) -> None:
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    (bob,) = members(bot, "Bob", channel="gaming")
    texts = {alice: "Alice speaks in the lounge", bob: "Bob speaks over in gaming"}
    names = {alice: "Alice", bob: "Bob"}
    channels = {alice: fake.voice_channel_id, bob: fake.other_voice_channel_id}

    replies = await asyncio.gather(bot.say(alice, texts[alice]), bot.say(bob, texts[bob]))
    await bot.wait_until_quiet(timeout=20)

    by_member = dict(zip((alice, bob), replies, strict=True))
    winners = [m for m, reply in by_member.items() if any(t.startswith("🔊 Speaking in") for t in reply.texts)]
    assert len(winners) == 1, {m: r.texts for m, r in by_member.items()}
    (winner,) = winners
    (loser,) = {alice, bob} - {winner}
    where = channels[winner]
    assert fake.bot_voice_channel_id == where
    assert by_member[winner].texts == [speaking_in(where)]
    assert by_member[loser].texts == [busy_in(where)]
    nobody_was_told(bot, "disconnected")
    assert frames_heard(bot, where) == pytest.approx(spoken_frames(f"{names[winner]} said, {texts[winner]}"), abs=2)
    assert frames_heard(bot, channels[loser]) == 0
    assert not requested(bot, texts[loser])
    answered_in_time(bot)


async def test_an_idle_bot_moves_to_the_member_who_asks_and_nobody_hears_of_a_disconnect(bot: BotHarness) -> None:
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    (bob,) = members(bot, "Bob", channel="gaming")
    first = await bot.say(alice, "Alice first")
    await bot.wait_until_quiet()
    assert first.texts == [speaking_in(fake.voice_channel_id)]

    text = "Bob is heard in gaming"
    reply = await bot.say(bob, text)
    await bot.wait_until_quiet(timeout=20)

    assert reply.texts == [speaking_in(fake.other_voice_channel_id)]
    assert first.texts == [speaking_in(fake.voice_channel_id)]
    nobody_was_told(bot, "disconnected")
    assert fake.bot_voice_channel_id == fake.other_voice_channel_id
    heard_in_gaming = frames_heard(bot, fake.other_voice_channel_id)
    assert heard_in_gaming == pytest.approx(spoken_frames(f"Bob said, {text}"), abs=2)
    assert frames_heard(bot, fake.voice_channel_id) == pytest.approx(spoken_frames("Alice said, Alice first"), abs=2)
    answered_in_time(bot)


# -- 3, 4, 5: a read message changes while on its way -----------------------------------------------------------


async def test_a_message_deleted_while_the_bot_joins_to_read_it_is_never_spoken(bot: BotHarness) -> None:
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    await link(bot, alice)

    message = fake.post(alice, "Delete me before you say me")
    await until(lambda: fake.guild.voice_client is not None, what="the join to start")
    voice = fake.voice_client
    assert voice is not None and not voice.is_connected()
    fake.delete(message)
    await bot.wait_until_quiet(timeout=20)

    # The download starts alongside the join (first audio sooner), so its request may already have left: it is
    # closed at once, and nothing is heard.
    assert all(
        r.json and r.json["transcript"] == "Alice said, Delete me before you say me" for r in bot.server.tts_requests
    )
    assert bot.server.in_flight == 0
    assert fake.channels_with_speech() == set()
    answered_in_time(bot)


LONG = "this long message keeps the bot busy for a good while"  # 1.3 s, "Carol said, " included: 1.6 s
FILLER = "a short one in between"
TARGET = "teh typo in this message"
EDITED = "the fix is in"
UNREADABLE = "!the fix is in"  # the default ignore prefix: not to be read


async def test_a_queued_message_edited_to_start_with_the_ignore_prefix_is_not_read(bot: BotHarness) -> None:
    fake = bot.fake
    alice, bob, carol, dave = members(bot, "Alice", "Bob", "Carol", "Dave")
    await link(bot, alice)
    alice_voice, carol_voice = await give_voice(bot, alice, 1), await give_voice(bot, carol, 15)
    await give_voice(bot, bob, 8)
    await bot.say(dave, "hi")
    await bot.wait_until_quiet()

    fake.post(carol, LONG)
    fake.post(bob, FILLER)
    target = fake.post(alice, TARGET)
    await until(lambda: frames_heard(bot, fake.voice_channel_id, carol_voice) > 10, what="Carol to be heard")
    await until(lambda: requested(bot, FILLER), what="the filler to be prefetched")
    fake.edit(alice, target, UNREADABLE)
    await bot.wait_until_quiet(timeout=20)

    assert not requested(bot, TARGET) and not requested(bot, EDITED)
    assert frames_heard(bot, fake.voice_channel_id, alice_voice) == 0
    assert frames_heard(bot, fake.voice_channel_id, carol_voice) == pytest.approx(
        spoken_frames(f"Carol said, {LONG}"), abs=3
    )
    answered_in_time(bot)


STAGES = ("checks", "joining", "queued", "prefetched", "playing")
ACTIONS = ("delete", "edit", "edit-unreadable")


def stage_cases() -> list[Any]:
    cases = []
    for stage in STAGES:
        for action in ACTIONS:
            if (stage, action) == ("playing", "edit"):
                continue  # a readable edit of what is being spoken: no behaviour asked for
            cases.append(pytest.param(stage, action, id=f"{action}-while-{stage}"))
    return cases


class SlowStore:
    """Makes the preferences store slow (``seconds`` a look-up), and tells when the first look-up began."""

    def __init__(self, bot: BotHarness, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
        self.entered = asyncio.Event()
        preferences = bot.live_engine.preferences
        for name in ("guild", "member"):
            monkeypatch.setattr(preferences, name, self._slowed(getattr(preferences, name), seconds))

    def _slowed(self, lookup: Callable[[int], Awaitable[Any]], seconds: float) -> Callable[[int], Awaitable[Any]]:
        async def slow(key: int) -> Any:
            self.entered.set()
            await asyncio.sleep(seconds)
            return await lookup(key)

        return slow


@pytest.mark.parametrize(("stage", "action"), stage_cases())
async def test_a_read_message_deleted_or_edited_at_each_stage(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch, stage: str, action: str
) -> None:
    """Deleted: never heard (cut off if it was being spoken). Edited: spoken as edited, or not at all if the edit
    makes it unreadable."""
    fake = bot.fake
    lounge = fake.voice_channel_id
    alice, bob, carol, dave = members(bot, "Alice", "Bob", "Carol", "Dave")
    await link(bot, alice)
    alice_voice, bob_voice, carol_voice = (
        await give_voice(bot, alice, 1),
        await give_voice(bot, bob, 8),
        await give_voice(bot, carol, 15),
    )
    if stage != "joining":
        await bot.say(dave, "hi")  # the bot is in the lounge, idle
        await bot.wait_until_quiet()
    slow = SlowStore(bot, monkeypatch, 0.3) if stage == "checks" else None

    text = LONG if stage == "playing" else TARGET
    if stage in ("queued", "prefetched"):
        fake.post(carol, LONG)
    if stage == "queued":
        fake.post(bob, FILLER)
    target = fake.post(alice, text)
    if slow is not None:
        await slow.entered.wait()
    elif stage == "joining":
        await until(lambda: fake.guild.voice_client is not None, what="the join to start")
        assert not any(v.is_connected() for v in fake.voice_clients)
    elif stage == "queued":
        await until(lambda: frames_heard(bot, lounge, carol_voice) > 10, what="Carol to be heard")
        await until(lambda: requested(bot, FILLER), what="the message behind Carol's to be prefetched")
    elif stage == "prefetched":
        await until(lambda: frames_heard(bot, lounge, carol_voice) > 10, what="Carol to be heard")
        await until(lambda: requested(bot, TARGET), what="Alice's message to be prefetched")
    else:
        await until(lambda: frames_heard(bot, lounge, alice_voice) > 25, what="Alice's message to be heard")

    if action == "delete":
        fake.delete(target)
    else:
        fake.edit(alice, target, EDITED if action == "edit" else UNREADABLE)
    await bot.wait_until_quiet(timeout=20)

    alice_heard = frames_heard(bot, lounge, alice_voice)
    never_sent = stage in ("checks", "queued")  # while joining, the download has started alongside the join
    if action == "edit":
        assert f"Alice said, {EDITED}" in bot.transcripts()
        assert alice_heard == pytest.approx(spoken_frames(f"Alice said, {EDITED}"), abs=3)
    elif stage == "playing":
        assert 25 <= alice_heard < spoken_frames(f"Alice said, {text}") - 25  # cut off
    else:
        assert alice_heard == 0
        assert not requested(bot, EDITED)
    if never_sent:
        assert not requested(bot, text)
    assert bot.server.in_flight == 0  # whatever was abandoned was closed
    if stage in ("queued", "prefetched"):
        assert frames_heard(bot, lounge, carol_voice) == pytest.approx(spoken_frames(f"Carol said, {LONG}"), abs=3)
    if stage == "queued":
        assert frames_heard(bot, lounge, bob_voice) == pytest.approx(spoken_frames(f"Bob said, {FILLER}"), abs=3)
    answered_in_time(bot)


# -- 6: the daily budget ----------------------------------------------------------------------------------------


async def test_an_edit_during_the_join_wins_even_when_judging_it_outlasts_the_join(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit arrives while the bot joins, but the store is so slow that the join completes while the edit is
    still being judged: the message must not start with its old text meanwhile."""
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    await link(bot, alice)
    alice_voice = await give_voice(bot, alice, 1)
    target = fake.post(alice, TARGET)
    await until(lambda: fake.guild.voice_client is not None, what="the join to start")
    SlowStore(bot, monkeypatch, JOIN_LATENCY_S * 2)  # judging the edit outlasts the rest of the join

    fake.edit(alice, target, EDITED)
    await bot.wait_until_quiet(timeout=20)

    heard = frames_heard(bot, fake.voice_channel_id, alice_voice)
    assert heard == pytest.approx(spoken_frames(f"Alice said, {EDITED}"), abs=3)  # the edit only, in full
    assert bot.transcripts()[-1] == f"Alice said, {EDITED}"
    answered_in_time(bot)


async def test_an_edit_of_a_prefetched_message_is_counted_against_the_daily_budget(make_bot: BotFactory) -> None:
    bot = await make_bot(limits_overrides={"server_daily_characters": 1000})
    fake = bot.fake
    alice, carol, dave = members(bot, "Alice", "Carol", "Dave")
    await link(bot, alice)
    await give_voice(bot, carol, 15)
    await bot.say(dave, "hi")
    await bot.wait_until_quiet()

    fake.post(carol, LONG)
    target = fake.post(alice, TARGET)
    await until(lambda: requested(bot, TARGET), what="Alice's message to be prefetched")
    fake.edit(alice, target, "the fixed text of this message, which is a little longer")
    await bot.wait_until_quiet(timeout=20)

    sent = sum(len(transcript) for transcript in bot.transcripts())
    counted = await bot.live_engine.limits.used_today(fake.guild_id)
    assert sent <= counted, (bot.transcripts(), counted)
    answered_in_time(bot)


# -- 7: a cached phrase during a join ---------------------------------------------------------------------------


async def test_a_cached_phrase_said_while_the_bot_joins_is_heard_in_full_from_memory(bot: BotHarness) -> None:
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    await bot.live_engine.preferences.update_guild(fake.guild_id, announce_author=False)  # the phrase alone
    for _ in range(3):  # downloaded twice (kept the second time), then played from memory
        await bot.say(alice, "good game")
        await bot.wait_until_quiet()
    assert bot.transcripts() == ["good game"] * 2
    assert (await bot.command(alice, "leave")) == ["👋 Left the voice channel."]
    await bot.wait_until_quiet()
    assert fake.guild.voice_client is None
    heard_before = frames_heard(bot, fake.voice_channel_id)

    reply = await bot.say(alice, "good game")
    await bot.wait_until_quiet()

    assert reply.texts == [speaking_in(fake.voice_channel_id)]
    assert fake.bot_voice_channel_id == fake.voice_channel_id
    assert frames_heard(bot, fake.voice_channel_id) - heard_before == pytest.approx(spoken_frames("good game"), abs=2)
    assert bot.transcripts() == ["good game"] * 2  # no request for it
    answered_in_time(bot)


# -- 8: an edit racing the end of the item before it -------------------------------------------------------------


EDIT_TIMINGS: tuple[tuple[str, float], ...] = (
    *(("turns after", turns) for turns in (0, 1, 2, 3, 4, 6, 8)),
    *(("s before", seconds) for seconds in (0.005, 0.002)),
)
"""When the edit comes: that many event-loop turns after the message before it ended (the edit is scheduled on the
loop as the server's stream lets go of that message's source, just before the queue hears of its end), or that
many seconds before its predicted end."""
TIMING_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def after_turns(turns: int, action: Callable[[], None]) -> None:
    """Run ``action`` once the event loop has gone round ``turns`` more times."""
    if turns <= 0:
        action()
    else:
        asyncio.get_running_loop().call_soon(after_turns, turns - 1, action)


async def test_an_edit_as_the_item_before_it_ends_never_leaves_the_guild_stuck(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = bot.fake
    loop = asyncio.get_running_loop()
    on_played_to_end: list[Callable[[], None]] = []
    """A one-shot hook: run on the loop when the next source played to its end is let go of (in the player thread)."""
    cleanup = StreamingAudioSource.cleanup

    def cleanup_and_hook(source: StreamingAudioSource) -> None:
        cleanup(source)
        if source.played_to_end and on_played_to_end:
            loop.call_soon_threadsafe(on_played_to_end.pop())

    monkeypatch.setattr(StreamingAudioSource, "cleanup", cleanup_and_hook)
    alice, carol, dave = members(bot, "Alice", "Carol", "Dave")
    (bob,) = members(bot, "Bob", channel="gaming")
    await link(bot, alice)
    await give_voice(bot, alice, 1)
    await give_voice(bot, carol, 15)
    await bot.say(dave, "hi")
    await bot.wait_until_quiet()
    voice = fake.voice_client
    assert voice is not None
    stuck: list[tuple[str, float]] = []

    for word, (kind, amount) in zip(TIMING_NAMES, EDIT_TIMINGS, strict=True):
        before = len(voice.packets)
        first = f"first {word}"
        fake.post(carol, first)
        target = fake.post(alice, "the second message, edited in a moment")

        def edit(target: int = target, word: str = word) -> None:
            fake.edit(alice, target, f"second, edited {word}")

        await until(lambda: voice.speech_packets()[before:] != [], what="the first message to be heard")  # noqa: B023
        if kind == "turns after":
            on_played_to_end.append(functools.partial(after_turns, int(amount), edit))
        else:
            started = next(t for t, encoded, _ in voice.packets[before:] if encoded)
            transcript = next(t for t in bot.transcripts() if first in t)
            # discord.py's player: the first frame at once, the next 40 ms later, then one every 20 ms; the read
            # after the last frame ends the source.
            ends = started + 0.02 * (math.ceil(spoken_frames(transcript)) + 1)
            await asyncio.sleep(max(0.0, ends - amount - time.perf_counter()))
            edit()
        try:
            await bot.wait_until_quiet(timeout=3)  # the edited message takes about a second
        except TimeoutError:
            stuck.append((kind, amount))
            break

    assert stuck == [], f"still 'active' with nothing playing after an edit at {stuck} the end of the message before"
    assert not bot.guild_is_busy()
    reply = await bot.say(bob, "Bob over in gaming")
    await bot.wait_until_quiet(timeout=20)
    assert reply.texts == [speaking_in(fake.other_voice_channel_id)]
    heard = frames_heard(bot, fake.other_voice_channel_id)
    assert heard == pytest.approx(spoken_frames("Bob said, Bob over in gaming"), abs=2)
    answered_in_time(bot)


# -- 9, 10, 11: /say goes the same road as reading ---------------------------------------------------------------


async def test_say_text_is_cleaned_like_a_read_message(bot: BotHarness) -> None:
    alice, bobby = members(bot, "Alice", "Bobby")

    await bot.say(alice, f"<@{bobby}> look at https://example.com/a/b?c=d <:pepe:123456789012345678> **bold** 😂")
    await bot.wait_until_quiet()

    assert bot.transcripts() == ["Alice said, Bobby look at a link to example.com pepe bold face with tears of joy"]
    answered_in_time(bot)


async def test_the_announcer_covers_say(bot: BotHarness) -> None:
    fake = bot.fake
    alice, bob = members(bot, "Alice", "Bob")
    await link(bot, alice)

    fake.post(alice, "first")
    await bot.wait_until_quiet()
    await bot.say(bob, "hello there")
    await bot.wait_until_quiet()
    fake.post(alice, "second")
    await bot.wait_until_quiet()
    await bot.say(bob, "one")
    await bot.wait_until_quiet()
    await bot.say(bob, "two")
    await bot.wait_until_quiet()

    assert bot.transcripts() == [
        "Alice said, first",
        "Bob said, hello there",
        "Alice said, second",
        "Bob said, one",
        "two",  # the same speaker again within the announce window
    ]
    answered_in_time(bot)


async def test_say_with_an_unknown_voice_is_refused_and_costs_nothing(bot: BotHarness) -> None:
    (alice,) = members(bot, "Alice")

    reply = await bot.say(alice, "hello", voice="no-such-voice")
    await bot.wait_until_quiet()

    assert reply.texts == ["I don't know that voice — pick one from the list as you type."]
    assert bot.server.tts_requests == []
    answered_in_time(bot)


async def test_say_with_a_voice_where_the_server_voice_is_the_rule_is_refused(bot: BotHarness) -> None:
    (alice,) = members(bot, "Alice")
    assert await bot.command(alice, "set", {"setting": "member-voices", "value": "off"}) == [
        "`member-voices` is now off."
    ]

    reply = await bot.say(alice, "hello", voice=bot.server.voices[3].voice_id)
    await bot.wait_until_quiet()

    assert reply.texts == ["This server has everyone use the server voice, so `voice:` can't be picked here."]
    assert bot.server.tts_requests == []
    answered_in_time(bot)


# -- 12: a good guest --------------------------------------------------------------------------------------------


class Music(discord.AudioSource):
    """The host bot's music: a 1 kHz tone, ``seconds`` long."""

    def __init__(self, seconds: float) -> None:
        t = np.arange(960) / 48_000
        self._frame = np.repeat((np.sin(2 * np.pi * 1000 * t) * 12_000).astype("<i2"), 2).tobytes()
        self._left = int(seconds * 50)
        self.cleaned_up = False

    def read(self) -> bytes:
        if self._left <= 0:
            return b""
        self._left -= 1
        return self._frame

    def cleanup(self) -> None:
        self.cleaned_up = True


async def test_the_host_bots_music_is_left_alone(bot: BotHarness) -> None:
    fake = bot.fake
    alice, bob = members(bot, "Alice", "Bob")
    lounge = fake.guild.get_channel(fake.voice_channel_id)
    assert isinstance(lounge, discord.VoiceChannel)
    host = await lounge.connect(cls=RecordingVoiceClient)  # the host bot's music player, not ours
    host.host_owned = True
    music = Music(seconds=30)
    host.play(music)

    def music_plays_on() -> None:
        assert fake.guild.voice_client is host
        assert host.is_connected() and host.is_playing() and host.source is music and not music.cleaned_up
        assert host.channel.id == fake.voice_channel_id

    reply = await bot.say(alice, "hello")
    await bot.wait_until_quiet()
    assert reply.texts == [
        "Something else is using my voice connection in this server right now (music, perhaps) — "
        "try again when it's done."
    ]
    music_plays_on()
    await bot.command(alice, "stop")
    await bot.command(alice, "leave")
    await bot.wait_until_quiet()
    music_plays_on()
    for member in (alice, bob):  # the humans leave: the alone-timer is not ours to run here
        bot.bot.dispatch("voice_state_update", *fake.move_member(member, None))
    await asyncio.sleep(0.3)
    await bot.wait_until_quiet()
    music_plays_on()
    assert bot.server.tts_requests == []
    assert frames_in_tone(host.heard(), tone_for(DEMO_VOICE_ID)) == 0  # no speech over the music
    host.stop()
    answered_in_time(bot)


# -- 13: /settings with a slow voice list ------------------------------------------------------------------------


async def test_settings_answer_within_three_seconds_when_the_voice_list_is_slow(bot: BotHarness) -> None:
    fake = bot.fake
    (alice,) = members(bot, "Alice")
    preferences = bot.live_engine.preferences
    await preferences.update_guild(fake.guild_id, default_voice=bot.server.voices[3].voice_id)
    await preferences.update_member(alice, voice_id=bot.server.voices[4].voice_id)
    bot.server.voices_delay = 5.0

    command = asyncio.create_task(fake.run_command(alice, "settings"))
    try:
        await until(lambda: bool(fake.conversations and fake.conversations[-1].sent), timeout=3.2, what="an answer")
        answered_in_time(bot)
    finally:
        command.cancel()
        await asyncio.gather(command, return_exceptions=True)


# -- 14: away and back (found by tests/test_soak_channels.py, seed 606) ----------------------------------------------


async def test_the_bot_moving_away_and_straight_back_is_not_told_as_a_disconnect(bot: BotHarness) -> None:
    """Idle in the lounge, the bot moves to gaming to read Bob's message; Bob deletes it during the join, and Alice's
    /say from the lounge (waiting its turn behind the join) brings the bot straight back. Discord's event for the
    bot's first leaving of the lounge is handled only then: it is old news (the bot is in the lounge again), not
    a disconnect."""
    fake = bot.fake
    lounge = fake.voice_channel_id
    (alice,) = members(bot, "Alice")
    (bob,) = members(bot, "Bob", channel="gaming")
    await link(bot, alice)
    await bot.say(alice, "hi")
    await bot.wait_until_quiet()
    first = fake.voice_client

    message = fake.post(bob, "Bob's message, deleted while the bot joins gaming")
    say = asyncio.create_task(bot.say(alice, "Alice is heard in the lounge"))  # its turn comes after the join
    await until(lambda: fake.voice_client not in (None, first), what="the join to gaming to start")
    fake.delete(message)
    reply = await say
    await bot.wait_until_quiet(timeout=20)

    assert reply.texts == [speaking_in(lounge)]
    nobody_was_told(bot, "disconnected")
    assert fake.bot_voice_channel_id == lounge
    transcript = next(t for t in bot.transcripts() if "Alice is heard in the lounge" in t)
    heard = frames_heard(bot, lounge) - spoken_frames("Alice said, hi")
    assert heard == pytest.approx(spoken_frames(transcript), abs=3)
    answered_in_time(bot)
