"""A prototype: the encoder pool serving the stream nearest to running dry first, not first come first served.

``EncoderPool`` is a ``ThreadPoolExecutor``: jobs are done in the order they came. Every stream downloads at
up to 3x real time until its read-ahead (2 s) is full, so when many servers start at once the queue fills
with read-ahead that is not needed for seconds, and a new stream's first frames, or a stream about to run
dry, wait behind it (seconds of silence at 150 streams, ``bench.capacity``). :class:`UrgentEncoderPool`
keeps the waiting jobs in a list and each worker takes the one whose stream has the fewest packets
buffered (a stream not yet playing has none: its first audio comes first).

A stream's urgency is known to its source, not to the pool: :class:`UrgentSource` tells the pool about its
encoder when it makes it. Each stream has at most one job waiting (``write()`` awaits its encoding), so the
order of one stream's packets is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cogs.engine.audio.opus import EncoderPool, SpeechEncoder
from cogs.engine.audio.source import StreamingAudioSource
from cogs.engine.config import OpusSettings


@dataclass(slots=True)
class _Job:
    encoder: SpeechEncoder
    pcm: bytes
    future: asyncio.Future[list[bytes]]
    loop: asyncio.AbstractEventLoop
    order: int


class UrgentEncoderPool(EncoderPool):
    """``EncoderPool`` with the same interface; jobs of the least-buffered stream first."""

    def __init__(self, settings: OpusSettings) -> None:
        super().__init__(settings)
        self._jobs: list[_Job] = []
        self._waiting = threading.Condition()
        self._buffered: weakref.WeakKeyDictionary[SpeechEncoder, Callable[[], int]] = weakref.WeakKeyDictionary()
        self._workers_started: list[threading.Thread] = []
        self._closing = False
        self._order = 0

    def watch(self, encoder: SpeechEncoder, buffered: Callable[[], int]) -> None:
        """``buffered()``: packets ``encoder``'s stream has ready to play (fewer: more urgent)."""
        self._buffered[encoder] = buffered

    async def encode(self, encoder: SpeechEncoder, pcm: bytes) -> list[bytes]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[bytes]] = loop.create_future()
        with self._waiting:
            if not self._workers_started:
                for index in range(self.settings.encoder_threads):
                    worker = threading.Thread(target=self._work, name=f"asyncflow-opus_{index}", daemon=True)
                    worker.start()
                    self._workers_started.append(worker)
            self._order += 1
            self._jobs.append(_Job(encoder, pcm, future, loop, self._order))
            self._waiting.notify()
        return await future

    def _urgency(self, job: _Job) -> tuple[int, int]:
        buffered = self._buffered.get(job.encoder)
        return (buffered() if buffered is not None else 0, job.order)

    def _work(self) -> None:
        while True:
            with self._waiting:
                while not self._jobs and not self._closing:
                    self._waiting.wait()
                if not self._jobs:
                    return
                job = min(self._jobs, key=self._urgency)
                self._jobs.remove(job)
            try:
                packets = job.encoder.encode_frames(job.pcm)
            except Exception as error:
                _resolve(job, None, error)
            else:
                _resolve(job, packets, None)

    def close(self) -> None:
        with self._waiting:
            self._closing = True
            self._waiting.notify_all()
        for worker in self._workers_started:
            worker.join(10)
        super().close()


def _resolve(job: _Job, packets: list[bytes] | None, error: Exception | None) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(packets if packets is not None else [])

    with contextlib.suppress(RuntimeError):  # the loop is closed
        job.loop.call_soon_threadsafe(settle)


class UrgentSource(StreamingAudioSource):
    """A ``StreamingAudioSource`` that tells an :class:`UrgentEncoderPool` how much it has buffered."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._urgent_pool = kwargs.get("pool")

    def _stream_encoder(self) -> SpeechEncoder:
        made = self._encoder is None
        encoder = super()._stream_encoder()
        if made and isinstance(self._urgent_pool, UrgentEncoderPool):
            me = weakref.ref(self)  # the pool must not keep a finished source alive

            def buffered() -> int:
                source = me()
                return source.buffered_frames if source is not None else 0

            self._urgent_pool.watch(encoder, buffered)
        return encoder
