"""Logging for the bundled runner: the project's own loggers at ``[logging] level``, everyone else's kept quiet.

discord.py's DEBUG lines carry whole gateway payloads (interaction tokens, voice tokens, message content) and
httpx's carry request headers, so libraries stay at WARNING whatever the level (discord.py at INFO, for its
connection lines); ``-v`` raises only the project's loggers. Belt and braces: the handler's filter replaces the
API key, the bot token and the storage URL's password wherever they would appear, in a message or a traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from cogs.engine.config import LoggingSettings, Settings
from cogs.engine.store.postgres_url import storage_url_secrets

PROJECT_LOGGERS = ("bot", "cogs", "asyncflow_tts")
"""The project's loggers (``asyncflow_tts`` is the installed name of ``cogs``): ``level`` and ``-v`` apply to them."""
LIBRARY_LEVELS = {"discord": logging.INFO}
"""Libraries allowed above the root's WARNING: discord.py's INFO lines are connections, shards and voice handshakes."""
LIBRARY_DEFAULT_LEVEL = logging.WARNING
"""Every other logger (httpx, httpcore, asyncio, aiosqlite, discord.py's DEBUG payloads) whatever the level."""
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 8
"""Shorter values are no real key or token, and replacing them would mangle every line (``DISCORD_TOKEN=x``)."""
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replaces each known secret value in a record's message, exception text and stack with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def project_level(settings: LoggingSettings, *, verbose: bool) -> int:
    return logging.DEBUG if verbose else logging.getLevelNamesMapping()[settings.level]


def configure_logging(settings: Settings, *, verbose: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """Log to ``stream`` (stderr) as ``python -m bot`` does; returns the handler it put on the root logger."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.logging.format == "json" else logging.Formatter(TEXT_FORMAT))
    secrets = [s.get_secret_value().strip() for s in (settings.asyncflow.api_key, settings.discord.token) if s]
    if settings.storage.url is not None:
        secrets += storage_url_secrets(settings.storage.url.get_secret_value())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(LIBRARY_DEFAULT_LEVEL)
    for name, level in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    level = project_level(settings.logging, verbose=verbose)
    for name in PROJECT_LOGGERS:
        logging.getLogger(name).setLevel(level)
    return handler
