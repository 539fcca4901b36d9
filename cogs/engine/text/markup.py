"""Steps 3-6 and 9: markdown at line starts and inline, escapes restored, whitespace, repeats, leftover symbols."""

from __future__ import annotations

import functools
import re
from typing import Final

from .links import say_link
from .parts import ESCAPE_BASE, SCHEME

__all__ = [
    "restore_escapes",
    "shorten_repeats",
    "squeeze_whitespace",
    "strip_inline_markup",
    "strip_line_markup",
    "strip_symbols",
]


# -- 3.-5. markdown ----------------------------------------------------------------------------------------

_LINE_MARKUP = re.compile(
    r"^[ \t]*(?:>{1,3}[ \t]*)?(?:#{1,6}[ \t]+|-#[ \t]+|[-*+•][ \t]+|\d{1,3}\.[ \t]+)?",
    re.MULTILINE,
)


def strip_line_markup(text: str) -> str:
    """Block quotes (and greentext), headers, ``-#`` subtext and list bullets are layout, not words."""
    return _LINE_MARKUP.sub("", text)


_STARS = re.compile(r"\*{2,}|(?<![\s\d])\*|\*(?![\s\d])")
_TILDES = re.compile(r"~+")
_INNER_UNDERSCORES = re.compile(r"(?<=[^\W_])_+(?=[^\W_])")
_UNDERSCORES = re.compile(r"_+")
_AT_PREFIX = re.compile(r"(?<![\w@.])@(?=\w)")


def strip_inline_markup(text: str) -> str:
    """Emphasis markers are removed without pairing them (pairing invites backtracking on unclosed markers).

    A lone ``*`` between spaces or digits stays ("2 * 3"); underscores inside words become spaces
    ("snake_case", "xX_alex_Xx" read as words); ``~`` is never spoken; "@Bob" typed by hand is "Bob".
    """
    text = _STARS.sub("", text)
    text = _TILDES.sub("", text)
    text = _INNER_UNDERSCORES.sub(" ", text)
    text = _UNDERSCORES.sub("", text)
    return _AT_PREFIX.sub("", text)


_UNESCAPE: Final = {ESCAPE_BASE + code: chr(code) for code in range(0x80)}


def restore_escapes(text: str) -> str:
    return text.translate(_UNESCAPE)


_BLANK_LINES = re.compile(r"[^\S\n]*\n\s*")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")


def squeeze_whitespace(text: str) -> str:
    """Cheap early squeeze, so the pre-cut below is not spent on blank space."""
    return _HORIZONTAL_SPACE.sub(" ", _BLANK_LINES.sub("\n", text))


# -- 6. repeated characters --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _repeat_patterns(limit: int) -> tuple[re.Pattern[str], re.Pattern[str], int]:
    """Runs of one non-digit character, and of a two-letter unit ("ha"), longer than ``limit``."""
    unit_limit = max(limit, 2)  # "banana" must survive limit=1
    return (
        re.compile(rf"([^\d\s])\1{{{limit},}}"),
        re.compile(rf"([^\W\d_]{{2}})\1{{{unit_limit},}}"),
        unit_limit,
    )


def shorten_repeats(text: str, limit: int) -> str:
    """Digits are never shortened (1000000 is a number, not a stutter)."""
    if limit <= 0:
        return text
    chars, units, unit_limit = _repeat_patterns(limit)
    text = chars.sub(lambda m: m[1] * limit, text)
    return units.sub(lambda m: m[1] * unit_limit, text)


# -- 9. symbols --------------------------------------------------------------------------------------------

_BACKTICKS = re.compile(r"`+")
_SEPARATORS = re.compile(r"[|\\]+")
_MARKUP_OPENER = re.compile(r"<+(?=[@#:/]|[at]:|id:)")
_LEFTOVER_URL = re.compile(rf"{SCHEME}\S*")
_HEART = re.compile(r"(?<!\S)<3+(?!\S)")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")


def strip_symbols(text: str) -> str:
    """Last line of defence: nothing that looks like markup or a URL reaches the voice, whatever came in."""
    text = _BACKTICKS.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _HEART.sub("heart", text)
    text = _LEFTOVER_URL.sub(lambda m: say_link(m[0]), text)
    return _MARKUP_OPENER.sub("", text)  # last: every removal above could have brought "<" next to "@"
