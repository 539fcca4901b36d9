"""The plugin's Prometheus metrics, each declared here once, in a registry the engine owns.

Counted where each thing happens: the AsyncFlow client (requests, characters, time to first byte), the audio
source (packets of silence), the gapless stream (late frames) and the first packet of a text (time to first
audio). Read at scrape time from the bot and the servers' queues: guilds, voice connections, streams playing,
queue lengths, gateway latency per shard. No label carries a server, member or text: a bot in thousands of
servers has a handful of series, and nothing a member wrote can end up in them.

The registry is not prometheus_client's global one (a host bot may have its own metrics, and the tests build
many engines): expose ``engine.metrics.registry`` the way you like, e.g. with ``prometheus_client.generate_latest``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal, Protocol

import discord
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .asyncflow.errors import AsyncFlowError

PREFIX = "asyncflow_tts"
LATE_FRAME_GAP_S = 0.025
"""A frame is late when it goes to Discord more than this long after the frame before it (its 20 ms slot plus
5 ms); the same line as ``bench.capacity``'s "gaps > 25 ms"."""

Route = Literal["speech", "voices", "status"]
Outcome = Literal["ok", "error", "cancelled"]
NO_CODE = "none"
"""The ``code`` label of a request that did not fail."""

_SECONDS_BUCKETS = (0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


class QueueState(Protocol):
    """What the metrics read of one server's queue (:class:`~.playback.speech_queue.SpeechQueue`)."""

    @property
    def pending(self) -> int: ...

    @property
    def is_playing(self) -> bool: ...


class TTSMetrics:
    """Every metric of one engine, in :attr:`registry`. Thread-safe: the player threads count frames."""

    def __init__(self, queues: Callable[[], Sequence[QueueState]] = tuple) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests to AsyncFlow, by route (speech, voices, status), outcome (ok: answered, with audio for "
            "speech; error; cancelled: given up before the answer, e.g. a /skip) and code (AsyncFlow's error code, "
            "or what went wrong when it gave none; 'none' unless the outcome is error). A retry is a request too.",
            ["route", "outcome", "code"],
            registry=registry,
        )
        self.characters_sent = Counter(
            f"{PREFIX}_characters_sent",
            "Characters of text sent to AsyncFlow to be spoken, retries included (what AsyncFlow bills for); "
            "phrases replayed from the phrase cache send nothing.",
            registry=registry,
        )
        self.first_byte_seconds = Histogram(
            f"{PREFIX}_first_byte_seconds",
            "Seconds from sending a speech request to AsyncFlow's first byte of audio (every request that got audio).",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.first_audio_seconds = Histogram(
            f"{PREFIX}_first_audio_seconds",
            "Seconds from a text being accepted to its first packet going to Discord, for texts spoken at once "
            "(nothing ahead of them in their server's queue); includes a voice join when the bot had to join.",
            buckets=_SECONDS_BUCKETS,
            registry=registry,
        )
        self.silence_frames = Counter(
            f"{PREFIX}_silence_frames",
            "20 ms packets of silence sent because a download fell behind playback (a stalled AsyncFlow stream).",
            registry=registry,
        )
        self.late_frames = Counter(
            f"{PREFIX}_late_frames",
            f"20 ms frames that went to Discord more than {LATE_FRAME_GAP_S * 1000:g} ms after the frame before "
            "(the player thread ran late: CPU or the GIL; a voice reconnect counts too).",
            registry=registry,
        )
        self._live = _LiveState(queues)
        registry.register(self._live)

    def watch_bot(self, bot: discord.Client) -> None:
        """Report ``bot``'s guilds, voice connections and gateway latency at each scrape."""
        self._live.bot = bot

    def request(self, route: Route) -> RequestRecord:
        """Start timing one HTTP request to AsyncFlow; end it with :meth:`RequestRecord.ended`."""
        return RequestRecord(self, route)


class RequestRecord:
    """One HTTP request to AsyncFlow: counted once, when it ends; its first byte timed once."""

    def __init__(self, metrics: TTSMetrics, route: Route) -> None:
        self._metrics = metrics
        self._route = route
        self._sent_at = time.perf_counter()
        self._first_byte = False
        self._ended = False

    def first_byte(self) -> None:
        """The first byte of the audio body arrived (speech only)."""
        if not self._first_byte:
            self._first_byte = True
            self._metrics.first_byte_seconds.observe(time.perf_counter() - self._sent_at)

    def ended(self, error: BaseException | None) -> None:
        """The request is over: answered (None), failed (an :class:`AsyncFlowError`; anything else unexpected is
        ``AsyncFlowError.kind``), or given up (a cancellation: a /skip, /stop or shutdown). Only the first call counts.
        """
        if self._ended:
            return
        self._ended = True
        outcome: Outcome
        if error is None:
            outcome, code = "ok", NO_CODE
        elif isinstance(error, asyncio.CancelledError):
            outcome, code = "cancelled", NO_CODE
        else:
            outcome, code = "error", error.label if isinstance(error, AsyncFlowError) else AsyncFlowError.kind
        self._metrics.requests.labels(route=self._route, outcome=outcome, code=code).inc()


class _LiveState(Collector):
    """The gauges read at scrape time, from the bot (once watched) and the servers' queues."""

    def __init__(self, queues: Callable[[], Sequence[QueueState]]) -> None:
        self.bot: discord.Client | None = None
        self._queues = queues

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        guilds, voice, streams, queued, longest, latency = families
        queues = list(self._queues())
        streams.add_metric([], sum(1 for queue in queues if queue.is_playing))
        lengths = [queue.pending for queue in queues]
        queued.add_metric([], sum(lengths))
        longest.add_metric([], max(lengths, default=0))
        bot = self.bot
        if bot is not None:
            guilds.add_metric([], len(bot.guilds))
            connected = [v for v in bot.voice_clients if isinstance(v, discord.VoiceClient) and v.is_connected()]
            voice.add_metric([], len(connected))
            for shard, seconds in _shard_latencies(bot):
                if math.isfinite(seconds):  # inf: no heartbeat answered yet; nan: no gateway connection
                    latency.add_metric([str(shard)], seconds)
        return families

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily(f"{PREFIX}_guilds", "Discord servers the bot is in."),
            GaugeMetricFamily(
                f"{PREFIX}_voice_connections", "Voice channels the bot is connected to (a host bot's own included)."
            ),
            GaugeMetricFamily(
                f"{PREFIX}_streams_playing", "Servers where the bot is speaking now (one discord.py player each)."
            ),
            GaugeMetricFamily(
                f"{PREFIX}_queued_texts", "Texts waiting behind the one being spoken, all servers together."
            ),
            GaugeMetricFamily(f"{PREFIX}_longest_queue_texts", "Texts waiting in the longest queue of any one server."),
            GaugeMetricFamily(
                f"{PREFIX}_gateway_latency_seconds",
                "Time between a gateway heartbeat and Discord's answer, per shard (absent until the first answer).",
                labels=["shard"],
            ),
        )


def _shard_latencies(bot: discord.Client) -> Iterator[tuple[int, float]]:
    """``(shard id, seconds)`` for every shard: ``bot.latencies`` when sharded, else ``bot.latency`` as its shard."""
    if isinstance(bot, discord.AutoShardedClient):
        yield from bot.latencies
    else:
        yield bot.shard_id or 0, bot.latency
