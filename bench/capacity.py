"""How many servers can speak at once and stay on time: three designs, side by side, in one run.

``python -m bench.capacity [--streams 1 10 50 100 150 200] [--seconds 20] [--json] [--quick]``
``[--designs players ours pacer] [--wire discord|held] [--pool fifo|urgent] [--profile]``

For each stream count, one after the other in the same process:

* **players**: what any discord.py bot pays. discord.py's own ``AudioPlayer`` per stream plays the speech's
  PCM frames from memory, and the sink encodes each one with discord.py's default ``Encoder()`` (128 kbit/s,
  complexity 10, stereo), as ``VoiceClient.send_audio_packet(data, encode=True)`` does.
* **ours** (a thread per server, as shipped): the shared ``AsyncFlowClient`` downloads real espeak-ng speech
  from the stand-in (a child process, 3x real time), ``Utterance`` fills a ``StreamingAudioSource`` that
  encodes in one shared ``EncoderPool(OpusSettings())``, and a ``GaplessStream`` plays it on discord.py's
  real ``AudioPlayer``, one per stream.
* **pacer** (one thread for all servers, songbird's model): the same path, but one thread sends a packet of
  every live stream every 20 ms (``bench/pacer.py``).

Every design ends in the same sink (``bench/wire.py``): discord.py's own per-packet work after encoding
(RTP header, XChaCha20-Poly1305 transport encryption, a UDP send to loopback; DAVE can't run without
Discord). Streams start at random moments within one 20 ms frame. CPU is this process's CPU time (every
thread) over the run, per second of audio per stream; the stand-in's is its own, read from ``/proc``.

On time: p99 of the gaps between a stream's packets at most 25 ms, no gap under 10 ms (no burst), and no
packet of silence because a download fell behind; every stream played to its end within the time budget
(``--seconds`` + 10 s a design: a stream 10 s behind is not on time; the default run takes about 9 minutes).
A design's capacity is the largest count on time with every smaller count on time too.

Where it falls short: the CPU each kind of thread used is printed (``bench/where.py``), ``--profile`` adds a
sampling profile of every thread (it slows the run), and two prototypes of fixes can stand in:
``--wire held`` (``bench/wire.py``: the same packets, sent without letting go of the GIL) and ``--pool urgent``
(``bench/urgent_pool.py``: the encoder pool serves the least-buffered stream first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import discord

from bench.designs import Ours, Start, Tally, play_ours, play_players, speech_frames, thread_per_stream
from bench.first_audio import text_for
from bench.pacer import Pacer
from bench.stand_in import ServerProcess
from bench.urgent_pool import UrgentEncoderPool, UrgentSource
from bench.where import Sampler, ThreadCpu, cpu_table, machine_busy_s
from bench.wire import FRAME_S, Pacing, Wire, WireSink, held_matches_discord
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.opus import EncoderPool
from cogs.engine.config import AsyncFlowSettings, OpusSettings
from cogs.engine.engine import load_opus

Design = Literal["players", "ours", "pacer"]
DESIGNS: tuple[Design, ...] = ("players", "ours", "pacer")
API_KEY = "sk_test_valid_key"
DEFAULT_STREAMS = (1, 10, 50, 100, 150, 200)
THREAD_NAMES = {
    "MainThread": "event loop",
    "audio-player": "players",
    "asyncflow-pacer": "pacer",
    "asyncflow-opus": "encoder pool",
}


@dataclass
class Run:
    """One design at one stream count: what the sinks saw and what it cost."""

    design: Design
    streams: int
    cpu_s: float
    stand_in_cpu_s: float
    wall_s: float
    pacing: Pacing
    others_cpu_s: float = 0.0
    """CPU the rest of the machine (other processes) used meanwhile: a busy machine delays every thread."""
    silence: int = 0
    """Packets of silence sent because a download fell behind (0 for the players: nothing is downloaded)."""
    completed: int = 0
    """Streams that played to their end within the budget."""
    notes: dict[str, float] = field(default_factory=dict)
    threads_cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds by kind of thread (``bench/where.py``)."""

    @property
    def cpu_ms_per_audio_s(self) -> float:
        """ms of CPU per second of audio per stream."""
        return 1000 * self.cpu_s / max(1, self.pacing.packets) / FRAME_S

    @property
    def on_time(self) -> bool:
        return self.pacing.on_time and self.silence == 0 and self.completed == self.streams

    def figures(self) -> dict[str, Any]:
        return {
            "on_time": self.on_time,
            "cpu_ms_per_audio_s": round(self.cpu_ms_per_audio_s, 3),
            "p50_ms": round(self.pacing.gap_ms(0.5), 2),
            "p99_ms": round(self.pacing.gap_ms(0.99), 2),
            "max_ms": round(self.pacing.gap_ms(1.0), 2),
            "min_ms": round(self.pacing.gap_ms(0.0), 2),
            "late_gaps": self.pacing.late_gaps,
            "longest_burst": self.pacing.longest_burst,
            "silence": self.silence,
            "completed": self.completed,
            "packets": self.pacing.packets,
            "wall_s": round(self.wall_s, 2),
            "stand_in_cores": round(self.stand_in_cpu_s / self.wall_s, 3),
            "other_processes_cores": round(self.others_cpu_s / self.wall_s, 3),
            **{key: round(value, 3) for key, value in self.notes.items()},
            "cpu_by_thread_ms_per_audio_s": {name: round(value, 2) for name, value in self.cpu_by_thread().items()},
        }

    def cpu_by_thread(self) -> dict[str, float]:
        """ms of CPU per second of audio per stream, by kind of thread; 'other' is the rest of the process."""
        audio_s = max(1, self.pacing.packets) * FRAME_S
        named = {THREAD_NAMES.get(name, name): cpu for name, cpu in self.threads_cpu_s.items() if cpu > 0}
        rest = self.cpu_s - sum(named.values())
        return {name: 1000 * cpu / audio_s for name, cpu in {**named, "other": max(0.0, rest)}.items()}


# -- one run ----------------------------------------------------------------------------------------------------------


@dataclass
class Bench:
    server: ServerProcess
    wire: Wire
    frames: list[bytes]
    text: str
    budget_s: float
    seed: int = 0
    profile: bool = False
    pool: str = "fifo"


async def measure(bench: Bench, design: Design, streams: int, play: Callable[[float, Tally], Awaitable[None]]) -> Run:
    """Start ``streams`` plays at random moments within one frame and measure them until they end (or the budget
    is spent: the rest are stopped and count as not done)."""
    rng = random.Random(f"{bench.seed}-{design}-{streams}")
    tally = Tally()
    threads, sampler = ThreadCpu(), Sampler() if bench.profile else None
    if sampler is not None:
        sampler.start()
    cpu, stand_in, wall, busy = time.process_time(), bench.server.cpu_s, time.perf_counter(), machine_busy_s()
    tasks = [asyncio.ensure_future(play(rng.uniform(0, FRAME_S), tally)) for _ in range(streams)]
    deadline = wall + bench.budget_s
    pending = set(tasks)
    while pending and time.perf_counter() < deadline:
        _, pending = await asyncio.wait(pending, timeout=min(0.5, deadline - time.perf_counter()))
    cpu, stand_in, wall = time.process_time() - cpu, bench.server.cpu_s - stand_in, time.perf_counter() - wall
    others = max(0.0, machine_busy_s() - busy - cpu - stand_in)  # /proc's 10 ms ticks can undershoot a little
    by_role = threads.stop()
    if sampler is not None:
        sampler.stop()
        audio_s = streams * len(bench.frames) * FRAME_S
        print(f"\n  {design} x {streams}: CPU by thread ({cpu:.2f} s in all)", file=sys.stderr)
        for line in [*cpu_table(by_role, audio_s, wall), "where the threads are (samples):", *sampler.top(25)]:
            print(f"    {line}", file=sys.stderr)
    for stop in tally.stops:
        stop()
    for task in pending:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            print(f"  {design}: {task.exception()}", file=sys.stderr)
    run = Run(design, streams, cpu, stand_in, wall, Pacing.of(tally.sinks), others_cpu_s=others)
    run.silence = sum(source.silence_frames for source in tally.sources)
    run.completed = tally.completed
    if tally.ready_s:
        ready = sorted(tally.ready_s)
        run.notes = {"ready_p50_ms": 1000 * ready[len(ready) // 2], "ready_max_ms": 1000 * ready[-1]}
    run.threads_cpu_s = by_role
    for sink in tally.sinks:
        sink.close()
    return run


async def run_players(bench: Bench, streams: int) -> Run:
    return await measure(
        bench, "players", streams, lambda delay, tally: play_players(bench.frames, bench.wire, delay, tally)
    )


async def run_ours(bench: Bench, streams: int, design: Design) -> Run:
    client = AsyncFlowClient(AsyncFlowSettings(base_url=bench.server.base_url, endpoint="file"), API_KEY)
    pool = UrgentEncoderPool(OpusSettings()) if bench.pool == "urgent" else EncoderPool(OpusSettings())
    pacer = Pacer() if design == "pacer" else None
    start: Start = thread_per_stream
    if pacer is not None:
        pacer.start()

        def start(
            source: discord.AudioSource, sink: WireSink, after: Callable[[Exception | None], None]
        ) -> Callable[[], None]:
            pacer.play(source, sink, after=after)
            return lambda: None

    ours = Ours(client, pool, bench.wire, start)
    if bench.pool == "urgent":
        ours.source_type = UrgentSource
    try:
        await play_ours(ours, text_for(1.0), 0, Tally())  # warm-up (not measured): a connection, the pool's threads
        run = await measure(bench, design, streams, lambda delay, tally: play_ours(ours, bench.text, delay, tally))
    finally:
        if pacer is not None:
            pacer.close()
        await client.aclose()
        pool.close()
    if pacer is not None:
        run.notes |= {"pacer_resets": pacer.resets, "pacer_tick_ms": 1000 * pacer.busy_s / max(1, pacer.ticks)}
    return run


# -- the report -------------------------------------------------------------------------------------------------------


def capacity(runs: Sequence[Run], design: Design) -> int:
    """The largest stream count that was on time, with every smaller count measured on time too (0: none)."""
    best = 0
    for run in sorted((run for run in runs if run.design == design), key=lambda run: run.streams):
        if not run.on_time:
            break
        best = run.streams
    return best


def report(runs: Sequence[Run], seconds: float, budget_s: float, variant: str = "") -> None:
    print(
        f"\n{seconds:g}-second utterances, budget {budget_s:g} s a design{variant}. CPU: ms of this process's CPU "
        "per second of audio per stream (every thread). Gaps between one stream's packets at the sink, pooled over "
        "streams."
    )
    header = (
        f"{'streams':>7} {'design':>8} {'CPU':>7} {'/players':>8} {'p50 ms':>7} {'p99 ms':>7} {'min ms':>7} "
        f"{'max ms':>7} {'>25 ms':>7} {'burst':>5} {'silence':>7} {'done':>5} {'stand-in':>8} {'others':>7} "
        f"{'on time':>7}"
    )
    print(header)
    print("-" * len(header))
    by_count: dict[int, dict[Design, Run]] = {}
    for run in runs:
        by_count.setdefault(run.streams, {})[run.design] = run
    for streams, designs in by_count.items():
        players = designs.get("players")
        for design, run in designs.items():
            ratio = run.cpu_ms_per_audio_s / players.cpu_ms_per_audio_s if players else float("nan")
            print(
                f"{streams:7d} {design:>8} {run.cpu_ms_per_audio_s:7.2f} {ratio:7.2f}x {run.pacing.gap_ms(0.5):7.1f} "
                f"{run.pacing.gap_ms(0.99):7.1f} {run.pacing.gap_ms(0.0):7.1f} {run.pacing.gap_ms(1.0):7.1f} "
                f"{run.pacing.late_gaps:7d} {run.pacing.longest_burst:5d} {run.silence:7d} "
                f"{run.completed:>5} {run.stand_in_cpu_s / run.wall_s:7.2f}c {run.others_cpu_s / run.wall_s:6.2f}c "
                f"{'yes' if run.on_time else 'NO':>7}"
                + "".join(f"  {key} {value:.2f}" for key, value in run.notes.items())
            )
    print("\nWhere this process's CPU went: ms per second of audio per stream, by kind of thread.")
    for run in runs:
        split = ", ".join(f"{name} {value:.2f}" for name, value in run.cpu_by_thread().items())
        print(f"{run.streams:7d} {run.design:>8}: {split}")
    print(
        "\n'stand-in': cores the AsyncFlow stand-in (its own process) used meanwhile; 'others': cores every other "
        "process of the machine used meanwhile (of 2); 'done': streams played out within the budget."
    )
    counts = {design: capacity(runs, design) for design in DESIGNS}
    print(
        "Capacity (largest count on time, every smaller one too): "
        + ", ".join(f"{design} {count}" for design, count in counts.items())
    )
    twice = 2 * counts["players"]
    for design in ("ours", "pacer"):
        verdict = "met" if counts[design] >= max(100, twice) else "MISSED"
        print(f"  target ({design}): >= 2x the players' ({twice}) and >= 100 streams: {verdict}")


def as_json(runs: Sequence[Run], seconds: float) -> str:
    counts: dict[str, dict[str, Any]] = {}
    for run in runs:
        counts.setdefault(str(run.streams), {})[run.design] = run.figures()
    summary = {design: capacity(runs, design) for design in DESIGNS}
    return json.dumps({**summary, "seconds": seconds, "counts": counts})


def budget_s(args: argparse.Namespace) -> float:
    return float(args.budget) if args.budget else args.seconds + 10


async def run_all(args: argparse.Namespace, server: ServerProcess) -> list[Run]:
    wire = Wire(held=args.wire == "held")
    if wire.held and not held_matches_discord(wire, asyncio.get_running_loop()):
        raise RuntimeError("HeldWireSink's packets differ from discord.py's")
    client = AsyncFlowClient(AsyncFlowSettings(base_url=server.base_url, endpoint="file"), API_KEY)
    try:
        frames = await speech_frames(client, text_for(args.seconds))
    finally:
        await client.aclose()
    bench = Bench(server, wire, frames, text_for(args.seconds), budget_s(args))
    bench.profile, bench.pool = args.profile, args.pool
    runs: list[Run] = []
    try:
        for streams in args.streams:
            for design in args.designs:
                started = time.perf_counter()
                run = await (run_players(bench, streams) if design == "players" else run_ours(bench, streams, design))
                runs.append(run)
                print(
                    f"  {streams:3d} x {design:7}: {time.perf_counter() - started:5.1f} s, "
                    f"{'on time' if run.on_time else 'NOT on time'}",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        wire.close()
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=list(DEFAULT_STREAMS))
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each stream's utterance")
    parser.add_argument("--budget", type=float, default=None, help="seconds a design gets (--seconds + 10)")
    parser.add_argument("--realtime-factor", type=float, default=3.0, help="synthesis speed of the stand-in")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 and 10 streams, 5 s")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--profile", action="store_true", help="CPU by thread and a sampling profile (on stderr)")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument(
        "--wire", choices=("discord", "held"), default="discord", help="held: bench/wire.py's HeldWireSink prototype"
    )
    parser.add_argument(
        "--pool", choices=("fifo", "urgent"), default="fifo", help="urgent: bench/urgent_pool.py's prototype"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.streams, args.seconds = [1, 10], 5.0
    if not load_opus():
        print("libopus not found (apt-get install libopus0)", file=sys.stderr)
        return 1
    started = time.perf_counter()
    options = ["--realtime-factor", str(args.realtime_factor), "--ms-per-char", "50"]
    with ServerProcess(options) as server:
        runs = asyncio.run(run_all(args, server))
    variant = "" if args.wire == "discord" else f"; --wire {args.wire}"
    variant += "" if args.pool == "fifo" else f"; --pool {args.pool}"
    report(runs, args.seconds, budget_s(args), variant)
    print(f"\n(whole run: {time.perf_counter() - started:.0f} s)")
    if args.json:
        print(as_json(runs, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
