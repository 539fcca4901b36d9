"""How much one member and one server may have spoken: per-minute rates and a daily character budget.

A rate allows at most N texts in the minute that begins with the first one; the daily budget counts the
characters accepted for speech per server per UTC day. Both are counted by the preferences store
(:meth:`~cogs.engine.store.models.PreferencesStore.take_rate`, ``add_usage_within``): on PostgreSQL in
the database, atomically, so they hold for every process of the bot together; on SQLite the rates are
counted in this process (discord.py's ``Cooldown``) and the budget in the file. A restart does not
reset the budget.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config import LimitsSettings
from .models import PreferencesStore

RATE_WINDOW_S = 60.0
"""The window of the ``*_messages_per_minute`` rates."""


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

    def today(self) -> str:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC).date().isoformat()

    async def admit(self, guild_id: int, user_id: int, characters: int, *, count_rate: bool = True) -> Refusal | None:
        """Count a text of ``characters`` for this member and server, or say why it can't be spoken now.

        ``count_rate=False`` counts the characters against the daily budget but not the text against
        the per-minute rates (an edited message that is spoken again is not one more message).
        """
        now = self._clock()
        if count_rate:
            refusal = await self._rate_refusal(guild_id, user_id, now)
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

    async def _rate_refusal(self, guild_id: int, user_id: int, now: float) -> Refusal | None:
        """Take a token from the member's and the server's per-minute rates, or say how long to wait."""
        member_rate = self.settings.member_messages_per_minute
        if member_rate:
            wait = await self._store.take_rate(guild_id, user_id, member_rate, now, RATE_WINDOW_S)
            if wait is not None:
                return Refusal(
                    f"You're sending messages faster than I can read them here — wait {_seconds(wait)} "
                    f"(at most {member_rate} a minute).",
                    f"Skipping some messages: one member can have at most {member_rate} a minute read aloud.",
                    "member-rate",
                )
        server_rate = self.settings.server_messages_per_minute
        if server_rate:
            wait = await self._store.take_rate(guild_id, None, server_rate, now, RATE_WINDOW_S)
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


def _seconds(wait: float) -> str:
    whole = max(1, round(wait))
    return f"{whole} s" if whole < 90 else f"{round(whole / 60)} min"


def _until_midnight(now: float) -> str:
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    midnight = (moment + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = int((midnight - moment).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{max(1, minutes)} min"
