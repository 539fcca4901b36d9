"""Time to first audio: streaming as it downloads versus download-then-FFmpeg, on the same server, same run.

``python -m bench.first_audio [--repeats 15] [--first-byte-delay 0.15] [--realtime-factor 3]``

The AsyncFlow stand-in (``tests/asyncflow_server.py``) runs in a child process on 127.0.0.1 (so its work does
not share our GIL), pacing real espeak-ng speech at ``--realtime-factor`` x real time after
``--first-byte-delay`` seconds. For each endpoint (``file``: WAV, ``stream``: raw PCM) and each utterance
length (~2 s and ~20 s) the two approaches are measured alternately, ``--repeats`` times each:

* **stream** (ours): the /say path. An ``Utterance`` is created (that starts the download through the shared
  ``AsyncFlowClient``), ``wait_ready()``, then discord.py's real ``AudioPlayer`` pulls packets from the
  ``StreamingAudioSource`` (Opus, encoded as the PCM arrived) into a duck-typed voice client that records when
  the first one arrives.
* **ffmpeg** (what most bots do): ``httpx`` downloads the whole body, then ``discord.FFmpegPCMAudio`` pipes
  those bytes through a real ffmpeg process and the same ``AudioPlayer`` hands its PCM frames to the same sink
  (which a voice client would still Opus-encode: under a millisecond, not counted).

Clock: both start when the request is handled (before the utterance / the download is created) and stop
when the first frame reaches the sink. Server TTFB is measured per request at the HTTP transport: from the
moment httpx hands the request to the transport until the first body byte comes back. "Overhead" is
time-to-first-frame minus that TTFB: everything our side adds (request set-up, parsing, conversion,
prebuffer, thread start); for the ffmpeg approach it includes the rest of the download.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import shutil
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import discord
import httpx
from discord.opus import OPUS_SILENCE
from discord.player import AudioPlayer

from bench.stand_in import ServerProcess
from bot.say_to_file import PlayerSink
from cogs.engine.asyncflow.client import API_VERSION, AsyncFlowClient
from cogs.engine.audio.formats import FRAME_BYTES
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import AsyncFlowSettings, SpeechSettings
from cogs.engine.playback.utterance import SpeechItem, Utterance

Endpoint = Literal["file", "stream"]
Approach = Literal["stream", "ffmpeg"]
ENDPOINTS: tuple[Endpoint, ...] = ("file", "stream")

MS_PER_CHAR = 50.0
TEXT = (
    "Hello everyone, welcome to the voice channel. Today we are testing how quickly the bot starts speaking "
    "after someone types a message, and how many conversations one process can carry at the same time. "
)
LENGTHS_S = (2.0, 20.0)


def text_for(seconds: float) -> str:
    """A transcript the stand-in turns into ``seconds`` of audio (``MS_PER_CHAR`` per character)."""
    chars = round(seconds * 1000 / MS_PER_CHAR)
    return (TEXT * (chars // len(TEXT) + 1))[:chars]


# -- measuring instruments --------------------------------------------------------------------------------------------


class _TimedBody(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, clock: TimingTransport) -> None:
        self._inner = inner
        self._clock = clock

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            if chunk and self._clock.first_byte_at is None:
                self._clock.first_byte_at = time.perf_counter()
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class TimingTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, noting when a request went out and when its first body byte came back."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent_at: float | None = None
        self.first_byte_at: float | None = None

    def reset(self) -> None:
        self.sent_at = self.first_byte_at = None

    @property
    def ttfb(self) -> float:
        if self.sent_at is None or self.first_byte_at is None:
            raise RuntimeError("no response body was received")
        return self.first_byte_at - self.sent_at

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent_at = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        stream = cast(httpx.AsyncByteStream, response.stream)
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TimedBody(stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class FirstFrameSink(PlayerSink):
    """Stands where discord.py's VoiceClient stands for ``AudioPlayer``: notes the first frame, drops the rest.

    A frame is what the source handed the player: a 3840-byte PCM frame from FFmpeg (``encode=True``: the voice
    client would encode it next) or one of our Opus packets (``encode=False``: ready to send)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.first_frame_at: float | None = None
        self.first_frame = loop.create_future()
        self._loop = loop

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if data is OPUS_SILENCE or self.first_frame_at is not None:
            return  # the silence discord.py's player sends as it ends
        if encode and len(data) != FRAME_BYTES:
            raise ValueError(f"the audio source returned {len(data)} bytes of PCM, not one frame")
        if not encode and not (isinstance(data, bytes) and 0 < len(data) < FRAME_BYTES):
            raise ValueError(f"the audio source returned {len(data)} bytes, not one Opus packet")
        self.first_frame_at = time.perf_counter()
        self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.first_frame.done():
            self.first_frame.set_result(None)


async def _play_until_first_frame(source: discord.AudioSource, loop: asyncio.AbstractEventLoop) -> float:
    """Start discord.py's real player on ``source``; return when the sink got its first frame, then stop."""
    sink = FirstFrameSink(loop)
    player = AudioPlayer(source, cast(discord.VoiceClient, sink))
    player.start()
    try:
        await asyncio.wait_for(sink.first_frame, timeout=30)
    finally:
        player.stop()
        await asyncio.to_thread(player.join, 10)
    assert sink.first_frame_at is not None
    return sink.first_frame_at


# -- the two approaches ------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    first_frame: float  # seconds from "request handled" to the first frame at the sink
    ttfb: float  # server time to first byte, seen at the transport


async def _ignore(_message: str) -> None:
    return None


async def measure_streaming(
    client: AsyncFlowClient, clock: TimingTransport, speech: SpeechSettings, text: str
) -> Sample:
    loop = asyncio.get_running_loop()
    clock.reset()
    started = time.perf_counter()
    source = StreamingAudioSource(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(speech.read_ahead_ms),
    )
    utterance = Utterance(SpeechItem(text, None, 0, _ignore), client=client, source=source)
    try:
        if not await utterance.wait_ready():
            raise RuntimeError(f"no audio: {utterance.error}")
        first = await _play_until_first_frame(source, loop)
    finally:
        await utterance.discard()
    return Sample(first - started, clock.ttfb)


async def measure_ffmpeg(
    http: httpx.AsyncClient, clock: TimingTransport, endpoint: Endpoint, body: dict[str, Any]
) -> Sample:
    loop = asyncio.get_running_loop()
    clock.reset()
    started = time.perf_counter()
    path = "/text_to_speech" if endpoint == "file" else "/text_to_speech/streaming"
    response = await http.post(path, json=body)
    response.raise_for_status()
    audio = response.content
    # WAV carries its own format; raw PCM is the s16le 48 kHz mono we asked for.
    before = None if endpoint == "file" else "-f s16le -ar 48000 -ac 1"
    # "-loglevel error" (after discord.py's "-loglevel warning") hides ffmpeg's "Guessed Channel Layout" notes.
    source = discord.FFmpegPCMAudio(io.BytesIO(audio), pipe=True, before_options=before, options="-loglevel error")
    try:
        first = await _play_until_first_frame(source, loop)
    finally:
        source.cleanup()
    return Sample(first - started, clock.ttfb)


# -- the stand-in server, in a child process --------------------------------------------------------------------------


# -- orchestration ----------------------------------------------------------------------------------------------------


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    @staticmethod
    def _p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    def first(self, q: float) -> float:
        return self._p([s.first_frame for s in self.samples], q)

    def ttfb(self, q: float) -> float:
        return self._p([s.ttfb for s in self.samples], q)

    def overhead(self, q: float) -> float:
        return self._p([s.first_frame - s.ttfb for s in self.samples], q)


def speech_settings(args: argparse.Namespace) -> SpeechSettings:
    """The bot's speech settings (defaults), with ``--prebuffer-ms`` if given."""
    if args.prebuffer_ms is None:
        return SpeechSettings()
    return SpeechSettings(prebuffer_ms=args.prebuffer_ms)


async def run(args: argparse.Namespace, base_url: str) -> dict[tuple[Endpoint, float, Approach], Series]:
    speech = speech_settings(args)
    endpoints: tuple[Endpoint, ...] = ("file", "stream")
    clocks = {endpoint: TimingTransport() for endpoint in endpoints}
    clients = {
        endpoint: AsyncFlowClient(
            AsyncFlowSettings(base_url=base_url, endpoint=endpoint),
            "sk_test_valid_key",
            transport=clocks[endpoint],
        )
        for endpoint in endpoints
    }
    ffmpeg_clock = TimingTransport()
    http = httpx.AsyncClient(
        base_url=base_url,
        headers={"x-api-key": "sk_test_valid_key", "version": API_VERSION},
        transport=ffmpeg_clock,
        timeout=60,
    )
    results: dict[tuple[Endpoint, float, Approach], Series] = {}
    try:
        # Warm-up (not counted): open the pooled connections, as a running bot has them open, and load ffmpeg.
        for endpoint in endpoints:
            await measure_streaming(clients[endpoint], clocks[endpoint], speech, text_for(1.0))
            await measure_ffmpeg(http, ffmpeg_clock, endpoint, clients[endpoint].speech_body(text_for(1.0)))
        for repeat in range(args.repeats):
            for endpoint in endpoints:
                for seconds in LENGTHS_S:
                    text = text_for(seconds)
                    order: tuple[Approach, ...] = ("stream", "ffmpeg") if repeat % 2 == 0 else ("ffmpeg", "stream")
                    for approach in order:
                        if approach == "stream":
                            sample = await measure_streaming(clients[endpoint], clocks[endpoint], speech, text)
                        else:
                            body = clients[endpoint].speech_body(text)
                            sample = await measure_ffmpeg(http, ffmpeg_clock, endpoint, body)
                        results.setdefault((endpoint, seconds, approach), Series()).samples.append(sample)
            print(f"  repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    finally:
        for client in clients.values():
            await client.aclose()
        await http.aclose()
    return results


def print_table(results: dict[tuple[Endpoint, float, Approach], Series], args: argparse.Namespace) -> None:
    speech = speech_settings(args)
    print(
        f"\nTime to first frame, {args.repeats} runs each (interleaved); stand-in: real speech, realtime_factor="
        f"{args.realtime_factor:g}, first_byte_delay={args.first_byte_delay * 1000:.0f} ms; "
        f"prebuffer_ms={speech.prebuffer_ms}. Times in ms (median / p90)."
    )
    header = (
        f"{'endpoint':8} {'length':>6} {'approach':8} {'first frame':>15} {'server TTFB':>15} "
        f"{'overhead':>15} {'ffmpeg/stream':>14}"
    )
    print(header)
    print("-" * len(header))

    def pair(series: Series, metric: str) -> str:
        getter = getattr(series, metric)
        return f"{getter(0.5) * 1000:6.1f} / {getter(0.9) * 1000:6.1f}"

    for endpoint in ENDPOINTS:
        for seconds in LENGTHS_S:
            stream = results[(endpoint, seconds, "stream")]
            ffmpeg = results[(endpoint, seconds, "ffmpeg")]
            ratio = ffmpeg.first(0.5) / stream.first(0.5)
            for approach, series in (("stream", stream), ("ffmpeg", ffmpeg)):
                print(
                    f"{endpoint:8} {seconds:5.0f}s {approach:8} {pair(series, 'first'):>15} "
                    f"{pair(series, 'ttfb'):>15} {pair(series, 'overhead'):>15} "
                    + (f"{ratio:13.1f}x" if approach == "ffmpeg" else "")
                )
    print("\nTargets: stream overhead <= 20 ms at the median; ffmpeg/stream >= 5x for the 20 s utterance.")
    for endpoint in ENDPOINTS:
        for seconds in LENGTHS_S:
            stream = results[(endpoint, seconds, "stream")]
            ffmpeg = results[(endpoint, seconds, "ffmpeg")]
            verdict = "met" if stream.overhead(0.5) <= 0.020 else "MISSED"
            line = f"  {endpoint:6} {seconds:4.0f}s: overhead {stream.overhead(0.5) * 1000:5.1f} ms ({verdict})"
            if seconds >= 20:
                ratio = ffmpeg.first(0.5) / stream.first(0.5)
                line += f"; ratio {ratio:.1f}x ({'met' if ratio >= 5 else 'MISSED'})"
            print(line)
    spread = statistics.median(s.ttfb for series in results.values() for s in series.samples)
    print(f"  (median server TTFB over all requests: {spread * 1000:.1f} ms)")


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.first_audio", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="runs per case and approach (default 15)")
    parser.add_argument("--realtime-factor", type=float, default=3.0, help="stand-in's synthesis speed (default 3)")
    parser.add_argument("--first-byte-delay", type=float, default=0.15, help="stand-in's seconds before audio")
    parser.add_argument(
        "--prebuffer-ms", type=int, default=None, help="override speech.prebuffer_ms (default: the bot's default)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found (apt-get install ffmpeg): it is the baseline being compared", file=sys.stderr)
        return 1
    options = [
        *("--realtime-factor", str(args.realtime_factor)),
        *("--first-byte-delay", str(args.first_byte_delay)),
        *("--ms-per-char", str(MS_PER_CHAR)),
    ]
    with ServerProcess(options) as server:
        results = asyncio.run(run(args, server.base_url))
    print_table(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
