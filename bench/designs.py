"""The three ways of playing a stream that ``bench.capacity`` compares, each ending in a :class:`~bench.wire.WireSink`.

* :func:`play_players`: discord.py's ``AudioPlayer`` and its default ``Encoder()`` on PCM frames in memory.
* :func:`play_ours`: one /say as a server plays it: ``Utterance`` downloads into a ``StreamingAudioSource``
  (encoded in the shared ``EncoderPool``), handed to a ``GaplessStream``; ``Ours.start`` decides who paces
  it: discord.py's player thread (:func:`thread_per_stream`) or the one pacing thread (``bench/pacer.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import discord
from discord.player import AudioPlayer

from bench.where import thread_ending
from bench.wire import Wire, WireSink
from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.audio.formats import FRAME_BYTES
from cogs.engine.audio.gapless import GaplessStream
from cogs.engine.audio.opus import EncoderPool
from cogs.engine.audio.pipeline import pump_speech
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import SpeechSettings
from cogs.engine.playback.utterance import SpeechItem, Utterance

# -- the speech, and a source of it already in memory -----------------------------------------------------------------


class _Frames:
    """A ``PcmSink`` keeping what the pipeline writes: the PCM our source would have encoded."""

    def __init__(self) -> None:
        self.pcm = bytearray()

    async def write(self, pcm: bytes) -> None:
        self.pcm += pcm

    async def end(self) -> None:
        self.pcm += bytes(-len(self.pcm) % FRAME_BYTES)

    def finish(self) -> None:
        return None


async def speech_frames(client: AsyncFlowClient, text: str) -> list[bytes]:
    """The Discord-format PCM frames of ``text``, downloaded and converted by our own pipeline."""
    frames = _Frames()
    async with await client.open_speech(text) as response:
        await pump_speech(response, frames)
    return [bytes(frames.pcm[start : start + FRAME_BYTES]) for start in range(0, len(frames.pcm), FRAME_BYTES)]


class FramesInMemory(discord.AudioSource):
    """Plays frames already in memory: no download, no buffering, no lock."""

    def __init__(self, frames: Sequence[bytes]) -> None:
        self._frames = iter(frames)

    def read(self) -> bytes:
        return next(self._frames, b"")


# -- the three designs -------------------------------------------------------------------------------------------------


Start = Callable[[discord.AudioSource, WireSink, Callable[[Exception | None], None]], Callable[[], None]]
"""Starts playing a source into a sink, calling ``after`` at the end; returns how to stop it."""


def thread_per_stream(
    source: discord.AudioSource, sink: WireSink, after: Callable[[Exception | None], None]
) -> Callable[[], None]:
    def ending(error: Exception | None) -> None:  # in the player thread, as it ends
        thread_ending()
        after(error)

    player = AudioPlayer(source, cast(discord.VoiceClient, sink), after=ending)
    player.start()
    return player.stop


def _resolver(
    loop: asyncio.AbstractEventLoop,
) -> tuple[asyncio.Future[Exception | None], Callable[[Exception | None], None]]:
    """A future, and a thread-safe callback that resolves it once."""
    done: asyncio.Future[Exception | None] = loop.create_future()

    def resolve(error: Exception | None) -> None:
        if not done.done():
            done.set_result(error)

    def from_any_thread(error: Exception | None) -> None:
        loop.call_soon_threadsafe(resolve, error)

    return done, from_any_thread


@dataclass
class Tally:
    """What the streams of one run left behind, noted as they start (so a stream cut off by the budget counts)."""

    sinks: list[WireSink] = field(default_factory=list)
    sources: list[StreamingAudioSource] = field(default_factory=list)
    stops: list[Callable[[], None]] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)
    """From a /say's request to its source being ready to play (prebuffered), per stream."""
    completed: int = 0


async def play_players(frames: Sequence[bytes], wire: Wire, delay: float, tally: Tally) -> None:
    """design a: discord.py's player and its default encoder, on frames from memory."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    sink = wire.sink(loop, encoder=discord.opus.Encoder())
    tally.sinks.append(sink)
    done, after = _resolver(loop)
    tally.stops.append(thread_per_stream(FramesInMemory(frames), sink, after))
    error = await done
    if error is not None:
        raise RuntimeError(f"playback failed: {error}")
    tally.completed += 1


async def _ignore(_message: str) -> None:
    return None


@dataclass
class Ours:
    """What designs b and c share: the client, the encoder pool, and how a stream is started."""

    client: AsyncFlowClient
    pool: EncoderPool
    wire: Wire
    start: Start
    speech: SpeechSettings = field(default_factory=SpeechSettings)
    source_type: type[StreamingAudioSource] = StreamingAudioSource
    """``UrgentSource`` with ``bench/urgent_pool.py``'s pool (``--pool urgent``)."""


async def play_ours(ours: Ours, text: str, delay: float, tally: Tally) -> None:
    """designs b and c: one /say, downloaded, encoded in the pool, played through a server's gapless stream."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    asked = loop.time()
    source = ours.source_type(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(ours.speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(ours.speech.read_ahead_ms),
        pool=ours.pool,
    )
    tally.sources.append(source)
    utterance = Utterance(SpeechItem(text, None, 0, _ignore), client=ours.client, source=source)
    try:
        if not await utterance.wait_ready():
            raise RuntimeError(f"no audio: {utterance.error}")
        tally.ready_s.append(loop.time() - asked)
        stream = GaplessStream(loop)
        done, ended = _resolver(loop)
        stream.add(source, on_start=lambda: None, on_end=ended)
        sink = ours.wire.sink(loop)
        tally.sinks.append(sink)
        tally.stops.append(ours.start(stream, sink, stream.player_failed))
        error = await done
    finally:
        await utterance.discard()
    if error is not None or utterance.error is not None or not source.played_to_end:
        raise RuntimeError(f"playback failed: {error or utterance.error or 'cut off'}")
    tally.completed += 1
