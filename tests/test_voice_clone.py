"""``/voice clone`` end to end (issue 14, item 4): consent before any upload, the sample checks, and each error
AsyncFlow documents, through discord.py's real CommandTree and view store against the AsyncFlow stand-in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

import cogs.voice_clone
from cogs.engine.words import (
    CLONE_CANCELLED,
    CLONING_OFF_BOT,
    CLONING_OFF_SERVER,
    CONSENT_AGREE,
    CONSENT_CANCEL,
    CONSENT_NOT_YOURS,
    SAMPLE_NOT_AUDIO,
    SAMPLE_UNREADABLE,
    clone_done,
    clone_slots_full,
    consent_expired,
    sample_too_big,
    sample_too_short,
)
from cogs.voice_clone import AGREE_ID, CANCEL_ID
from tests.asyncflow_server import FakeAsyncFlow, Fault, tone_for
from tests.audio_checks import dominant_hz, wav_sample
from tests.bot_harness import BotHarness, every_message_is_private_and_pings_nobody
from tests.clone_helpers import seed_clone
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation, Sent
from tests.test_reading import EXTENSIONS, in_voice


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS, announce_author=False)
    yield harness
    await harness.stop()


async def ask_to_clone(
    harness: BotHarness,
    user: int,
    data: bytes | None = None,
    filename: str = "me.wav",
    content_type: str | None = "audio/wav",
    **options: object,
) -> Conversation:
    """``/voice clone`` with a sample attached (3.5 s of WAV unless given)."""
    sample = harness.fake.attach(filename, wav_sample(3.5) if data is None else data, content_type)
    return await harness.fake.run_command(
        user, "voice", {"sample": sample, "name": "My voice", **options}, subcommand="clone"
    )


def consent_message(conversation: Conversation) -> Sent:
    (asked,) = [sent for sent in conversation.sent if sent.view is not None and sent.kind == "followup"]
    return asked


async def answer(conversation: Conversation, needle: str) -> str:
    return (await conversation.wait_for(needle)).content


async def test_nothing_is_uploaded_before_the_members_own_press(harness: BotHarness) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    sample = wav_sample(3.5)
    asked = await ask_to_clone(harness, alice, sample)
    consent = consent_message(asked)
    assert "expires in 5 minutes" in consent.content and "AsyncFlow" in consent.content
    assert consent.view is not None
    assert [(b.label, b.disabled) for b in consent.view.children] == [(CONSENT_AGREE, False), (CONSENT_CANCEL, False)]  # type: ignore[attr-defined]
    assert consent.message_id is not None
    await asyncio.sleep(0.1)
    assert harness.server.clone_requests == []  # asked, not uploaded

    intruder = harness.fake.press(bob, consent.message_id, AGREE_ID)
    assert await answer(intruder, CONSENT_NOT_YOURS) == CONSENT_NOT_YOURS
    await asyncio.sleep(0.1)
    assert harness.server.clone_requests == []  # someone else's press uploads nothing

    pressed = harness.fake.press(alice, consent.message_id, AGREE_ID)
    assert await answer(pressed, "is cloned") == clone_done("My voice")
    assert pressed.sent[0].kind == "edit" and pressed.sent[0].view is not None
    assert all(b.disabled for b in pressed.sent[0].view.children)  # type: ignore[attr-defined]
    (upload,) = harness.server.clone_requests
    assert upload.form["audio"].data == sample and upload.form["name"].text == "My voice"
    assert upload.form["language"].text == "en"
    (clone,) = await harness.live_engine.preferences.clones(alice)
    assert (await harness.live_engine.preferences.member(alice)).voice_id == clone.voice_id

    again = harness.fake.press(alice, consent.message_id, AGREE_ID)  # the view stopped: discord.py drops it
    await asyncio.sleep(0.1)
    assert again.sent == [] and len(harness.server.clone_requests) == 1

    await harness.say(alice, "This is me")
    await harness.wait_until_quiet()
    assert harness.voices_used() == [clone.voice_id]
    assert dominant_hz(harness.voice.heard()) == pytest.approx(tone_for(clone.voice_id), abs=3)
    every_message_is_private_and_pings_nobody(harness)


async def test_cancel_and_expiry_upload_nothing(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    (alice,) = in_voice(harness, "Alice")
    cancelled = consent_message(await ask_to_clone(harness, alice))
    assert cancelled.message_id is not None
    pressed = harness.fake.press(alice, cancelled.message_id, CANCEL_ID)
    assert await answer(pressed, CLONE_CANCELLED) == CLONE_CANCELLED

    monkeypatch.setattr(cogs.voice_clone, "CONSENT_TIMEOUT_S", 0.3)
    asked = await ask_to_clone(harness, alice)
    expiring = consent_message(asked)
    assert expiring.message_id is not None
    expired = await asked.wait_for("expired")
    assert expired.kind == "edit" and expired.content == consent_expired(1)
    assert expired.view is not None and all(b.disabled for b in expired.view.children)  # type: ignore[attr-defined]
    late = harness.fake.press(alice, expiring.message_id, AGREE_ID)  # a client still showing the buttons
    assert await answer(late, "expired") == consent_expired(1)
    await asyncio.sleep(0.1)
    assert harness.server.clone_requests == []
    assert await harness.live_engine.preferences.clones(alice) == []


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "words", "downloaded"),
    [
        (b"just text", "notes.txt", "text/plain", SAMPLE_NOT_AUDIO, False),
        (wav_sample(3.5), "me.wav", "video/mp4", SAMPLE_NOT_AUDIO, False),
        (b"\0" * 10_000_001, "big.wav", "audio/wav", sample_too_big(10_000_001, 10_000_000), False),
        (wav_sample(2.0), "short.wav", "audio/wav", sample_too_short(2.0, 3.0), True),
        (b"RIFF not really a wave file" * 100, "odd.wav", "audio/wav", SAMPLE_UNREADABLE, True),
    ],
)
async def test_a_sample_that_fails_a_check_is_never_sent(
    harness: BotHarness, data: bytes, filename: str, content_type: str, words: str, downloaded: bool
) -> None:
    (alice,) = in_voice(harness, "Alice")
    asked = await ask_to_clone(harness, alice, data, filename, content_type)
    assert asked.texts == [words]
    assert all(sent.view is None for sent in asked.sent)  # no consent asked: nothing to consent to
    assert bool(harness.fake.cdn_downloads) is downloaded  # type and size are judged before downloading
    assert harness.server.clone_requests == []


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.clone_limit(), "This bot's voice-clone slots at AsyncFlow are all in use"),
        (Fault.short_speech(), "less than 3 seconds of speech"),
        (Fault.bad_speech_quality(), "quality too low to clone"),
        (Fault.file_too_large(), "refused the sample as too large"),
        (Fault.format_not_recognized(applies_to="/voices/clone"), "didn't recognise the sample's audio format"),
    ],
)
async def test_each_clone_error_is_told_in_its_own_words(
    harness: BotHarness, fault: Fault, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    (alice,) = in_voice(harness, "Alice")
    harness.server.faults.append(fault)
    consent = consent_message(await ask_to_clone(harness, alice))
    assert consent.message_id is not None
    with caplog.at_level(logging.INFO, logger="cogs"):
        pressed = harness.fake.press(alice, consent.message_id, AGREE_ID)
        told = await answer(pressed, words)
    assert len(harness.server.clone_requests) == 1
    assert await harness.live_engine.preferences.clones(alice) == []
    assert (await harness.live_engine.preferences.member(alice)).voice_id is None
    if fault.error_code == "VOICE_CLONE_LIMIT_EXCEEDED":
        assert "Tell the bot's admin" in told
        assert any(
            "VOICE_CLONE_LIMIT_EXCEEDED" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records
        )


async def test_the_server_switch_the_limit_and_the_operator_switch(
    harness: BotHarness, make_settings: SettingsFactory
) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    assert await harness.command(alice, "set", {"setting": "voice-cloning", "value": "off"}) == [
        "`voice-cloning` is now off."
    ]
    assert (await ask_to_clone(harness, bob)).texts == [CLONING_OFF_SERVER]
    await harness.command(alice, "set", {"setting": "voice-cloning", "value": "on"})

    await seed_clone(harness, bob)  # the one clone a member may keep by default
    assert (await ask_to_clone(harness, bob)).texts == [clone_slots_full(1)]
    assert harness.fake.cdn_downloads == [] and harness.server.clone_requests == []

    await harness.restart(make_settings(limits_overrides={"max_clones_per_member": 2}))
    assert consent_message(await ask_to_clone(harness, bob)).view is not None  # a second slot

    await harness.restart(make_settings(limits_overrides={"max_clones_per_member": 0}))
    assert (await ask_to_clone(harness, alice)).texts == [CLONING_OFF_BOT]
    assert harness.server.clone_requests == []
