"""Lines to sentences (step 10), and cutting text to a length at a sentence end, else at a word."""

from __future__ import annotations

import re
from typing import Final

from .parts import speakable

__all__ = [
    "MORE",
    "SENTENCE_CUT_MIN_FRACTION",
    "SENTENCE_END_CHARS",
    "cut",
    "cut_point",
    "lines_to_sentences",
    "precut_budget",
]

MORE: Final = "and more"
SENTENCE_CUT_MIN_FRACTION: Final = 0.5
"""A sentence boundary earlier than this fraction of the budget wastes too much: cut at a word instead."""


# -- 10. lines and whitespace ------------------------------------------------------------------------------

_PAUSE_AFTER: Final = ".!?,;:…。！？、"
SENTENCE_END_CHARS: Final = ".!?…。！？"
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<=[^\s<]) +(?=[,.!?;:…](?:\s|$))")  # never glue "<" to ":"
_REPEATED_COMMAS = re.compile(r",(?:\s*,)+")


def lines_to_sentences(text: str) -> str:
    """A line break is a pause: ". " unless the line already ends in punctuation. Lines of only symbols go."""
    parts: list[str] = []
    for raw_line in text.split("\n"):
        line = _SPACES.sub(" ", raw_line).strip()
        if not speakable(line):
            continue
        if parts:
            parts.append(" " if parts[-1][-1] in _PAUSE_AFTER else ". ")
        parts.append(line)
    spoken = _SPACE_BEFORE_PUNCTUATION.sub("", "".join(parts))
    return _REPEATED_COMMAS.sub(",", spoken)


# -- cutting -----------------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)|[。！？]")
_WORD_BREAK = re.compile(r"\s|(?<=[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef])")
"""Whitespace, or the gap after a CJK character (those scripts don't put spaces between words)."""


def cut_point(text: str, limit: int, *, sentences: bool = True) -> int:
    """Where to cut ``text`` to at most ``limit`` characters: a sentence end, else a word boundary.

    Only a single "word" longer than ``limit`` is cut inside it - there is no boundary to use.
    """
    window = text[: limit + 1]
    if sentences:
        end = 0
        for match in _SENTENCE_END.finditer(window):
            if match.end() <= limit:
                end = match.end()
        if end >= limit * SENTENCE_CUT_MIN_FRACTION:
            return end
    end = 0
    for match in _WORD_BREAK.finditer(window):
        if 0 < match.start() <= limit:
            end = match.start()
    return end or limit


def cut(text: str, limit: int, *, more: bool = False) -> str:
    """``text`` within ``limit`` characters plus ", and more" when something was left out."""
    if len(text) <= limit and not more:
        return text
    if len(text) > limit:
        text = text[: cut_point(text, limit)]
    text = text.rstrip(" ,;:-–—")
    if not text:
        return MORE
    return f"{text} {MORE}" if text[-1] in SENTENCE_END_CHARS else f"{text}, {MORE}"


# -- 7. the pre-cut ----------------------------------------------------------------------------------------


def precut_budget(max_length: int) -> int:
    """A generous pre-cut of huge messages (8x ``max_length``), so the per-emoji work after it stays small."""
    return 8 * max_length + 1000
