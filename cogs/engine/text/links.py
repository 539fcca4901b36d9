"""How a link is said ("a link to example.com"), and the token handlers for Discord's link forms."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from .parts import SCHEME, TokenContext

__all__ = ["say_bare_link", "say_link", "say_masked_link", "say_suppressed_link", "say_www_link"]


_GIF_HOSTS: Final = ("tenor.com", "giphy.com", "gfycat.com")
_DISCORD_HOSTS: Final = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com", "www.discord.com"}
)
_SECOND_LEVEL: Final = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go", "gob", "nic"})
_HOST_SHAPE = re.compile(r"[^\W_](?:[\w-]{0,62})(?:\.[^\W_][\w-]{0,62}){0,10}")
_HOST_ALIASES: Final[Mapping[str, str]] = {"youtu.be": "youtube.com", "redd.it": "reddit.com"}


def say_link(url: str) -> str:
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


# -- link tokens -------------------------------------------------------------------------------------------

_URL_TRAILING = ".,;:!?'\")]}*_~"


def say_bare_link(match: re.Match[str], _ctx: TokenContext) -> str:
    """Punctuation after a link belongs to the sentence, not the URL (rstrip: no regex backtracking)."""
    url = match["bare_url"]
    kept = url.rstrip(_URL_TRAILING)
    tail = url[len(kept) :]
    unclosed = kept.count("(") - kept.count(")")
    if unclosed > 0:  # Wikipedia-style "..._(language)" keeps its own closing parenthesis
        closing = min(unclosed, len(tail) - len(tail.lstrip(")")))
        kept, tail = kept + tail[:closing], tail[closing:]
    return say_link(kept) + tail


def say_suppressed_link(match: re.Match[str], _ctx: TokenContext) -> str:
    return say_link(match["suppressed_url"])


def say_www_link(match: re.Match[str], _ctx: TokenContext) -> str:
    url = match["www_url"]
    kept = url.rstrip(_URL_TRAILING)
    return say_link("https://" + kept) + url[len(kept) :]


_HAS_URL = re.compile(rf"{SCHEME}|[Ww]{{3}}\.")


def say_masked_link(match: re.Match[str], ctx: TokenContext) -> str:
    """The link text is what the author meant to be read; a URL-looking text is said as the real target."""
    text = match["masked_text"]
    if _HAS_URL.search(text) or not any(ch.isalnum() for ch in text):
        return say_link(match["masked_url"])
    return ctx.replace(text)
