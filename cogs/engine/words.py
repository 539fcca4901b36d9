"""What members and a server's admins are told in Discord when something goes wrong: plain words and what
to do next. The bot's operator at ``python -m bot`` reads :mod:`bot.admin_words` instead, which names the
setting to change.
"""

from __future__ import annotations

import math

from .asyncflow.errors import (
    ApiConnectionError,
    ApiTimeout,
    AsyncFlowError,
    BadRequest,
    BadSpeechQuality,
    FileTooLarge,
    FormatNotRecognized,
    InvalidApiKey,
    InvalidLanguage,
    QuotaExceeded,
    QuotaExceededMidStream,
    RateLimited,
    ServerError,
    ShortSpeechDuration,
    StreamInterrupted,
    TooManyConcurrentRequests,
    UnexpectedResponse,
    UnplayableAudio,
    VersionNotFound,
    VoiceCloneLimitExceeded,
    VoiceNotFound,
)
from .asyncflow.model_ids import FASTEST_SPEED, NORMAL_SPEED, SLOWEST_SPEED

# -- what happened to a member's message in the voice channel ------------------------------------------

NOT_CONNECTED = "I'm not connected to a voice channel any more, so your message wasn't spoken."
DISCONNECTED = "I was disconnected from the voice channel, so your message wasn't spoken."
CHANNEL_DELETED = "My voice channel was deleted, so your message wasn't spoken."
STOPPED_BY_SOMEONE = "Someone used /stop, so your message wasn't spoken."
LEFT_BY_SOMEONE = "Someone used /leave, so your message wasn't spoken."
LEFT_ALONE = "Nobody was left in my voice channel, so I left and your message wasn't spoken."
PLAYBACK_FAILED = "Playing your message failed part-way through — try again."


def cut_short(news: str) -> str:
    """``news`` (one of the above) for a member who had already heard the start of their message."""
    return news.replace("your message wasn't spoken", "the rest of your message wasn't spoken")


# -- why a text is not taken -----------------------------------------------------------------------

QUEUE_FULL_NOTICE = "Skipping some messages: too many are waiting to be read. I'll catch up with new ones."
NOTHING_TO_SAY = "There's nothing to say — give me some text."
NOTHING_SPEAKABLE = "There's nothing in that I can read aloud — give me some words."
SPEAK_NOTHING_SPEAKABLE = "That message has nothing I can read aloud."
SPEAK_AUTHOR_OPTED_OUT = "Its author has asked not to be read aloud, so I won't speak that message."
SPEAK_DELETED = "That message was deleted, so I didn't speak it."
UNKNOWN_VOICE = "I don't know that voice — pick one from the list as you type."
PRIVATE_VOICE = "That voice is a member's own cloned voice, and only they can use it — pick another one."
PRIVATE_SERVER_VOICE = "That voice is a member's own cloned voice: it can't be the server voice — pick another one."
NO_VOICE_LIST = "I can't reach AsyncFlow's voice list right now — try again in a minute."
MEMBER_VOICES_OFF = "This server has everyone use the server voice, so `voice:` can't be picked here."
FOREIGN_VOICE = (
    "Something else is using my voice connection in this server right now (music, perhaps) — try again when it's done."
)


SPEED_OUT_OF_RANGE = f"The speaking rate goes from {SLOWEST_SPEED} to {FASTEST_SPEED} ({NORMAL_SPEED} is normal speed)."


def speed_has_no_effect(model_id: str) -> str:
    """Told whenever a speaking rate is saved or shown while the bot's model ignores it."""
    return (
        f"Note: this bot speaks with AsyncFlow's `{model_id}` model, which ignores the speaking rate, "
        "so for now it has no effect."
    )


def too_long(length: int, limit: int) -> str:
    return f"That's {length} characters; the limit here is {limit}. Shorten it or split it into parts."


def queue_full(limit: int) -> str:
    return f"The queue is full ({limit} messages) — wait a moment and try again."


def waiting_for_slot_message(limit: int | None) -> str:
    at_most = f" (at most {limit} at once)" if limit else ""
    return f"AsyncFlow is busy with this bot's other messages{at_most} — yours starts as soon as one finishes…"


def _seconds(value: float) -> str:
    """Rounded up: told "8 s" for 8.5 s, a member would come back too early."""
    whole = max(1, math.ceil(value))
    return f"{whole} s" if whole < 120 else f"{math.ceil(whole / 60)} min"


def describe_error(error: AsyncFlowError) -> str:
    """One or two sentences for the member whose text could not be spoken."""
    match error:
        case InvalidApiKey():
            return "The server's AsyncFlow API key was rejected — an admin needs to update it."
        case VoiceNotFound():
            return "That voice no longer exists on AsyncFlow — pick another one."
        case VersionNotFound():
            return "AsyncFlow no longer accepts the API version this bot speaks — the bot needs an update."
        case InvalidLanguage():
            return (
                "AsyncFlow can't speak the language this bot is set to — an admin needs to change `asyncflow.language`."
            )
        case FormatNotRecognized():
            return (
                "AsyncFlow refused the audio format or model this bot asks for — an admin needs to check "
                "`asyncflow.model_id` and `asyncflow.endpoint`."
            )
        case QuotaExceededMidStream():
            return (
                "The AsyncFlow speech quota ran out part-way through — the rest of your message wasn't spoken. "
                "An admin can upgrade the plan."
            )
        case QuotaExceeded():
            return "This server's AsyncFlow speech quota for the month is used up — an admin can upgrade the plan."
        case RateLimited(retry_after=float() as wait):
            return f"AsyncFlow is rate-limiting this bot — try again in {_seconds(wait)}."
        case RateLimited():
            return "AsyncFlow is rate-limiting this bot — try again in a minute."
        case TooManyConcurrentRequests():
            return "AsyncFlow is busy with this bot's other requests — try again in a few seconds."
        case ServerError():
            return "AsyncFlow had an internal error — try again in a minute."
        case ApiTimeout():
            return "AsyncFlow didn't answer in time — try again."
        case StreamInterrupted():
            return "The connection to AsyncFlow dropped part-way through — the rest of your message wasn't spoken."
        case ApiConnectionError():
            return "I couldn't reach AsyncFlow — try again shortly. If it keeps happening, tell the bot's admin."
        case UnplayableAudio():
            return f"AsyncFlow sent something I can't play ({error.message}). Tell the bot's admin."
        case UnexpectedResponse():
            return (
                "AsyncFlow sent a reply I don't understand — try again, and tell the bot's admin if it keeps happening."
            )
        case BadRequest():
            return f"AsyncFlow refused the request ({error.message}). Tell the bot's admin."
    return f"AsyncFlow failed ({error.message})."


def describe_retry(error: AsyncFlowError, delay: float) -> str:
    """Said while waiting to send a request again."""
    if isinstance(error, RateLimited | TooManyConcurrentRequests):
        return f"AsyncFlow is busy, retrying in {_seconds(delay)}…"
    if isinstance(error, ServerError):
        return f"AsyncFlow had a hiccup, retrying in {_seconds(delay)}…"
    if isinstance(error, ApiTimeout):
        return f"AsyncFlow is slow to answer, retrying in {_seconds(delay)}…"
    return f"Couldn't reach AsyncFlow, retrying in {_seconds(delay)}…"


# -- the pronunciation dictionary (/dictionary) ----------------------------------------------------------

DICTIONARY_EMPTY = "This server's dictionary is empty. Members with Manage Server add words with `/dictionary add`."
NO_WORD = "Give me the word to change — it can't be empty."
NO_SPOKEN_FORM = "Give me how the word should be said — it can't be empty."


def dictionary_full(limit: int) -> str:
    return (
        f"This server's dictionary is full ({limit} words), so nothing was added. Remove a word first with "
        "`/dictionary remove` (see `/dictionary list`), or replace one by adding it again."
    )


def dictionary_too_long(what: str, length: int, limit: int) -> str:
    """``what``: "The word" or "The spoken form"."""
    return f"{what} is {length} characters; the limit is {limit}. Nothing was changed."


def dictionary_added(word: str, spoken: str, *, replaced: bool) -> str:
    done = "Replaced the entry" if replaced else "Added to the dictionary"
    return f"{done}: “{word}” is now said “{spoken}”."


def dictionary_removed(word: str) -> str:
    return f"Removed “{word}” from the dictionary."


def dictionary_not_there(word: str) -> str:
    return f"“{word}” isn't in this server's dictionary, so nothing was removed (see `/dictionary list`)."


def dictionary_page(count: int, page: int, pages: int) -> str:
    words = "word" if count == 1 else "words"
    return f"**Pronunciation dictionary** — {count} {words}, page {page} of {pages}"


def dictionary_no_page(page: int, pages: int) -> str:
    return f"There is no page {page}: the dictionary has {pages} page{'s' if pages != 1 else ''}."


# -- your own voice (/voice clone, /voice delete-clone) --------------------------------------------


def describe_clone_error(error: AsyncFlowError) -> str:
    """What a member is told when AsyncFlow refused to clone their sample (nothing was kept there)."""
    match error:
        case ShortSpeechDuration():
            return "AsyncFlow heard less than 3 seconds of speech in your sample — record a longer one and try again."
        case BadSpeechQuality():
            return (
                "AsyncFlow found the sample's quality too low to clone — record again somewhere quiet, "
                "close to the microphone, and try again."
            )
        case FileTooLarge():
            return "AsyncFlow refused the sample as too large (over 10 MB) — send a shorter or smaller file."
        case FormatNotRecognized():
            return "AsyncFlow didn't recognise the sample's audio format — send a WAV, MP3, FLAC or AIFF file."
        case InvalidLanguage():
            return "AsyncFlow doesn't clone voices in that language — pick another `language`."
        case VoiceCloneLimitExceeded():
            return (
                "This bot's voice-clone slots at AsyncFlow are all in use, so your voice wasn't cloned. "
                "Tell the bot's admin."
            )
    return describe_error(error) + " Your voice wasn't cloned."


CLONING_OFF_BOT = "Voice cloning is turned off for this bot by its operator."
CLONING_OFF_SERVER = "Voice cloning is turned off in this server (an admin can change `voice-cloning` with /set)."
SAMPLE_NOT_AUDIO = "That file isn't a sample I can send — attach a WAV, MP3, FLAC or AIFF recording of your voice."
SAMPLE_UNREADABLE = "I couldn't read that file as audio — attach a WAV, MP3, FLAC or AIFF recording of your voice."
SAMPLE_DOWNLOAD_FAILED = "I couldn't download your sample from Discord — try again."
CLONE_NAME_INVALID = "Give your voice a name of 1 to {limit} characters."
CONSENT_AGREE = "This is my own voice and I agree to AsyncFlow processing it"
CONSENT_CANCEL = "Cancel"
CONSENT_NOT_YOURS = "Only the member who used /voice clone can answer this."
CLONE_CANCELLED = "Cancelled — nothing was uploaded."
CLONE_UPLOADING = "Uploading your sample to AsyncFlow…"
NO_CLONE = "You have no cloned voice to delete."


def sample_too_big(size: int, limit: int) -> str:
    return (
        f"That sample is {size / 1_000_000:.1f} MB; AsyncFlow takes at most {limit / 1_000_000:g} MB — "
        "send a shorter one."
    )


def sample_too_short(seconds: float, minimum: float) -> str:
    return (
        f"That sample is {seconds:.1f} s long; AsyncFlow needs at least {minimum:g} s of your voice — "
        "record a longer one."
    )


def clone_slots_full(limit: int) -> str:
    kept = "one cloned voice" if limit == 1 else f"{limit} cloned voices"
    return f"You can keep {kept} with this bot, and you have — `/voice delete-clone` removes it first."


def consent_request(name: str, minutes: int) -> str:
    """The consent step: what will be sent, where, and for how long the buttons work."""
    return (
        f"Before I upload anything: your sample and the name **{name}** would be sent to AsyncFlow "
        "(POST /voices/clone) to make a voice from it. AsyncFlow keeps that voice until you `/voice delete-clone` "
        "or `/forget-me`; only you can use it in this bot. Press the button only if this is **your own voice** "
        f"and you agree. This request expires in {minutes} minutes; until then nothing has been uploaded."
    )


def consent_expired(minutes: int) -> str:
    return f"This request expired after {minutes} minutes — nothing was uploaded. Use /voice clone again."


def clone_done(name: str) -> str:
    return (
        f"Your voice **{name}** is cloned and is now your voice for your messages and `/say`, in every server "
        "with this bot. Only you can use it; `/voice delete-clone` deletes it at AsyncFlow and here."
    )


def clones_deleted(deleted: list[str], gone: list[str], kept: list[str]) -> str:
    """What ``/voice delete-clone`` (and ``/forget-me``) did with each of the member's cloned voices, by name."""
    parts: list[str] = []
    if deleted:
        parts.append(f"Deleted your cloned voice {_names(deleted)} at AsyncFlow and here.")
    if gone:
        parts.append(f"AsyncFlow no longer had {_names(gone)}, so I deleted it here.")
    if kept:
        parts.append(
            f"AsyncFlow couldn't delete {_names(kept)} right now, so I kept its record to try again — use the "
            "command again in a minute."
        )
    return " ".join(parts)


def _names(names: list[str]) -> str:
    return ", ".join(f"**{name}**" for name in names)
