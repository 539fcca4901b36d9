"""When to say "Alice said": before a speaker's text, but not again while they keep talking."""

from __future__ import annotations


class Announcer:
    """One server's last speaker. Every road (``/say``, read messages, the Speak menu) asks it, so a ``/say``
    between two of Alice's messages is announced and Alice's next message is announced again."""

    def __init__(self) -> None:
        self._last: tuple[str, float] | None = None

    def prefix(self, speaker: str, name: str, window_s: float, now: float) -> str:
        """The "Alice said, " to put before ``speaker``'s text at ``now`` (empty while they keep talking)."""
        last = self._last
        if last is not None and last[0] == speaker and now - last[1] <= window_s:
            return ""
        return f"{name} said, "

    def spoke(self, speaker: str, now: float) -> None:
        """``speaker``'s text was taken for speech at ``now``: the window starts again from here."""
        self._last = (speaker, now)
