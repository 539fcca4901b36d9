"""What the admin is told on the command line: one line naming the cause, the bad value and its fix.

:mod:`cogs.engine.words` speaks to members in a server ("an admin needs to update it"); the admin at
``python -m bot`` is that admin, so these name the setting (``asyncflow.api_key``), the environment
variable that sets it (``ASYNCFLOW_API_KEY``) and the command that shows the right values. None of them
ever holds a secret: the API's URL is shown, never its key; Discord's token never.
"""

from __future__ import annotations

import discord

from cogs.engine.asyncflow.errors import (
    ApiConnectionError,
    ApiTimeout,
    AsyncFlowError,
    BadRequest,
    FormatNotRecognized,
    InvalidApiKey,
    InvalidLanguage,
    QuotaExceeded,
    QuotaExceededMidStream,
    RateLimited,
    ServerError,
    StreamInterrupted,
    TooManyConcurrentRequests,
    UnexpectedResponse,
    UnplayableAudio,
    VersionNotFound,
    VoiceNotFound,
)
from cogs.engine.asyncflow.model_ids import MODELS
from cogs.engine.config import AsyncFlowSettings
from cogs.engine.playback.request import typed_text_problem

LIST_VOICES = "`python -m bot voices` lists yours"
EXIT_STATUSES = {
    0: "all is well (check: warnings included)",
    1: "a problem was found (check); the text was refused or not spoken (say); Discord or AsyncFlow can't be reached",
    2: "the configuration or the command line is wrong, or Discord rejected the token: fix what the message names",
    130: "interrupted (Ctrl-C); say keeps a valid WAV of what it had written",
}
"""``python -m bot``'s exit statuses, for every command (``--help`` and the README list them)."""

REQUEST_FIELDS = {
    "model_id": "asyncflow.model_id",
    "voice": "asyncflow.voice_id",
    "voice.id": "asyncflow.voice_id",
    "language": "asyncflow.language",
}
"""Request fields AsyncFlow may name in a 422, and the setting each comes from."""


def env_name(key: str) -> str:
    """The environment variable that sets a dotted key: ``asyncflow.api_key`` -> ``ASYNCFLOW_API_KEY``."""
    return key.replace(".", "_").upper()


def where_to_set(key: str) -> str:
    """``ASYNCFLOW_API_KEY (api_key under [asyncflow])``: both places a setting can be given."""
    section, _, name = key.partition(".")
    return f"{env_name(key)} ({name} under [{section}])"


def voice_not_found(voice_id: str) -> str:
    return f"voice {voice_id} was not found: {LIST_VOICES}"


def describe_for_admin(error: AsyncFlowError, api: AsyncFlowSettings) -> str:
    """One line for the admin about an AsyncFlow failure: what it means for the configuration, and the fix."""
    url = str(api.base_url)
    match error:
        case InvalidApiKey():
            return (
                f"AsyncFlow at {url} rejected the API key: set {where_to_set('asyncflow.api_key')} to a key from "
                "the AsyncFlow dashboard"
            )
        case VoiceNotFound():
            return voice_not_found(error.voice_id or api.voice_id)
        case VersionNotFound():
            return f"AsyncFlow at {url} no longer serves API version v1: update this bot ({error.message})"
        case InvalidLanguage():
            return (
                f"AsyncFlow can't speak language {api.language!r}: set {where_to_set('asyncflow.language')} to an "
                "ISO 639-1 code it lists (en fr es de it pt ar ru ro ja he hy tr hi zh), or leave it unset"
            )
        case FormatNotRecognized():
            return (
                f"AsyncFlow refused the audio format of model {api.model_id} on endpoint = {api.endpoint}: "
                f"check {where_to_set('asyncflow.model_id')} and {where_to_set('asyncflow.endpoint')}"
            )
        case QuotaExceededMidStream():
            return "the AsyncFlow quota ran out part-way through: upgrade the plan in the AsyncFlow dashboard"
        case QuotaExceeded():
            return "the AsyncFlow quota is used up: upgrade the plan in the AsyncFlow dashboard, or wait for next month"
        case RateLimited() | TooManyConcurrentRequests():
            return (
                f"AsyncFlow is rate-limiting this key ({error.message}): try again shortly, or set "
                f"{where_to_set('asyncflow.max_concurrent_requests')} to your plan's cap"
            )
        case ServerError():
            return f"AsyncFlow at {url} had an internal error ({error.message}): try again in a minute"
        case ApiTimeout():
            return (
                f"AsyncFlow at {url} didn't answer in time ({error.message}): check the network, or raise "
                f"{where_to_set('asyncflow.first_byte_timeout')}"
            )
        case StreamInterrupted():
            return f"the connection to AsyncFlow at {url} dropped part-way through ({error.message}): try again"
        case ApiConnectionError():
            return f"{error.message} at {url}: check {where_to_set('asyncflow.base_url')} and this machine's network"
        case UnplayableAudio():
            return f"AsyncFlow at {url} sent audio this bot can't play ({error.message}): is it the AsyncFlow API?"
        case UnexpectedResponse():
            return (
                f"AsyncFlow at {url} sent a reply this bot doesn't understand ({error.message}): "
                f"is {where_to_set('asyncflow.base_url')} the AsyncFlow API?"
            )
        case BadRequest():
            return _refused_request(error)
    return f"AsyncFlow at {url} failed: {error.message}"


def _refused_request(error: AsyncFlowError) -> str:
    """A 4xx AsyncFlow has no code for: name the field it refused, and the setting behind it."""
    field = error.invalid_field
    if field is None:
        return f"AsyncFlow refused the request ({error.message}): run `python -m bot check`"
    refused = f"AsyncFlow refused the request (HTTP {error.status}): {field.name}: {field.reason}"
    setting = REQUEST_FIELDS.get(field.name)
    if setting == "asyncflow.model_id":
        return f"{refused}: set {where_to_set(setting)} to one of {', '.join(MODELS)}"
    if setting is not None:
        return f"{refused}: check {where_to_set(setting)}"
    return f"{refused}: this bot built a request AsyncFlow doesn't accept; please report it"


# -- the text given to `python -m bot say` -----------------------------------------------------------------


def text_refusal(text: str, limit: int) -> str | None:
    """Why ``say`` refuses TEXT before any request, or None; the rule is ``/say``'s own (``typed_text_problem``),
    the words are the admin's."""
    if typed_text_problem(text, limit) is None:
        return None
    if not text.strip():
        return "TEXT is empty or only whitespace: give the words to speak (or - to read them from stdin)"
    return (
        f"TEXT is {len(text.strip())} characters, over the limit of {limit}: shorten it, or raise "
        f"{where_to_set('speech.max_text_length')} (members are held to it too)"
    )


NOTHING_SPEAKABLE = "TEXT has nothing that can be read aloud once Discord markup, links and emoji codes are cleaned"


def unknown_voice(typed: str) -> str:
    return f"--voice {typed!r} is neither a voice id nor a voice name: {LIST_VOICES}"


PRIVATE_VOICE = "that voice is a member's own cloned voice (CUSTOM at AsyncFlow): only they can use it, in Discord"


def ambiguous_voice(typed: str, ids: list[str]) -> str:
    return f"--voice {typed!r} names {len(ids)} voices ({', '.join(ids)}): pass one of the ids"


# -- Discord, at start-up ----------------------------------------------------------------------------------

TOKEN_REJECTED = (
    f"Discord rejected the bot token: set {where_to_set('discord.token')} to the token from the Developer Portal "
    "(Bot → Reset Token)"
)


def discord_unreachable(error: BaseException) -> str:
    """Logging in failed to connect; the address is discord.py's own (``https://discord.com/api/v10``)."""
    reason = str(error) or type(error).__name__
    fix = "check this machine's network, DNS and firewall"
    return f"could not reach Discord at {discord.http.Route.BASE} ({reason}): {fix}"
