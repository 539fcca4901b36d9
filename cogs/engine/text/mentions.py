"""Mentioned users, roles and channels said by name: bounded, normalised, never carrying markup of their own."""

from __future__ import annotations

import re
from typing import Final

from .cut import cut_point
from .normalise import normalise
from .parts import MAX_NAME_CHARS, TokenContext

__all__ = ["say_channel", "say_role", "say_user"]

# -- mention tokens ----------------------------------------------------------------------------------------


def say_user(match: re.Match[str], ctx: TokenContext) -> str:
    return _bounded_name(ctx.names.users.get(int(match["user_id"]))) or "someone"


def say_role(match: re.Match[str], ctx: TokenContext) -> str:
    return _plain_label(ctx.names.roles.get(int(match["role_id"]))) or "a role"


def say_channel(match: re.Match[str], ctx: TokenContext) -> str:
    return _plain_label(ctx.names.channels.get(int(match["channel_id"]))) or "a channel"


# -- names -------------------------------------------------------------------------------------------------


_NO_ANGLE_BRACKETS: Final = str.maketrans("<>", "  ")


def _bounded_name(name: str | None) -> str:
    """A user's name as text (its emoji and markup are handled by the later steps), bounded in length."""
    if not name:
        return ""
    # Angle brackets would let a name smuggle Discord markup (<a:emoji:1>, <@1>) past the token pass, which
    # ran before the name was put in; they are never spoken anyway.
    name = " ".join(normalise(name[: MAX_NAME_CHARS * 4]).translate(_NO_ANGLE_BRACKETS).split())
    if len(name) > MAX_NAME_CHARS:
        name = name[: cut_point(name, MAX_NAME_CHARS, sentences=False)]
    return name


def _plain_label(name: str | None) -> str:
    """Role and channel names are decorated ("💬・general-chat", "🎮 Gamers"): keep only the words."""
    if not name:
        return ""
    name = normalise(name[: MAX_NAME_CHARS * 4])
    words = "".join(ch if ch.isalnum() or ch in "'&+" else " " for ch in name)
    return _bounded_name(words)
