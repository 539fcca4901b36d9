"""What ``python -m bot say`` is given, checked before anything is paid for: TEXT, ``--out`` and ``--voice``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import AsyncFlowError
from cogs.engine.asyncflow.voices import VoiceCatalog
from cogs.engine.config import AsyncFlowSettings

from .admin_words import ambiguous_voice, describe_for_admin, unknown_voice

STDIN = "-"
"""TEXT ``-`` reads the text from stdin; ``--out -`` writes the WAV to stdout."""
USAGE_ERROR = 2
REFUSED = 1


class SayRefused(Exception):
    """``say`` stops before (or instead of) speaking: ``str()`` is the one line for the admin."""

    def __init__(self, message: str, exit_code: int = REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def read_text(argument: str, stdin: BinaryIO) -> str:
    """TEXT as given, or stdin's when it is ``-``; refused unless it is UTF-8 (before any request is made)."""
    if argument == STDIN:
        data = stdin.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SayRefused(
                f"stdin is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}): "
                "convert it first, e.g. `iconv -t UTF-8 FILE | python -m bot say - --out FILE.wav`",
                USAGE_ERROR,
            ) from None
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError as error:
        # Bytes that aren't UTF-8 reach Python's argv as lone surrogates (PEP 383); give back the byte.
        byte = ord(argument[error.start]) - 0xDC00
        raise SayRefused(
            f"TEXT is not UTF-8 (byte 0x{byte:02x} at character {error.start}): set the terminal to UTF-8, "
            "or pipe the text through `iconv -t UTF-8` into `python -m bot say -`",
            USAGE_ERROR,
        ) from None
    return argument


def output_problem(out: str) -> str | None:
    """Why ``--out`` can't be written, or None; checked before the request is paid for."""
    if out == STDIN:
        return None
    path = Path(out)
    if path.is_dir():
        return f"--out {out} is a folder: give a file name, e.g. --out {path / 'speech.wav'}"
    folder = path.parent
    if not folder.is_dir():
        return f"--out {out}: the folder {folder} does not exist: create it, or write somewhere else"
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"--out {out} can't be written (permission denied): write somewhere else, or fix its permissions"
    return None


async def resolve_voice(typed: str, catalog: VoiceCatalog, client: AsyncFlowClient, api: AsyncFlowSettings) -> str:
    """``--voice``: a voice id, or a voice's name in any case; the id. The list is the one ``/say`` checks with."""
    voices = await catalog.voices()
    if not catalog.has_list:
        try:  # the catalog only logs why; ask once more, for the reason to show
            voices = await client.list_voices()
        except AsyncFlowError as error:
            raise SayRefused(describe_for_admin(error, api)) from None
    if any(voice.id == typed for voice in voices):
        return typed
    named = [voice.id for voice in voices if voice.name.casefold() == typed.strip().casefold()]
    if len(named) > 1:
        raise SayRefused(ambiguous_voice(typed, named))
    if not named:
        raise SayRefused(unknown_voice(typed))
    return named[0]
