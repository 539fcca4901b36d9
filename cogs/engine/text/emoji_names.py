"""Emoji said by name: Unicode emoji from the ``emoji`` library (step 8), custom Discord emoji (a token).

Not called ``emoji.py``: that name would shadow the ``emoji`` library for anyone with this folder on the path.
"""

from __future__ import annotations

import re

import emoji

from .parts import EmojiMode, TokenContext

__all__ = ["say_custom_emoji", "say_unicode_emoji"]


# -- 8. Unicode emoji --------------------------------------------------------------------------------------

_EMOJI_NAME_JUNK = re.compile(r"[:_\"“”]+")
_EMOJI_LEFTOVERS = re.compile("[\u200c\u200d\u20e3\ufe00-\ufe0f\U000e0020-\U000e007f\U000e0100-\U000e01ef]+")


def _unicode_emoji_name(match: emoji.EmojiMatch) -> str:
    if match.data is not None:
        raw = str(match.data["en"])
    elif isinstance(match, emoji.EmojiMatchZWJ):  # a ZWJ sequence Unicode has no name for: name its parts
        raw = " ".join(str(part.data["en"]) for part in match.emojis if part.data is not None)
    else:
        raw = ""
    name = " ".join(_EMOJI_NAME_JUNK.sub(" ", raw).split()) or "emoji"
    first = match.emoji[0]
    if "\U0001f1e6" <= first <= "\U0001f1ff" or (first == "\U0001f3f4" and len(match.emoji) > 1):
        return f"flag {name}"  # the library calls 🇫🇷 just "France"; screen readers say "flag: France"
    return name


def say_unicode_emoji(text: str, mode: EmojiMode) -> str:
    """Name each emoji (or drop it in "skip" mode); the same emoji repeated, even with spaces between, once."""
    if text.isascii():
        return text
    out: list[str] = []
    position = 0
    previous = ""
    for token in emoji.analyze(text):
        match = token.value
        if not isinstance(match, emoji.EmojiMatch):
            continue
        between = text[position : match.start]
        name = "" if mode == "skip" else _unicode_emoji_name(match)
        position = match.end
        if name and name == previous and not between.strip():
            continue
        out.append(between)
        out.append(f" {name} ")
        previous = name
    out.append(text[position:])
    return _EMOJI_LEFTOVERS.sub("", "".join(out))


# -- custom emoji (a token) --------------------------------------------------------------------------------

_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")


def say_custom_emoji(match: re.Match[str], ctx: TokenContext) -> str:
    """``<:party_parrot:1>`` → "party parrot", ``peepoHappy`` → "peepo Happy"; a run of one emoji once."""
    if ctx.options.emoji_mode == "skip":
        return " "  # "good<:x:1>job" is still two words
    return " ".join(_CAMEL_HUMP.sub(" ", match["emoji_name"].replace("_", " ")).split()) or "emoji"
