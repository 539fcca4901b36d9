"""What someone asks to have spoken, on any road (``/say``, a read message, the Speak menu), and the answer.

A :class:`SpeechRequest` carries the raw parts of the text and who it is from; the guild session
turns it into words on the one road (cleaned, attributed, voice chosen, limits counted) in
:meth:`~.guild_session.GuildSession.speak`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store.limits import Refusal
from ..store.models import MemberPrefs
from ..text.cleaner import clean_message
from ..text.parts import CleanOptions, MessageParts, Names
from ..words import NOTHING_TO_SAY, too_long
from .utterance import Notify

SPOKEN_NAME_LIMIT = 60


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    parts: MessageParts
    """The text (and, for a message, its attachments, reply, stickers...) before cleaning."""
    names: Names
    """Display names for the mentions in the text."""
    author_id: int
    author_name: str
    """The display name said in "Alice said" unless the author set a /nickname here."""
    requester_id: int
    """Who asked: the member told about failures and charged the rates; the author for /say and read messages,
    the member who used it for the Speak menu."""
    notify: Notify
    author_prefs: MemberPrefs | None = None
    """The author's choices; None for webhooks and proxies (no member voice or nickname applies)."""
    chosen_voice: str | None = None
    """A voice picked for this text alone (``/say voice:``)."""
    preview: bool = False
    """A ``/voice preview``: the chosen voice is spoken whatever the server's member-voices setting, unannounced."""
    max_length: int | None = None
    """Cut the cleaned text at this many characters (None: the server's ``max-length``)."""
    key: int | None = None
    """The message id of a read message (for deletes and edits)."""
    notify_retries: bool = True

    @property
    def speaker(self) -> str:
        """Who the announcer tracks: proxies share one webhook user id, so the name is part of it."""
        return f"{self.author_id}:{self.author_name}"


def refused(message: str, reason: str) -> Refusal:
    """A refusal worded the same for the member and for a channel being read."""
    return Refusal(message, message, reason)


@dataclass(frozen=True, slots=True)
class Accepted:
    """Queued for speech in ``channel_mention``; ``ahead`` texts before it (0: it is spoken now)."""

    channel_mention: str
    ahead: int


Outcome = Accepted | Refusal


def speakable_name(name: str) -> str:
    """A display name or nickname as it can be said: markup, emoji codes and mentions can't be smuggled in."""
    cleaned = clean_message(MessageParts(content=name), Names(), CleanOptions(max_length=SPOKEN_NAME_LIMIT))
    return cleaned or "Someone"


def typed_text_problem(text: str, limit: int) -> str | None:
    """Why a typed text (``/say``, the command line) is refused before anything else, or None: the length limit
    applies to what the member typed; the budget and rates later count what is sent."""
    if not text.strip():
        return NOTHING_TO_SAY
    if len(text.strip()) > limit:
        return too_long(len(text.strip()), limit)
    return None
