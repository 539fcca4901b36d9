"""Command line: ``python -m bot [run | say | voices | check | copy-storage]``."""

from __future__ import annotations

import argparse
import asyncio
import ctypes.util
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import discord

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import AsyncFlowError
from cogs.engine.config import ConfigError, Settings, load_settings, misspelled_variables
from cogs.engine.engine import load_opus
from cogs.engine.store.sqlite_to_postgres import CopyRefused, copy_sqlite_to_postgres, describe
from cogs.engine.words import describe_error

from .logs import configure_logging
from .runner import run_bot
from .say_to_file import say_to_file

DISTRIBUTION = "asyncflow-discord-tts"
"""The name in pyproject.toml, whose version ``--version`` prints."""


def version() -> str:
    """The installed distribution's version; from a checkout that was never installed, pyproject.toml's."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        import tomllib

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            with pyproject.open("rb") as file:
                return str(tomllib.load(file)["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A Discord bot that speaks text in voice channels with AsyncFlow.",
    )
    parser.add_argument("--config", type=Path, help="config file (default: $TTSBOT_CONFIG, else ./config.toml)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log the bot's own debug details (libraries stay quiet)"
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the bot (the default)")
    say = commands.add_parser("say", help="speak TEXT into a WAV file, exactly as a voice channel would hear it")
    say.add_argument("text", metavar="TEXT")
    say.add_argument("--out", type=Path, required=True, metavar="FILE.wav")
    say.add_argument("--voice", metavar="ID", help="AsyncFlow voice id (default: asyncflow.voice_id)")
    commands.add_parser("voices", help="list AsyncFlow voices")
    commands.add_parser("check", help="check the config, libopus, davey and the AsyncFlow key")
    copy = commands.add_parser("copy-storage", help="copy a SQLite preferences file into PostgreSQL")
    copy.add_argument("--from", dest="source", type=Path, metavar="PATH", help="default: storage.sqlite_path")
    copy.add_argument("--to", dest="target", metavar="URL", help="postgresql://… (default: storage.url, STORAGE_URL)")
    copy.add_argument("--replace", action="store_true", help="delete what the target holds first (else refused)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for warning in misspelled_variables():
        print(f"warning: {warning}", file=sys.stderr)
    try:
        settings = load_settings(args.config)
        configure_logging(settings, verbose=args.verbose)
        command = args.command or "run"
        if command == "run":
            asyncio.run(run_bot(settings))
            return 0
        if command == "say":
            return asyncio.run(say_to_file(settings, args.text, args.out, args.voice))
        if command == "voices":
            return asyncio.run(list_voices(settings))
        if command == "copy-storage":
            return asyncio.run(copy_storage(settings, args.source, args.target, replace=args.replace))
        return asyncio.run(check(settings))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def copy_storage(settings: Settings, source: Path | None, target: str | None, *, replace: bool) -> int:
    """Copy the SQLite file into PostgreSQL and print the rows of each table; 1 if the target isn't empty."""
    source = source or settings.storage.sqlite_path
    target = target or (settings.storage.url.get_secret_value() if settings.storage.url else None)
    if not target:
        raise ConfigError("copy-storage needs a PostgreSQL target: set STORAGE_URL (storage.url) or pass --to URL")
    try:
        copied = await copy_sqlite_to_postgres(source, target, replace=replace)
    except CopyRefused as refused:
        print(refused, file=sys.stderr)
        return 1
    print(describe(source, target, copied))
    return 0


async def list_voices(settings: Settings) -> int:
    client = AsyncFlowClient(settings.asyncflow, settings.require_api_key())
    try:
        voices = await client.list_voices()
    except AsyncFlowError as error:
        print(describe_error(error), file=sys.stderr)
        return 1
    finally:
        await client.aclose()
    rows = [(v.id, v.name, v.language or "-", v.gender or "-") for v in voices]
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in enumerate(("ID", "NAME", "LANGUAGE"))]
    print(f"{'ID':<{widths[0]}}  {'NAME':<{widths[1]}}  {'LANGUAGE':<{widths[2]}}  GENDER")
    for voice_id, name, language, gender in rows:
        print(f"{voice_id:<{widths[0]}}  {name:<{widths[1]}}  {language:<{widths[2]}}  {gender}")
    print(f"{len(rows)} voices")
    return 0


async def check(settings: Settings) -> int:
    """Report each prerequisite on its own line; exit non-zero if any fails."""
    failures = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"[{'ok' if ok else 'FAIL'}] {what}: {detail}")

    report(
        True,
        "config",
        f"model {settings.asyncflow.model_id}, endpoint {settings.asyncflow.endpoint}, "
        f"API {settings.asyncflow.base_url}",
    )
    has_token = settings.discord.token is not None and bool(settings.discord.token.get_secret_value().strip())
    report(
        has_token, "discord.token", "set" if has_token else "missing: set DISCORD_TOKEN (only needed to run the bot)"
    )
    opus_ok = load_opus()
    report(
        opus_ok,
        "libopus",
        f"loaded ({discord.opus._OpusStruct.get_opus_version()})"
        if opus_ok
        else f"not found (found library: {ctypes.util.find_library('opus')}); apt-get install libopus0",
    )
    try:
        import davey

        report(True, "davey (DAVE voice encryption)", f"protocol version {davey.DAVE_PROTOCOL_VERSION}")
    except ImportError:
        report(False, "davey (DAVE voice encryption)", "not installed: pip install 'discord.py[voice]>=2.7.1'")
    try:
        api_key = settings.require_api_key()
    except ConfigError as error:
        report(False, "asyncflow.api_key", str(error))
        return 1
    client = AsyncFlowClient(settings.asyncflow, api_key)
    try:
        status = await client.status()
        report(True, "AsyncFlow status", f"{status}")
        voices = await client.list_voices(page_size=100, max_pages=1)
        report(True, "AsyncFlow API key", f"accepted ({len(voices)} voices on the first page)")
    except AsyncFlowError as error:
        report(False, "AsyncFlow", describe_error(error))
    finally:
        await client.aclose()
    return 1 if failures else 0
