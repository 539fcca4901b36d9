"""Accessibility reading on a server's session: a chat message judged by the reading rules, then the one road.

:func:`read_message` registers the message with the session before its first ``await``, so a delete
or an edit that arrives while settings are read, limits counted or voice joined is honoured.
:func:`message_edited` judges an edit again by every reading rule (ignore prefix, opt-out, required
role, bots) and revises, withdraws or counts the queued text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

from ..store.limits import Refusal
from ..store.models import GuildPrefs, MemberPrefs, PreferencesStore
from ..text.message_parts import mention_names, message_parts
from ..text.read_filter import in_reading_channel, is_proxy_message, reason_not_to_read
from ..words import QUEUE_FULL_NOTICE
from .guild_session import ChannelChoice, GuildSession
from .pending import PendingMessage
from .request import SpeechRequest, speakable_name
from .utterance import Notify
from .voice import JoinRefused, VoiceChannel, server_muted, stage_audience

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to post, quietly, in the channel being read (the cog rate-limits it by ``reason``)."""

    text: str
    reason: str


async def read_message(
    session: GuildSession,
    guild: discord.Guild,
    message: discord.Message,
    *,
    store: PreferencesStore,
    bot_user_id: int,
    notify: Notify,
) -> Notice | None:
    """Speak ``message`` if the reading rules say so; a notice for its channel if something is in the way."""
    entry = session.pending.arrived(message)  # before any await: a delete or edit from now on is seen
    try:
        async with session.turn():  # taken in arrival order, so messages are read in the order they were posted
            return await _read_in_turn(session, guild, entry, store=store, bot_user_id=bot_user_id, notify=notify)
    finally:
        if not session.queue.holds(message.id):
            session.pending.forget(message.id)


async def _read_in_turn(
    session: GuildSession,
    guild: discord.Guild,
    entry: PendingMessage,
    *,
    store: PreferencesStore,
    bot_user_id: int,
    notify: Notify,
) -> Notice | None:
    while True:
        version = entry.version
        latest = entry.latest
        prefs = await store.guild(guild.id)
        judged = await _judge(session, latest, prefs, store=store, bot_user_id=bot_user_id, notify=notify)
        if entry.deleted:
            return None
        if entry.version != version:
            continue  # edited while we looked: judge the new text
        if judged is None or isinstance(judged, Notice):
            return judged
        request, join_channel = judged
        outcome = await session.speak_in_turn(guild, request, _reading_channel(join_channel))
        if isinstance(outcome, Refusal):
            log.debug("not reading message %s in guild %s: %s", latest.id, guild.id, outcome.reason)
            return Notice(outcome.notice, outcome.reason) if outcome.notice else None
        if entry.version != version and not entry.deleted:  # edited while it was being queued
            return await message_edited(session, guild, entry.latest, store=store, bot_user_id=bot_user_id)
        return None


async def message_edited(
    session: GuildSession,
    guild: discord.Guild,
    message: discord.Message,
    *,
    store: PreferencesStore,
    bot_user_id: int,
) -> Notice | None:
    """An edit of a message we are handling. Queued or downloading: judged again and revised (a download that
    had started counts again against the limits), or withdrawn. Being heard: it goes on as it was."""
    entry = session.pending.edited(message)
    if entry is None or entry.chosen or not session.queue.holds(message.id):
        return None  # not ours, still being judged (read_message sees the new version), or chosen with Speak
    with session.queue.hold(message.id):  # before any await: it can't start being heard while we judge
        prefs = await store.guild(guild.id)
        judged = await _judge(session, message, prefs, store=store, bot_user_id=bot_user_id, notify=_nobody)
        text = session.words_for_edit(judged[0], prefs) if isinstance(judged, tuple) else None
        if text is None:
            session.queue.withdraw(message.id)
            return None
        old = session.queue.text_of(message.id)
        if old is None or old == text:
            return None  # being heard already, or nothing changed
        downloading = session.queue.downloading(message.id)
        refusal = await session.count(guild.id, message.author.id, text, old=None if downloading else old)
        if refusal is not None:
            session.queue.withdraw(message.id)
            return Notice(refusal.notice, refusal.reason)
        session.queue.revise(message.id, text)
        return None


def message_deleted(session: GuildSession, message_id: int) -> None:
    """Never spoken if it is still being judged or queued; cut off if it is being heard."""
    session.pending.deleted(message_id)
    session.queue.withdraw(message_id)


async def _nobody(_text: str) -> None:
    return None


async def _judge(
    session: GuildSession,
    message: discord.Message,
    prefs: GuildPrefs,
    *,
    store: PreferencesStore,
    bot_user_id: int,
    notify: Notify,
) -> tuple[SpeechRequest, VoiceChannel | None] | Notice | None:
    """The request to speak ``message`` (and the author's channel to join, if auto-join applies), a notice,
    or None when the reading rules say it is not read."""
    guild = message.guild
    if guild is None:
        return None
    bot_channel = session.listening_in
    join_channel = _channel_to_join(message, prefs, bot_channel, idle=not session.queue.is_active)
    listening_in = join_channel or bot_channel
    proxy = is_proxy_message(message, prefs)
    author: MemberPrefs | None = None if proxy or message.webhook_id else await store.member(message.author.id)
    reason = reason_not_to_read(
        message, prefs, author, voice_channel_id=listening_in.id if listening_in else None, bot_user_id=bot_user_id
    )
    if reason is not None:
        log.debug("not reading message %s: %s", message.id, reason)
        return None
    if bot_channel is not None and join_channel is None and (server_muted(guild) or stage_audience(guild)):
        why = "A moderator server-muted me" if server_muted(guild) else "I'm only a listener on the stage"
        return Notice(f"{why} in {bot_channel.mention}, so I'm not reading messages aloud.", "silenced")
    if session.queue.is_full:
        return Notice(QUEUE_FULL_NOTICE, "queue-full")
    request = message_request(
        message, requester_id=message.author.id, notify=notify, author_prefs=author, notify_retries=False
    )
    return request, join_channel


def _channel_to_join(
    message: discord.Message, prefs: GuildPrefs, bot_channel: VoiceChannel | None, *, idle: bool
) -> VoiceChannel | None:
    """The author's voice channel, when auto-join applies: the bot is idle and somewhere else (or nowhere)."""
    author = message.author
    if not prefs.auto_join or not idle or not isinstance(author, discord.Member) or author.voice is None:
        return None
    channel = author.voice.channel
    if not isinstance(channel, discord.VoiceChannel | discord.StageChannel):
        return None
    if bot_channel is not None and bot_channel.id == channel.id:
        return None
    return channel if in_reading_channel(message, prefs, channel.id) else None


def _reading_channel(join_channel: VoiceChannel | None) -> ChannelChoice:
    """Where a read message is spoken: the author's channel when auto-join applies and the bot is still idle,
    else where the bot is (the reading rules already checked the author is there)."""

    def where(current: VoiceChannel | None, busy: bool) -> VoiceChannel | None:
        if join_channel is None or (current is not None and current.id == join_channel.id):
            return None
        if busy:  # someone else's text got there first: don't leave them for this one
            raise JoinRefused("")
        return join_channel

    return where


def replied_author(message: discord.Message) -> str | None:
    reference = message.reference
    if reference is None or reference.type is not discord.MessageReferenceType.default:
        return None
    resolved = reference.resolved
    if isinstance(resolved, discord.Message):
        return speakable_name(resolved.author.display_name)
    return None


def message_request(
    message: discord.Message,
    *,
    requester_id: int,
    notify: Notify,
    author_prefs: MemberPrefs | None,
    notify_retries: bool = True,
) -> SpeechRequest:
    """A Discord message as a request on the one road (read, or chosen with Speak): its parts, the names of
    its mentions and its author; keyed by its id, so an edit or a delete finds it."""
    return SpeechRequest(
        parts=message_parts(message, reply_to=replied_author(message)),
        names=mention_names(message),
        author_id=message.author.id,
        author_name=message.author.display_name,
        requester_id=requester_id,
        notify=notify,
        author_prefs=author_prefs,
        key=message.id,
        notify_retries=notify_retries,
    )
