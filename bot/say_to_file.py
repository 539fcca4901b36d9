"""``python -m bot say``: the /say audio path without Discord, ending in a WAV file instead of a voice channel.

The text goes through the same AsyncFlow client, WAV reader, converter, Opus encoder and audio source as
in a server, and discord.py's own ``AudioPlayer`` pulls the packets on its 20 ms clock. The file holds
those packets decoded with libopus, as a listener's Discord client would: 48 kHz stereo, stalls included.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import discord
from discord.player import AudioPlayer

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.voices import VoiceCatalog
from cogs.engine.audio.formats import DISCORD_FORMAT, FRAME_BYTES
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import Settings
from cogs.engine.playback.request import SpeechRequest, typed_text_problem
from cogs.engine.playback.road import choose_voice, clean_request
from cogs.engine.playback.utterance import SpeechItem, Utterance
from cogs.engine.store.limits import Refusal
from cogs.engine.store.models import GuildPrefs
from cogs.engine.text.parts import MessageParts, Names
from cogs.engine.words import NOTHING_SPEAKABLE, describe_error


class PlayerSink:
    """Stands where discord.py's VoiceClient stands for its ``AudioPlayer``: subclasses decide what a frame does.

    The player needs ``client.loop`` (for "speaking" updates), ``ws.speak``, ``is_connected``,
    ``wait_until_connected``, ``timeout`` and ``send_audio_packet``; nothing here touches a network.
    """

    timeout = 5.0

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.client = SimpleNamespace(loop=loop)
        self.ws = SimpleNamespace(speak=self._speak)

    async def _speak(self, _state: Any) -> None:
        return None

    def is_connected(self) -> bool:
        return True

    def wait_until_connected(self, timeout: float | None = None) -> bool:  # noqa: ARG002 - player's signature
        return True

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        raise NotImplementedError


class WavFrameSink(PlayerSink):
    """Receives the Opus packets the player would have sent to Discord, decodes them and keeps them in a WAV file."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop, source: StreamingAudioSource) -> None:
        super().__init__(loop)
        self._source = source
        self.frames = 0
        self.first_frame_at: float | None = None
        self._file = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._file.setnchannels(DISCORD_FORMAT.channels)
        self._file.setsampwidth(2)
        self._file.setframerate(DISCORD_FORMAT.sample_rate)
        self._lock = threading.Lock()
        self._decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]

    def send_audio_packet(self, data: bytes, *, encode: bool = True) -> None:
        if encode or not isinstance(data, bytes):
            raise ValueError("the audio source handed the player PCM, not Opus packets")
        if self._source.played_to_end:
            return  # the silence the player sends after the last frame (a stall's silence is kept: it was heard)
        with self._lock:
            if self.first_frame_at is None:
                self.first_frame_at = time.perf_counter()
            pcm = self._decoder.decode(data, fec=False)
            if len(pcm) != FRAME_BYTES:
                raise ValueError(f"a packet decoded to {len(pcm)} bytes, not one 20 ms frame")
            self._file.writeframes(pcm)
            self.frames += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()


async def _notify(message: str) -> None:
    print(message, file=sys.stderr)


def cli_request(text: str, voice_id: str | None, settings: Settings) -> SpeechRequest:
    """The command line's text as a request on the same road as ``/say`` (no server: its defaults apply)."""
    return SpeechRequest(
        parts=MessageParts(content=text.strip()),
        names=Names(),
        author_id=0,
        author_name="",
        requester_id=0,
        notify=_notify,
        chosen_voice=voice_id,
        max_length=settings.speech.max_text_length,
    )


async def say_to_file(settings: Settings, text: str, out: Path, voice_id: str | None) -> int:
    """Speak ``text`` into ``out``. Returns the process exit code."""
    problem = typed_text_problem(text, settings.speech.max_text_length)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    client = AsyncFlowClient(settings.asyncflow, settings.require_api_key())
    try:
        request = cli_request(text, voice_id, settings)
        prefs = GuildPrefs(guild_id=0)
        spoken = clean_request(request, prefs)
        voice = await choose_voice(request, prefs, VoiceCatalog(client)) if spoken is not None else None
        if isinstance(voice, Refusal):
            print(voice.message, file=sys.stderr)
            return 1
        if spoken is None:
            print(NOTHING_SPEAKABLE, file=sys.stderr)
            return 1
        return await _speak_to_file(settings, client, SpeechItem(spoken, voice, 0, _notify), out, started, loop)
    finally:
        await client.aclose()


async def _speak_to_file(
    settings: Settings,
    client: AsyncFlowClient,
    item: SpeechItem,
    out: Path,
    started: float,
    loop: asyncio.AbstractEventLoop,
) -> int:
    source = StreamingAudioSource(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(settings.speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(settings.speech.read_ahead_ms),
    )
    utterance = Utterance(item, client=client, source=source)
    if not await utterance.wait_ready():
        failure = utterance.error
        print(describe_error(failure) if failure else "No audio arrived.", file=sys.stderr)
        return 1
    sink = WavFrameSink(out, loop, source)
    finished: asyncio.Future[Exception | None] = loop.create_future()

    def resolve(error: Exception | None) -> None:
        if not finished.done():
            finished.set_result(error)

    def after(error: Exception | None) -> None:  # runs in the player thread
        loop.call_soon_threadsafe(resolve, error)

    player = AudioPlayer(source, cast(discord.VoiceClient, sink), after=after)
    player.start()
    try:
        player_error = await finished
    finally:
        player.stop()
        sink.close()
    await utterance.discard()

    total = time.perf_counter() - started
    first = (sink.first_frame_at - started) if sink.first_frame_at else float("nan")
    seconds = sink.frames * 0.02
    print(
        f"wrote {out}: {sink.frames} frames ({seconds:.2f} s of 48 kHz stereo audio); "
        f"first frame after {first * 1000:.0f} ms, total {total:.2f} s"
        + (f"; {source.silence_frames} silence frames while the download lagged" if source.silence_frames else ""),
    )
    if player_error is not None:
        print(f"Playback failed: {player_error}", file=sys.stderr)
        return 1
    if utterance.error is not None:
        print(describe_error(utterance.error), file=sys.stderr)
        return 1
    return 0
