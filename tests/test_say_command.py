"""/say end to end: slash command through discord.py's real CommandTree, audio through the real AudioPlayer
and libopus, from the AsyncFlow stand-in on 127.0.0.1. Assertions are on what members see and hear."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import numpy as np
import pytest

from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import FRAME, dominant_hz, loud_frames
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation, RecordingVoiceClient


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), ["cogs.speech"], announce_author=False)
    yield harness
    await harness.stop()


async def test_say_speaks_the_text_in_the_members_voice_channel(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()

    reply = await harness.say(alice, "Hello everyone")
    await harness.wait_until_quiet()

    assert reply.sent[0].kind == "defer"
    assert reply.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]
    assert harness.voice.channel.id == harness.fake.voice_channel_id
    heard = harness.voice.heard()
    assert dominant_hz(heard) == pytest.approx(tone_for(DEMO_VOICE_ID), abs=3)
    assert loud_frames(heard) == pytest.approx(len("Hello everyone") * 50 / 20, abs=2)  # 0.7 s of speech
    assert all(len(p) < 1000 for p in harness.voice.speech_packets())  # Opus packets, not raw PCM
    request = harness.server.tts_requests[-1].json
    assert request is not None and request["transcript"] == "Hello everyone"
    assert request["output_format"] == {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 48000}
    every_message_is_private_and_pings_nobody(harness)


async def test_the_voice_option_picks_the_voice_that_is_heard(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    other = harness.server.voices[5].voice_id

    await harness.say(alice, "Different voice", voice=other)
    await harness.wait_until_quiet()

    assert harness.server.tts_requests[-1].json["voice"] == {"mode": "id", "id": other}  # type: ignore[index]
    assert dominant_hz(harness.voice.heard()) == pytest.approx(tone_for(other), abs=3)


async def test_say_while_speaking_queues_and_the_next_text_follows_without_a_gap(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.first_byte_delay = 0.3  # synthesis latency: a gap would show if B were fetched only after A
    second_voice = harness.server.voices[7].voice_id

    await harness.say(alice, "First message here")
    reply = await harness.say(bob, "Second one", voice=second_voice)
    await harness.wait_until_quiet()

    assert reply.texts == [f"Queued in <#{harness.fake.voice_channel_id}> — 1 message ahead of yours."]
    packets = harness.voice.packets
    speech_times = [t for t, encoded, _ in packets if encoded]
    gaps = np.diff(speech_times)
    # Downloaded while the first was spoken: fetched only after it, the gap would be over 0.35 s (0.3 s to first
    # byte, the prebuffer, the player's start); 0.25 s leaves room for a thread woken late on a busy machine.
    assert gaps.max() < 0.25
    heard = harness.voice.heard()
    first, second = heard[: len(heard) // 2], heard[-FRAME * 10 :]
    assert dominant_hz(first) == pytest.approx(tone_for(DEMO_VOICE_ID), abs=3)
    assert dominant_hz(second) == pytest.approx(tone_for(second_voice), abs=3)


async def test_skip_cuts_the_current_text_and_the_queue_goes_on(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    second_voice = harness.server.voices[2].voice_id

    await harness.say(alice, "This is a long message that nobody wants to hear to the very end, really")
    await harness.say(alice, "Next", voice=second_voice)
    await harness.wait_until_speaking()
    await asyncio.sleep(0.2)
    reply = await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()

    assert reply.texts == ["⏭️ Skipped."]
    heard = harness.voice.heard()
    assert loud_frames(heard) < 40 + 10  # far less than the 3.6 s of the long text
    assert dominant_hz(heard[-FRAME * 8 :]) == pytest.approx(tone_for(second_voice), abs=3)
    await asyncio.sleep(0.1)
    assert harness.server.in_flight == 0  # the skipped download was closed


async def test_skip_before_the_first_audio_arrives_cancels_the_download(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.first_byte_delay = 1.0

    await harness.say(alice, "Slow to synthesise")
    reply = await harness.fake.run_command(alice, "skip")
    await harness.wait_until_quiet()

    assert reply.texts == ["⏭️ Skipped."]
    assert harness.voice.speech_packets() == []
    await asyncio.sleep(0.1)
    assert harness.server.in_flight == 0


async def test_stop_clears_the_queue_and_silences_the_bot(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()

    for text in ("One long message to be stopped part of the way through", "two", "three"):
        await harness.say(alice, text)
    await harness.wait_until_speaking()
    reply = await harness.fake.run_command(alice, "stop")
    await harness.wait_until_quiet()
    packets_after_stop = len(harness.voice.speech_packets())
    await asyncio.sleep(0.2)

    assert reply.texts == ["⏹️ Stopped and cleared 3 messages."]
    assert len(harness.voice.speech_packets()) == packets_after_stop
    assert loud_frames(harness.voice.heard()) < 50
    assert harness.server.in_flight == 0


async def test_say_right_after_stop_is_spoken_next_and_says_so(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    await harness.say(alice, "One long message to be stopped part of the way through")
    await harness.wait_until_speaking()

    await harness.fake.run_command(alice, "stop")
    again = await harness.say(alice, "Right after")  # before the stopped item has quite ended
    await harness.wait_until_quiet()

    assert again.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]  # not "1 message ahead"
    assert harness.transcripts()[-1] == "Right after"


async def test_leave_disconnects(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    await harness.say(alice, "Hi")
    await harness.wait_until_quiet()

    reply = await harness.fake.run_command(alice, "leave")

    assert reply.texts == ["👋 Left the voice channel."]
    assert harness.fake.guild.voice_client is None


async def test_stop_tells_the_others_whose_messages_were_dropped(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    await harness.say(alice, "A long first message that will be stopped before its end")
    bobs = await harness.say(bob, "Bob's queued message")
    await harness.wait_until_speaking()

    stopper = await harness.fake.run_command(alice, "stop")

    assert stopper.texts == ["⏹️ Stopped and cleared 2 messages."]
    assert "Someone used /stop, so your message wasn't spoken." in bobs.texts
    assert not any("Someone used" in text for text in harness.fake.conversations[0].texts)  # Alice knows


async def test_stop_tells_a_member_part_way_through_their_message_that_the_rest_wasnt_spoken(
    harness: BotHarness,
) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    carol = harness.fake.add_member("Carol", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    alices = await harness.say(alice, "A long first message that Bob stops while it is being heard")
    carols = await harness.say(carol, "Carol's queued message")
    await harness.wait_until_speaking()

    stopper = await harness.fake.run_command(bob, "stop")

    assert stopper.texts == ["⏹️ Stopped and cleared 2 messages."]
    await alices.wait_for("Someone used /stop, so the rest of your message wasn't spoken.")
    await carols.wait_for("Someone used /stop, so your message wasn't spoken.")
    assert 0 < loud_frames(harness.voice.heard()) < len("A long first message that Bob stops") * 50 / 20


async def test_a_disconnect_from_outside_clears_the_queue_tells_members_and_say_works_again(
    harness: BotHarness,
) -> None:
    from tests.discord_fakes import BOT_ID

    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    first = await harness.say(alice, "A long message that is cut off when a moderator disconnects the bot")
    second = await harness.say(bob, "Queued behind it")
    await harness.wait_until_speaking()

    await harness.voice.disconnect()  # what discord.py does when Discord drops the bot from the channel
    member, before, after = harness.fake.move_member(BOT_ID, None)
    harness.bot.dispatch("voice_state_update", member, before, after)
    await first.wait_for("I was disconnected from the voice channel")
    await second.wait_for("I was disconnected from the voice channel")
    await harness.wait_until_quiet()

    again = await harness.say(bob, "Back again")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Back again") * 50 / 20, abs=2)


async def test_a_voice_connection_that_drops_for_good_is_reported_to_every_waiting_member(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    first = await harness.say(alice, "A long message spoken while the voice connection breaks down")
    second = await harness.say(bob, "Queued behind it")
    await harness.wait_until_speaking()

    harness.voice.drop_connection()  # discord.py waits `timeout` for a reconnect, then ends playback quietly

    await first.wait_for("I was disconnected from the voice channel, so the rest of your message wasn't spoken.")
    await second.wait_for("I'm not connected to a voice channel any more, so your message wasn't spoken.")


async def test_a_voice_connection_that_comes_back_in_time_loses_nothing(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    text = "Spoken across a short drop of the voice connection"
    reply = await harness.say(alice, text)
    await harness.wait_until_speaking()
    await asyncio.sleep(0.2)

    harness.voice.drop_connection()
    await asyncio.sleep(0.3)  # shorter than the voice client's reconnect timeout
    sent_while_down = len(harness.voice.packets)
    await asyncio.sleep(0.1)
    assert len(harness.voice.packets) == sent_while_down  # nothing is sent into a broken connection
    harness.voice.restore_connection()
    await harness.wait_until_quiet()

    assert loud_frames(harness.voice.heard()) == pytest.approx(len(text) * 50 / 20, abs=2)  # every frame
    assert reply.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]
    again = await harness.say(alice, "And again")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]


async def test_moved_to_an_empty_channel_the_bot_leaves_and_tells_those_waiting(harness: BotHarness) -> None:
    from tests.discord_fakes import BOT_ID

    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    await harness.say(alice, "A long message that a moderator interrupts by moving the bot away")
    queued = await harness.say(bob, "Queued behind it")
    await harness.wait_until_speaking()
    harness.fake.move_member(BOT_ID, harness.fake.voice_channel_id)  # the gateway's record of where the bot is

    member, before, after = harness.fake.move_member(BOT_ID, harness.fake.other_voice_channel_id)
    harness.bot.dispatch("voice_state_update", member, before, after)

    await queued.wait_for("Nobody was left in my voice channel, so I left and your message wasn't spoken.")
    async with asyncio.timeout(2):
        while harness.fake.guild.voice_client is not None:
            await asyncio.sleep(0.02)
    assert harness.server.in_flight == 0
    again = await harness.say(alice, "Back")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]


async def _speaking_with_one_queued(harness: BotHarness) -> tuple[int, Conversation, Conversation]:
    """Alice's long text is playing and Bob's waits behind it; the gateway knows the bot is in the Lounge."""
    from tests.discord_fakes import BOT_ID

    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    first = await harness.say(alice, "A long message that is cut off by what happens to the voice channel")
    second = await harness.say(bob, "Queued behind it")
    await harness.wait_until_speaking()
    harness.fake.move_member(BOT_ID, harness.fake.voice_channel_id)
    return alice, first, second


async def _voice_goes_quiet(voice: RecordingVoiceClient) -> int:
    """Waits until no more packets are sent; returns how many were sent in all."""
    async with asyncio.timeout(3):
        while True:
            sent = len(voice.packets)
            await asyncio.sleep(0.2)
            if len(voice.packets) == sent:
                return sent


async def test_deleting_the_bots_voice_channel_stops_it_tells_everyone_and_say_works_elsewhere(
    harness: BotHarness,
) -> None:
    from tests.discord_fakes import BOT_ID

    fake = harness.fake
    alice, first, second = await _speaking_with_one_queued(harness)
    voice = harness.voice

    fake.delete_channel(fake.voice_channel_id)
    deleted = "My voice channel was deleted, so your message wasn't spoken."
    cut_off = "My voice channel was deleted, so the rest of your message wasn't spoken."  # Alice heard its start
    await first.wait_for(cut_off)
    await second.wait_for(deleted)
    # Discord then also reports the bot's voice state as gone: nobody is told twice.
    member, before, after = fake.move_member(BOT_ID, None)
    harness.bot.dispatch("voice_state_update", member, before, after)
    await harness.wait_until_quiet()

    assert fake.guild.voice_client is None
    assert not voice.is_connected()
    assert first.texts.count(cut_off) == 1 and second.texts.count(deleted) == 1
    assert harness.server.in_flight == 0
    fake.move_member(alice, fake.other_voice_channel_id)
    again = await harness.say(alice, "Over here now")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in <#{fake.other_voice_channel_id}>."]
    assert harness.voice.channel.id == fake.other_voice_channel_id
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Over here now") * 50 / 20, abs=2)


async def test_losing_the_speak_permission_mid_message_stops_leaves_and_say_explains_until_it_is_back(
    harness: BotHarness,
) -> None:
    fake = harness.fake
    lounge = f"<#{fake.voice_channel_id}>"
    alice, first, second = await _speaking_with_one_queued(harness)
    voice = harness.voice

    fake.change_bot_overwrite(fake.voice_channel_id, deny=discord.Permissions(speak=True))
    lost = (
        f"I lost the Speak permission in {lounge}, so I left and your message wasn't spoken. "
        "Ask an admin to give it back."
    )
    await first.wait_for(lost.replace("your message", "the rest of your message"))
    await second.wait_for(lost)
    await harness.wait_until_quiet()
    sent = await _voice_goes_quiet(voice)
    assert fake.guild.voice_client is None and not voice.is_connected()
    assert harness.server.in_flight == 0

    refused = await harness.say(alice, "Can you hear me")
    assert refused.texts == [
        f"I can't speak in {lounge}: I'm missing the Speak permission there. Ask an admin to grant it to me."
    ]
    assert len(voice.packets) == sent  # nothing more went into the channel

    fake.change_bot_overwrite(fake.voice_channel_id, deny=discord.Permissions.none())
    again = await harness.say(alice, "Back again")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in {lounge}."]
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Back again") * 50 / 20, abs=2)


async def test_a_role_change_that_takes_connect_and_speak_away_is_named_in_full(harness: BotHarness) -> None:
    fake = harness.fake
    _alice, first, second = await _speaking_with_one_queued(harness)

    fake.change_everyone_permissions(discord.Permissions(view_channel=True, send_messages=True))

    lost = (
        f"I lost the Connect and Speak permissions in <#{fake.voice_channel_id}>, so I left and your message "
        "wasn't spoken. Ask an admin to give them back."
    )
    await first.wait_for(lost.replace("your message", "the rest of your message"))
    await second.wait_for(lost)
    await harness.wait_until_quiet()
    assert fake.guild.voice_client is None


async def test_a_server_mute_clears_the_queue_the_bot_stays_and_say_works_after_the_unmute(
    harness: BotHarness,
) -> None:
    fake = harness.fake
    lounge = f"<#{fake.voice_channel_id}>"
    alice, first, second = await _speaking_with_one_queued(harness)

    harness.bot.dispatch("voice_state_update", *fake.server_mute_bot(True))
    muted = f"A moderator server-muted me in {lounge}, so your message wasn't spoken."
    await first.wait_for(muted.replace("your message", "the rest of your message"))
    await second.wait_for(muted)
    await harness.wait_until_quiet()
    sent = await _voice_goes_quiet(harness.voice)
    heard_before = loud_frames(harness.voice.heard())
    assert harness.voice.is_connected()  # a moderator can unmute it: the bot stays

    refused = await harness.say(alice, "Are you there")
    assert refused.texts == [f"A moderator server-muted me in {lounge} — ask them to unmute me, then try again."]
    assert len(harness.voice.packets) == sent

    harness.bot.dispatch("voice_state_update", *fake.server_mute_bot(False))
    again = await harness.say(alice, "Unmuted")
    await harness.wait_until_quiet()
    assert again.texts == [f"🔊 Speaking in {lounge}."]
    heard_after = loud_frames(harness.voice.heard())
    assert heard_after - heard_before == pytest.approx(len("Unmuted") * 50 / 20, abs=2)


async def test_the_bot_leaves_when_no_humans_remain(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    await harness.say(alice, "Bye")
    await harness.wait_until_quiet()

    member, before, after = harness.fake.move_member(alice, None)
    harness.bot.dispatch("voice_state_update", member, before, after)
    async with asyncio.timeout(2):
        while harness.fake.guild.voice_client is not None:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("setup", "text", "expected"),
    [
        ("not-in-voice", "Hello", "Join a voice channel first, then try again."),
        ("too-long", "x" * 501, "That's 501 characters; the limit here is 500. Shorten it or split it into parts."),
        ("blank", "   ", "There's nothing to say — give me some text."),
        (
            "no-speak",
            "Hello",
            "I can't speak in <#{voice}>: I'm missing the Speak permission there. Ask an admin to grant it to me.",
        ),
        (
            "no-connect",
            "Hello",
            "I can't speak in <#{voice}>: I'm missing the Connect and Speak permissions there. Ask an admin to grant them to me.",
        ),
        ("full", "Hello", "<#{voice}> is full (1 people), so I can't join it."),
    ],
)
async def test_say_refuses_clearly_and_privately(harness: BotHarness, setup: str, text: str, expected: str) -> None:
    fake = harness.fake
    alice = fake.add_member("Alice", voice_channel_id=None if setup == "not-in-voice" else fake.voice_channel_id)
    if setup == "no-speak":
        fake.deny_in_channel(fake.voice_channel_id, discord.Permissions(speak=True))
    if setup == "no-connect":
        fake.deny_in_channel(fake.voice_channel_id, discord.Permissions(connect=True, speak=True))
    if setup == "full":
        fake.set_user_limit(fake.voice_channel_id, 1)
    fake.build_guild()

    reply = await harness.say(alice, text)

    assert reply.texts == [expected.format(voice=fake.voice_channel_id)]
    assert reply.sent[0].kind == "response" and reply.sent[0].ephemeral
    assert fake.guild.voice_client is None
    assert harness.server.tts_requests == []  # nothing was paid for
    every_message_is_private_and_pings_nobody(harness)


async def test_say_refuses_while_busy_in_another_channel(harness: BotHarness) -> None:
    fake = harness.fake
    alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
    bob = fake.add_member("Bob", voice_channel_id=fake.other_voice_channel_id)
    fake.build_guild()

    await harness.say(alice, "A message long enough to still be playing when Bob asks")
    await harness.wait_until_speaking()
    reply = await harness.say(bob, "Over here")

    assert reply.texts == [
        f"I'm speaking in <#{fake.voice_channel_id}> right now — join that channel, or wait until I'm done."
    ]
    await harness.fake.run_command(alice, "stop")


async def test_an_idle_bot_follows_the_member_to_their_channel(harness: BotHarness) -> None:
    fake = harness.fake
    alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
    bob = fake.add_member("Bob", voice_channel_id=fake.other_voice_channel_id)
    fake.build_guild()
    await harness.say(alice, "Hi")
    await harness.wait_until_quiet()

    await harness.say(bob, "Hello")
    await harness.wait_until_quiet()

    assert harness.voice.channel.id == fake.other_voice_channel_id
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Hello") * 50 / 20, abs=2)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.invalid_key(), "The server's AsyncFlow API key was rejected — an admin needs to update it."),
        (Fault.voice_not_found(), "That voice no longer exists on AsyncFlow — pick another one."),
        (
            Fault.usage_limit(),
            "This server's AsyncFlow speech quota for the month is used up — an admin can upgrade the plan.",
        ),
    ],
    ids=["invalid-key", "voice-gone", "quota"],
)
async def test_an_api_error_reaches_the_member_and_the_queue_goes_on(
    harness: BotHarness, fault: Fault, message: str
) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.faults.append(fault)

    failed = await harness.say(alice, "This one fails")
    spoken = await harness.say(bob, "This one works")
    await harness.wait_until_quiet()

    await failed.wait_for(message)
    assert message in failed.texts
    assert not any("wasn't spoken" in text for text in spoken.texts)
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("This one works") * 50 / 20, abs=2)
    every_message_is_private_and_pings_nobody(harness)


async def test_quota_running_out_mid_stream_plays_what_arrived_and_says_why_it_stopped(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.chunk_bytes = 2000
    harness.server.faults.append(Fault.quota_after(44 + 48_000))  # header + 0.5 s of mono audio

    reply = await harness.say(alice, "A long text that runs past the end of the monthly quota")
    await harness.wait_until_quiet()

    await reply.wait_for("quota ran out part-way")
    assert loud_frames(harness.voice.heard()) == pytest.approx(25, abs=2)


async def test_a_rate_limit_is_waited_out_and_the_member_is_told(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.faults.append(Fault.rate_limited(retry_after_ms=300))

    reply = await harness.say(alice, "Patience")
    await harness.wait_until_quiet()

    assert "AsyncFlow is busy, retrying in 1 s…" in reply.texts
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Patience") * 50 / 20, abs=2)


async def test_a_stalled_download_pauses_with_silence_frames_and_never_bursts(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    harness.server.chunk_bytes = 4800
    harness.server.realtime_factor = 4.0
    harness.server.faults.append(
        Fault.stall_after(44 + 48_000, seconds=0.9)
    )  # after 0.5 s of audio, under the 1 s chunk timeout

    await harness.say(alice, "A message whose download stalls halfway")
    await harness.wait_until_quiet()

    times = [t for t, encoded, _ in harness.voice.packets if encoded]
    gaps = np.diff(times)[1:]  # discord.py's player waits 40 ms before its second frame
    # A read() that blocked through the 0.9 s stall would show as a 0.9 s gap followed by ~45 frames back to
    # back. On a busy machine (the suite runs on two processes) a player thread can wake 100 ms late and
    # discord.py's player then catches up with a few quick frames: tolerated, a burst is not.
    short = gaps < 0.010
    longest_run = max((len(run) for run in "".join("x" if s else " " for s in short).split()), default=0)
    assert gaps.max() < 0.3, gaps
    assert longest_run <= 8 and short.sum() <= 10, gaps
    assert np.median(gaps) == pytest.approx(0.020, abs=0.002)
    heard = harness.voice.heard()
    assert loud_frames(heard) == pytest.approx(len("A message whose download stalls halfway") * 50 / 20, abs=3)
    frames = heard[: len(heard) // FRAME * FRAME].reshape(-1, FRAME)
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) > 0.1)
    assert loud[-1] - loud[0] + 1 - len(loud) >= 15  # the stall was heard as a pause of silence frames


async def test_voice_autocomplete_offers_at_most_25_matching_voices(harness: BotHarness) -> None:
    alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    target = harness.server.voices[4]

    everything = await harness.fake.autocomplete(alice, "say", {"text": "hi", "voice": ""}, focus="voice")
    narrowed = await harness.fake.autocomplete(alice, "say", {"text": "hi", "voice": target.name[:4]}, focus="voice")

    assert everything.choices is not None and len(everything.choices) == min(25, len(harness.server.voices))
    assert narrowed.choices is not None and 1 <= len(narrowed.choices) <= 25
    assert narrowed.choices[0].value == target.voice_id
    assert all(target.name[:4].casefold() in c.name.casefold() for c in narrowed.choices)


async def test_a_member_whose_turn_waits_for_a_request_slot_is_told_and_then_heard(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    harness = await BotHarness.create(
        asyncflow, make_settings({"max_concurrent_requests": 1}), ["cogs.speech"], announce_author=False
    )
    try:
        alice = harness.fake.add_member("Alice", voice_channel_id=harness.fake.voice_channel_id)
        harness.fake.build_guild()
        client = harness.live_engine.client
        held = await client.open_speech("Another server's long message")  # takes the only slot

        reply = await harness.say(alice, "Waiting my turn")
        waiting = "AsyncFlow is busy with this bot's other messages (at most 1 at once) — yours starts as soon as one finishes…"
        await reply.wait_for(waiting)
        assert harness.server.tts_requests[-1].json["transcript"] == "Another server's long message"  # type: ignore[index]
        await held.aclose()
        await harness.wait_until_quiet()

        assert reply.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>.", waiting]
        assert loud_frames(harness.voice.heard()) == pytest.approx(len("Waiting my turn") * 50 / 20, abs=2)
        quick = await harness.say(alice, "No wait")  # a free slot: no notice
        await harness.wait_until_quiet()
        assert quick.texts == [f"🔊 Speaking in <#{harness.fake.voice_channel_id}>."]
    finally:
        await harness.stop()


async def test_on_a_stage_the_bot_steps_up_to_speak_when_it_may(harness: BotHarness) -> None:
    fake = harness.fake
    fake.stage_moderator = True
    alice = fake.add_member("Alice", voice_channel_id=fake.stage_channel_id)
    fake.build_guild()

    reply = await harness.say(alice, "Hello stage")
    await harness.wait_until_quiet()

    assert reply.texts == [f"🔊 Speaking in <#{fake.stage_channel_id}>."]
    assert fake.voice_state_edits[0]["suppress"] is False
    assert fake.guild.me.voice is not None and not fake.guild.me.voice.suppress
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Hello stage") * 50 / 20, abs=2)


async def test_on_a_stage_without_permission_the_bot_raises_its_hand_and_speaks_once_invited(
    harness: BotHarness,
) -> None:
    fake = harness.fake
    alice = fake.add_member("Alice", voice_channel_id=fake.stage_channel_id)
    fake.build_guild()
    listener = (
        f"I'm in <#{fake.stage_channel_id}> as a listener. I've raised my hand — once a stage moderator invites me "
        "to speak, try again."
    )

    first = await harness.say(alice, "Can anyone hear me")
    await harness.wait_until_quiet()
    second = await harness.say(alice, "Hello?")
    await harness.wait_until_quiet()

    assert first.texts == [listener] and second.texts == [listener]
    requests = [edit for edit in fake.voice_state_edits if edit.get("request_to_speak_timestamp")]
    assert len(requests) == 1  # the hand is raised once
    assert harness.voice.speech_packets() == []  # nothing was played to an audience that can't hear it

    harness.bot.dispatch("voice_state_update", *fake.set_bot_voice(suppress=False))  # a moderator invites it up
    third = await harness.say(alice, "Now I can speak")
    await harness.wait_until_quiet()
    assert third.texts == [f"🔊 Speaking in <#{fake.stage_channel_id}>."]
    assert loud_frames(harness.voice.heard()) == pytest.approx(len("Now I can speak") * 50 / 20, abs=2)


async def test_moved_to_a_stages_audience_mid_message_the_bot_stops_and_says_why(harness: BotHarness) -> None:
    fake = harness.fake
    fake.stage_moderator = True
    alice = fake.add_member("Alice", voice_channel_id=fake.stage_channel_id)
    bob = fake.add_member("Bob", voice_channel_id=fake.stage_channel_id)
    fake.build_guild()
    first = await harness.say(alice, "A long message that a stage moderator cuts short")
    second = await harness.say(bob, "Queued behind it")
    await harness.wait_until_speaking()

    harness.bot.dispatch("voice_state_update", *fake.set_bot_voice(suppress=True))

    audience = (
        f"A stage moderator moved me to the audience in <#{fake.stage_channel_id}>, so your message wasn't spoken."
    )
    await first.wait_for(audience.replace("your message", "the rest of your message"))
    await second.wait_for(audience)
    await harness.wait_until_quiet()
    assert harness.voice.is_connected()
