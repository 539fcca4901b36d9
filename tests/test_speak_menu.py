"""The Speak message menu end to end: a MESSAGE command (interaction type 2, command type 3) through discord.py's
real CommandTree, speech out of the recording voice client; what AsyncFlow was asked to say, and what the member
who chose the message was told."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cogs.engine.words import SPEAK_AUTHOR_OPTED_OUT, SPEAK_NOTHING_SPEAKABLE
from tests.asyncflow_server import FakeAsyncFlow, tone_for
from tests.audio_checks import dominant_hz
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation
from tests.test_concurrency import until

EXTENSIONS = ("cogs.speech", "cogs.members")  # no reading cog: the menu works without the Message Content intent


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(
        asyncflow, make_settings(limits_overrides={"member_messages_per_minute": 2}), EXTENSIONS
    )
    yield harness
    await harness.stop()


def members(harness: BotHarness) -> tuple[int, int]:
    """Alice posts in the text channel and is not in voice; Bob is in the voice channel."""
    alice = harness.fake.add_member("Alice")
    bob = harness.fake.add_member("Bob", voice_channel_id=harness.fake.voice_channel_id)
    harness.fake.build_guild()
    return alice, bob


async def speak(harness: BotHarness, user_id: int, message: dict[str, Any]) -> Conversation:
    return await harness.fake.run_message_command(user_id, "Speak", message)


async def test_speak_reads_the_message_cleaned_and_attributed_in_the_invokers_channel(harness: BotHarness) -> None:
    alice, bob = members(harness)
    voice = harness.server.voices[5].voice_id
    await harness.live_engine.preferences.update_member(alice, voice_id=voice, speaking_rate=1.5)
    message = harness.fake.message_payload(
        alice, harness.fake.text_channel_id, f"**Look** <@{bob}>: https://example.com/page"
    )

    reply = await speak(harness, bob, message)
    await harness.wait_until_quiet()

    assert reply.sent[0].kind == "defer"  # the join takes a while: Discord was answered first
    assert reply.texts == [f"🔊 Speaking Alice's message in <#{harness.fake.voice_channel_id}>."]
    assert harness.transcripts() == ["Alice said, Look Bob: a link to example.com"]
    request = harness.server.tts_requests[-1].json
    assert request is not None and request["speed_control"] == 1.5  # the author's voice and rate, as reading does
    assert harness.voice.channel.id == harness.fake.voice_channel_id
    assert dominant_hz(harness.voice.heard()) == pytest.approx(tone_for(voice), abs=3)
    every_message_is_private_and_pings_nobody(harness)

    # The rates are the invoker's: Bob's second choice in the minute is his last, Alice's /say is still free.
    await speak(harness, bob, message)
    await harness.wait_until_quiet()
    refused = await speak(harness, bob, message)
    assert refused.texts[-1].startswith("You're sending messages faster than I can read them here")
    assert len(harness.transcripts()) == 2


async def test_an_opted_out_author_an_empty_message_and_an_invoker_outside_voice_are_refused(
    harness: BotHarness,
) -> None:
    alice, bob = members(harness)
    channel = harness.fake.text_channel_id
    assert (await speak(harness, alice, harness.fake.message_payload(bob, channel, "hi"))).texts == [
        "Join a voice channel first, then try again."
    ]
    empty = await speak(harness, bob, harness.fake.message_payload(alice, channel, "   "))
    await harness.command(alice, "opt-out")
    opted_out = await speak(harness, bob, harness.fake.message_payload(alice, channel, "secret plans"))
    await harness.wait_until_quiet()

    assert empty.texts == [SPEAK_NOTHING_SPEAKABLE]
    assert opted_out.texts == [SPEAK_AUTHOR_OPTED_OUT]
    assert harness.server.tts_requests == []


async def test_a_chosen_message_deleted_while_queued_is_never_spoken(harness: BotHarness) -> None:
    alice, bob = members(harness)
    harness.server.first_byte_delay = 0.3
    await harness.say(bob, "Something long enough to keep the bot busy for a while")
    message = harness.fake.message_payload(alice, harness.fake.text_channel_id, "Gone before its turn")

    reply = await speak(harness, bob, message)
    harness.fake.delete(int(message["id"]))
    await harness.wait_until_quiet()

    assert reply.texts == [f"Queued Alice's message in <#{harness.fake.voice_channel_id}> — 1 message ahead of it."]
    assert harness.transcripts() == ["Bob said, Something long enough to keep the bot busy for a while"]


async def test_a_message_deleted_while_the_bot_joins_is_withdrawn_and_the_invoker_told(harness: BotHarness) -> None:
    alice, bob = members(harness)
    message = harness.fake.message_payload(alice, harness.fake.text_channel_id, "Deleted during the join")

    task = asyncio.create_task(speak(harness, bob, message))
    # Deleted once the join has begun (a fixed sleep raced the menu's own dispatch on a loaded machine).
    await until(lambda: harness.fake.voice_client is not None, what="the join to start")
    harness.fake.delete(int(message["id"]))
    reply = await task
    await harness.wait_until_quiet()

    assert harness.voice.speech_packets() == []
    assert reply.texts == ["That message was deleted, so I didn't speak it."]


async def test_with_reading_loaded_an_edit_leaves_a_chosen_message_as_it_was_chosen(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    """Reading judges an edit of a read message again; a chosen one (in a channel nobody linked) is spoken as the
    member chose it, not withdrawn by reading's rules."""
    harness = await BotHarness.create(asyncflow, make_settings(), ("cogs.speech", "cogs.reading"))
    try:
        alice, bob = members(harness)
        harness.server.first_byte_delay = 0.3
        await harness.say(bob, "Something to keep the bot busy")
        message = harness.fake.message_payload(alice, harness.fake.text_channel_id, "As it was chosen")
        await speak(harness, bob, message)
        harness.fake.edit(alice, int(message["id"]), "Edited afterwards")
        await harness.wait_until_quiet()

        assert harness.transcripts() == ["Bob said, Something to keep the bot busy", "Alice said, As it was chosen"]
    finally:
        await harness.stop()


async def test_the_server_dictionary_applies_to_a_chosen_message_and_its_authors_name(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory
) -> None:
    harness = await BotHarness.create(asyncflow, make_settings(), (*EXTENSIONS, "cogs.server_settings"))
    try:
        alice, bob = members(harness)
        for word, spoken in (("Alice", "Al-ees"), ("gg", "good game")):
            await harness.command(alice, "dictionary", {"word": word, "spoken": spoken}, subcommand="add")
        message = harness.fake.message_payload(alice, harness.fake.text_channel_id, "**gg** all")

        await speak(harness, bob, message)
        await harness.wait_until_quiet()

        assert harness.transcripts() == ["Al-ees said, good game all"]
    finally:
        await harness.stop()
