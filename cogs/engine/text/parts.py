"""The cleaner's vocabulary, shared by every step: what a message is made of, how to say it, and small helpers.

The bottom of ``text/``: it imports no other module of ours, so every step may import it without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol, TypeAlias

__all__ = [
    "DEFAULT_OPTIONS",
    "ESCAPE_BASE",
    "MAX_NAME_CHARS",
    "SCHEME",
    "Attachment",
    "CleanOptions",
    "EmojiMode",
    "MessageParts",
    "Names",
    "TokenContext",
    "TokenHandler",
    "speakable",
]

EmojiMode = Literal["name", "skip"]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str | None = None
    """MIME type as Discord reports it, e.g. "image/png", "video/mp4", "audio/ogg"."""


@dataclass(frozen=True, slots=True)
class MessageParts:
    """Everything about a Discord message the cleaner may speak, already extracted from discord.py objects."""

    content: str
    attachments: tuple[Attachment, ...] = ()
    stickers: tuple[str, ...] = ()
    """Sticker names."""
    poll_question: str | None = None
    reply_to: str | None = None
    """Spoken name of the author being replied to."""
    forwarded: bool = False
    """A forwarded message (its text, if any, is in ``content``)."""
    voice_message: bool = False
    """A recorded voice message (its audio attachment is not described separately)."""


@dataclass(frozen=True, slots=True)
class Names:
    """How to say mentioned things: id -> display name (missing ids get a generic word)."""

    users: Mapping[int, str] = field(default_factory=dict)
    roles: Mapping[int, str] = field(default_factory=dict)
    channels: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CleanOptions:
    max_length: int = 300
    """Characters of spoken output at most (before ", and more")."""
    emoji_mode: EmojiMode = "name"
    """"name": say emoji by name; "skip": leave them out."""
    repeated_characters: int = 3
    """Runs of one character longer than this are cut to this length; 0 = off."""


DEFAULT_OPTIONS: Final = CleanOptions()

MAX_NAME_CHARS: Final = 100
"""Mentioned names, sticker names and poll questions are cut to this (a name can't flood the budget)."""
ESCAPE_BASE: Final = 0xE000
"""Escaped ASCII punctuation is parked at U+E000 + code while markdown is stripped (input PUA is dropped)."""

SCHEME = r"(?:[Hh][Tt][Tt][Pp][Ss]?|(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+-]{1,15})://"
"""http(s) wherever it starts (so "0https://" or "see.https://" never leak a URL); other schemes at a word start."""


class TokenContext(Protocol):
    """What a handler of one Discord token may use; :mod:`.tokens` owns the pass that implements it."""

    @property
    def names(self) -> Names: ...

    @property
    def options(self) -> CleanOptions: ...

    def replace(self, text: str) -> str:
        """The same token pass over text found inside a token (inline code, a masked link's text)."""


TokenHandler: TypeAlias = Callable[[re.Match[str], TokenContext], str]
"""The words for one token match (:data:`.tokens._TOKEN_HANDLERS` maps each rule to one)."""


def speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
