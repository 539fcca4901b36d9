"""Command line: ``python -m bot [run | say | voices | check | copy-storage]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import AsyncFlowError
from cogs.engine.config import ConfigError, Settings, load_settings, misspelled_variables
from cogs.engine.store.sqlite_to_postgres import CopyRefused, copy_sqlite_to_postgres, describe

from .admin_words import EXIT_STATUSES, describe_for_admin
from .check import CHECK_TEXT, check
from .logs import configure_logging
from .runner import StartupError, run_bot
from .say_to_file import PROGRESS_EVERY_S, say_to_file

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


GLOBAL_OPTIONS_HELP = "global options (before or after the command)"
EPILOG = "\n".join(
    [
        "exit status:",
        *(f"  {code:<4} {meaning}" for code, meaning in EXIT_STATUSES.items()),
        "",
        "run `python -m bot check` first: it tests everything the bot needs, with one tiny real speech request.",
    ]
)


def _global_options(*, defaults: bool) -> argparse.ArgumentParser:
    """``--config`` and ``-v``, accepted before the command and after it. Under a command their defaults are
    SUPPRESS, so an option given before it is not overwritten there."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group(GLOBAL_OPTIONS_HELP)
    group.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        default=None if defaults else argparse.SUPPRESS,
        help="config file (default: $TTSBOT_CONFIG, else ./config.toml); environment variables win over it",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="log the bot's own debug details (libraries stay quiet, secrets are never logged)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A Discord bot that speaks text in voice channels with AsyncFlow.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"{DISTRIBUTION} {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    options = [_global_options(defaults=False)]

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=summary,
            parents=options,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command("run", "run the bot (the default when no command is given); needs DISCORD_TOKEN")
    say = command("say", "speak TEXT into a WAV file, exactly as a voice channel would hear it (/say's road)")
    say.add_argument("text", metavar="TEXT", help="the words to speak; - reads them from stdin (UTF-8)")
    say.add_argument(
        "--out", required=True, metavar="FILE.wav", help="the WAV file to write (48 kHz stereo); - writes to stdout"
    )
    say.add_argument(
        "--voice", metavar="NAME|ID", help="a voice name (any case) or id from `voices` (default: asyncflow.voice_id)"
    )
    say.add_argument(
        "--progress-every",
        type=float,
        default=PROGRESS_EVERY_S,
        metavar="SECONDS",
        help=f"seconds between progress lines on stderr as a long text plays (default {PROGRESS_EVERY_S:g}; 0: none)",
    )
    command("voices", "list the AsyncFlow voices your key can use: id, name, language, gender")
    check = command(
        "check",
        "check the configuration, libopus, davey, the AsyncFlow key and voice, then speak a test word "
        f"({len(CHECK_TEXT)} characters of your quota)",
    )
    check.add_argument("--offline", action="store_true", help="skip every network step (nothing is sent to AsyncFlow)")
    copy = command("copy-storage", "copy a SQLite preferences file into PostgreSQL")
    copy.add_argument(
        "--from", dest="source", type=Path, metavar="PATH", help="the SQLite file (default: storage.sqlite_path)"
    )
    copy.add_argument("--to", dest="target", metavar="URL", help="postgresql://… (default: storage.url, STORAGE_URL)")
    copy.add_argument("--replace", action="store_true", help="delete what the target holds first (else refused)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    for warning in misspelled_variables():
        print(f"warning: {warning}", file=sys.stderr)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:  # every problem it has (check's first finding, too): nothing else is tried
        print(error, file=sys.stderr)
        return 2
    try:
        configure_logging(settings, verbose=args.verbose)
        if command == "run":
            asyncio.run(run_bot(settings))
            return 0
        if command == "say":
            return asyncio.run(
                say_to_file(settings, args.text, args.out, args.voice, progress_every=args.progress_every)
            )
        if command == "voices":
            return asyncio.run(list_voices(settings))
        if command == "copy-storage":
            return asyncio.run(copy_storage(settings, args.source, args.target, replace=args.replace))
        return asyncio.run(check(settings, offline=args.offline))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    except StartupError as error:
        print(error, file=sys.stderr)
        return error.exit_code
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
        print(describe_for_admin(error, settings.asyncflow), file=sys.stderr)
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
