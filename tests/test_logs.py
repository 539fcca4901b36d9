"""Logs: ``[logging] level`` and ``format``, ``-v`` for the project's loggers only, and no secret at any level.

The secrets test configures logging exactly as ``python -m bot -v`` does (``bot.logs.configure_logging``), then
runs members through the real harness with gateway payloads fed through discord.py's own ``DiscordWebSocket`` (whose
DEBUG line would print each payload whole), and searches everything the handler wrote.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from pydantic import SecretStr

from bot.logs import REDACTED, configure_logging
from cogs.engine.config import DiscordSettings, LoggingSettings, Settings, StorageSettings
from tests.asyncflow_server import DEFAULT_API_KEY, FakeAsyncFlow, Fault
from tests.bot_harness import BotHarness
from tests.conftest import SettingsFactory
from tests.discord_fakes import Conversation, FakeDiscord

BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.bot-token-never-in-logs"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb24.interaction-token-never-in-logs"
VOICE_TOKEN = "voice-token-never-in-logs-5f3a"
SAID = "Periwinkle xylophones ask quietly"
READ = "Marmalade zeppelins drift sideways"
NOT_READ = "Obsidian kumquats remain unread"
SECRETS = [DEFAULT_API_KEY, BOT_TOKEN, INTERACTION_TOKEN, VOICE_TOKEN, "Periwinkle", "xylophone", "Marmalade"]
SECRETS += ["zeppelin", "Obsidian", "kumquat"]


def with_secrets(settings: Settings, **logging_options: Any) -> Settings:
    return settings.model_copy(
        update={
            "discord": DiscordSettings(token=SecretStr(BOT_TOKEN)),
            "logging": LoggingSettings.model_validate(logging_options),
        }
    )


def capture(settings: Settings, *, verbose: bool) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(settings, verbose=verbose, stream=stream)
    return stream


class Gateway:
    """Discord's side of the gateway socket: payloads go through discord.py's own ``received_message``."""

    def __init__(self, fake: FakeDiscord) -> None:
        bot = fake.bot
        self.fake = fake
        self.commands: list[asyncio.Task[Conversation]] = []
        ws = DiscordWebSocket(socket=None, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        ws.token = bot.http.token
        ws._connection = bot._connection
        ws._discord_parsers = {**bot._connection.parsers, "INTERACTION_CREATE": self._interaction}
        ws._dispatch = bot.dispatch
        ws.shard_id = None
        self.ws = ws
        self.sequence = 0

    def _interaction(self, data: dict[str, Any]) -> None:
        """discord.py's parser would answer over HTTP; the fakes record the replies instead."""
        interaction, conversation = self.fake.interaction_from_payload(data)

        async def run() -> Conversation:
            await self.fake.bot.tree._call(interaction)
            return conversation

        self.commands.append(asyncio.create_task(run()))

    async def send(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.ws.received_message(json.dumps({"op": 0, "t": event, "s": self.sequence, "d": data}))

    async def voice_server_update(self, token: str) -> None:
        data = {"token": token, "guild_id": str(self.fake.guild_id), "endpoint": "c-ams08.discord.media:443"}
        await self.send("VOICE_SERVER_UPDATE", data)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_no_secret_or_message_text_is_logged_at_debug(
    asyncflow: FakeAsyncFlow, make_settings: SettingsFactory, restore_logging: None, log_format: str
) -> None:
    settings = with_secrets(make_settings(), level="DEBUG", format=log_format)
    log = capture(settings, verbose=True)
    harness = await BotHarness.create(asyncflow, settings, ("cogs.speech", "cogs.reading", "cogs.server_settings"))
    fake = harness.fake
    fake.interaction_token = INTERACTION_TOKEN
    alice = fake.add_member("Alice", voice_channel_id=fake.voice_channel_id)
    fake.build_guild()
    gateway = Gateway(fake)
    try:
        await harness.command(alice, "link")
        asyncflow.faults.append(Fault.server_error())  # an API error, retried
        await gateway.send("INTERACTION_CREATE", fake.interaction_payload(alice, "say", {"text": SAID}))
        await gateway.voice_server_update(VOICE_TOKEN)
        await harness.wait_until_quiet()
        await gateway.send("MESSAGE_CREATE", fake.message_payload(alice, fake.text_channel_id, READ))
        await gateway.send("MESSAGE_CREATE", fake.message_payload(alice, fake.other_voice_channel_id, NOT_READ))
        await harness.wait_until_quiet()
        asyncflow.faults.append(Fault.invalid_key(api_key=DEFAULT_API_KEY[:6] + "..."))  # an API error, final
        await gateway.send("INTERACTION_CREATE", fake.interaction_payload(alice, "say", {"text": SAID}))
        await harness.wait_until_quiet()
        told = [(await command).texts for command in gateway.commands]
    finally:
        await harness.stop()

    # What members saw and AsyncFlow was asked proves the texts and tokens went through.
    assert told[1][-1] == "The server's AsyncFlow API key was rejected — an admin needs to update it."
    assert [t.removeprefix("Alice said, ") for t in harness.transcripts()] == [SAID, SAID, READ, SAID]  # a retry
    text = log.getvalue()
    # It captured the project's DEBUG and INFO lines (an empty log can't pass).
    assert "not reading message" in text  # cogs.engine.playback.reading, DEBUG
    assert "AsyncFlow ServerError; retrying in" in text  # cogs.engine.asyncflow.client, INFO
    if log_format == "json":
        records = [json.loads(line) for line in text.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(records[0])
        assert any(r["level"] == "DEBUG" and r["logger"].startswith("cogs.") for r in records)
    found = [secret for secret in SECRETS if secret.lower() in text.lower()]
    assert found == [], text

    # The control: with discord.py's loggers at DEBUG, the same gateway feed puts the voice token in this log.
    logging.getLogger("discord").setLevel(logging.DEBUG)
    await gateway.voice_server_update(VOICE_TOKEN)
    assert VOICE_TOKEN in log.getvalue()


def emit_from_every_kind_of_logger() -> None:
    for name in ("bot.runner", "cogs.engine.engine", "asyncflow_tts.engine.engine"):
        logging.getLogger(name).debug("own debug line from %s", name)
    logging.getLogger("discord.client").info("discord info line")
    logging.getLogger("discord.gateway").debug("discord debug payload")
    for name in ("httpx", "httpcore.http11", "asyncio", "aiosqlite"):
        logging.getLogger(name).info("library info line from %s", name)
        logging.getLogger(name).warning("library warning from %s", name)


def loggers_in(text: str) -> list[str]:
    return [line.split()[3].rstrip(":") for line in text.splitlines()]


def test_verbose_raises_only_the_projects_loggers(make_settings: SettingsFactory, restore_logging: None) -> None:
    log = capture(with_secrets(make_settings()), verbose=True)
    emit_from_every_kind_of_logger()
    assert loggers_in(log.getvalue()) == [
        "bot.runner",
        "cogs.engine.engine",
        "asyncflow_tts.engine.engine",
        "discord.client",  # INFO: connections and shards
        "httpx",  # warnings only
        "httpcore.http11",
        "asyncio",
        "aiosqlite",
    ]
    assert "discord debug payload" not in log.getvalue() and "library info line" not in log.getvalue()


def test_the_level_applies_to_the_projects_loggers(make_settings: SettingsFactory, restore_logging: None) -> None:
    log = capture(with_secrets(make_settings(), level="warning"), verbose=False)
    logging.getLogger("cogs.engine.engine").info("an info line")
    logging.getLogger("bot.runner").warning("a warning")
    assert log.getvalue().count("\n") == 1 and "a warning" in log.getvalue()

    log = capture(with_secrets(make_settings()), verbose=False)  # the default, INFO
    logging.getLogger("cogs.engine.engine").debug("a debug line")
    logging.getLogger("cogs.engine.engine").info("an info line")
    assert "an info line" in log.getvalue() and "a debug line" not in log.getvalue()


def test_json_is_one_object_per_line_with_the_exception(make_settings: SettingsFactory, restore_logging: None) -> None:
    log = capture(with_secrets(make_settings(), format="json"), verbose=False)
    logging.getLogger("cogs.speech").info("first line\nsecond line")
    try:
        raise ValueError("it broke")
    except ValueError:
        logging.getLogger("bot.runner").exception("command failed")
    first, second = (json.loads(line) for line in log.getvalue().splitlines())
    assert first["message"] == "first line\nsecond line" and "exception" not in first
    assert (first["level"], first["logger"]) == ("INFO", "cogs.speech")
    assert first["time"].endswith("+00:00")
    assert second["message"] == "command failed"
    assert second["exception"].startswith("Traceback") and "ValueError: it broke" in second["exception"]


def test_the_key_and_the_token_are_redacted_wherever_they_would_appear(
    make_settings: SettingsFactory, restore_logging: None
) -> None:
    """Belt and braces, for a line someone adds later: the handler replaces the known secret values."""
    log = capture(with_secrets(make_settings()), verbose=False)
    logging.getLogger("cogs.engine.engine").info("key %s token %s", DEFAULT_API_KEY, BOT_TOKEN)
    try:
        raise RuntimeError(f"failed with {BOT_TOKEN}")
    except RuntimeError:
        logging.getLogger("bot.runner").exception("while using %s", DEFAULT_API_KEY)
    text = log.getvalue()
    assert DEFAULT_API_KEY not in text and BOT_TOKEN not in text
    assert text.count(REDACTED) == 4
    assert f"key {REDACTED} token {REDACTED}" in text


def test_the_storage_urls_password_is_redacted_wherever_it_would_appear(
    make_settings: SettingsFactory, restore_logging: None
) -> None:
    """STORAGE_URL holds the PostgreSQL password: a line that quotes the URL or the password shows neither."""
    password = "pg-pass%2Fword-4711"  # percent-encoded in the URL: "pg-pass/word-4711" is what the server sees
    url = f"postgresql://tts:{password}@db.internal:5432/tts"
    settings = with_secrets(make_settings()).model_copy(
        update={"storage": StorageSettings(url=SecretStr(url), sqlite_path=Path("unused.sqlite3"))}
    )
    log = capture(settings, verbose=False)
    logging.getLogger("cogs.engine.store").info("connecting to %s", url)
    logging.getLogger("cogs.engine.store").info("password %s, decoded %s", password, "pg-pass/word-4711")
    text = log.getvalue()
    assert "pg-pass" not in text
    assert text.count(REDACTED) == 3
