"""A prototype of songbird's model: one thread paces every server's stream, instead of a thread per server.

discord.py starts an ``AudioPlayer`` thread per voice connection; each sleeps to its own 20 ms clock, so
at 200 servers 200 threads wake 10,000 times a second and queue for the GIL. :class:`Pacer` is one
thread with one clock: every 20 ms it calls ``read()`` on each live stream and hands the packet to that
stream's voice client (``send_audio_packet``, as the player does), then sleeps to the next tick. A
stream with nothing to play is not in the list: it costs nothing. The duties of discord.py's player are
kept: speaking on and off, the 5 closing silence packets, ``after(error)`` then ``cleanup()``.

Lateness: a tick that starts late is not followed by a catch-up burst (what discord.py's player does).
The next tick waits at least ``MIN_SPACING_S`` (so the gap never drops under the 10 ms burst line) and the
clock makes up the debt over the following ticks; more than ``MAX_DEBT_S`` behind, it is reset and the debt
dropped, as a lost packet would be.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import discord
from discord.opus import OPUS_SILENCE

log = logging.getLogger(__name__)

FRAME_S = 0.02
MIN_SPACING_S = 0.015
MAX_DEBT_S = 0.1


class PacedClient(Protocol):
    """What the pacer needs of a voice client: what discord.py's player uses of it."""

    client: Any  # .loop: the event loop speaking updates run on
    ws: Any  # .speak(state): a coroutine

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None: ...


@dataclass(slots=True)
class _Live:
    source: discord.AudioSource
    client: PacedClient
    after: Callable[[Exception | None], None]


class Pacer(threading.Thread):
    """``pacer.play(source, client, after=...)`` from any thread; ``pacer.close()`` when done."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="asyncflow-pacer")
        self._lock = threading.Lock()
        self._incoming: list[_Live] = []
        self._wake = threading.Event()
        self._closed = False
        self.ticks = 0
        self.resets = 0
        """Ticks that found the clock more than ``MAX_DEBT_S`` behind (the debt was dropped)."""
        self.busy_s = 0.0
        """Wall time spent inside ticks (reading and sending), for the per-tick cost."""

    def play(
        self, source: discord.AudioSource, client: PacedClient, *, after: Callable[[Exception | None], None]
    ) -> None:
        """Send ``source``'s packets on ``client`` from the next tick on, until ``read()`` returns ``b""``."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the pacer is closed")
            self._incoming.append(_Live(source, client, after))
        self._wake.set()
        _speak(client, discord.SpeakingState.voice)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()
        self.join(10)

    def run(self) -> None:
        live: list[_Live] = []
        next_tick = time.perf_counter()
        while True:
            with self._lock:
                closed = self._closed
                live.extend(self._incoming)
                self._incoming.clear()
                if not live:
                    self._wake.clear()
            if closed:
                for entry in live:
                    _end(entry, None)
                return
            if not live:
                self._wake.wait()  # idle: no clock to keep
                next_tick = time.perf_counter()
                continue
            started = time.perf_counter()
            live = [entry for entry in live if _send_one(entry)]
            self.ticks += 1
            now = time.perf_counter()
            self.busy_s += now - started
            next_tick += FRAME_S
            if now - next_tick > MAX_DEBT_S:
                self.resets += 1
                next_tick = now
            time.sleep(max(0.0, next_tick - now, started + MIN_SPACING_S - now))


def _send_one(entry: _Live) -> bool:
    """One packet of ``entry`` on its client; False once it has ended (ended here)."""
    try:
        data = entry.source.read()
        if data:
            entry.client.send_audio_packet(data, encode=not entry.source.is_opus())
            return True
    except Exception as error:
        _end(entry, error)
        return False
    for _ in range(5):
        entry.client.send_audio_packet(OPUS_SILENCE, encode=False)
    _end(entry, None)
    return False


def _end(entry: _Live, error: Exception | None) -> None:
    _speak(entry.client, discord.SpeakingState.none)
    try:
        entry.after(error)
    except Exception:
        log.exception("a stream's after callback failed")
    finally:
        entry.source.cleanup()


def _speak(client: PacedClient, state: discord.SpeakingState) -> None:
    try:
        asyncio.run_coroutine_threadsafe(client.ws.speak(state), client.client.loop)
    except Exception:
        log.exception("speaking update failed")
