"""Step 2: Discord's atomic markup in one left-to-right pass, each token replaced by the words for it.

Handlers that need more than a few lines live by job (:mod:`.links`, :mod:`.mentions`, :mod:`.emoji_names`)
and are dispatched from here; they see the pass only through :class:`.parts.TokenContext`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from .emoji_names import say_custom_emoji
from .links import say_bare_link, say_masked_link, say_suppressed_link, say_www_link
from .mentions import say_channel, say_role, say_user
from .parts import ESCAPE_BASE, SCHEME, CleanOptions, Names, TokenContext, TokenHandler

__all__ = ["INLINE_CODE_MAX_CHARS", "replace_tokens"]


INLINE_CODE_MAX_CHARS: Final = 60
"""Inline code up to this long is read as text (`npm install`); longer is "a code snippet"."""

# -- the rules and the pass --------------------------------------------------------------------------------

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
    ("suppressed_link", rf"<(?P<suppressed_url>{SCHEME}[^\s<>]*)>"),
    (
        "masked_link",
        rf"\[(?P<masked_text>[^\[\]\n]{{1,256}})\]\(\s{{0,4}}<?(?P<masked_url>{SCHEME}[^\s<>\[\]]{{0,2048}}?)>?"
        r"(?:\s{1,4}\"[^\"\n]{0,256}\")?\s{0,4}\)",
    ),
    ("bare_link", rf"(?P<bare_url>{SCHEME}[^\s<]*)"),
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


# -- small handlers ----------------------------------------------------------------------------------------


def _say_escape(match: re.Match[str], _ctx: TokenContext) -> str:
    char = match["escaped"]
    return chr(ESCAPE_BASE + ord(char)) if ord(char) < 0x80 else char


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


def _say_code_block(match: re.Match[str], _ctx: TokenContext) -> str:
    """Never read code aloud: say what it is."""
    language = _CODE_LANGUAGES.get((match["lang"] or "").lower(), "a")
    return f"{language} code block"


def _say_inline_code(match: re.Match[str], ctx: TokenContext) -> str:
    """Short inline code is usually a word or command worth hearing; its markup is still never read raw."""
    code = match["code1"] if match["code1"] is not None else match["code2"]
    code = code.strip()
    if len(code) > INLINE_CODE_MAX_CHARS:
        return "a code snippet"
    return ctx.replace(code)  # no backticks left inside, so this recursion is at most two deep


def _say_spoiler(match: re.Match[str], _ctx: TokenContext) -> str:
    """Hidden text is never read; a run of spoilers is counted."""
    count = max(1, match[0].count("||") // 2)
    return "a spoiler" if count == 1 else f"{count} spoilers"


_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _say_timestamp(match: re.Match[str], _ctx: TokenContext) -> str:
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


def _say_command(match: re.Match[str], _ctx: TokenContext) -> str:
    return f"slash {match['command_name']}"


_SERVER_PAGES: Final[Mapping[str, str]] = {
    "customize": "Channels and Roles",
    "browse": "Browse Channels",
    "guide": "the Server Guide",
    "home": "the Server Guide",
    "linked-roles": "Linked Roles",
}


def _say_server_page(match: re.Match[str], _ctx: TokenContext) -> str:
    return _SERVER_PAGES.get(match["page"], "a server page")


def _say_everyone(match: re.Match[str], _ctx: TokenContext) -> str:
    return str(match["everyone_word"])


# -- dispatch ----------------------------------------------------------------------------------------------

_TOKEN_HANDLERS: Final[Mapping[str, TokenHandler]] = {
    "escape": _say_escape,
    "code_block": _say_code_block,
    "inline_code": _say_inline_code,
    "spoiler": _say_spoiler,
    "timestamp": _say_timestamp,
    "user": say_user,
    "role": say_role,
    "channel": say_channel,
    "command": _say_command,
    "server_page": _say_server_page,
    "custom_emoji": say_custom_emoji,
    "suppressed_link": say_suppressed_link,
    "masked_link": say_masked_link,
    "bare_link": say_bare_link,
    "www_link": say_www_link,
    "everyone": _say_everyone,
}


def replace_tokens(text: str, names: Names, options: CleanOptions) -> str:
    return _Context(names, options).replace(text)
