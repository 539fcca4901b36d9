"""The voice catalog against the real HTTP stand-in: a slow or failing voice list never makes a caller wait long.

Discord abandons an interaction not answered within 3 seconds, so what matters is what a caller notices:
``cached_name`` answers at once, ``find`` gives up after ``fetch_timeout``, a failure is not retried for
``retry_after_failure`` seconds (counted in requests the stand-in received), and one refresh serves everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.voices import VoiceCatalog
from tests.asyncflow_server import DEFAULT_API_KEY, DEMO_VOICE_ID, FakeAsyncFlow, Fault

MakeClient = Callable[..., AsyncFlowClient]

SLOW = 5.0
"""A voice list slower than any fetch_timeout here: a caller who returns before it ended did not wait for it."""


class Clock:
    """Stands in for time.monotonic so "30 s later" needs no waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def has_list(catalog: VoiceCatalog) -> bool:
    """``catalog.has_list`` read through a call, so mypy does not keep it narrowed across the awaits between checks."""
    return catalog.has_list


def voice_list_requests(asyncflow: FakeAsyncFlow) -> int:
    return len([r for r in asyncflow.requests if (r.method, r.path) == ("POST", "/voices")])


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run (the catalog's background refresh) until ``condition`` holds."""
    async with asyncio.timeout(10):  # a hang guard, not a measurement
        while not condition():
            await asyncio.sleep(0.01)


def failing_voice_list() -> list[Fault]:
    """Enough 503s for every attempt of one refresh (the first try and ``max_retries`` = 2)."""
    return [Fault.gateway_error(503, applies_to="voices") for _ in range(3)]


@pytest.fixture
def demo_name(asyncflow: FakeAsyncFlow) -> str:
    voice = asyncflow.find_voice(DEMO_VOICE_ID)
    assert voice is not None
    return voice.name


async def test_cached_name_answers_at_once_and_the_name_once_the_background_refresh_is_done(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, demo_name: str
) -> None:
    asyncflow.faults.append(Fault.delay(0.3, applies_to="voices"))
    catalog = VoiceCatalog(make_client(first_byte_timeout=10.0), fetch_timeout=10.0)

    assert catalog.cached_name(DEMO_VOICE_ID) is None  # never fetched: no waiting for the slow list
    assert not has_list(catalog)
    assert asyncflow.delays_completed == 0

    await until(lambda: catalog.cached_name(DEMO_VOICE_ID) is not None)
    assert catalog.cached_name(DEMO_VOICE_ID) == demo_name
    assert has_list(catalog)
    assert asyncflow.delays_completed == 1
    assert voice_list_requests(asyncflow) == 1  # every cached_name() above shared one refresh
    await catalog.aclose()


async def test_cached_name_returns_none_at_once_while_the_list_is_slow_and_the_failure_is_not_retried(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.faults.append(Fault.delay(SLOW, applies_to="voices"))
    catalog = VoiceCatalog(make_client(), fetch_timeout=0.3)

    assert catalog.cached_name(DEMO_VOICE_ID) is None
    await until(lambda: voice_list_requests(asyncflow) == 1)  # the background refresh asked, and is held
    assert catalog.cached_name(DEMO_VOICE_ID) is None
    assert asyncflow.delays_completed == 0

    assert await catalog.voices() == []  # waits for the same refresh, which gives up after fetch_timeout
    assert asyncflow.delays_completed == 0  # ...before the stand-in's delay ended
    assert not has_list(catalog)
    for _ in range(5):
        assert catalog.cached_name(DEMO_VOICE_ID) is None
        assert await catalog.find(DEMO_VOICE_ID) is None
    await asyncio.sleep(0.05)  # room for a refresh that should not start
    assert voice_list_requests(asyncflow) == 1
    await catalog.aclose()


async def test_find_returns_within_its_timeout_when_the_list_is_slow(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.faults.append(Fault.delay(SLOW, applies_to="voices"))
    catalog = VoiceCatalog(make_client(), fetch_timeout=0.3)

    assert await catalog.find(DEMO_VOICE_ID) is None
    assert asyncflow.delays_completed == 0  # returned before the stand-in's delay ended
    assert voice_list_requests(asyncflow) == 1
    assert not has_list(catalog)  # "voice list unavailable", not "unknown voice"
    assert await catalog.name_of(DEMO_VOICE_ID) is None
    assert await catalog.search("eth") == []
    assert voice_list_requests(asyncflow) == 1
    await catalog.aclose()


async def test_a_failed_refresh_is_not_retried_before_retry_after_failure(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, demo_name: str
) -> None:
    clock = Clock()
    asyncflow.faults += failing_voice_list()
    catalog = VoiceCatalog(make_client(), retry_after_failure=30.0, clock=clock)

    assert await catalog.find(DEMO_VOICE_ID) is None
    assert asyncflow.faults == []
    after_failure = voice_list_requests(asyncflow)

    clock.now += 29.0
    assert catalog.cached_name(DEMO_VOICE_ID) is None
    assert await catalog.find(DEMO_VOICE_ID) is None
    assert await catalog.name_of(DEMO_VOICE_ID) is None
    assert await catalog.search("") == []
    assert await catalog.voices() == []
    assert voice_list_requests(asyncflow) == after_failure
    assert not has_list(catalog)

    clock.now += 1.0  # retry_after_failure has passed: the next caller fetches again
    voice = await catalog.find(DEMO_VOICE_ID)
    assert voice is not None
    assert voice.name == demo_name
    assert voice_list_requests(asyncflow) == after_failure + 1
    assert has_list(catalog)
    await catalog.aclose()


async def test_a_background_refresh_that_fails_is_not_retried_either(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    clock = Clock()
    asyncflow.faults += failing_voice_list()
    catalog = VoiceCatalog(make_client(), retry_after_failure=30.0, clock=clock)

    assert catalog.cached_name(DEMO_VOICE_ID) is None
    await until(lambda: asyncflow.faults == [])  # every attempt of the background refresh failed
    await catalog.voices()  # joins that refresh rather than starting one
    after_failure = voice_list_requests(asyncflow)
    for _ in range(5):
        assert catalog.cached_name(DEMO_VOICE_ID) is None
    await asyncio.sleep(0.05)
    assert voice_list_requests(asyncflow) == after_failure
    assert not has_list(catalog)
    await catalog.aclose()


async def test_a_stale_list_still_answers_while_its_refresh_fails(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, demo_name: str
) -> None:
    clock = Clock()
    catalog = VoiceCatalog(make_client(), ttl=600.0, retry_after_failure=30.0, clock=clock)
    assert await catalog.name_of(DEMO_VOICE_ID) == demo_name
    fetched = voice_list_requests(asyncflow)

    clock.now += 601.0
    asyncflow.faults += failing_voice_list()
    assert catalog.cached_name(DEMO_VOICE_ID) == demo_name  # the old list, at once; a refresh starts behind it
    assert await catalog.name_of(DEMO_VOICE_ID) == demo_name  # the failed refresh kept the old list
    assert asyncflow.faults == []
    after_failure = voice_list_requests(asyncflow)
    assert after_failure > fetched
    assert catalog.cached_name(DEMO_VOICE_ID) == demo_name
    assert await catalog.find("not-a-voice") is None
    assert has_list(catalog)  # so that None means "unknown voice"
    assert voice_list_requests(asyncflow) == after_failure
    await catalog.aclose()


async def test_concurrent_callers_share_one_refresh(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, demo_name: str
) -> None:
    asyncflow.faults.append(Fault.delay(0.2, applies_to="voices"))
    catalog = VoiceCatalog(make_client(first_byte_timeout=10.0), fetch_timeout=10.0)

    assert catalog.cached_name(DEMO_VOICE_ID) is None
    names = await asyncio.gather(*(catalog.name_of(DEMO_VOICE_ID) for _ in range(5)))
    assert names == [demo_name] * 5
    assert voice_list_requests(asyncflow) == 1  # 30 voices: one page
    await catalog.aclose()


async def test_aclose_cancels_a_background_refresh(asyncflow: FakeAsyncFlow, make_client: MakeClient) -> None:
    asyncflow.faults.append(Fault.delay(SLOW, applies_to="voices"))
    catalog = VoiceCatalog(make_client(first_byte_timeout=10.0), fetch_timeout=10.0)

    assert catalog.cached_name(DEMO_VOICE_ID) is None
    await until(lambda: voice_list_requests(asyncflow) == 1)
    await catalog.aclose()
    assert asyncflow.delays_completed == 0  # closed without waiting the delay out
    assert catalog.cached_name(DEMO_VOICE_ID) is None
    assert await catalog.find(DEMO_VOICE_ID) is None  # no new refresh once closed
    await asyncio.sleep(0.05)
    assert voice_list_requests(asyncflow) == 1


async def test_a_failed_refresh_is_logged_by_type_without_the_key(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    asyncflow.faults.append(Fault.invalid_key(DEFAULT_API_KEY[:5] + "...", applies_to="voices"))
    catalog = VoiceCatalog(make_client())

    assert catalog.cached_name(DEMO_VOICE_ID) is None
    await until(lambda: "could not list AsyncFlow voices" in caplog.text)
    assert "InvalidApiKey" in caplog.text
    assert DEFAULT_API_KEY not in caplog.text
    assert DEFAULT_API_KEY[:5] not in caplog.text
    await catalog.aclose()
