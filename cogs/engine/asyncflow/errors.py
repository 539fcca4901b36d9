"""Typed errors for everything AsyncFlow (or the road to it) can do wrong.

Each class says what happened; :mod:`cogs.engine.words` says it to people. No error ever
carries the API key: messages are built from the status, the documented error code and the
server's own message, never from request headers. :func:`error_from_response` turns an HTTP error
response into the matching class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, NamedTuple

QUOTA_MARKER_CODE = "QUOTA_EXCEEDED"
"""The code of the quota errors the ``--ERROR:QUOTA_EXCEEDED--`` marker inside the audio stands for."""


class InvalidField(NamedTuple):
    """The request field a validation error (HTTP 422) names, and why AsyncFlow refused it."""

    name: str
    """Dotted, as in the request body: ``model_id``, ``output_format.sample_rate``."""
    reason: str


class AsyncFlowError(Exception):
    """Base class. ``retryable`` says whether the same request may succeed if sent again soon."""

    retryable: bool = False
    kind: ClassVar[str] = "unexpected"
    """What went wrong, in a word, for an error AsyncFlow gave no documented code for (see :attr:`label`)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        extra: Mapping[str, Any] | None = None,
        invalid_field: InvalidField | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.invalid_field = invalid_field
        """The field a 422's list ``detail`` names in its first entry's ``loc``, when it names one."""
        self.retry_after = retry_after
        """Seconds the server asked us to wait, when it said."""
        self.extra: Mapping[str, Any] = extra or {}
        """The documented ``extra`` object (limits, voice id). Never shown as a whole: 401 puts a key prefix there."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"

    @property
    def label(self) -> str:
        """A name from a fixed set, for metrics: AsyncFlow's documented error code, else :attr:`kind` (an unknown
        code is the server's free text, like its message, and never a label)."""
        return self.code if self.code in DOCUMENTED_CODES else self.kind


class InvalidApiKey(AsyncFlowError):
    """401 INVALID_API_KEY: the key is wrong, expired or missing."""

    kind = "invalid_api_key"


class VoiceNotFound(AsyncFlowError):
    """404 VOICE_NOT_FOUND: the voice id does not exist (any more)."""

    kind = "voice_not_found"

    @property
    def voice_id(self) -> str | None:
        value = self.extra.get("voice_id")
        return value if isinstance(value, str) else None


class VersionNotFound(AsyncFlowError):
    """404 VERSION_NOT_FOUND: the API no longer serves the version we speak."""

    kind = "version_not_found"


class InvalidLanguage(AsyncFlowError):
    """400 INVALID_LANGUAGE: the configured language is not supported."""

    kind = "invalid_language"


class FormatNotRecognized(AsyncFlowError):
    """400 FORMAT_NOT_RECOGNIZED: the model or endpoint refuses the output format we ask for."""

    kind = "format_not_recognized"


class ShortSpeechDuration(AsyncFlowError):
    """400 SHORT_SPEECH_DURATION: a clone sample holds less than the 3 s of speech AsyncFlow needs."""

    kind = "short_speech_duration"


class BadSpeechQuality(AsyncFlowError):
    """400 BAD_SPEECH_QUALITY: a clone sample is too noisy or too quiet to clone from."""

    kind = "bad_speech_quality"


class FileTooLarge(AsyncFlowError):
    """413 FILE_TOO_LARGE: a clone sample is over AsyncFlow's 10 MB."""

    kind = "file_too_large"


class VoiceCloneLimitExceeded(AsyncFlowError):
    """429 VOICE_CLONE_LIMIT_EXCEEDED: the account holds as many clones as its plan allows (not retryable)."""

    kind = "voice_clone_limit_exceeded"


class BadRequest(AsyncFlowError):
    """Any other 4xx: the request itself is wrong, so sending it again will not help."""

    kind = "bad_request"


class TooManyConcurrentRequests(AsyncFlowError):
    """429 TOO_MANY_CONCURRENT_REQUESTS: the plan's parallel-request cap; retry once one finishes."""

    kind = "too_many_concurrent_requests"

    retryable = True


class RateLimited(AsyncFlowError):
    """429 RATE_LIMIT_EXCEEDED: the per-minute request cap; ``retry_after`` says how long to wait."""

    kind = "rate_limited"

    retryable = True


class QuotaExceeded(AsyncFlowError):
    """The plan's usage quota is used up (429 USAGE_LIMIT_EXCEEDED before any audio)."""

    kind = "quota_exceeded"


class QuotaExceededMidStream(QuotaExceeded):
    """The ``--ERROR:QUOTA_EXCEEDED--`` marker arrived inside the audio: the audio before it was good."""


class ServerError(AsyncFlowError):
    """5xx: AsyncFlow failed; worth retrying."""

    kind = "server_error"

    retryable = True


class ApiTimeout(AsyncFlowError):
    """No answer (or no next piece of audio) within the configured timeout."""

    kind = "timeout"

    retryable = True


class ApiConnectionError(AsyncFlowError):
    """The connection could not be made, or was dropped before any audio arrived."""

    kind = "connection_error"

    retryable = True


class StreamInterrupted(AsyncFlowError):
    """The connection dropped or stalled after audio had started: never retried, the start was already heard."""

    kind = "stream_interrupted"


class UnexpectedResponse(AsyncFlowError):
    """A body we cannot understand: not JSON where JSON was due, or JSON of an unknown shape."""

    kind = "unexpected_response"


class UnplayableAudio(AsyncFlowError):
    """The audio itself cannot be played (not WAV, compressed, nonsense header)."""

    kind = "unplayable_audio"


_ERROR_CLASSES: dict[str, type[AsyncFlowError]] = {
    "INVALID_API_KEY": InvalidApiKey,
    "VOICE_NOT_FOUND": VoiceNotFound,
    "VERSION_NOT_FOUND": VersionNotFound,
    "INVALID_LANGUAGE": InvalidLanguage,
    "FORMAT_NOT_RECOGNIZED": FormatNotRecognized,
    "TOO_MANY_CONCURRENT_REQUESTS": TooManyConcurrentRequests,
    "RATE_LIMIT_EXCEEDED": RateLimited,
    "USAGE_LIMIT_EXCEEDED": QuotaExceeded,
    "SHORT_SPEECH_DURATION": ShortSpeechDuration,
    "BAD_SPEECH_QUALITY": BadSpeechQuality,
    "FILE_TOO_LARGE": FileTooLarge,
    "VOICE_CLONE_LIMIT_EXCEEDED": VoiceCloneLimitExceeded,
}
DOCUMENTED_CODES = frozenset({*_ERROR_CLASSES, QUOTA_MARKER_CODE})
"""Every error code AsyncFlow documents (and the quota marker's): the only codes a metric label may be."""


def error_from_response(status: int, content: bytes, headers: Mapping[str, str]) -> AsyncFlowError:
    """Turn an error response into the matching typed error, whichever documented body shape it has."""
    retry_after = _retry_after_header(headers.get("retry-after"))
    code: str | None = None
    message = ""
    invalid_field: InvalidField | None = None
    extra: Mapping[str, Any] = {}
    try:
        data: Any = json.loads(content) if content else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, Mapping):
        detail = data.get("detail")
        # Wrapped {"detail": {...}} (documented), else unwrapped {"error_code": ...}; 500s have a string detail.
        inner: Mapping[str, Any] = detail if isinstance(detail, Mapping) else data
        raw_code = inner.get("error_code")
        code = raw_code if isinstance(raw_code, str) else None
        raw_message = inner.get("message") or data.get("message")
        message = raw_message if isinstance(raw_message, str) else ""
        raw_extra = inner.get("extra")
        extra = raw_extra if isinstance(raw_extra, Mapping) else {}
        retry_ms = extra.get("retry_after_ms")
        if (
            retry_after is None
            and isinstance(retry_ms, int | float)
            and not isinstance(retry_ms, bool)
            and retry_ms >= 0
        ):
            retry_after = retry_ms / 1000
        if not message and isinstance(detail, str):
            message = detail
        if not message and isinstance(detail, list):
            message = "the request was not valid"
            invalid_field = _first_invalid_field(detail)

    summary = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    error_class = _ERROR_CLASSES.get(code or "")
    if error_class is None:
        if status >= 500:
            error_class = ServerError
        elif status == 429:
            error_class = RateLimited
        elif status == 401:  # whatever the body says (a proxy's page, say): the key was not accepted
            error_class = InvalidApiKey
        elif data is None and content:
            return UnexpectedResponse(
                f"HTTP {status} with a body that is not JSON", status=status, retry_after=retry_after
            )
        else:
            error_class = BadRequest
    return error_class(
        summary, status=status, code=code, retry_after=retry_after, extra=extra, invalid_field=invalid_field
    )


def _first_invalid_field(detail: list[Any]) -> InvalidField | None:
    """The field of a validation error's first entry (FastAPI's ``{"loc": ["body", "model_id"], "msg": ...}``)."""
    first = detail[0] if detail and isinstance(detail[0], Mapping) else {}
    loc = first.get("loc")
    name = ".".join(str(part) for part in loc if part != "body") if isinstance(loc, list) else ""
    reason = first.get("msg")
    if not name:
        return None
    return InvalidField(name, reason if isinstance(reason, str) and reason else "not valid")


def _retry_after_header(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None when absent or nonsense."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)
