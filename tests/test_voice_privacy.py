"""A member's cloned voice is theirs alone (issue 14, item 4): spoken for their /say and read messages, never
offered to anyone else, never usable by anyone else's ``/say voice:``, ``/voice set`` or ``/voice preview``, never
the server voice. Also a CUSTOM voice of the account that no member owns here is offered to nobody."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cogs.engine.words import PRIVATE_SERVER_VOICE, PRIVATE_VOICE
from tests.asyncflow_server import FakeAsyncFlow, Voice, tone_for
from tests.audio_checks import dominant_hz
from tests.bot_harness import BotHarness
from tests.clone_helpers import choice_values, seed_clone
from tests.conftest import SettingsFactory
from tests.test_reading import EXTENSIONS, in_voice, link_text_channel


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS, announce_author=False)
    yield harness
    await harness.stop()


async def test_the_clone_speaks_its_members_say_and_read_messages(harness: BotHarness) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    clone = await seed_clone(harness, alice)
    await link_text_channel(harness, alice)

    await harness.say(alice, "Hello from me")
    await harness.wait_until_quiet()
    harness.fake.post(alice, "And this is read")
    harness.fake.post(bob, "Bob here")
    await harness.wait_until_quiet()

    assert harness.transcripts() == ["Hello from me", "And this is read", "Bob here"]
    assert harness.voices_used()[:2] == [clone, clone]
    assert harness.voices_used()[2] != clone
    heard = harness.voice.heard()
    assert dominant_hz(heard[: len(heard) // 4]) == pytest.approx(tone_for(clone), abs=3)


async def test_nobody_else_is_offered_the_clone_or_may_use_it(harness: BotHarness) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    clone = await seed_clone(harness, alice)
    unowned = Voice(voice_id="operator-clone", name="Alice's twin", voice_type="CUSTOM")  # no member's here
    harness.server.voices.append(unowned)
    fake = harness.fake

    own = await fake.autocomplete(alice, "say", {"text": "hi", "voice": "Alice"}, focus="voice")
    assert choice_values(own.choices) == [clone]
    for user, command, options, focus, sub in [
        (bob, "say", {"text": "hi", "voice": ""}, "voice", None),
        (bob, "say", {"text": "hi", "voice": "Alice"}, "voice", None),
        (bob, "voice", {"voice": "Alice"}, "voice", "set"),
        (bob, "voice", {"voice": clone}, "voice", "preview"),
        (alice, "set", {"setting": "server-voice", "value": "Alice"}, "value", None),  # not even the owner
    ]:
        offered = choice_values((await fake.autocomplete(user, command, options, focus, subcommand=sub)).choices)
        assert clone not in offered and unowned.voice_id not in offered, (command, sub, offered)
    assert harness.live_engine.voices.has_list

    assert (await harness.say(bob, "Pretend to be Alice", voice=clone)).texts == [PRIVATE_VOICE]
    assert (await harness.say(bob, "Or her twin", voice=unowned.voice_id)).texts == [PRIVATE_VOICE]
    assert await harness.command(bob, "voice", {"voice": clone}, subcommand="set") == [PRIVATE_VOICE]
    assert await harness.command(bob, "voice", {"voice": clone}, subcommand="preview") == [PRIVATE_VOICE]
    assert await harness.command(alice, "set", {"setting": "server-voice", "value": clone}) == [PRIVATE_SERVER_VOICE]
    await harness.wait_until_quiet()
    assert clone not in harness.voices_used() and unowned.voice_id not in harness.voices_used()
    assert (await harness.live_engine.preferences.member(bob)).voice_id is None
    assert (await harness.live_engine.preferences.guild(fake.guild_id)).default_voice is None

    await harness.say(alice, "My own, by hand", voice=clone)  # the owner may pick it by id
    await harness.wait_until_quiet()
    assert harness.voices_used() == [clone]
