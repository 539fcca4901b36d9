"""Handing a queued text to the server's :class:`~..audio.gapless.GaplessStream`, and taking it back.

The stream plays what it is handed in order, in discord.py's player thread; the queue hands the next text over
ahead of its turn, so it follows the one before on the same 20 ms clock. Until its first packet is read a handed
text can be taken back (an edit being judged, a revise); from then on it is being heard.
"""

from __future__ import annotations

import asyncio

import discord

from ..audio.gapless import GaplessStream
from ..metrics import TTSMetrics
from .utterance import Utterance

Finished = asyncio.Future[Exception | None]
"""Resolved once the stream is done with a text: with discord.py's player error, if it failed."""


def hand(stream: GaplessStream, utterance: Utterance) -> Finished | None:
    """Give ``utterance`` to ``stream`` after what it holds. None if the stream has ended (start another)."""
    finished: Finished = asyncio.get_running_loop().create_future()

    def started() -> None:  # in the player thread, as its first packet is read
        utterance.started = True
        utterance.first_packet_out()

    def ended(error: Exception | None) -> None:
        if not finished.done():
            finished.set_result(error)

    if not stream.add(utterance.source, on_start=started, on_end=ended):
        return None
    utterance.playing = finished
    return finished


def start_stream(
    voice: discord.VoiceClient, utterance: Utterance, metrics: TTSMetrics | None = None
) -> tuple[GaplessStream, Finished]:
    """A new stream with ``utterance`` first, played by a new discord.py player on ``voice``."""
    stream = GaplessStream(asyncio.get_running_loop(), metrics=metrics)
    finished = hand(stream, utterance)
    if finished is None:
        raise RuntimeError("a new stream refused its first text")
    if voice.is_playing() or voice.is_paused():
        voice.stop()  # our own finished player can still claim to be playing (see discordpy-voice.md §0.5)
    voice.play(stream, after=stream.player_failed)
    return stream, finished


def take_back(stream: GaplessStream | None, utterance: Utterance) -> bool:
    """Take a text handed ahead of its turn back from ``stream``. False if it has started being heard."""
    if utterance.started:
        return False
    if utterance.playing is not None and stream is not None:
        if not stream.take_back(utterance.source):
            return False
        utterance.playing = None
    return True
