"""Per-minute rates kept in this process's memory: what the SQLite store uses (one process, one file).

Each rate is discord.py's own ``app_commands.Cooldown`` (what ``@app_commands.checks.cooldown`` uses): at
most ``limit`` texts in the window that begins with the first one. The PostgreSQL store keeps the same
windows in a table instead, so that every process of the bot shares them.
"""

from __future__ import annotations

from discord.app_commands import Cooldown

MAX_BUCKETS = 50_000  # beyond this many, start over (each resets within a window anyway)


class ProcessRates:
    """The rate windows of one process, keyed by (server, member); member ``None`` is the server's own."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[int, int | None], Cooldown] = {}

    def take(self, guild_id: int, user_id: int | None, limit: int, now: float, per: float) -> float | None:
        """Take one text; None if admitted, otherwise the seconds until the window ends."""
        key = (guild_id, user_id)
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != limit or bucket.per != per:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()  # every bucket refills within a window; losing them only forgives a little
            bucket = self._buckets[key] = Cooldown(limit, per)
        return bucket.update_rate_limit(now)

    def forget_guild(self, guild_id: int) -> None:
        for key in [key for key in self._buckets if key[0] == guild_id]:
            del self._buckets[key]

    def forget_member(self, user_id: int) -> None:
        for key in [key for key in self._buckets if key[1] == user_id]:
            del self._buckets[key]
