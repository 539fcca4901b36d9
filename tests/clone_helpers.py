"""Members' cloned voices in end-to-end tests: a clone as ``/voice clone`` leaves it, at the stand-in and in the store."""

from __future__ import annotations

import time

from cogs.engine.store.models import ClonedVoice
from tests.asyncflow_server import Voice
from tests.bot_harness import BotHarness


async def seed_clone(harness: BotHarness, owner: int, name: str = "Alice's own") -> str:
    """A CUSTOM voice at the stand-in, kept as ``owner``'s clone and set as their voice; returns its id."""
    voice = Voice(voice_id=f"clone-{owner}", name=name, voice_type="CUSTOM")
    harness.server.voices.append(voice)
    preferences = harness.live_engine.preferences
    assert await preferences.add_clone(ClonedVoice(voice.voice_id, owner, name, time.time()), limit=1)
    await preferences.update_member(owner, voice_id=voice.voice_id)
    return voice.voice_id


def choice_values(choices: object) -> list[str]:
    assert isinstance(choices, list)
    return [choice.value for choice in choices]
