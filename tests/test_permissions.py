"""The invite in the README asks for exactly the permissions declared in ``cogs/engine/permissions.py``."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import discord

from cogs.engine.permissions import BOT_PERMISSIONS, INVITE_SCOPES, NEEDED, invite_url
from cogs.engine.playback.voice import VoiceChannel, missing_voice_permissions

ROOT = Path(__file__).resolve().parent.parent


def _section(readme: str, heading: str) -> str:
    return readme.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readmes_invite_url_carries_the_declared_permissions_integer() -> None:
    setup = _section((ROOT / "README.md").read_text(), "## Set up the Discord application")
    (url,) = re.findall(r"https://discord\.com/oauth2/authorize\?\S+", setup)
    assert url == invite_url("APPLICATION_ID")
    (written,) = set(re.findall(r"permissions=(\d+)", url))
    assert discord.Permissions(int(written)) == BOT_PERMISSIONS
    assert f"`{BOT_PERMISSIONS.value}`" in setup  # the integer repeated in the prose next to its names
    assert [name for name in re.findall(r"\*\*([^*]+)\*\*", setup) if name in NEEDED.values()] == list(NEEDED.values())


def test_the_invite_grants_what_joining_a_voice_channel_checks_for() -> None:
    """``missing_voice_permissions`` (checked before each join) finds nothing missing with the invite's permissions."""

    def channel_granting(permissions: discord.Permissions) -> VoiceChannel:
        guild = SimpleNamespace(me=object())
        return cast(VoiceChannel, SimpleNamespace(guild=guild, permissions_for=lambda _member: permissions))

    assert missing_voice_permissions(channel_granting(BOT_PERMISSIONS)) == []
    assert missing_voice_permissions(channel_granting(discord.Permissions.none())) == [
        "View Channel",
        "Connect",
        "Speak",
    ]
    assert not BOT_PERMISSIONS.administrator and not BOT_PERMISSIONS.read_message_history  # nothing it never uses
    assert INVITE_SCOPES == ("bot", "applications.commands")
