"""How much one member and one server may have spoken: per-minute rates and a daily character budget.

Rates use discord.py's own ``app_commands.Cooldown`` (what ``@app_commands.checks.cooldown`` uses): at
most N texts in the minute that begins with the first one. The daily budget counts the characters accepted
for speech per server per UTC day in the preferences store, so a restart does not reset it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from discord.app_commands import Cooldown

from ..config import LimitsSettings
from .models import PreferencesStore

K = TypeVar("K")

_MAX_BUCKETS = 50_000  # beyond this many, start over (each resets within a minute anyway)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a text is not spoken, in words for the member."""

    message: str
    """To the member who asked (/say)."""
    notice: str
    """To the channel being read, when it is a read message that is skipped."""
    reason: str
    """A short key for logs and for posting the same notice only once in a while."""


class SpeechLimits:
    def __init__(
        self,
        settings: LimitsSettings,
        store: PreferencesStore,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._store = store
        self._clock = clock
        self._members: dict[tuple[int, int], Cooldown] = {}
        self._servers: dict[int, Cooldown] = {}

    def today(self) -> str:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).date().isoformat()

    async def admit(self, guild_id: int, user_id: int, characters: int, *, count_rate: bool = True) -> Refusal | None:
        """Count a text of ``characters`` for this member and server, or say why it can't be spoken now.

        ``count_rate=False`` counts the characters against the daily budget but not the text against
        the per-minute rates (an edited message that is spoken again is not one more message).
        """
        now = self._clock()
        if count_rate:
            refusal = self._rate_refusal(guild_id, user_id, now)
            if refusal is not None:
                return refusal
        budget = self.settings.server_daily_characters
        if budget:
            admitted, used = await self._store.add_usage_within(guild_id, self.today(), characters, budget)
            if not admitted:
                return Refusal(
                    f"This server has used its {budget:,} characters of speech for today "
                    f"({used:,} used); it resets at midnight UTC, in {_until_midnight(now)}.",
                    f"Not reading more today: this server has used its {budget:,} characters of speech; "
                    "reading resumes at midnight UTC.",
                    "daily-budget",
                )
        return None

    def _rate_refusal(self, guild_id: int, user_id: int, now: float) -> Refusal | None:
        """Take a token from the member's and the server's per-minute rates, or say how long to wait."""
        member_rate = self.settings.member_messages_per_minute
        if member_rate:
            wait = self._bucket(self._members, (guild_id, user_id), member_rate).update_rate_limit(now)
            if wait is not None:
                return Refusal(
                    f"You're sending messages faster than I can read them here — wait {_seconds(wait)} "
                    f"(at most {member_rate} a minute).",
                    f"Skipping some messages: one member can have at most {member_rate} a minute read aloud.",
                    "member-rate",
                )
        server_rate = self.settings.server_messages_per_minute
        if server_rate:
            wait = self._bucket(self._servers, guild_id, server_rate).update_rate_limit(now)
            if wait is not None:
                return Refusal(
                    f"This server is sending more than I can read ({server_rate} messages a minute) — "
                    f"wait {_seconds(wait)}.",
                    f"Skipping some messages: at most {server_rate} a minute are read aloud in this server.",
                    "server-rate",
                )
        return None

    async def used_today(self, guild_id: int) -> int:
        return await self._store.usage(guild_id, self.today())

    def _bucket(self, buckets: dict[K, Cooldown], key: K, per_minute: int) -> Cooldown:
        bucket = buckets.get(key)
        if bucket is None:
            if len(buckets) >= _MAX_BUCKETS:
                buckets.clear()  # every bucket refills within a minute; losing them only forgives a little
            bucket = buckets[key] = Cooldown(per_minute, 60.0)
        return bucket


def _seconds(wait: float) -> str:
    whole = max(1, round(wait))
    return f"{whole} s" if whole < 90 else f"{round(whole / 60)} min"


def _until_midnight(now: float) -> str:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    midnight = (moment + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int((midnight - moment).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(1, minutes)} min"
