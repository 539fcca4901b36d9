"""``/voice delete-clone`` and ``/forget-me`` delete a member's cloned voice at AsyncFlow (``DELETE /voices/{id}``)
and here; AsyncFlow's 404 still deletes it here, and a failure keeps it to try again (issue 14, item 4)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cogs.engine.words import NO_CLONE, clones_deleted
from tests.asyncflow_server import FakeAsyncFlow, Fault
from tests.bot_harness import BotHarness
from tests.clone_helpers import seed_clone
from tests.conftest import SettingsFactory
from tests.test_reading import EXTENSIONS, in_voice


@pytest.fixture
async def harness(asyncflow: FakeAsyncFlow, make_settings: SettingsFactory) -> AsyncIterator[BotHarness]:
    harness = await BotHarness.create(asyncflow, make_settings(), EXTENSIONS, announce_author=False)
    yield harness
    await harness.stop()


async def delete_clone(harness: BotHarness, user: int) -> list[str]:
    return await harness.command(user, "voice", {}, subcommand="delete-clone")


async def test_delete_clone_deletes_at_asyncflow_then_here(harness: BotHarness) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    clone = await seed_clone(harness, alice, "Alice's own")
    others = await seed_clone(harness, bob, "Bob's own")
    preferences = harness.live_engine.preferences

    assert await delete_clone(harness, alice) == [clones_deleted(["Alice's own"], [], [])]
    assert harness.server.delete_requests == [clone]
    assert harness.server.find_voice(clone) is None
    assert await preferences.clones(alice) == []
    assert (await preferences.member(alice)).voice_id is None  # back to the server's voice
    assert (await preferences.member(bob)).voice_id == others  # Bob's is untouched
    assert await delete_clone(harness, alice) == [NO_CLONE]
    assert harness.server.delete_requests == [clone]


async def test_a_clone_asyncflow_no_longer_has_is_deleted_here_and_a_failure_keeps_it(harness: BotHarness) -> None:
    alice, bob = in_voice(harness, "Alice", "Bob")
    gone = await seed_clone(harness, alice, "Alice's own")
    harness.server.voices = [v for v in harness.server.voices if v.voice_id != gone]
    assert await delete_clone(harness, alice) == [clones_deleted([], ["Alice's own"], [])]
    assert await harness.live_engine.preferences.clones(alice) == []

    kept = await seed_clone(harness, bob, "Bob's own")
    retries = harness.live_engine.settings.asyncflow.max_retries
    harness.server.faults += [Fault.server_error(applies_to=f"/voices/{kept}") for _ in range(retries + 1)]
    assert await delete_clone(harness, bob) == [clones_deleted([], [], ["Bob's own"])]
    assert [c.voice_id for c in await harness.live_engine.preferences.clones(bob)] == [kept]
    assert (await harness.live_engine.preferences.member(bob)).voice_id == kept  # still works for Bob

    assert await delete_clone(harness, bob) == [clones_deleted(["Bob's own"], [], [])]  # trying again works
    assert harness.server.find_voice(kept) is None


async def test_forget_me_deletes_the_clone_at_asyncflow_and_says_so(harness: BotHarness) -> None:
    (alice,) = in_voice(harness, "Alice")
    clone = await seed_clone(harness, alice, "Alice's own")
    (answer,) = await harness.command(alice, "forget-me")
    assert answer.endswith("\n" + clones_deleted(["Alice's own"], [], []))
    assert harness.server.delete_requests == [clone]
    assert harness.server.find_voice(clone) is None
    assert await harness.live_engine.preferences.clones(alice) == []


async def test_forget_me_keeps_a_clone_asyncflow_could_not_delete(harness: BotHarness) -> None:
    (alice,) = in_voice(harness, "Alice")
    clone = await seed_clone(harness, alice, "Alice's own")
    retries = harness.live_engine.settings.asyncflow.max_retries
    harness.server.faults += [Fault.server_error(applies_to=f"/voices/{clone}") for _ in range(retries + 1)]
    (answer,) = await harness.command(alice, "forget-me")
    assert answer.endswith("\n" + clones_deleted([], [], ["Alice's own"]))
    assert [c.voice_id for c in await harness.live_engine.preferences.clones(alice)] == [clone]
    assert (await harness.live_engine.preferences.member(alice)).voice_id is None  # the rest is forgotten
