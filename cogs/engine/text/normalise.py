"""Step 1: plain, bounded Unicode before any markup is parsed (see :mod:`.cleaner` for the whole order)."""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Final

import emoji

__all__ = ["MARK_CLASS", "MAX_COMBINING_MARKS", "normalise"]

MAX_COMBINING_MARKS: Final = 2


# -- Unicode tables, built once at import (~30 ms) ---------------------------------------------------------


def _unicode_classes() -> tuple[str, str]:
    """Regex character classes (without brackets) of characters to drop and of combining marks."""
    drop: list[list[int]] = []
    marks: list[list[int]] = []

    def add(ranges: list[list[int]], cp: int) -> None:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])

    for cp in itertools.chain(range(0x30000), range(0xE0000, 0xE1000)):
        category = unicodedata.category(chr(cp))
        if category in ("Mn", "Me"):
            add(marks, cp)
        elif category in ("Cc", "Cs", "Co", "Cf") and not (
            cp in (0x09, 0x0A, 0x200D) or 0xE0020 <= cp <= 0xE007F  # tab, newline; ZWJ and tags build emoji
        ):
            add(drop, cp)
    drop.append([0xF0000, 0x10FFFF])  # supplementary private use planes

    def as_class(ranges: list[list[int]]) -> str:
        return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)

    return as_class(drop), as_class(marks)


_DROP_CLASS, _MARK_CLASS = _unicode_classes()
MARK_CLASS: Final = _MARK_CLASS
"""Combining marks (Mn, Me), as a regex class without brackets."""
_NFKC_KEEP_CHARS: Final = frozenset(
    key for key in emoji.EMOJI_DATA if len(key) == 1 and unicodedata.normalize("NFKC", key) != key
)
"""Emoji that NFKC would turn into letters (™ → TM, ‼ → !!, 🈁 → ココ): left alone so they are named."""


# -- 1. normalise ------------------------------------------------------------------------------------------

_NEWLINES = re.compile(r"\r\n?|[\u2028\u2029\x85\x0b\x0c]")
_UNSPEAKABLE = re.compile(f"[{_DROP_CLASS}]+")
_ZALGO = re.compile(f"(?<=[{_MARK_CLASS}]{{{MAX_COMBINING_MARKS}}})[{_MARK_CLASS}]+")
_NFKC_KEEP = re.compile(
    "([" + "".join(re.escape(ch) for ch in sorted(_NFKC_KEEP_CHARS)) + "])" if _NFKC_KEEP_CHARS else "(?!)"
)


def normalise(text: str) -> str:
    """Plain, bounded Unicode: no invisible or private characters, no mark towers, compatibility forms folded."""
    text = _NEWLINES.sub("\n", text)
    text = _UNSPEAKABLE.sub("", text)
    if text.isascii():
        return text
    text = _ZALGO.sub("", text)
    if unicodedata.is_normalized("NFKC", text):
        return text
    pieces = _NFKC_KEEP.split(text)  # odd indexes are the kept emoji
    return "".join(piece if i % 2 else unicodedata.normalize("NFKC", piece) for i, piece in enumerate(pieces))
