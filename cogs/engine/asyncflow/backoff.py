"""How long the client waits between attempts: what the server asked for, else exponential back-off."""

from __future__ import annotations

from tenacity import RetryCallState, wait_exponential, wait_random
from tenacity.stop import stop_base

from .errors import AsyncFlowError


class WaitLongerThan(stop_base):
    """Give up rather than wait longer than ``limit`` seconds (the member is told to try again later)."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        return (retry_state.upcoming_sleep or 0.0) > self._limit


_backoff = wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5)


def server_says_or_backoff(state: RetryCallState) -> float:
    """Wait as long as the server asked (``retry_after_ms`` or ``Retry-After``), else back off exponentially."""
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, AsyncFlowError) and error.retry_after is not None:
        return error.retry_after
    return float(_backoff(state))
