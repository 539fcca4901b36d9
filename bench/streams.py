"""CPU per concurrent stream and frame pacing: 1, 10 and 50 streams at once, next to libopus alone.

``python -m bench.streams [--streams 1 10 50] [--seconds 20] [--realtime-factor 3] [--stall-seconds 1]``

Each stream is what one server's /say does: the shared ``AsyncFlowClient`` downloads real espeak-ng speech
from the AsyncFlow stand-in (a child process, so its CPU is not ours) at ``--realtime-factor`` x real time,
the WAV reader and converter fill a ``StreamingAudioSource``, and discord.py's real ``AudioPlayer`` (its own
thread and 20 ms clock) hands every frame to a sink that encodes it with discord.py's real Opus ``Encoder``,
exactly as ``VoiceClient.send_audio_packet`` does before it encrypts and sends. Streams start at random
moments within one 20 ms frame, as independent servers would.

* **CPU**: process CPU time (every thread) over the whole run, per second of audio per stream, divided by
  the floor: the CPU time of encoding the same frames (those stream 0 received) with the same ``Encoder``
  and nothing else, measured in the same process right after each case. Target: at most 1.3x the floor.
* **Pacing**: the gaps between consecutive encoded frames of each stream, pooled over all streams: p50,
  p99, the longest gap, and the longest burst (consecutive frames sent less than 10 ms apart, which is how
  discord.py's player catches up after a late frame). Target at 50 streams: p99 within 20 +- 5 ms, no
  bursts.
* **Stalls**: the 50-stream case again with every response pausing ``--stall-seconds`` a few seconds in;
  the sources hand out silence at the same pace, so the pacing should not change.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import discord
from discord.player import AudioPlayer

from bench.first_audio import text_for
from bench.stand_in import ServerProcess
from bot.say_to_file import PlayerSink
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.formats import DISCORD_FORMAT, FRAME_BYTES
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import AsyncFlowSettings, OpusSettings, SpeechSettings
from cogs.engine.engine import load_opus
from cogs.engine.playback.utterance import SpeechItem, Utterance

API_KEY = "sk_test_valid_key"
FRAME_S = 0.02
BURST_GAP_S = 0.010
LATE_GAP_S = 0.025
TARGET_CPU_RATIO = 1.3
TARGET_P99_MS = (15.0, 25.0)
FLOOR_MIN_FRAMES = 3000


def cog_encoder() -> discord.opus.Encoder:
    """The Encoder ``VoiceClient.play`` builds for the cog's ``play(..., signal_type="voice", bitrate=...)``."""
    return discord.opus.Encoder(signal_type="voice", bitrate=OpusSettings().bitrate_kbps)


class EncodingSink(PlayerSink):
    """Stands where discord.py's VoiceClient stands: encodes each PCM frame to Opus and notes when it went."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, keep_pcm: bool = False) -> None:
        super().__init__(loop)
        self.encoder = cog_encoder()
        self.sent_at: list[float] = []
        self.opus_bytes = 0
        self.pcm: list[bytes] | None = [] if keep_pcm else None

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if not encode:
            return  # the Opus silence the player sends after the last frame
        if len(data) != FRAME_BYTES or not isinstance(data, bytes):
            raise ValueError(f"the audio source returned {len(data)} bytes of {type(data).__name__}, not one frame")
        packet = self.encoder.encode(data, self.encoder.SAMPLES_PER_FRAME)
        self.sent_at.append(time.perf_counter())
        self.opus_bytes += len(packet)
        if self.pcm is not None:
            self.pcm.append(data)


@dataclass
class Playback:
    """What the sinks of one group of concurrent streams saw, and what it cost."""

    cpu_s: float
    frames: int
    """Frames handed to the sinks (speech and the silence a stalled download is covered with)."""
    gaps: list[float]
    longest_burst: int

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / (self.frames * FRAME_S)

    @property
    def late_gaps(self) -> int:
        return sum(1 for gap in self.gaps if gap > LATE_GAP_S)

    def gap_ms(self, quantile: float) -> float:
        ordered = sorted(self.gaps)
        return 1000 * ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))]

    @classmethod
    def of(cls, cpu_s: float, sinks: Sequence[EncodingSink]) -> Playback:
        gaps = [after - before for sink in sinks for before, after in itertools.pairwise(sink.sent_at)]
        return cls(
            cpu_s=cpu_s,
            frames=sum(len(sink.sent_at) for sink in sinks),
            gaps=gaps,
            longest_burst=max(longest_burst(sink.sent_at) for sink in sinks),
        )


@dataclass
class Case:
    streams: int
    stalled: bool
    ours: Playback
    players: Playback
    """discord.py's players on frames already in memory: what any discord.py bot pays, nothing downloaded."""
    libopus_cpu_per_audio_s: float
    """The same frames encoded back to back by one Encoder: libopus alone."""
    silence_frames: int
    wall_s: float
    server_cpu_s: float = 0.0


def longest_burst(sent_at: Sequence[float]) -> int:
    """Most consecutive frames that went out less than 10 ms after the one before (0: none did)."""
    longest = run = 0
    for before, after in itertools.pairwise(sent_at):
        run = run + 1 if after - before < BURST_GAP_S else 0
        longest = max(longest, run)
    return longest


def libopus_cpu_per_audio_s(frames: Sequence[bytes]) -> float:
    """CPU seconds per second of audio to Opus-encode ``frames`` (repeated) with a fresh Encoder, nothing else."""
    encoder = cog_encoder()
    repeats = -(-FLOOR_MIN_FRAMES // len(frames))
    started = time.process_time()
    for _ in range(repeats):
        for frame in frames:
            encoder.encode(frame, encoder.SAMPLES_PER_FRAME)
    return (time.process_time() - started) / (repeats * len(frames) * FRAME_S)


class FramesInMemory(discord.AudioSource):
    """Plays a list of frames already in memory: no download, no buffering, no lock."""

    def __init__(self, frames: Sequence[bytes]) -> None:
        self._frames = iter(frames)

    def read(self) -> bytes:
        return next(self._frames, b"")


async def play_from_memory(frames: Sequence[bytes], *, delay: float) -> EncodingSink:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    sink = EncodingSink(loop)
    player = AudioPlayer(FramesInMemory(frames), cast(discord.VoiceClient, sink))
    player.start()
    await asyncio.to_thread(player.join, 600)
    return sink


async def _ignore(_message: str) -> None:
    return None


async def play_stream(
    client: AsyncFlowClient, text: str, *, delay: float, keep_pcm: bool
) -> tuple[EncodingSink, StreamingAudioSource]:
    """One /say: download, buffer, and let discord.py's player pull every frame into an encoding sink."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    speech = SpeechSettings()
    source = StreamingAudioSource(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(speech.read_ahead_ms),
    )
    utterance = Utterance(SpeechItem(text, None, 0, _ignore), client=client, source=source)
    try:
        if not await utterance.wait_ready():
            raise RuntimeError(f"no audio: {utterance.error}")
        finished: asyncio.Future[Exception | None] = loop.create_future()

        def resolve(error: Exception | None) -> None:
            if not finished.done():
                finished.set_result(error)

        sink = EncodingSink(loop, keep_pcm=keep_pcm)
        player = AudioPlayer(
            source, cast(discord.VoiceClient, sink), after=lambda error: loop.call_soon_threadsafe(resolve, error)
        )
        player.start()
        try:
            error = await asyncio.wait_for(finished, 600)
        finally:
            player.stop()
            await asyncio.to_thread(player.join, 10)
    finally:
        await utterance.discard()
    if error is not None or utterance.error is not None:
        raise RuntimeError(f"playback failed: {error or utterance.error}")
    return sink, source


async def run_case(base_url: str, streams: int, seconds: float, *, stalled: bool, seed: int) -> Case:
    rng = random.Random(seed)
    client = AsyncFlowClient(AsyncFlowSettings(base_url=base_url, endpoint="file"), API_KEY)
    text = text_for(seconds)
    try:
        await play_stream(client, text_for(1.0), delay=0, keep_pcm=False)  # warm-up, not measured
        cpu_started = time.process_time()
        wall_started = time.perf_counter()
        played = await asyncio.gather(
            *(play_stream(client, text, delay=rng.uniform(0, FRAME_S), keep_pcm=index == 0) for index in range(streams))
        )
        ours = Playback.of(time.process_time() - cpu_started, [sink for sink, _source in played])
        wall = time.perf_counter() - wall_started
    finally:
        await client.aclose()
    frames = played[0][0].pcm
    assert frames is not None
    # The floors, right after, in the same process, on the frames stream 0 received.
    cpu_started = time.process_time()
    sinks = await asyncio.gather(*(play_from_memory(frames, delay=rng.uniform(0, FRAME_S)) for _ in range(streams)))
    players = Playback.of(time.process_time() - cpu_started, sinks)
    return Case(
        streams=streams,
        stalled=stalled,
        ours=ours,
        players=players,
        libopus_cpu_per_audio_s=libopus_cpu_per_audio_s(frames),
        silence_frames=sum(source.silence_frames for _sink, source in played),
        wall_s=wall,
    )


def _server_options(args: argparse.Namespace, stalls: int) -> list[str]:
    options = ["--realtime-factor", str(args.realtime_factor), "--ms-per-char", "50"]
    options += ["--chunk-bytes", str(args.chunk_bytes), "--nice", str(args.stand_in_nice)]
    if stalls:
        # A few seconds in: past the read-ahead, so the buffer really runs dry.
        after_bytes = int(args.stall_at * DISCORD_FORMAT.sample_rate * 2)  # the stand-in sends 48 kHz mono s16le
        options += ["--stalls", str(stalls), "--stall-after-bytes", str(after_bytes)]
        options += ["--stall-seconds", str(args.stall_seconds)]
    return options


def report(cases: Sequence[Case], seconds: float) -> None:
    print(
        f"\n{seconds:g}-second utterances. CPU: process CPU ms per second of audio per stream. 'ours': the /say path "
        "from the stand-in; 'players': discord.py's AudioPlayer + Opus on the same frames already in memory; "
        "'libopus': the Encoder alone on those frames, back to back."
    )
    header = (
        f"{'streams':>7} {'stall':>5} {'what':>8} {'CPU':>6} {'/libopus':>8} {'/players':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'>25 ms':>7} {'burst':>6}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        for name, run in (("ours", case.ours), ("players", case.players)):
            print(
                f"{case.streams:7d} {'yes' if case.stalled else 'no':>5} {name:>8} {1000 * run.cpu_per_audio_s:6.2f} "
                f"{run.cpu_per_audio_s / case.libopus_cpu_per_audio_s:7.2f}x "
                f"{run.cpu_per_audio_s / case.players.cpu_per_audio_s:7.2f}x "
                f"{run.gap_ms(0.5):7.1f} {run.gap_ms(0.99):7.1f} {1000 * max(run.gaps):7.1f} {run.late_gaps:7d} "
                f"{run.longest_burst:6d}"
            )
        print(
            f"{case.streams:7d} {'yes' if case.stalled else 'no':>5} {'libopus':>8} "
            f"{1000 * case.libopus_cpu_per_audio_s:6.2f}   (silence frames, download behind: {case.silence_frames}; "
            f"stand-in used {case.server_cpu_s / case.wall_s:.2f} of a core)"
        )
    print(
        f"\nTargets: CPU <= {TARGET_CPU_RATIO}x the floor; at 50 streams p99 gap within "
        f"{TARGET_P99_MS[0]:g}-{TARGET_P99_MS[1]:g} ms and no burst (frames < 10 ms after the previous one)."
    )
    for case in cases:
        pacing_ok = TARGET_P99_MS[0] <= case.ours.gap_ms(0.99) <= TARGET_P99_MS[1] and case.ours.longest_burst == 0
        print(
            f"  {case.streams:2d} streams{' with stalls' if case.stalled else ''}: CPU "
            f"{case.ours.cpu_per_audio_s / case.libopus_cpu_per_audio_s:.2f}x libopus, "
            f"{case.ours.cpu_per_audio_s / case.players.cpu_per_audio_s:.2f}x players; "
            f"pacing {'met' if pacing_ok else 'MISSED'} (p99 {case.ours.gap_ms(0.99):.1f} ms, "
            f"longest burst {case.ours.longest_burst})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each utterance")
    parser.add_argument("--realtime-factor", type=float, default=3.0, help="synthesis speed of the stand-in")
    parser.add_argument("--stand-in-nice", type=int, default=0, help="os.nice() of the stand-in process")
    parser.add_argument("--chunk-bytes", type=int, default=4096, help="body chunk size of the stand-in")
    parser.add_argument("--stall-seconds", type=float, default=3.0, help="0: skip the stalled case")
    parser.add_argument("--stall-at", type=float, default=2.0, help="seconds of audio before the stall")
    args = parser.parse_args(argv)
    if not load_opus():
        print("libopus not found (apt-get install libopus0)", file=sys.stderr)
        return 1

    plan = [(streams, False) for streams in args.streams]
    if args.stall_seconds > 0:
        plan.append((max(args.streams), True))
    cases: list[Case] = []
    for seed, (streams, stalled) in enumerate(plan):
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # Each case gets a fresh stand-in; its first response (run_case's warm-up) takes one stall too.
        with ServerProcess(_server_options(args, streams + 1 if stalled else 0)) as server:
            case = asyncio.run(run_case(server.base_url, streams, args.seconds, stalled=stalled, seed=seed))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        case.server_cpu_s = (children.ru_utime + children.ru_stime) - (
            children_before.ru_utime + children_before.ru_stime
        )
        cases.append(case)
        print(f"  {streams} stream(s){' with stalls' if stalled else ''} done", file=sys.stderr, flush=True)
    report(cases, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
