"""The "Speak" message menu: someone else's message, read aloud for the member who chose it, on the one road.

The message is cleaned like a read message (its attachments, reply, stickers... described, the server's
``max-length``) and attributed to its author ("Alice said"), in the author's voice and speaking rate, as
reading does; the member who chose it is told what happens and is charged the rates and the budget. It
is registered with the session before the first ``await``, so a delete from then on withdraws it; an edit
is not read (it is spoken as it was when chosen). Bots' and webhooks' messages may be chosen too: someone
asked for this one, unlike reading's flood of them. An author who used ``/opt-out`` is never spoken.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from ..store.limits import Refusal
from ..store.models import PreferencesStore
from ..words import SPEAK_AUTHOR_OPTED_OUT, SPEAK_DELETED, SPEAK_NOTHING_SPEAKABLE
from .guild_session import ChannelChoice, GuildSession
from .reading import message_request
from .request import Outcome, refused
from .utterance import Notify


async def speak_chosen_message(
    session: GuildSession,
    guild: discord.Guild,
    message: discord.Message,
    *,
    requester: discord.Member,
    store: PreferencesStore,
    notify: Notify,
    where: ChannelChoice,
    answer_first: Callable[[], Awaitable[None]],
) -> Outcome:
    """Speak ``message`` for ``requester`` in the channel ``where`` chooses; the outcome in the requester's words.

    The message is registered before ``answer_first`` (deferring the interaction) is awaited, so a delete
    from the moment it was chosen is seen."""
    entry = session.pending.arrived(message, chosen=True)
    try:
        await answer_first()
        async with session.turn():
            outcome = await _speak_in_turn(session, guild, message, requester, store, notify, where)
            if entry.deleted:
                session.queue.withdraw(message.id)  # deleted while it was being queued
                return refused(SPEAK_DELETED, "deleted")
            return outcome
    finally:
        if not session.queue.holds(message.id):
            session.pending.forget(message.id)


async def _speak_in_turn(
    session: GuildSession,
    guild: discord.Guild,
    message: discord.Message,
    requester: discord.Member,
    store: PreferencesStore,
    notify: Notify,
    where: ChannelChoice,
) -> Outcome:
    author = None if message.webhook_id is not None else await store.member(message.author.id)
    if author is not None and author.opted_out:
        return refused(SPEAK_AUTHOR_OPTED_OUT, "author-opted-out")
    request = message_request(message, requester_id=requester.id, notify=notify, author_prefs=author)
    outcome = await session.speak_in_turn(guild, request, where)
    if isinstance(outcome, Refusal) and outcome.reason == "nothing-to-say":
        return refused(SPEAK_NOTHING_SPEAKABLE, outcome.reason)
    if isinstance(outcome, Refusal) and outcome.reason == "deleted":
        return refused(SPEAK_DELETED, outcome.reason)
    return outcome
