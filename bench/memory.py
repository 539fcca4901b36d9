"""Peak memory of one utterance played to the end: 10 seconds versus 10 minutes, same run.

``python -m bench.memory [--repeats 1] [--endpoints file stream]``

The AsyncFlow stand-in runs in its own child process on 127.0.0.1 (its memory, which holds the whole
rendered answer, is not counted) and sends real espeak-ng speech as fast as the client takes it. Each case
runs in a fresh Python process that does what /say does (shared ``AsyncFlowClient``, ``Utterance``,
``StreamingAudioSource``, which encodes to Opus as the PCM arrives) and lets discord.py's real ``AudioPlayer``
pull every packet into a sink that counts and discards it. To play 10 minutes in seconds, the player's 20 ms
pacing is switched off (``DELAY = 0``, a subclass of ``AudioPlayer`` with nothing else changed):
``source.read()`` is driven in a tight loop by the player's own loop. Because the loop never waits, it takes
silence packets whenever the download (or the encoding) lags; those are counted separately and do not change
what is buffered. At the end the process reports its peak resident
set size (``getrusage(RUSAGE_SELF).ru_maxrss``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, cast

import discord
from discord.opus import OPUS_SILENCE
from discord.player import AudioPlayer

from bench.first_audio import text_for
from bench.stand_in import ServerProcess
from bot.say_to_file import PlayerSink
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.formats import FRAME_BYTES
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import AsyncFlowSettings, SpeechSettings
from cogs.engine.playback.utterance import SpeechItem, Utterance

LENGTHS_S = (10.0, 600.0)
TARGET_MB = 5.0
CASE_TIMEOUT_S = 300.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


class DiscardSink(PlayerSink):
    """Stands where discord.py's VoiceClient stands for ``AudioPlayer``: counts the Opus packets and drops them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.packets = 0

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if data is OPUS_SILENCE:
            return  # the silence discord.py's player sends as it ends
        if encode or not isinstance(data, bytes) or not 0 < len(data) < FRAME_BYTES:
            raise ValueError(f"the audio source returned {len(data)} bytes (encode={encode}), not an Opus packet")
        self.packets += 1


class UnpacedAudioPlayer(AudioPlayer):
    """discord.py's player with its 20 ms clock set to zero: the same loop, as fast as the source allows."""

    DELAY = 0.0


async def _ignore(_message: str) -> None:
    return None


async def play_one(base_url: str, endpoint: str, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    speech = SpeechSettings()
    client = AsyncFlowClient(
        AsyncFlowSettings(base_url=base_url, endpoint=endpoint),
        "sk_test_valid_key",
    )
    try:
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        source = StreamingAudioSource(
            loop=loop,
            prebuffer_bytes=ms_to_bytes(speech.prebuffer_ms),
            read_ahead_bytes=ms_to_bytes(speech.read_ahead_ms),
        )
        utterance = Utterance(SpeechItem(text_for(seconds), None, 0, _ignore), client=client, source=source)
        if not await utterance.wait_ready():
            raise RuntimeError(f"no audio: {utterance.error}")
        finished: asyncio.Future[Exception | None] = loop.create_future()

        def resolve(error: Exception | None) -> None:
            if not finished.done():
                finished.set_result(error)

        sink = DiscardSink(loop)
        player = UnpacedAudioPlayer(
            source, cast(discord.VoiceClient, sink), after=lambda error: loop.call_soon_threadsafe(resolve, error)
        )
        player.start()
        try:
            player_error = await asyncio.wait_for(finished, CASE_TIMEOUT_S)
        finally:
            player.stop()
            await asyncio.to_thread(player.join, 10)
        await utterance.discard()
        if player_error is not None or utterance.error is not None:
            raise RuntimeError(f"playback failed: {player_error or utterance.error}")
        if sink.packets != source.frames_played + source.silence_frames:
            raise RuntimeError(f"the sink got {sink.packets} packets of the source's {source.frames_played} + silence")
        return {
            "endpoint": endpoint,
            "seconds": seconds,
            "audio_frames": source.frames_played,
            "expected_frames": round(seconds * 50),
            "silence_frames": source.silence_frames,
            "played_to_end": source.played_to_end,
            "wall_s": time.perf_counter() - started,
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(),
        }
    finally:
        await client.aclose()


# -- child processes ---------------------------------------------------------------------------------------------------


def run_case(base_url: str, endpoint: str, seconds: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.memory", "--case", str(seconds), "--endpoint", endpoint]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [*argv, "--base-url", base_url], capture_output=True, text=True, timeout=CASE_TIMEOUT_S + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"case {endpoint} {seconds:g}s failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="fresh processes per case (median reported)")
    parser.add_argument("--endpoints", nargs="+", choices=("file", "stream"), default=["file", "stream"])
    parser.add_argument("--case", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="file", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(asyncio.run(play_one(args.base_url, args.endpoint, args.case))))
        return 0
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    results: dict[tuple[str, float], list[dict[str, Any]]] = {}
    with ServerProcess(["--ms-per-char", "50"]) as server:  # unpaced: back-pressure alone limits the download
        for repeat in range(args.repeats):
            for endpoint in args.endpoints:
                lengths = LENGTHS_S if repeat % 2 == 0 else LENGTHS_S[::-1]
                for seconds in lengths:
                    results.setdefault((endpoint, seconds), []).append(run_case(server.base_url, endpoint, seconds))
            print(f"  repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    print(
        f"\nPeak RSS of a fresh bot-side process playing one utterance to the end ({args.repeats} process(es) per "
        "case, median); player unpaced (DELAY=0), packets discarded."
    )
    header = (
        f"{'endpoint':8} {'length':>7} {'audio frames':>13} {'silence':>8} {'wall s':>7} "
        f"{'RSS before MB':>14} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for endpoint in args.endpoints:
        for seconds in LENGTHS_S:
            runs = results[(endpoint, seconds)]
            first = runs[0]
            complete = all(r["played_to_end"] and r["audio_frames"] >= r["expected_frames"] for r in runs)
            print(
                f"{endpoint:8} {seconds:6.0f}s {first['audio_frames']:>6}/{first['expected_frames']:<6} "
                f"{statistics.median(r['silence_frames'] for r in runs):8.0f} "
                f"{statistics.median(r['wall_s'] for r in runs):7.1f} "
                f"{statistics.median(r['rss_before_mb'] for r in runs):14.1f} "
                f"{statistics.median(r['peak_rss_mb'] for r in runs):12.1f}" + ("" if complete else "  INCOMPLETE")
            )
    print(f"\nTarget: peak RSS of 10 min within {TARGET_MB:g} MB of 10 s.")
    for endpoint in args.endpoints:
        short = statistics.median(r["peak_rss_mb"] for r in results[(endpoint, LENGTHS_S[0])])
        long = statistics.median(r["peak_rss_mb"] for r in results[(endpoint, LENGTHS_S[1])])
        difference = long - short
        verdict = "met" if abs(difference) <= TARGET_MB else "MISSED"
        print(f"  {endpoint:6}: 10 s {short:.1f} MB, 10 min {long:.1f} MB, difference {difference:+.1f} MB ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
