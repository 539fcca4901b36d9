"""``python -m bot say``: the /say audio path without Discord, ending in a WAV file instead of a voice channel.

The text goes through the same AsyncFlow client, WAV reader, converter, Opus encoder and audio source as
in a server, and discord.py's own ``AudioPlayer`` pulls the packets on its 20 ms clock. The file holds
those packets decoded with libopus, as a listener's Discord client would: 48 kHz stereo, stalls included.
Everything the admin reads goes to stderr but the last line of a file written (stdout, unless the WAV goes there).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, cast

import discord
from discord.player import AudioPlayer

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.voices import VoiceCatalog
from cogs.engine.audio.formats import DISCORD_FORMAT, FRAME_BYTES, FRAME_MS
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from cogs.engine.config import Settings
from cogs.engine.playback.request import SpeechRequest
from cogs.engine.playback.road import choose_voice, clean_request
from cogs.engine.playback.utterance import SpeechItem, Utterance
from cogs.engine.store.limits import Refusal
from cogs.engine.store.models import GuildPrefs
from cogs.engine.text.parts import MessageParts, Names

from . import admin_words
from .say_input import STDIN, USAGE_ERROR, SayRefused, output_problem, read_text, resolve_voice

PROGRESS_EVERY_S = 5.0
"""Seconds between ``say``'s progress lines on stderr while a long text plays (``--progress-every``)."""


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

    def __init__(self, file: IO[bytes], loop: asyncio.AbstractEventLoop, source: StreamingAudioSource) -> None:
        super().__init__(loop)
        self._source = source
        self.frames = 0
        self.first_frame_at: float | None = None
        self._closed = False
        self._file = wave.open(file, "wb")  # noqa: SIM115 - closed in close()
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
            if self._closed:
                return  # stopped (Ctrl-C): the file's header is already final
            if self.first_frame_at is None:
                self.first_frame_at = time.perf_counter()
            pcm = self._decoder.decode(data, fec=False)
            if len(pcm) != FRAME_BYTES:
                raise ValueError(f"a packet decoded to {len(pcm)} bytes, not one 20 ms frame")
            self._file.writeframes(pcm)
            self.frames += 1

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_MS / 1000

    def close(self) -> None:
        """Write the header's sizes for the frames written so far: a valid WAV, however far it got."""
        with self._lock:
            if not self._closed:
                self._closed = True
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


async def say_to_file(
    settings: Settings, text_argument: str, out: str, voice: str | None, *, progress_every: float = PROGRESS_EVERY_S
) -> int:
    """Speak TEXT (``-``: stdin) into ``out`` (``-``: stdout). Returns the process exit code."""
    try:
        text = read_text(text_argument, sys.stdin.buffer)
        refusal = admin_words.text_refusal(text, settings.speech.max_text_length)
        if refusal is not None:
            raise SayRefused(refusal)
        problem = output_problem(out)
        if problem is not None:
            raise SayRefused(problem, USAGE_ERROR)
        client = AsyncFlowClient(settings.asyncflow, settings.require_api_key())
        try:
            item = await _item_to_speak(settings, client, text, voice)
            return await _speak_to_file(settings, client, item, out, progress_every)
        finally:
            await client.aclose()
    except SayRefused as refused:
        print(refused, file=sys.stderr)
        return refused.exit_code


async def _item_to_speak(settings: Settings, client: AsyncFlowClient, text: str, voice: str | None) -> SpeechItem:
    """The text cleaned and its voice chosen on ``/say``'s road; refused (before any speech request) if it can't be."""
    catalog = VoiceCatalog(client, fetch_timeout=settings.asyncflow.first_byte_timeout)
    try:
        voice_id = await resolve_voice(voice, catalog, client, settings.asyncflow) if voice else None
        request = cli_request(text, voice_id, settings)
        prefs = GuildPrefs(guild_id=0)
        spoken = clean_request(request, prefs)
        if spoken is None:
            raise SayRefused(admin_words.NOTHING_SPEAKABLE)
        chosen = await choose_voice(request, prefs, catalog, None)  # no store: members' clones are refused
    finally:
        await catalog.aclose()
    if isinstance(chosen, Refusal):
        if chosen.reason == "private-voice":
            raise SayRefused(admin_words.PRIVATE_VOICE)
        raise SayRefused(admin_words.unknown_voice(voice or ""))
    return SpeechItem(spoken, chosen, 0, _notify)


async def _speak_to_file(
    settings: Settings, client: AsyncFlowClient, item: SpeechItem, out: str, progress_every: float
) -> int:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    source = StreamingAudioSource(
        loop=loop,
        prebuffer_bytes=ms_to_bytes(settings.speech.prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(settings.speech.read_ahead_ms),
    )
    utterance = Utterance(item, client=client, source=source)
    try:
        try:
            ready = await utterance.wait_ready()
        except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this task, then raises KeyboardInterrupt
            print("interrupted before any audio arrived: nothing was written", file=sys.stderr)
            raise
        if not ready:
            failure = utterance.error
            raise SayRefused(
                admin_words.describe_for_admin(failure, settings.asyncflow) if failure else "no audio arrived"
            )
        with _open_output(out) as file:
            sink = WavFrameSink(file, loop, source)
            interrupted = False
            try:
                player_error = await _play(source, sink, progress_every)
            except asyncio.CancelledError:
                interrupted = True
                raise
            finally:
                sink.close()
                _deliver(file, out)
                if interrupted:
                    print(
                        f"interrupted: {_shown(out)} holds the first {sink.seconds:.2f} s, a valid WAV", file=sys.stderr
                    )
    finally:
        await utterance.discard()

    total = time.perf_counter() - started
    first = (sink.first_frame_at - started) if sink.first_frame_at else float("nan")
    print(
        f"wrote {_shown(out)}: {sink.frames} frames ({sink.seconds:.2f} s of 48 kHz stereo audio); "
        f"first frame after {first * 1000:.0f} ms, total {total:.2f} s"
        + (f"; {source.silence_frames} silence frames while the download lagged" if source.silence_frames else ""),
        file=sys.stderr if out == STDIN else sys.stdout,
    )
    if player_error is not None:
        print(f"playback failed: {player_error}", file=sys.stderr)
        return 1
    if utterance.error is not None:
        print(admin_words.describe_for_admin(utterance.error, settings.asyncflow), file=sys.stderr)
        return 1
    return 0


async def _play(source: StreamingAudioSource, sink: WavFrameSink, progress_every: float) -> Exception | None:
    """discord.py's player pulls ``source`` into ``sink`` on its 20 ms clock; a progress line every so often."""
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[Exception | None] = loop.create_future()

    def resolve(error: Exception | None) -> None:
        if not finished.done():
            finished.set_result(error)

    def after(error: Exception | None) -> None:  # runs in the player thread
        if loop.is_closed():  # Ctrl-C ended the run first: nobody waits for the answer any more
            return
        with contextlib.suppress(RuntimeError):  # ... or it closed just now
            loop.call_soon_threadsafe(resolve, error)

    player = AudioPlayer(source, cast(discord.VoiceClient, sink), after=after)
    started = time.perf_counter()
    player.start()
    try:
        while not finished.done():
            await asyncio.wait({finished}, timeout=progress_every if progress_every > 0 else None)
            if not finished.done():
                print(
                    f"… {sink.seconds:.1f} s of audio written in {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        return finished.result()
    finally:
        player.stop()


@contextlib.contextmanager
def _open_output(out: str) -> Iterator[IO[bytes]]:
    """The file the WAV is written to: ``out``, or for stdout a temporary file (a WAV's header is written last)."""
    with tempfile.TemporaryFile() if out == STDIN else Path(out).open("wb") as file:
        yield file


def _deliver(file: IO[bytes], out: str) -> None:
    """For ``--out -``: the finished WAV onto stdout."""
    if out == STDIN:
        file.seek(0)
        shutil.copyfileobj(file, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def _shown(out: str) -> str:
    return "stdout" if out == STDIN else out
