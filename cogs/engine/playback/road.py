"""The steps every text takes on its way to speech, whatever road it came by: cleaning, attribution, voice, speed.

:meth:`~.guild_session.GuildSession.speak` runs them for ``/say``, read messages, the Speak menu and
previews; ``python -m bot say`` runs the same ones without a server, so what an admin hears from the
command line is what members would hear (without a server there is no pronunciation dictionary).

The server's pronunciation dictionary (:mod:`..text.pronunciation`) is applied after cleaning, to the text
and to the name in "Alice said". ``max-length`` cuts what was written, before the dictionary; the rates and
the daily budget count what is sent to AsyncFlow, after it.
"""

from __future__ import annotations

import time

from ..asyncflow.voices import VoiceCatalog
from ..store.limits import Refusal
from ..store.models import GuildPrefs, PreferencesStore
from ..text.cleaner import clean_message
from ..text.parts import CleanOptions
from ..text.pronunciation import NO_PRONUNCIATIONS, Pronunciations
from ..words import MEMBER_VOICES_OFF, NO_VOICE_LIST, PRIVATE_VOICE, UNKNOWN_VOICE
from .announcer import Announcer
from .private_voices import may_use
from .request import SpeechRequest, refused, speakable_name


def clean_request(
    request: SpeechRequest, prefs: GuildPrefs, pronunciations: Pronunciations = NO_PRONUNCIATIONS
) -> str | None:
    """The cleaned words of ``request`` (mentions as names, emoji by name, links as "a link to", no markdown,
    cut at a sentence), said as the server's dictionary says, or None when nothing is worth paying AsyncFlow for."""
    options = CleanOptions(
        max_length=request.max_length or prefs.max_length,
        emoji_mode=prefs.emoji_mode,
        repeated_characters=prefs.repeated_characters,
    )
    cleaned = clean_message(request.parts, request.names, options)
    return None if cleaned is None else pronunciations.apply(cleaned)


def words_to_say(
    request: SpeechRequest,
    prefs: GuildPrefs,
    announcer: Announcer | None,
    *,
    guild_id: int,
    pronunciations: Pronunciations = NO_PRONUNCIATIONS,
) -> tuple[str, str] | None:
    """The "Alice said, " prefix (or nothing) and the whole text to send, or None if nothing is speakable.

    The announcer is only asked here; the caller tells it the text was taken (:meth:`Announcer.spoke`)."""
    cleaned = clean_request(request, prefs, pronunciations)
    if cleaned is None:
        return None
    if announcer is None or request.preview or not prefs.announce_author:
        return "", cleaned
    nickname = request.author_prefs.spoken_names.get(guild_id) if request.author_prefs else None
    name = pronunciations.apply(speakable_name(nickname or request.author_name))
    prefix = announcer.prefix(request.speaker, name, prefs.announce_window_s, time.monotonic())
    return prefix, prefix + cleaned


def choose_speed(request: SpeechRequest, prefs: GuildPrefs) -> float | None:
    """The speaking rate: the author's own (``/voice speed``), else the server's ``speaking-rate``, else None
    (AsyncFlow's normal speed). The client sends it only to the models that honour it."""
    member = request.author_prefs
    if member is not None and member.speaking_rate is not None:
        return member.speaking_rate
    return prefs.speaking_rate


async def choose_voice(
    request: SpeechRequest, prefs: GuildPrefs, voices: VoiceCatalog, store: PreferencesStore | None
) -> str | Refusal | None:
    """The voice to speak with: chosen for this text (if the server allows it, AsyncFlow has it and it is not
    someone else's clone), else the member's own (if the server allows it), else the server's; None means the
    bot's ``asyncflow.voice_id``. ``store`` None (``python -m bot say``): no clone is anyone's, none may be used."""
    chosen = request.chosen_voice
    if chosen:
        if not prefs.allow_member_voices and not request.preview:
            return refused(MEMBER_VOICES_OFF, "member-voices-off")
        voice = await voices.find(chosen)
        if voice is None:
            return refused(UNKNOWN_VOICE if voices.has_list else NO_VOICE_LIST, "unknown-voice")
        if not await may_use(voice, store, request.requester_id):
            return refused(PRIVATE_VOICE, "private-voice")
        return chosen
    member = request.author_prefs
    if member is not None and member.voice_id and prefs.allow_member_voices:
        return member.voice_id
    return prefs.default_voice
