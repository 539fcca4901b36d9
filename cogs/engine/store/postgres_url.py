"""``storage.url`` for admins: shown without its password, and why a connection failed, in one line.

The password must never reach a log, a repr or an error: everything here that shows the URL or an
error about it removes the password first, and the exception chains of the errors are cut (``from
None``), since asyncpg's own messages may quote what they were given.
"""

from __future__ import annotations

import socket
from urllib.parse import unquote, urlsplit

import asyncpg

from ..config import ConfigError

WHERE = "storage.url (STORAGE_URL or [storage] url in config.toml)"


def redacted(url: str) -> str:
    """``url`` with its password (and any query string, which may hold one) left out."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "an unreadable postgresql:// URL"
    user = f"{unquote(parts.username)}@" if parts.username else ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return f"{parts.scheme}://{user}{host}{f':{port}' if port else ''}{parts.path}"


def storage_url_secrets(url: str) -> list[str]:
    """What of ``url`` must never be shown: the URL itself and its password, as written and decoded."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    passwords = {password, unquote(password)} - {""} if password else set()
    return [url, *sorted(passwords, key=len, reverse=True)]


def _without_secrets(text: str, url: str) -> str:
    text = text.replace(url, redacted(url))
    for secret in storage_url_secrets(url)[1:]:
        text = text.replace(secret, "***")
    return text


def open_error(error: BaseException, url: str) -> ConfigError:
    """What to tell the admin when connecting with ``url`` failed with ``error``."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as unreadable:  # a bad port, a broken [IPv6]: nothing of the URL can be shown safely
        return ConfigError(f"{WHERE} is not a valid postgresql:// URL ({unreadable}): fix it")
    shown = redacted(url)
    detail = _without_secrets(str(error) or type(error).__name__, url)
    database = unquote(parts.path.lstrip("/")) or "(the user's default)"
    if isinstance(error, asyncpg.InvalidPasswordError):
        return ConfigError(
            f"{WHERE}: PostgreSQL refused the password for {shown} ({detail}): check the user and password"
        )
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return ConfigError(
            f"{WHERE}: the database {database} does not exist on the server of {shown}: create it "
            f"(createdb -O <user> {database}) or fix the database name"
        )
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InsufficientPrivilegeError):
        return ConfigError(f"{WHERE}: PostgreSQL refused the login {shown} ({detail}): check the user and its rights")
    if isinstance(error, OSError | TimeoutError | socket.gaierror):
        return ConfigError(
            f"{WHERE}: cannot reach the PostgreSQL server of {shown} ({detail}): check the host and port, "
            "and that the server is running and accepts connections"
        )
    if isinstance(error, asyncpg.PostgresError):
        return ConfigError(f"{WHERE}: PostgreSQL refused {shown}: {type(error).__name__}: {detail}")
    return ConfigError(f"{WHERE}: {shown} can't be used ({type(error).__name__}: {detail}): fix the URL")
