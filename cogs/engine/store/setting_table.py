"""The server settings admins change with ``/set``: names, how values are typed and how they are shown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .models import GuildPrefs

ON_WORDS = {"on", "yes", "true", "enable", "enabled", "1"}
OFF_WORDS = {"off", "no", "false", "disable", "disabled", "0"}
CLEAR_WORDS = {"none", "default", "off", "clear", "reset", ""}


class BadValue(ValueError):
    """``str(error)`` tells the admin what to type instead."""


RoleLookup = Callable[[str], int | None]
"""Finds a role id by mention, id or name; None when there is no such role."""


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    field: str
    help: str
    kind: str  # "bool" | "int" | "text" | "voice" | "role" | "emoji"
    minimum: int = 0
    maximum: int = 0

    def parse(self, raw: str, roles: RoleLookup) -> object:
        """The stored value for what the admin typed; :class:`BadValue` if it makes no sense."""
        text = raw.strip()
        lowered = text.casefold()
        if self.kind == "bool":
            if lowered in ON_WORDS:
                return True
            if lowered in OFF_WORDS:
                return False
            raise BadValue(f"`{self.name}` is on or off — type `on` or `off`.")
        if self.kind == "int":
            try:
                number = int(text)
            except ValueError:
                raise BadValue(f"`{self.name}` needs a whole number from {self.minimum} to {self.maximum}.") from None
            if not self.minimum <= number <= self.maximum:
                raise BadValue(f"`{self.name}` must be from {self.minimum} to {self.maximum}.")
            return number
        if self.kind == "emoji":
            if lowered in {"name", "skip"}:
                return lowered
            raise BadValue("`emoji` is `name` (read emoji by name) or `skip` (leave them out).")
        if self.kind == "voice":
            return None if lowered in CLEAR_WORDS else text
        if self.kind == "role":
            if lowered in CLEAR_WORDS:
                return None
            role_id = roles(text)
            if role_id is None:
                raise BadValue(f"There is no role called {text!r} here.")
            return role_id
        # text: the ignore prefix
        if lowered in {"none", "off", ""}:
            return ""
        if len(text) > 10 or any(ch.isspace() for ch in text):
            raise BadValue("The ignore prefix is a few characters with no spaces, like `!` or `--`.")
        return text


SETTINGS: tuple[Setting, ...] = (
    Setting("server-voice", "default_voice", "voice for members who didn't pick one (`default` to reset)", "voice"),
    Setting("member-voices", "allow_member_voices", "members' own /voice choice applies here", "bool"),
    Setting("announce-author", "announce_author", 'say "Alice said" before messages', "bool"),
    Setting("announce-window", "announce_window_s", 'seconds before "Alice said" is repeated', "int", 0, 3600),
    Setting("require-voice", "require_voice", "only read members in the bot's voice channel", "bool"),
    Setting("auto-join", "auto_join", "join a member's voice channel when they post and the bot is idle", "bool"),
    Setting("read-voice-chat", "read_voice_chat", "read the text chat of the bot's voice channel", "bool"),
    Setting("ignore-prefix", "ignore_prefix", "messages starting with this are not read (`none` to read all)", "text"),
    Setting("read-bots", "read_bots", "read messages from bots and webhooks", "bool"),
    Setting("read-proxies", "read_proxies", "read PluralKit/Tupperbox proxied messages", "bool"),
    Setting("required-role", "required_role", "only read members with this role (`none` for everyone)", "role"),
    Setting("max-length", "max_length", "characters read from one message", "int", 20, 2000),
    Setting("emoji", "emoji_mode", "`name` reads emoji by name, `skip` leaves them out", "emoji"),
    Setting(
        "repeated-characters", "repeated_characters", "shorten runs like 'nooooo' to this many (0 = off)", "int", 0, 50
    ),
)
BY_NAME = {setting.name: setting for setting in SETTINGS}


def shown(setting: Setting, prefs: GuildPrefs, *, voice_name: str | None, role_name: str | None) -> str:
    """The current value in words, for /settings and replies."""
    value = getattr(prefs, setting.field)
    if setting.kind == "bool":
        return "on" if value else "off"
    if setting.kind == "voice":
        return voice_name or (value if value else "the bot's default voice")
    if setting.kind == "role":
        return role_name or ("everyone" if value is None else "a deleted role")
    if setting.kind == "text":
        return f"`{value}`" if value else "none (everything is read)"
    return str(value)
