"""Messages a server is handling, from the moment they arrive, so a delete or an edit is never missed.

A read message is registered before the first ``await`` of its handler. While the handler checks
settings, limits and joins voice, a delete marks it (it is then never queued) and an edit bumps its
version (the handler judges the latest text again). Once queued, the entry keeps the "Alice said"
the message was given, so an edit is spoken with the same announcement.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import discord

MAX_REMEMBERED = 2000
"""Messages remembered after they were queued (for their edits); the oldest are forgotten first."""


@dataclass(slots=True)
class PendingMessage:
    latest: discord.Message
    version: int = 0
    deleted: bool = False
    prefix: str = ""
    """The "Alice said, " it was queued with."""
    chosen: bool = False
    """Queued by someone's Speak menu: spoken as it was when chosen (its edits are not read), withdrawn if deleted."""


class PendingMessages:
    """One server's messages in flight and recently queued. Synchronous: safe to call before any ``await``."""

    def __init__(self) -> None:
        self._messages: OrderedDict[int, PendingMessage] = OrderedDict()

    def arrived(self, message: discord.Message, *, chosen: bool = False) -> PendingMessage:
        """The entry of ``message``, registered now if it is new (``chosen``: by the Speak menu)."""
        entry = self._messages.get(message.id)
        if entry is None:
            entry = self._messages[message.id] = PendingMessage(message, chosen=chosen)
            while len(self._messages) > MAX_REMEMBERED:
                self._messages.popitem(last=False)
        return entry

    def get(self, message_id: int) -> PendingMessage | None:
        return self._messages.get(message_id)

    def edited(self, message: discord.Message) -> PendingMessage | None:
        """Record the new version of a known message; None if the message is not one of ours."""
        entry = self._messages.get(message.id)
        if entry is not None and not entry.deleted:
            entry.latest = message
            entry.version += 1
        return entry

    def deleted(self, message_id: int) -> None:
        entry = self._messages.get(message_id)
        if entry is not None:
            entry.deleted = True

    def forget(self, message_id: int) -> None:
        self._messages.pop(message_id, None)
