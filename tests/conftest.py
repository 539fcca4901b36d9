"""Shared fixtures: a live AsyncFlow stand-in on 127.0.0.1 and settings that point at it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.logs import LIBRARY_LEVELS, PROJECT_LOGGERS
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.config import AsyncFlowSettings, LimitsSettings, Settings, SpeechSettings
from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``python -m bot``'s logging setup (``bot/logs.py``) changes process-wide loggers, and tests run ``cli.main``
    in-process: put them back for the next test in this worker, whose stderr capture is another stream."""
    root = logging.getLogger()
    names = [*PROJECT_LOGGERS, *LIBRARY_LEVELS]
    levels = {name: logging.getLogger(name).level for name in names}
    handlers, root_level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def asyncflow() -> AsyncIterator[FakeAsyncFlow]:
    async with FakeAsyncFlow() as server:
        yield server


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(asyncflow: FakeAsyncFlow, tmp_path: Path) -> SettingsFactory:
    """Settings aimed at the stand-in, with short timeouts so fault tests finish quickly."""

    def make(
        asyncflow_overrides: dict[str, Any] | None = None,
        speech_overrides: dict[str, Any] | None = None,
        limits_overrides: dict[str, Any] | None = None,
    ) -> Settings:
        api = {
            "api_key": DEFAULT_API_KEY,
            "base_url": asyncflow.base_url,
            "connect_timeout": 2.0,
            "first_byte_timeout": 2.0,
            "chunk_timeout": 1.0,
            "max_retries": 2,
            "max_retry_wait": 5.0,
        }
        speech = {"prebuffer_ms": 60, "read_ahead_ms": 1000, "leave_when_alone_after": 0.05, "connect_timeout": 2.0}
        return Settings.model_validate(
            {
                "asyncflow": AsyncFlowSettings.model_validate({**api, **(asyncflow_overrides or {})}),
                "speech": SpeechSettings.model_validate({**speech, **(speech_overrides or {})}),
                # Rate limits and budgets are off unless a test is about them.
                "limits": LimitsSettings.model_validate(
                    {
                        "member_messages_per_minute": 0,
                        "server_messages_per_minute": 0,
                        **(limits_overrides or {}),
                    }
                ),
                "storage": {"sqlite_path": tmp_path / "preferences.sqlite3"},
            }
        )

    return make


class RecordedSleeps:
    """Stands in for asyncio.sleep in the client so retry waits are checked, not waited out."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def make_client(
    make_settings: SettingsFactory, sleeps: RecordedSleeps
) -> AsyncIterator[Callable[..., AsyncFlowClient]]:
    clients: list[AsyncFlowClient] = []

    def make(**overrides: Any) -> AsyncFlowClient:
        settings = make_settings(overrides)
        client = AsyncFlowClient(settings.asyncflow, settings.require_api_key(), sleep=sleeps)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# The preferences backends (SQLite, PostgreSQL) for the store tests that run on both.
from tests.store_backends import backend, postgres_url, store  # noqa: E402, F401
