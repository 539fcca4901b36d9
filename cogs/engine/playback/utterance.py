"""One piece of text on its way to speech: its download task and the audio source it fills."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..asyncflow.client import AsyncFlowClient
from ..asyncflow.errors import AsyncFlowError, UnexpectedResponse
from ..audio.opus import EncoderPool
from ..audio.pipeline import pump_speech
from ..audio.source import SourceClosed, StreamingAudioSource, ms_to_bytes
from ..config import SpeechSettings
from ..metrics import TTSMetrics
from ..words import describe_retry
from .phrase_cache import PhraseCache

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]
"""Tells the member who asked for this speech something (ephemeral in Discord, stderr in the CLI)."""


@dataclass(frozen=True, slots=True)
class SpeechItem:
    """What a member asked to hear."""

    text: str
    voice_id: str | None
    requester_id: int
    notify: Notify
    key: int | None = None
    """Identifies the item for later withdrawal or revision (the Discord message id of a read message)."""
    speed: float | None = None
    """The speaking rate (``speed_control``; None: AsyncFlow's normal speed)."""
    notify_retries: bool = True
    """Tell the member about retries ("AsyncFlow is busy, retrying in 4 s"), not only about failures."""


class Utterance:
    """Starts downloading as soon as it is created; the player decides when its source is played."""

    def __init__(
        self,
        item: SpeechItem,
        *,
        client: AsyncFlowClient,
        source: StreamingAudioSource,
        cache: PhraseCache | None = None,
        cache_scope: int = 0,
        first_audio: Callable[[float], None] | None = None,
    ) -> None:
        self.item = item
        self.source = source
        self.error: AsyncFlowError | None = None
        """Why the download ended early, if it did. Audio that arrived before it is still played."""
        self.started = False
        """Being heard (its first packet was read): it can no longer be revised. Set in the player thread for an
        utterance handed to the stream ahead of its turn (see :attr:`playing`)."""
        self.playing: asyncio.Future[Exception | None] | None = None
        """Handed to the server's stream: resolved once the stream is done with it (with the player's error)."""
        self.interrupted = False
        """Cut off on purpose (skip, stop, leave) or already reported as cut off: say nothing more about it."""
        self.from_cache = False
        """The audio came from the phrase cache: no API call was made."""
        self.waiting_for_slot = False
        """The request is queued behind ``max_concurrent_requests`` others (of any server)."""
        self._client = client
        self._cache = cache
        self._cache_scope = cache_scope
        self._discarded = False
        self._first_audio = first_audio
        """Given the seconds from now to the first packet going to Discord, once (texts spoken at once)."""
        self._created_at = time.perf_counter()
        self._task = asyncio.create_task(self._produce(), name=f"asyncflow-speech-{item.requester_id}")
        source.on_cleanup(self._cancel_download)

    def _cancel_download(self) -> None:
        """Cancel the download once: a second cancel would interrupt the closing of its HTTP response, leaving the
        request open at AsyncFlow (and its concurrency slot taken) until AsyncFlow answered."""
        if not self._task.done() and not self._task.cancelling():
            self._task.cancel()

    async def _produce(self) -> None:
        try:
            cache, key = self._cache, None
            if cache is not None and cache.wants(self.item.text):
                body = self._client.speech_body(self.item.text, self.item.voice_id, self.item.speed)
                key = PhraseCache.key(self._cache_scope, self._client.speech_path, body)
                cached = cache.get(key, self.item.text)
                if cached is not None:
                    self.from_cache = True
                    await self.source.write_packets(cached)
                    return
                self.source.record(cache.max_entry_bytes)
            response = await self._client.open_speech(
                self.item.text,
                voice_id=self.item.voice_id,
                speed=self.item.speed,
                on_retry=self._announce_retry,
                on_slot_wait=self._slot_wait,
            )
            async with response:
                await pump_speech(response, self.source)
            packets = self.source.recorded
            if cache is not None and key is not None and packets is not None:
                cache.put(key, packets)  # only a whole, successful download gets here
        except SourceClosed:
            pass
        except AsyncFlowError as error:
            self.error = error
        except Exception:
            log.exception("speech download failed unexpectedly")
            self.error = UnexpectedResponse("the speech download failed unexpectedly")
        finally:
            self.source.finish()

    def first_packet_out(self) -> None:
        """The player has read the first packet (called in its thread)."""
        report, self._first_audio = self._first_audio, None
        if report is not None:
            report(time.perf_counter() - self._created_at)

    def _slot_wait(self, waiting: bool) -> None:
        self.waiting_for_slot = waiting

    async def _announce_retry(self, error: AsyncFlowError, delay: float) -> None:
        if self.item.notify_retries:
            await self.item.notify(describe_retry(error, delay))

    async def wait_ready(self) -> bool:
        """Wait until playback can start. False when there is nothing to play (failed first, or discarded)."""
        ready = asyncio.ensure_future(self.source.wait_ready())
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        return self.source.has_audio and not self._discarded

    @property
    def downloaded(self) -> bool:
        """The download task has ended (completely, or with :attr:`error`)."""
        return self._task.done()

    def cancel(self) -> None:
        """Stop downloading and free the audio; safe to call at any time, any number of times."""
        self._discarded = True
        self._cancel_download()
        self.source.cleanup()

    async def discard(self) -> None:
        """:meth:`cancel`, then wait until the download task has really ended (its HTTP response closed)."""
        self.cancel()
        await asyncio.wait({self._task})


@dataclass(frozen=True, slots=True)
class UtteranceParts:
    """What every utterance of one server is made with."""

    client: AsyncFlowClient
    settings: SpeechSettings
    encoders: EncoderPool | None
    cache: PhraseCache | None
    cache_scope: int
    metrics: TTSMetrics | None

    def start(self, item: SpeechItem, *, at_once: bool = False) -> Utterance:
        """Start downloading ``item``; ``at_once``: nothing is ahead of it (its time to first audio is measured)."""
        metrics = self.metrics
        source = StreamingAudioSource(
            loop=asyncio.get_running_loop(),
            prebuffer_bytes=ms_to_bytes(self.settings.prebuffer_ms),
            read_ahead_bytes=ms_to_bytes(self.settings.read_ahead_ms),
            pool=self.encoders,
            metrics=metrics,
        )
        return Utterance(
            item,
            client=self.client,
            source=source,
            cache=self.cache,
            cache_scope=self.cache_scope,
            first_audio=metrics.first_audio_seconds.observe if metrics is not None and at_once else None,
        )
