"""Accessibility reading end to end: gateway messages in, speech out of the recording voice client.

Messages enter through discord.py's own gateway parsers (MESSAGE_CREATE / UPDATE / DELETE), settings
through the real slash commands, and what is checked is what members hear: the transcript AsyncFlow
was asked to speak, in which voice, and the audio that reached the voice channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest

from tests.asyncflow_server import FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import dominant_hz, loud_frames
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import BOT_ID

EXTENSIONS = ("cogs.speech", "cogs.reading", "cogs.members", "cogs.server_settings")


@pytest.fixture
async def reader(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    reader = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS)
    yield reader
    await reader.stop()


def in_voice(reader: BotHarness, *names: str) -> list[int]:
    ids = [reader.fake.add_member(name, voice_channel_id=reader.fake.voice_channel_id) for name in names]
    reader.fake.build_guild()
    return ids


async def link_text_channel(reader: BotHarness, admin: int) -> None:
    assert await reader.command(admin, "link") == [
        f"I'll read messages posted in <#{reader.fake.text_channel_id}> in my voice channel. "
        "(Reading needs the Message Content intent enabled for this bot.)"
    ]


async def test_a_message_from_a_member_in_voice_is_spoken_cleaned_in_their_voice(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    chosen = reader.server.voices[6]
    assert await reader.command(alice, "voice", {"voice": chosen.voice_id}, subcommand="set") == [
        f"Your voice is now **{chosen.name}**, in every server with this bot."
    ]

    reader.fake.post(alice, "**Look** at https://www.example.com/some/page?x=1 <:party_parrot:123456789012345678>")
    await reader.wait_until_quiet()

    spoken = "Alice said, Look at a link to example.com party parrot"
    assert reader.transcripts() == [spoken]
    assert reader.voices_used() == [chosen.voice_id]
    heard = reader.fake.voice_client.heard()  # type: ignore[union-attr]
    assert dominant_hz(heard) == pytest.approx(tone_for(chosen.voice_id), abs=3)
    assert loud_frames(heard) == pytest.approx(len(spoken) * 50 / 20, abs=3)


async def test_only_linked_channels_and_the_voice_chat_are_read(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await reader.join_voice(alice)
    reader.server.requests.clear()

    reader.fake.post(alice, "in an unlinked channel")
    reader.fake.post(alice, "in the voice channel's own chat", channel_id=reader.fake.voice_channel_id)
    await reader.wait_until_quiet()
    # No "Alice said": her /say that brought the bot in started the announce window, as a message would.
    assert reader.transcripts() == ["in the voice channel's own chat"]

    await reader.command(alice, "set", {"setting": "read-voice-chat", "value": "off"})
    reader.fake.post(alice, "not read any more", channel_id=reader.fake.voice_channel_id)
    await reader.wait_until_quiet()
    assert len(reader.transcripts()) == 1


async def test_auto_join_follows_a_member_who_posts_while_the_bot_is_idle(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)

    reader.fake.post(alice, "Can you hear me")
    await reader.wait_until_quiet()
    assert reader.fake.voice_client is not None
    assert reader.fake.voice_client.channel.id == reader.fake.voice_channel_id
    assert reader.transcripts() == ["Alice said, Can you hear me"]

    await reader.command(alice, "leave")
    await reader.command(alice, "set", {"setting": "auto-join", "value": "off"})
    reader.fake.post(alice, "Nobody joins for this")
    await reader.wait_until_quiet()
    assert reader.fake.guild.voice_client is None
    assert len(reader.transcripts()) == 1


async def test_author_is_announced_once_while_they_keep_talking(reader: BotHarness) -> None:
    alice, bob = in_voice(reader, "Alice", "Bob")
    await link_text_channel(reader, alice)

    for author, text in ((alice, "one"), (alice, "two"), (bob, "three"), (alice, "four")):
        reader.fake.post(author, text)
        await asyncio.sleep(0.02)
    await reader.wait_until_quiet()

    assert reader.transcripts() == ["Alice said, one", "two", "Bob said, three", "Alice said, four"]


async def test_spoken_nickname_and_announce_toggle(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    assert await reader.command(alice, "nickname", {"name": "Ally"}) == ["I'll call you **Ally** here."]
    reader.fake.post(alice, "hello")
    await reader.wait_until_quiet()
    await reader.command(alice, "set", {"setting": "announce-author", "value": "off"})
    await reader.command(alice, "set", {"setting": "announce-window", "value": "0"})
    reader.fake.post(alice, "plain")
    await reader.wait_until_quiet()
    assert reader.transcripts() == ["Ally said, hello", "plain"]


@pytest.mark.parametrize(
    ("setup", "message_kwargs", "content", "read"),
    [
        ("none", {}, "!play some song", False),  # ignore prefix "!"
        ("none", {"flags": 1 << 12}, "shh", False),  # @silent
        ("none", {}, "   ", False),  # nothing to say costs nothing
        ("bot", {}, "beep boop", False),
        ("bot+read-bots", {}, "beep boop", True),
        ("proxy", {"webhook_id": "555000000000000001", "application_id": "466378653216014359"}, "from my system", True),
        (
            "proxy+off",
            {"webhook_id": "555000000000000001", "application_id": "466378653216014359"},
            "from my system",
            False,
        ),
        ("webhook", {"webhook_id": "555000000000000001"}, "deploy finished", False),
        ("opted-out", {}, "do not read me", False),
        ("not-in-voice", {}, "I'm not in voice", False),
        ("not-in-voice+require-off", {}, "I'm not in voice", True),
        ("role-required", {}, "no role", False),
        ("role-held", {}, "I have the role", True),
    ],
)
async def test_what_is_and_is_not_read(
    reader: BotHarness, setup: str, message_kwargs: dict[str, Any], content: str, read: bool
) -> None:
    fake = reader.fake
    speakers = fake.add_role("Speakers")
    alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id, roles=[speakers])
    author = alice
    if setup == "role-required":
        author = fake.add_member("Dave", voice_channel_id=fake.voice_channel_id)
    if setup.startswith("bot"):
        author = fake.add_member("Robot", voice_channel_id=fake.voice_channel_id, bot=True)
    if setup.startswith("not-in-voice"):
        author = fake.add_member("Carol")
    fake.build_guild()
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.server.requests.clear()
    if setup == "bot+read-bots":
        await reader.command(alice, "set", {"setting": "read-bots", "value": "on"})
    if setup == "proxy+off":
        await reader.command(alice, "set", {"setting": "read-proxies", "value": "off"})
    if setup == "opted-out":
        assert (await reader.command(alice, "opt-out"))[0].startswith("Done — your messages won't be read aloud")
    if setup == "not-in-voice+require-off":
        await reader.command(alice, "set", {"setting": "require-voice", "value": "off"})
    if setup.startswith("role"):
        assert await reader.command(alice, "set", {"setting": "required-role", "value": "Speakers"}) == [
            f"`required-role` is now <@&{speakers}>."
        ]
    if setup.startswith(("proxy", "webhook")):
        author = 555000000000000001

    fake.post(author, content, **message_kwargs)
    await reader.wait_until_quiet()

    assert bool(reader.transcripts()) is read, reader.transcripts()


async def test_a_deleted_message_is_never_spoken_or_stops(reader: BotHarness) -> None:
    alice, bob = in_voice(reader, "Alice", "Bob")
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.server.requests.clear()
    reader.server.first_byte_delay = 0.2

    speaking = reader.fake.post(alice, "A long first message that gets deleted while it is being spoken aloud")
    queued = reader.fake.post(bob, "Deleted before its turn")
    last = reader.fake.post(bob, "This one stays")
    await asyncio.sleep(0.05)
    reader.fake.delete(queued)
    async with asyncio.timeout(5):
        while not reader.fake.voice_client.speech_packets()[60:]:  # type: ignore[union-attr]
            await asyncio.sleep(0.02)
    reader.fake.delete(speaking)
    await reader.wait_until_quiet()

    assert "Bob said, Deleted before its turn" not in reader.transcripts()
    assert any("This one stays" in t for t in reader.transcripts())
    assert last
    spoken_first = len("Alice said, A long first message that gets deleted while it is being spoken aloud") * 50 / 20
    assert loud_frames(reader.fake.voice_client.heard()) < spoken_first  # type: ignore[union-attr]


async def test_an_edited_message_is_spoken_as_edited(reader: BotHarness) -> None:
    alice, bob = in_voice(reader, "Alice", "Bob")
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.server.requests.clear()

    reader.fake.post(alice, "A first message long enough to keep the bot busy for a little while")
    typo = reader.fake.post(bob, "teh typo")
    reader.fake.edit(bob, typo, "the fix")
    await reader.wait_until_quiet()

    assert reader.transcripts()[-1] == "Bob said, the fix"
    assert not any("typo" in t for t in reader.transcripts())


async def test_server_voice_and_the_member_voice_switch(reader: BotHarness) -> None:
    alice, bob = in_voice(reader, "Alice", "Bob")
    await link_text_channel(reader, alice)
    server_voice = reader.server.voices[3]
    alice_voice = reader.server.voices[8]
    assert await reader.command(alice, "set", {"setting": "server-voice", "value": server_voice.voice_id}) == [
        f"`server-voice` is now {server_voice.name}."
    ]
    await reader.command(alice, "voice", {"voice": alice_voice.voice_id}, subcommand="set")

    reader.fake.post(alice, "mine")
    reader.fake.post(bob, "server's")
    await reader.wait_until_quiet()
    await reader.command(alice, "set", {"setting": "member-voices", "value": "off"})
    reader.fake.post(alice, "server's again")
    await reader.wait_until_quiet()

    assert reader.voices_used() == [alice_voice.voice_id, server_voice.voice_id, server_voice.voice_id]


async def test_voice_preview_speaks_a_sample_in_that_voice(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    voice = reader.server.voices[11]
    texts = await reader.command(alice, "voice", {"voice": voice.voice_id}, subcommand="preview")
    await reader.wait_until_quiet()
    assert texts == [f"🔊 Speaking in <#{reader.fake.voice_channel_id}>."]
    assert reader.transcripts() == [f"Hi, I'm {voice.name}. This is how I sound when I read your messages."]
    assert dominant_hz(reader.fake.voice_client.heard()) == pytest.approx(tone_for(voice.voice_id), abs=3)  # type: ignore[union-attr]
    assert (await reader.command(alice, "voice", {"voice": "no-such-voice"}, subcommand="preview")) == [
        "I don't know that voice — pick one from the list as you type."
    ]


async def test_admin_commands_need_manage_server(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    member_permissions = discord.Permissions(send_messages=True, connect=True, speak=True)
    for name, options in (("set", {"setting": "emoji", "value": "skip"}), ("link", None), ("unlink", None)):
        texts = await reader.command(alice, name, options, permissions=member_permissions)
        assert texts == ["Only members with the Manage Server permission can change this."]
    assert (await reader.live_engine.preferences.guild(reader.fake.guild_id)).emoji_mode == "name"


@pytest.mark.parametrize(
    ("setting", "value", "reply"),
    [
        ("max-length", "5", "`max-length` must be from 20 to 2000."),
        ("max-length", "lots", "`max-length` needs a whole number from 20 to 2000."),
        ("auto-join", "maybe", "`auto-join` is on or off — type `on` or `off`."),
        ("required-role", "Nonexistent", "There is no role called 'Nonexistent' here."),
        ("server-voice", "not-a-voice", "I don't know that voice — pick one from the list as you type."),
        ("ignore-prefix", "two words", "The ignore prefix is a few characters with no spaces, like `!` or `--`."),
        ("emoji", "skip", "`emoji` is now skip."),
        ("ignore-prefix", "--", "`ignore-prefix` is now `--`."),
    ],
)
async def test_set_checks_values_and_says_what_it_did(reader: BotHarness, setting: str, value: str, reply: str) -> None:
    (alice,) = in_voice(reader, "Alice")
    assert await reader.command(alice, "set", {"setting": setting, "value": value}) == [reply]


async def test_settings_show_current_values_and_survive_a_restart(
    reader: BotHarness, make_settings: SettingsFactory, asyncflow: FakeAsyncFlow
) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    await reader.command(alice, "set", {"setting": "max-length", "value": "120"})
    await reader.command(alice, "nickname", {"name": "Ally"})
    await reader.command(alice, "voice", {"voice": asyncflow.voices[2].voice_id}, subcommand="set")
    before = await reader.command(alice, "settings")

    # Restart: a new engine and new cogs on the same database file.
    await reader.restart(make_settings())
    after = await reader.command(alice, "settings")

    assert after == before
    text = after[0]
    assert f"Reading channels: <#{reader.fake.text_channel_id}>" in text
    assert "`max-length`: 120" in text
    assert "Name said here: Ally" in text
    assert f"Voice: {asyncflow.voices[2].name}" in text
    reader.fake.post(alice, "still linked")
    await reader.wait_until_quiet()
    assert reader.transcripts()[-1] == "Ally said, still linked"
    assert reader.voices_used()[-1] == asyncflow.voices[2].voice_id


async def test_forget_me_deletes_what_is_stored(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await reader.command(alice, "nickname", {"name": "Ally"})
    await reader.command(alice, "opt-out")
    await reader.command(alice, "forget-me")
    member = await reader.live_engine.preferences.member(alice)
    assert (member.voice_id, member.opted_out, member.spoken_names) == (None, False, {})


async def test_an_api_failure_while_reading_is_posted_once_silently(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.server.faults.extend([Fault.invalid_key(), Fault.invalid_key()])

    reader.fake.post(alice, "first")
    reader.fake.post(alice, "second")
    await reader.wait_until_quiet()

    posts = [body for channel, body in reader.fake.channel_posts if channel == reader.fake.text_channel_id]
    assert [p["content"] for p in posts] == [
        "⚠️ The server's AsyncFlow API key was rejected — an admin needs to update it."
    ]
    assert posts[0]["flags"] & (1 << 12)  # @silent: no notification
    assert posts[0]["allowed_mentions"] == {"parse": []}


async def test_the_bots_own_messages_are_never_read(reader: BotHarness) -> None:
    """Our own messages (e.g. the notices above) are never read back."""
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.server.requests.clear()
    reader.fake.post(BOT_ID, "⚠️ a notice from the bot")
    await reader.wait_until_quiet()
    assert reader.transcripts() == []


async def test_removing_the_bot_from_a_server_forgets_its_settings(reader: BotHarness) -> None:
    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    reader.bot.dispatch("guild_remove", reader.fake.guild)
    await reader.wait_until_quiet()
    assert (await reader.live_engine.preferences.guild(reader.fake.guild_id)).linked_channels == frozenset()


async def test_while_server_muted_nothing_is_read_and_the_channel_is_told_once(reader: BotHarness) -> None:
    from tests.discord_fakes import BOT_ID

    (alice,) = in_voice(reader, "Alice")
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)
    reader.fake.move_member(BOT_ID, reader.fake.voice_channel_id)
    await reader.wait_until_quiet()
    spoken_before = len(reader.transcripts())
    reader.bot.dispatch("voice_state_update", *reader.fake.server_mute_bot(True))

    reader.fake.post(alice, "first")
    reader.fake.post(alice, "second")
    await reader.wait_until_quiet()

    assert len(reader.transcripts()) == spoken_before  # nothing was sent to AsyncFlow
    posts = [body["content"] for channel, body in reader.fake.channel_posts if channel == reader.fake.text_channel_id]
    assert posts == [
        f"⚠️ A moderator server-muted me in <#{reader.fake.voice_channel_id}>, so I'm not reading messages aloud."
    ]

    reader.bot.dispatch("voice_state_update", *reader.fake.server_mute_bot(False))
    reader.fake.post(alice, "third")
    await reader.wait_until_quiet()
    assert reader.transcripts()[spoken_before:] == ["third"]  # within the window of her /say: not announced again


async def test_as_a_listener_on_a_stage_nothing_is_read_and_the_channel_is_told_once(reader: BotHarness) -> None:
    alice = reader.fake.add_member("Alice", voice_channel_id=reader.fake.stage_channel_id)
    reader.fake.build_guild()
    await link_text_channel(reader, alice)
    await reader.join_voice(alice)  # the bot may not step up: it raises its hand and stays in the audience
    spoken_before = len(reader.transcripts())

    reader.fake.post(alice, "first")
    reader.fake.post(alice, "second")
    await reader.wait_until_quiet()

    assert len(reader.transcripts()) == spoken_before
    posts = [body["content"] for channel, body in reader.fake.channel_posts if channel == reader.fake.text_channel_id]
    assert posts == [
        f"⚠️ I'm only a listener on the stage in <#{reader.fake.stage_channel_id}>, so I'm not reading messages aloud."
    ]
