"""Turn a Discord message into the words a text-to-speech voice should say.

Pure: no discord.py, no I/O. :mod:`cogs.engine.text.message_parts` extracts :class:`MessageParts` and
:class:`Names` from discord.py objects; :func:`clean_message` returns the words, or None when nothing
is worth paying the TTS API for. The "Alice said" prefix is the caller's job.

The content goes through these steps, in this order (each a small function over precompiled regexes):

1. :func:`_normalise` - line endings; drop control, format, private-use and surrogate characters
   (keeping the zero-width joiner and tag characters that emoji sequences need); keep at most two
   combining marks per character (zalgo); NFKC, so "𝐟𝐚𝐧𝐜𝐲" fonts and full-width "＜＠１＞" become plain
   text before any markup is parsed (the few emoji NFKC would rewrite, like ™ and ‼, are kept).
   Marks are limited *before* NFKC because CPython reorders long runs of marks in quadratic time.
2. :func:`_replace_tokens` - one left-to-right pass over Discord's atomic markup, so precedence
   works like Discord's own parser (whatever starts first wins: a spoiler hides the code inside it,
   a code block hides the mentions and spoilers inside it): escapes, code blocks, inline code,
   spoilers, timestamps, mentions, slash commands, server pages, custom emoji, masked / suppressed /
   bare / www links, ``@everyone`` / ``@here``. Mentioned names are normalised like step 1 and then
   flow through the later steps like any text (a name's emoji are named, its markup dropped).
3. :func:`_strip_line_markup` - quotes, headers, subtext and list bullets at line starts.
4. :func:`_strip_inline_markup` - ``*``, ``_``, ``~`` emphasis markers and a leading ``@``.
5. :func:`_restore_escapes` - characters escaped with ``\\`` come back as themselves; then
   :func:`_squeeze_whitespace`.
6. :func:`_shorten_repeats` - "nooooo" → "nooo", "hahahahaha" → "hahaha" (``repeated_characters``).
7. a generous pre-cut (8x ``max_length``, at a word) so the per-emoji work below stays small on huge
   messages; everything before it is a linear regex pass (no nested quantifiers, bounded repeats).
8. :func:`_say_unicode_emoji` - emoji names from the ``emoji`` library, runs of one emoji said once.
9. :func:`_strip_symbols` - a safety net: backticks, pipes, backslashes, markup openers such as
   ``<@`` and any URL an escape or a name smuggled in.
10. :func:`_lines_to_sentences` - lines that say nothing are dropped; the rest are joined with ". "
    (or " " after punctuation) so the voice pauses; whitespace collapsed.

Then :func:`clean_message` adds the reply / forward wording and the attachment, sticker, poll and
voice-message descriptions, and cuts to ``max_length`` - the text is cut, not the descriptions.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final, Literal
from urllib.parse import urlsplit

import emoji

__all__ = ["Attachment", "CleanOptions", "MessageParts", "Names", "clean_message"]

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

MORE: Final = "and more"
MAX_NAME_CHARS: Final = 100
"""Mentioned names, sticker names and poll questions are cut to this (a name can't flood the budget)."""
MAX_REPLY_NAME_CHARS: Final = 60
INLINE_CODE_MAX_CHARS: Final = 60
"""Inline code up to this long is read as text (`npm install`); longer is "a code snippet"."""
MAX_NAMED_FILES: Final = 3
"""Up to this many non-media files are named; more are counted ("5 files")."""
MAX_FILE_NAME_CHARS: Final = 40
MAX_COMBINING_MARKS: Final = 2
SENTENCE_CUT_MIN_FRACTION: Final = 0.5
"""A sentence boundary earlier than this fraction of the budget wastes too much: cut at a word instead."""
MIN_TEXT_BUDGET: Final = 20
"""Below this much room next to the descriptions, the whole utterance is cut as one string instead."""

_ESCAPE_BASE: Final = 0xE000
"""Escaped ASCII punctuation is parked at U+E000 + code while markdown is stripped (input PUA is dropped)."""


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


def _normalise(text: str) -> str:
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


# -- 2. Discord's atomic markup, one left-to-right pass ----------------------------------------------------

_SCHEME = r"(?:[Hh][Tt][Tt][Pp][Ss]?|(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+-]{1,15})://"
"""http(s) wherever it starts (so "0https://" or "see.https://" never leak a URL); other schemes at a word start."""

_TOKEN_RULES: Final[tuple[tuple[str, str], ...]] = (
    ("escape", r"\\(?P<escaped>[^\w\s])"),
    ("code_block", r"```(?:(?P<lang>[A-Za-z0-9_+#.-]{1,20})[ \t]*\n)?(?s:.*?)```"),
    ("inline_code", r"``(?P<code2>(?s:.+?))``|`(?P<code1>[^`]+)`"),
    ("spoiler", r"\|\|(?s:.+?)\|\|(?:\s*\|\|(?s:.+?)\|\|)*"),
    ("timestamp", r"<t:(?P<ts>-?\d{1,17})(?::(?P<ts_style>[A-Za-z]))?>"),
    ("user", r"<@!?(?P<user_id>\d{1,20})>"),
    ("role", r"<@&(?P<role_id>\d{1,20})>"),
    ("channel", r"<#(?P<channel_id>\d{1,20})>"),
    ("command", r"</(?P<command_name>[^\s<>:/]{1,32}(?: [^\s<>:/]{1,32}){0,2}):\d{1,20}>"),
    ("server_page", r"<id:(?P<page>[a-z-]{1,20})>"),
    ("custom_emoji", r"<a?:(?P<emoji_name>[A-Za-z0-9_]{1,32}):\d{1,20}>(?:\s*<a?:(?P=emoji_name):\d{1,20}>)*"),
    ("suppressed_link", rf"<(?P<suppressed_url>{_SCHEME}[^\s<>]*)>"),
    (
        "masked_link",
        rf"\[(?P<masked_text>[^\[\]\n]{{1,256}})\]\(\s{{0,4}}<?(?P<masked_url>{_SCHEME}[^\s<>\[\]]{{0,2048}}?)>?"
        r"(?:\s{1,4}\"[^\"\n]{0,256}\")?\s{0,4}\)",
    ),
    ("bare_link", rf"(?P<bare_url>{_SCHEME}[^\s<]*)"),
    ("www_link", r"(?<![\w.@/-])(?P<www_url>[Ww]{3}\.[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+[^\s<]*)"),
    ("everyone", r"@(?P<everyone_word>everyone|here)\b"),
)
_TOKENS = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKEN_RULES))


_MARKUP_ENDS: Final = ">)`|"
"""A token right after one of these may follow another token ("<@1><@2>"): keep the names apart."""


@dataclass(frozen=True, slots=True)
class _Context:
    names: Names
    options: CleanOptions

    def replace(self, text: str) -> str:
        return _TOKENS.sub(self._say, text)

    def _say(self, match: re.Match[str]) -> str:
        """The handler's words, with a space wherever they would otherwise glue to a neighbouring word."""
        said = _TOKEN_HANDLERS[match.lastgroup or ""](match, self)  # every alternative is a named group
        source, start, end = match.string, match.start(), match.end()
        if said[:1].isalnum() and start > 0 and (source[start - 1].isalnum() or source[start - 1] in _MARKUP_ENDS):
            said = " " + said
        if said[-1:].isalnum() and end < len(source) and source[end].isalnum():
            said += " "
        return said


def _say_escape(match: re.Match[str], _ctx: _Context) -> str:
    char = match["escaped"]
    return chr(_ESCAPE_BASE + ord(char)) if ord(char) < 0x80 else char


_CODE_LANGUAGES: Final[Mapping[str, str]] = {
    **dict.fromkeys(("py", "python", "py3"), "a python"),
    **dict.fromkeys(("js", "javascript", "jsx", "mjs"), "a JavaScript"),
    **dict.fromkeys(("ts", "typescript", "tsx"), "a TypeScript"),
    **dict.fromkeys(("rs", "rust"), "a Rust"),
    **dict.fromkeys(("c", "h"), "a C"),
    **dict.fromkeys(("cpp", "c++", "cc", "cxx", "hpp"), "a C plus plus"),
    **dict.fromkeys(("cs", "csharp", "c#"), "a C sharp"),
    "java": "a Java",
    **dict.fromkeys(("kt", "kotlin"), "a Kotlin"),
    **dict.fromkeys(("go", "golang"), "a Go"),
    **dict.fromkeys(("rb", "ruby"), "a Ruby"),
    "php": "a PHP",
    "lua": "a Lua",
    "swift": "a Swift",
    **dict.fromkeys(("sh", "bash", "shell", "zsh", "console"), "a shell"),
    **dict.fromkeys(("ps", "ps1", "powershell"), "a PowerShell"),
    "sql": "an SQL",
    "json": "a JSON",
    **dict.fromkeys(("yaml", "yml"), "a YAML"),
    "toml": "a TOML",
    "xml": "an XML",
    "html": "an HTML",
    **dict.fromkeys(("css", "scss"), "a CSS"),
    **dict.fromkeys(("md", "markdown"), "a markdown"),
    "diff": "a diff",
}


def _say_code_block(match: re.Match[str], _ctx: _Context) -> str:
    """Never read code aloud: say what it is."""
    language = _CODE_LANGUAGES.get((match["lang"] or "").lower(), "a")
    return f"{language} code block"


def _say_inline_code(match: re.Match[str], ctx: _Context) -> str:
    """Short inline code is usually a word or command worth hearing; its markup is still never read raw."""
    code = match["code1"] if match["code1"] is not None else match["code2"]
    code = code.strip()
    if len(code) > INLINE_CODE_MAX_CHARS:
        return "a code snippet"
    return ctx.replace(code)  # no backticks left inside, so this recursion is at most two deep


def _say_spoiler(match: re.Match[str], _ctx: _Context) -> str:
    """Hidden text is never read; a run of spoilers is counted."""
    count = max(1, match[0].count("||") // 2)
    return "a spoiler" if count == 1 else f"{count} spoilers"


_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _say_timestamp(match: re.Match[str], _ctx: _Context) -> str:
    """An absolute UTC date/time for every style: relative ones ("in 2 hours") would depend on "now".

    Names come from tables, not ``%B``/``%A``, which follow the process locale.
    """
    try:
        when = datetime.fromtimestamp(int(match["ts"]), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return "a date"
    date = f"{_MONTHS[when.month - 1]} {when.day}, {when.year}"
    style = match["ts_style"] or "f"
    if style == "t":
        return f"{when:%H:%M} UTC"
    if style == "T":
        return f"{when:%H:%M:%S} UTC"
    if style in ("d", "D"):
        return date
    if style == "F":
        return f"{_WEEKDAYS[when.weekday()]}, {date} at {when:%H:%M} UTC"
    return f"{date} at {when:%H:%M} UTC"  # f, R, and any style Discord adds later


def _say_user(match: re.Match[str], ctx: _Context) -> str:
    return _bounded_name(ctx.names.users.get(int(match["user_id"]))) or "someone"


def _say_role(match: re.Match[str], ctx: _Context) -> str:
    return _plain_label(ctx.names.roles.get(int(match["role_id"]))) or "a role"


def _say_channel(match: re.Match[str], ctx: _Context) -> str:
    return _plain_label(ctx.names.channels.get(int(match["channel_id"]))) or "a channel"


def _say_command(match: re.Match[str], _ctx: _Context) -> str:
    return f"slash {match['command_name']}"


_SERVER_PAGES: Final[Mapping[str, str]] = {
    "customize": "Channels and Roles",
    "browse": "Browse Channels",
    "guide": "the Server Guide",
    "home": "the Server Guide",
    "linked-roles": "Linked Roles",
}


def _say_server_page(match: re.Match[str], _ctx: _Context) -> str:
    return _SERVER_PAGES.get(match["page"], "a server page")


_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _say_custom_emoji(match: re.Match[str], ctx: _Context) -> str:
    """``<:party_parrot:1>`` → "party parrot", ``peepoHappy`` → "peepo Happy"; a run of one emoji once."""
    if ctx.options.emoji_mode == "skip":
        return " "  # "good<:x:1>job" is still two words
    return " ".join(_CAMEL_HUMP.sub(" ", match["emoji_name"].replace("_", " ")).split()) or "emoji"


_URL_TRAILING = ".,;:!?'\")]}*_~"


def _say_bare_link(match: re.Match[str], _ctx: _Context) -> str:
    """Punctuation after a link belongs to the sentence, not the URL (rstrip: no regex backtracking)."""
    url = match["bare_url"]
    kept = url.rstrip(_URL_TRAILING)
    tail = url[len(kept) :]
    unclosed = kept.count("(") - kept.count(")")
    if unclosed > 0:  # Wikipedia-style "..._(language)" keeps its own closing parenthesis
        closing = min(unclosed, len(tail) - len(tail.lstrip(")")))
        kept, tail = kept + tail[:closing], tail[closing:]
    return _say_link(kept) + tail


def _say_suppressed_link(match: re.Match[str], _ctx: _Context) -> str:
    return _say_link(match["suppressed_url"])


def _say_www_link(match: re.Match[str], _ctx: _Context) -> str:
    url = match["www_url"]
    kept = url.rstrip(_URL_TRAILING)
    return _say_link("https://" + kept) + url[len(kept) :]


_HAS_URL = re.compile(rf"{_SCHEME}|[Ww]{{3}}\.")


def _say_masked_link(match: re.Match[str], ctx: _Context) -> str:
    """The link text is what the author meant to be read; a URL-looking text is said as the real target."""
    text = match["masked_text"]
    if _HAS_URL.search(text) or not any(ch.isalnum() for ch in text):
        return _say_link(match["masked_url"])
    return ctx.replace(text)


def _say_everyone(match: re.Match[str], _ctx: _Context) -> str:
    return str(match["everyone_word"])


_TOKEN_HANDLERS: Final[Mapping[str, Callable[[re.Match[str], _Context], str]]] = {
    "escape": _say_escape,
    "code_block": _say_code_block,
    "inline_code": _say_inline_code,
    "spoiler": _say_spoiler,
    "timestamp": _say_timestamp,
    "user": _say_user,
    "role": _say_role,
    "channel": _say_channel,
    "command": _say_command,
    "server_page": _say_server_page,
    "custom_emoji": _say_custom_emoji,
    "suppressed_link": _say_suppressed_link,
    "masked_link": _say_masked_link,
    "bare_link": _say_bare_link,
    "www_link": _say_www_link,
    "everyone": _say_everyone,
}


def _replace_tokens(text: str, ctx: _Context) -> str:
    return ctx.replace(text)


# -- links -------------------------------------------------------------------------------------------------

_GIF_HOSTS: Final = ("tenor.com", "giphy.com", "gfycat.com")
_DISCORD_HOSTS: Final = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com", "www.discord.com"}
)
_SECOND_LEVEL: Final = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob", "nic"})
_HOST_SHAPE = re.compile(r"[^\W_](?:[\w-]{0,62})(?:\.[^\W_][\w-]{0,62}){0,10}")
_HOST_ALIASES: Final[Mapping[str, str]] = {"youtu.be": "youtube.com", "redd.it": "reddit.com"}


def _say_link(url: str) -> str:
    """ "a link to example.com": the registrable part of the host, never the path (it is noise when spoken)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return "a link"
    if parts.scheme.lower() not in ("http", "https") or not host:
        return "a link"
    path = parts.path.lower()
    if host == "discord.gg" or (host in _DISCORD_HOSTS and path.startswith("/invite/")):
        return "a Discord invite"
    if host in _DISCORD_HOSTS and path.startswith("/channels/"):
        return "a link to a Discord message" if path.count("/") >= 4 else "a link to a Discord channel"
    if any(host == gif or host.endswith("." + gif) for gif in _GIF_HOSTS):
        return "a GIF"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "a link"
    if host.startswith("xn--") or ".xn--" in host:
        try:
            host = host.encode("ascii").decode("idna")
        except UnicodeError:
            return "a link"
    if not _HOST_SHAPE.fullmatch(host):
        return "a link"
    labels = host.split(".")
    keep = 3 if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2 else 2
    host = ".".join(labels[-keep:])
    return f"a link to {_HOST_ALIASES.get(host, host)}"


# -- names -------------------------------------------------------------------------------------------------


_NO_ANGLE_BRACKETS: Final = str.maketrans("<>", "  ")


def _bounded_name(name: str | None) -> str:
    """A user's name as text (its emoji and markup are handled by the later steps), bounded in length."""
    if not name:
        return ""
    # Angle brackets would let a name smuggle Discord markup (<a:emoji:1>, <@1>) past the token pass, which
    # ran before the name was put in; they are never spoken anyway.
    name = " ".join(_normalise(name[: MAX_NAME_CHARS * 4]).translate(_NO_ANGLE_BRACKETS).split())
    if len(name) > MAX_NAME_CHARS:
        name = name[: _cut_point(name, MAX_NAME_CHARS, sentences=False)]
    return name


def _plain_label(name: str | None) -> str:
    """Role and channel names are decorated ("💬・general-chat", "🎮 Gamers"): keep only the words."""
    if not name:
        return ""
    name = _normalise(name[: MAX_NAME_CHARS * 4])
    words = "".join(ch if ch.isalnum() or ch in "'&+" else " " for ch in name)
    return _bounded_name(words)


# -- 3.-5. markdown ----------------------------------------------------------------------------------------

_LINE_MARKUP = re.compile(
    r"^[ \t]*(?:>{1,3}[ \t]*)?(?:#{1,6}[ \t]+|-#[ \t]+|[-*+•][ \t]+|\d{1,3}\.[ \t]+)?",
    re.MULTILINE,
)


def _strip_line_markup(text: str) -> str:
    """Block quotes (and greentext), headers, ``-#`` subtext and list bullets are layout, not words."""
    return _LINE_MARKUP.sub("", text)


_STARS = re.compile(r"\*{2,}|(?<![\s\d])\*|\*(?![\s\d])")
_TILDES = re.compile(r"~+")
_INNER_UNDERSCORES = re.compile(r"(?<=[^\W_])_+(?=[^\W_])")
_UNDERSCORES = re.compile(r"_+")
_AT_PREFIX = re.compile(r"(?<![\w@.])@(?=\w)")


def _strip_inline_markup(text: str) -> str:
    """Emphasis markers are removed without pairing them (pairing invites backtracking on unclosed markers).

    A lone ``*`` between spaces or digits stays ("2 * 3"); underscores inside words become spaces
    ("snake_case", "xX_alex_Xx" read as words); ``~`` is never spoken; "@Bob" typed by hand is "Bob".
    """
    text = _STARS.sub("", text)
    text = _TILDES.sub("", text)
    text = _INNER_UNDERSCORES.sub(" ", text)
    text = _UNDERSCORES.sub("", text)
    return _AT_PREFIX.sub("", text)


_UNESCAPE: Final = {_ESCAPE_BASE + code: chr(code) for code in range(0x80)}


def _restore_escapes(text: str) -> str:
    return text.translate(_UNESCAPE)


_BLANK_LINES = re.compile(r"[^\S\n]*\n\s*")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")


def _squeeze_whitespace(text: str) -> str:
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


def _shorten_repeats(text: str, limit: int) -> str:
    """Digits are never shortened (1000000 is a number, not a stutter)."""
    if limit <= 0:
        return text
    chars, units, unit_limit = _repeat_patterns(limit)
    text = chars.sub(lambda m: m[1] * limit, text)
    return units.sub(lambda m: m[1] * unit_limit, text)


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


def _say_unicode_emoji(text: str, mode: EmojiMode) -> str:
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


# -- 9. symbols --------------------------------------------------------------------------------------------

_BACKTICKS = re.compile(r"`+")
_SEPARATORS = re.compile(r"[|\\]+")
_MARKUP_OPENER = re.compile(r"<+(?=[@#:/]|[at]:|id:)")
_LEFTOVER_URL = re.compile(rf"{_SCHEME}\S*")
_HEART = re.compile(r"(?<!\S)<3+(?!\S)")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}")


def _strip_symbols(text: str) -> str:
    """Last line of defence: nothing that looks like markup or a URL reaches the voice, whatever came in."""
    text = _BACKTICKS.sub("", text)
    text = _SEPARATORS.sub(" ", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _HEART.sub("heart", text)
    text = _LEFTOVER_URL.sub(lambda m: _say_link(m[0]), text)
    return _MARKUP_OPENER.sub("", text)  # last: every removal above could have brought "<" next to "@"


# -- 10. lines and whitespace ------------------------------------------------------------------------------

_PAUSE_AFTER: Final = ".!?,;:…。！？、"
_SENTENCE_END_CHARS: Final = ".!?…。！？"
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"(?<=[^\s<]) +(?=[,.!?;:…](?:\s|$))")  # never glue "<" to ":"
_REPEATED_COMMAS = re.compile(r",(?:\s*,)+")


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _lines_to_sentences(text: str) -> str:
    """A line break is a pause: ". " unless the line already ends in punctuation. Lines of only symbols go."""
    parts: list[str] = []
    for raw_line in text.split("\n"):
        line = _SPACES.sub(" ", raw_line).strip()
        if not _speakable(line):
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


def _cut_point(text: str, limit: int, *, sentences: bool = True) -> int:
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


def _cut(text: str, limit: int, *, more: bool = False) -> str:
    """``text`` within ``limit`` characters plus ", and more" when something was left out."""
    if len(text) <= limit and not more:
        return text
    if len(text) > limit:
        text = text[: _cut_point(text, limit)]
    text = text.rstrip(" ,;:-–—")
    if not text:
        return MORE
    return f"{text} {MORE}" if text[-1] in _SENTENCE_END_CHARS else f"{text}, {MORE}"


# -- the text pipeline -------------------------------------------------------------------------------------


def _precut_budget(max_length: int) -> int:
    return 8 * max_length + 1000


def _clean_text(content: str, names: Names, options: CleanOptions) -> tuple[str, bool]:
    """The spoken form of ``content`` ("" if nothing is speakable), and whether the pre-cut dropped some."""
    ctx = _Context(names, options)
    text = _normalise(content)
    text = _replace_tokens(text, ctx)
    text = _strip_line_markup(text)
    text = _strip_inline_markup(text)
    text = _restore_escapes(text)
    text = _squeeze_whitespace(text)
    text = _shorten_repeats(text, options.repeated_characters)
    budget = _precut_budget(options.max_length)
    precut = len(text) > budget
    if precut:
        text = text[: _cut_point(text, budget, sentences=False)]
    text = _say_unicode_emoji(text, options.emoji_mode)
    text = _strip_symbols(text)
    text = _lines_to_sentences(text)
    return (text if _speakable(text) else ""), precut


def _clean_fragment(text: str, options: CleanOptions) -> str:
    """A sticker name or poll question: cleaned like content, bounded like a name."""
    cleaned, precut = _clean_text(text, Names(), options)
    return _cut(cleaned, MAX_NAME_CHARS, more=precut) if cleaned else ""


# -- attachments, stickers, polls --------------------------------------------------------------------------

_EXTENSION_KINDS: Final[Mapping[str, str]] = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "bmp", "heic", "heif", "avif", "svg", "tif", "tiff"), "image"),
    "gif": "GIF",
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi", "m4v", "wmv"), "video"),
    **dict.fromkeys(("mp3", "ogg", "oga", "opus", "wav", "flac", "m4a", "aac", "wma"), "audio file"),
}
_KIND_PLURALS: Final[Mapping[str, str]] = {
    "image": "images",
    "GIF": "GIFs",
    "video": "videos",
    "audio file": "audio files",
    "file": "files",
}
_FILE_NAME_JUNK = re.compile(r"[^\w.\- ]+")
_SPOILER_PREFIX: Final = "SPOILER_"


def _attachment_kind(attachment: Attachment) -> str:
    """By MIME type when Discord gives one, else by extension."""
    mime = (attachment.content_type or "").split(";")[0].strip().lower()
    if mime == "image/gif":
        return "GIF"
    major = mime.partition("/")[0]
    if major in ("image", "video"):
        return major
    if major == "audio":
        return "audio file"
    return _EXTENSION_KINDS.get(attachment.filename.rpartition(".")[2].lower(), "file")


def _say_file_name(filename: str) -> str:
    """ "a file named report.pdf": words, dots and dashes only; a name too long to say becomes its type."""
    name = unicodedata.normalize("NFKC", filename[:500]).rsplit("/", 1)[-1]
    name = " ".join(_FILE_NAME_JUNK.sub("", name).replace("_", " ").split())
    stem = name.rpartition(".")[0] if "." in name else name
    name = name.strip(" .-")
    if len(name) <= MAX_FILE_NAME_CHARS and _speakable(stem):
        return f"a file named {name}"
    extension = filename.rpartition(".")[2] if "." in filename else ""
    if 0 < len(extension) <= 5 and extension.isascii() and extension.isalnum():
        return f"{_article(extension.upper())} {extension.upper()} file"
    return "a file"


def _article(word: str) -> str:
    """ "a"/"an" for a kind or an extension spelled out as letters (an MP3 file, an image, a PDF file)."""
    if word.isupper():
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    return "an" if word[0].lower() in "aeiou" else "a"


def _counted(kind: str, count: int, *, spoiler: bool) -> str:
    if count == 1:
        noun = f"spoiler {kind}" if spoiler else kind
        return f"{_article(noun.split()[0])} {noun}"
    plural = _KIND_PLURALS[kind]
    return f"{count} spoiler {plural}" if spoiler else f"{count} {plural}"


def _describe_attachments(attachments: Iterable[Attachment], voice_message: bool) -> list[str]:
    """Media are counted by kind; up to three other files are named; a spoiler file's name is never read."""
    counts: dict[tuple[str, bool], int] = {}
    files: list[str] = []
    for attachment in attachments:
        kind = _attachment_kind(attachment)
        spoiler = attachment.filename.startswith(_SPOILER_PREFIX)
        if voice_message and kind == "audio file":
            continue  # the recording itself; described as "a voice message"
        if kind == "file" and not spoiler:
            files.append(attachment.filename)
        counts[kind, spoiler] = counts.get((kind, spoiler), 0) + 1
    phrases: list[str] = ["a voice message"] if voice_message else []
    for (kind, spoiler), count in counts.items():
        if kind == "file" and not spoiler and len(files) <= MAX_NAMED_FILES:
            phrases.extend(_say_file_name(name) for name in files)
        else:
            phrases.append(_counted(kind, count, spoiler=spoiler))
    return phrases


def _describe_extras(message: MessageParts, options: CleanOptions) -> list[str]:
    phrases = _describe_attachments(message.attachments, message.voice_message)
    stickers = [_clean_fragment(name, options) for name in message.stickers]
    if stickers:
        said = [name for name in stickers if name]
        if not said:
            phrases.append("a sticker" if len(stickers) == 1 else f"{len(stickers)} stickers")
        elif len(stickers) == 1:
            phrases.append(f"a sticker: {said[0]}")
        else:
            phrases.append(f"{len(stickers)} stickers: {_join_phrases(said)}")
    if message.poll_question is not None:
        question = _clean_fragment(message.poll_question, options)
        phrases.append(f"a poll: {question}" if question else "a poll")
    return phrases


def _join_phrases(phrases: list[str]) -> str:
    """ "a, b and c"."""
    if len(phrases) <= 1:
        return "".join(phrases)
    return f"{', '.join(phrases[:-1])} and {phrases[-1]}"


# -- the whole message -------------------------------------------------------------------------------------


def _reply_prefix(reply_to: str | None, options: CleanOptions) -> str:
    """The caller passes a spoken name already; it is cleaned again so no markup can slip through here."""
    if reply_to is None:
        return ""
    name = _clean_text(reply_to, Names(), options)[0] or "someone"
    if len(name) > MAX_REPLY_NAME_CHARS:
        name = name[: _cut_point(name, MAX_REPLY_NAME_CHARS, sentences=False)].rstrip(" ,;:-")
    return f"replying to {name}, "


def _assemble(head: str, text: str, tail: str) -> str:
    if text and tail:
        joiner = " " if text[-1] in _SENTENCE_END_CHARS else ", "
        return f"{head}{text}{joiner}with {tail}"
    return head + text + tail


def clean_message(message: MessageParts, names: Names, options: CleanOptions = DEFAULT_OPTIONS) -> str | None:
    """The words to speak, or None when nothing is left worth sending to the TTS API (it costs money).

    Layout: ``[replying to Bob, ][a forwarded message: ]<text>[, with <attachments, stickers, poll>]``.
    When it is too long, the text is cut (sentence, else word boundary) and gets ", and more"; the
    descriptions are kept unless they alone leave under :data:`MIN_TEXT_BUDGET` characters for text.
    """
    limit = max(1, options.max_length)
    text, precut = _clean_text(message.content, names, options)
    tail = _join_phrases(_describe_extras(message, options))
    head = _reply_prefix(message.reply_to, options)
    if message.forwarded:
        if text or tail:
            head += "a forwarded message: "
        else:
            tail = "forwarded a message"
    if not text and not tail:
        return None
    spoken = _assemble(head, text, tail)
    if len(spoken) <= limit and not precut:
        return spoken
    if text:
        fixed = len(_assemble(head, "x", tail)) - 1
        budget = limit - fixed
        if budget >= MIN_TEXT_BUDGET:
            return _assemble(head, _cut(text, budget, more=True), tail)
    return _cut(spoken, limit, more=precut)
