"""One stream, end to end: how far its packets are off the 20 ms clock at the network edge, and how soon after
AsyncFlow's first byte the first packet leaves.

``python -m bench.one_stream [--repeats 10] [--seconds 10] [--first-byte-delay 0.15] [--prebuffer-ms N]``

Each repeat is one /say after a quiet moment, on the path a server plays: the shared ``AsyncFlowClient``
(with a transport that notes when the first body byte arrives) downloads real espeak-ng speech from the
stand-in (a child process, ``--realtime-factor`` x real time), ``Utterance`` fills a
``StreamingAudioSource`` encoding in an ``EncoderPool(OpusSettings())``, a ``GaplessStream`` gets it once
it is ready, and discord.py's real ``AudioPlayer`` is started on that stream and sends into
``bench/wire.py``'s sink (RTP header, transport encryption, UDP send), which notes each send.

* **First audio**: from the first body byte at the HTTP transport (the WAV header) to the first packet's
  send, split into: until the source is ready (``prebuffer_ms`` of audio encoded), and from there to the
  send (the stream handed over, the player thread started, one ``read()``). Target: within 10 ms.
* **Pacing**: ``|gap - 20 ms|`` between consecutive packets at the sink, pooled over the repeats: p50, p99,
  the longest gap. discord.py's player sends its second packet 40 ms after its first (its clock starts one
  frame late); that gap is reported on its own and left out of the pooled figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import discord
from discord.player import AudioPlayer

from bench.first_audio import TimingTransport, text_for
from bench.stand_in import ServerProcess
from bench.wire import Wire, WireSink, longest_burst
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.gapless import GaplessStream
from cogs.engine.audio.opus import EncoderPool
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import AsyncFlowSettings, OpusSettings, SpeechSettings
from cogs.engine.engine import load_opus
from cogs.engine.playback.utterance import SpeechItem, Utterance

API_KEY = "sk_test_valid_key"
TARGET_FIRST_AUDIO_S = 0.010


@dataclass
class Sample:
    first_byte_to_ready: float
    ready_to_sent: float
    first_gap: float
    sent_at: list[float]
    silence: int

    @property
    def first_byte_to_sent(self) -> float:
        return self.first_byte_to_ready + self.ready_to_sent


async def _ignore(_message: str) -> None:
    return None


async def one_say(
    client: AsyncFlowClient, clock: TimingTransport, pool: EncoderPool, wire: Wire, speech: SpeechSettings, text: str
) -> Sample:
    """One /say through a fresh stream and player, as after a quiet moment in a server."""
    loop = asyncio.get_running_loop()
    clock.reset()
    source = StreamingAudioSource(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(speech.read_ahead_ms),
        pool=pool,
    )
    utterance = Utterance(SpeechItem(text, None, 0, _ignore), client=client, source=source)
    sink = WireSink(loop, wire)
    try:
        if not await utterance.wait_ready():
            raise RuntimeError(f"no audio: {utterance.error}")
        ready_at = time.perf_counter()
        done: asyncio.Future[Exception | None] = loop.create_future()

        def ended(error: Exception | None) -> None:
            if not done.done():
                done.set_result(error)

        stream = GaplessStream(loop)
        stream.add(source, on_start=lambda: None, on_end=ended)
        player = AudioPlayer(stream, cast(discord.VoiceClient, sink), after=stream.player_failed)
        player.start()
        error = await done
        await asyncio.to_thread(player.join, 10)
    finally:
        await utterance.discard()
        sink.close()
    if error is not None or utterance.error is not None or clock.first_byte_at is None:
        raise RuntimeError(f"playback failed: {error or utterance.error or 'no body'}")
    sent = sink.sent_at
    return Sample(
        first_byte_to_ready=ready_at - clock.first_byte_at,
        ready_to_sent=sent[0] - ready_at,
        first_gap=sent[1] - sent[0],
        sent_at=sent,
        silence=source.silence_frames,
    )


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run(args: argparse.Namespace, base_url: str) -> list[Sample]:
    speech = SpeechSettings() if args.prebuffer_ms is None else SpeechSettings(prebuffer_ms=args.prebuffer_ms)
    clock = TimingTransport()
    client = AsyncFlowClient(AsyncFlowSettings(base_url=base_url, endpoint="file"), API_KEY, transport=clock)
    pool = EncoderPool(OpusSettings())
    wire = Wire()
    try:
        await one_say(client, clock, pool, wire, speech, text_for(1.0))  # warm-up: the connection, the pool
        samples = []
        for repeat in range(args.repeats):
            await asyncio.sleep(0.2)  # a quiet moment: the next /say comes to an idle server
            samples.append(await one_say(client, clock, pool, wire, speech, text_for(args.seconds)))
            print(f"  repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
        return samples
    finally:
        await client.aclose()
        pool.close()
        wire.close()


def figures(samples: Sequence[Sample]) -> dict[str, Any]:
    offs = [abs(after - before - 0.02) for s in samples for before, after in itertools.pairwise(s.sent_at[1:])]
    first = [s.first_byte_to_sent for s in samples]
    return {
        "repeats": len(samples),
        "first_audio_ms": {q: round(1000 * quantile(first, p), 2) for q, p in (("p50", 0.5), ("p90", 0.9))}
        | {"max": round(1000 * max(first), 2)},
        "first_byte_to_ready_ms_p50": round(1000 * quantile([s.first_byte_to_ready for s in samples], 0.5), 2),
        "ready_to_sent_ms_p50": round(1000 * quantile([s.ready_to_sent for s in samples], 0.5), 2),
        "gap_off_20ms_ms": {"p50": round(1000 * quantile(offs, 0.5), 2), "p99": round(1000 * quantile(offs, 0.99), 2)}
        | {"max": round(1000 * max(offs), 2)},
        "first_gap_ms_p50": round(1000 * quantile([s.first_gap for s in samples], 0.5), 2),
        "longest_burst": max(longest_burst(s.sent_at) for s in samples),
        "silence": sum(s.silence for s in samples),
        "gaps": len(offs),
    }


def report(result: dict[str, Any], args: argparse.Namespace, prebuffer_ms: int) -> None:
    first, off = result["first_audio_ms"], result["gap_off_20ms_ms"]
    print(
        f"\nOne stream, {result['repeats']} x {args.seconds:g} s of real speech; stand-in at {args.realtime_factor:g}x "
        f"real time, {1000 * args.first_byte_delay:.0f} ms to first byte; prebuffer_ms={prebuffer_ms}."
    )
    print(
        f"  first audio (API's first byte -> first packet sent): p50 {first['p50']:.1f} ms, p90 {first['p90']:.1f} ms, "
        f"max {first['max']:.1f} ms"
    )
    print(
        f"    of which: until the source is ready {result['first_byte_to_ready_ms_p50']:.1f} ms, ready -> sent "
        f"{result['ready_to_sent_ms_p50']:.1f} ms (p50)"
    )
    print(
        f"  pacing at the sink, |gap - 20 ms| over {result['gaps']} gaps: p50 {off['p50']:.2f} ms, p99 "
        f"{off['p99']:.2f} ms, max {off['max']:.2f} ms; longest burst {result['longest_burst']}; "
        f"silence packets {result['silence']}; first gap (discord.py's player) {result['first_gap_ms_p50']:.1f} ms"
    )
    verdict = "met" if first["p50"] <= 1000 * TARGET_FIRST_AUDIO_S else "MISSED"
    print(f"Target: first audio within {1000 * TARGET_FIRST_AUDIO_S:.0f} ms of the API's first byte (p50): {verdict}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.one_stream", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each utterance")
    parser.add_argument("--realtime-factor", type=float, default=3.0, help="synthesis speed of the stand-in")
    parser.add_argument("--first-byte-delay", type=float, default=0.15, help="stand-in's seconds before audio")
    parser.add_argument("--prebuffer-ms", type=int, default=None, help="override speech.prebuffer_ms")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not load_opus():
        print("libopus not found (apt-get install libopus0)", file=sys.stderr)
        return 1
    options = ["--realtime-factor", str(args.realtime_factor), "--ms-per-char", "50"]
    options += ["--first-byte-delay", str(args.first_byte_delay)]
    with ServerProcess(options) as server:
        samples = asyncio.run(run(args, server.base_url))
    result = figures(samples)
    report(result, args, args.prebuffer_ms if args.prebuffer_ms is not None else SpeechSettings().prebuffer_ms)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
