"""A server's pronunciation dictionary (``/dictionary``): words said the way the server wants them said.

Applied to text that is already cleaned (:mod:`.cleaner`), so a word is matched against what would be
spoken: emoji already named, markup gone, NFKC-normalised. Entries are normalised the same way when
they are added (:func:`entry_word`).

Matching rules (README "Pronunciation dictionary"):

- whole words only, case-insensitive, Unicode-aware: "cat" never matches inside "category", "ZOË" matches
  "Zoë"; a word character next to the entry (a letter, digit, ``_`` or a combining mark, of any script
  written with spaces) means it is part of a longer word;
- scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar) have no
  word boundary to find, so an entry that starts (or ends) with such a character matches wherever it
  appears on that side, and those characters don't count as part of a neighbouring Latin word
  ("Alice" matches in "Aliceさん");
- where two entries could match, the earlier in the text wins, then the longer ("New York" before "York");
- one pass: a spoken form is never looked up again;
- spaces in a multi-word entry match any run of spaces.

One compiled regex per dictionary (:class:`Pronunciations`), built once and reused for every message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .normalise import MARK_CLASS, normalise

MAX_ENTRIES: Final = 200
"""Entries per server."""
MAX_WORD_CHARS: Final = 100
"""Characters in a word and in its spoken form."""

NO_SPACE_CLASS: Final = (
    "\u0e00-\u0eff"  # Thai, Lao
    "\u1000-\u109f"  # Myanmar
    "\u1780-\u17ff"  # Khmer
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3038-\u303c"  # CJK radicals, ideographic marks and numbers
    "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"  # hiragana, katakana (and half-width)
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"  # Han
)
"""Characters of scripts written without spaces between words (a regex class without brackets)."""

_BEFORE: Final = f"(?:(?=[{NO_SPACE_CLASS}])|(?<![^\\W{NO_SPACE_CLASS}])(?<![{MARK_CLASS}]))"
"""The entry starts with a character of a script without spaces, or follows no word character of a spaced script."""
_AFTER: Final = f"(?:(?<=[{NO_SPACE_CLASS}])|(?![^\\W{NO_SPACE_CLASS}]|[{MARK_CLASS}]))"
"""The entry ends with a character of a script without spaces, or is followed by no word character of a spaced
script nor a combining mark (of its last letter). Outside the alternation, so the big classes are compiled once."""


def entry_word(text: str) -> str:
    """A word or spoken form as it is stored and matched: normalised like cleaned text, spaces squeezed."""
    return " ".join(normalise(text).split())


def entry_key(word: str) -> str:
    """What makes two entries the same entry: "Zoë" and "ZOË" are one."""
    return entry_word(word).casefold()


def _pattern(word: str) -> str:
    return "(" + r"\s+".join(re.escape(piece) for piece in word.split()) + ")"


class Pronunciations:
    """One server's dictionary, compiled once: :meth:`apply` is one regex pass over a text."""

    __slots__ = ("_entries", "_regex", "_spoken")

    def __init__(self, entries: Mapping[str, str]) -> None:
        self._entries = dict(entries)
        words = sorted((w for w in self._entries if w), key=lambda w: (-len(w), w))
        self._spoken = [self._entries[w] for w in words]
        alternatives = "|".join(_pattern(w) for w in words)
        starts = "".join(sorted({re.escape(c) for w in words for c in {w[0], w[0].lower(), w[0].upper()}}))
        # Where no entry begins, the 200 alternatives are not even tried (most places of most messages).
        pattern = f"(?=[{starts}]){_BEFORE}(?:{alternatives}){_AFTER}"
        self._regex = re.compile(pattern, re.IGNORECASE) if words else None

    @property
    def entries(self) -> dict[str, str]:
        """Word → spoken form, as stored."""
        return dict(self._entries)

    def holds(self, entries: Mapping[str, str]) -> bool:
        """Whether this was compiled from exactly ``entries``."""
        return self._entries == entries

    def __len__(self) -> int:
        return len(self._entries)

    def apply(self, text: str) -> str:
        """``text`` with every entry replaced by its spoken form."""
        if self._regex is None:
            return text
        return self._regex.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        assert match.lastindex is not None  # noqa: S101 (every alternative is one group)
        return self._spoken[match.lastindex - 1]


NO_PRONUNCIATIONS: Final = Pronunciations({})
