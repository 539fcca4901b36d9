"""Typed errors for everything AsyncFlow (or the road to it) can do wrong.

Each class says what happened; :mod:`cogs.engine.words` says it to people. No error ever
carries the API key: messages are built from the status, the documented error code and the
server's own message, never from request headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AsyncFlowError(Exception):
    """Base class. ``retryable`` says whether the same request may succeed if sent again soon."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after
        """Seconds the server asked us to wait, when it said."""
        self.extra: Mapping[str, Any] = extra or {}
        """The documented ``extra`` object (limits, voice id). Never shown as a whole: 401 puts a key prefix there."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class InvalidApiKey(AsyncFlowError):
    """401 INVALID_API_KEY: the key is wrong, expired or missing."""


class VoiceNotFound(AsyncFlowError):
    """404 VOICE_NOT_FOUND: the voice id does not exist (any more)."""

    @property
    def voice_id(self) -> str | None:
        value = self.extra.get("voice_id")
        return value if isinstance(value, str) else None


class VersionNotFound(AsyncFlowError):
    """404 VERSION_NOT_FOUND: the API no longer serves the version we speak."""


class InvalidLanguage(AsyncFlowError):
    """400 INVALID_LANGUAGE: the configured language is not supported."""


class FormatNotRecognized(AsyncFlowError):
    """400 FORMAT_NOT_RECOGNIZED: the model or endpoint refuses the output format we ask for."""


class BadRequest(AsyncFlowError):
    """Any other 4xx: the request itself is wrong, so sending it again will not help."""


class TooManyConcurrentRequests(AsyncFlowError):
    """429 TOO_MANY_CONCURRENT_REQUESTS: the plan's parallel-request cap; retry once one finishes."""

    retryable = True


class RateLimited(AsyncFlowError):
    """429 RATE_LIMIT_EXCEEDED: the per-minute request cap; ``retry_after`` says how long to wait."""

    retryable = True


class QuotaExceeded(AsyncFlowError):
    """The plan's usage quota is used up (429 USAGE_LIMIT_EXCEEDED before any audio)."""


class QuotaExceededMidStream(QuotaExceeded):
    """The ``--ERROR:QUOTA_EXCEEDED--`` marker arrived inside the audio: the audio before it was good."""


class ServerError(AsyncFlowError):
    """5xx: AsyncFlow failed; worth retrying."""

    retryable = True


class ApiTimeout(AsyncFlowError):
    """No answer (or no next piece of audio) within the configured timeout."""

    retryable = True


class ApiConnectionError(AsyncFlowError):
    """The connection could not be made, or was dropped before any audio arrived."""

    retryable = True


class StreamInterrupted(AsyncFlowError):
    """The connection dropped or stalled after audio had started: never retried, the start was already heard."""


class UnexpectedResponse(AsyncFlowError):
    """A body we cannot understand: not JSON where JSON was due, or JSON of an unknown shape."""


class UnplayableAudio(AsyncFlowError):
    """The audio itself cannot be played (not WAV, compressed, nonsense header)."""
