"""From AsyncFlow's HTTP body to Discord-format PCM in an audio source: WAV header, conversion, back-pressure."""

from __future__ import annotations

import logging
from typing import Protocol

from ..asyncflow.errors import UnplayableAudio
from ..asyncflow.stream import SpeechResponse
from .convert import PcmConverter
from .wav import WavFormatError, WavStreamReader

log = logging.getLogger(__name__)


class PcmSink(Protocol):
    """Where the PCM goes: :class:`~.source.StreamingAudioSource` (which encodes it to Opus as it arrives)."""

    async def write(self, pcm: bytes) -> None: ...

    async def end(self) -> None:
        """All of it was written."""

    def finish(self) -> None:
        """No more will be written (after :meth:`end`, or because the download failed)."""


async def pump_speech(response: SpeechResponse, sink: PcmSink) -> None:
    """Copy one speech response into ``sink`` as it downloads, then mark it finished.

    Raises the typed AsyncFlow error that ended the stream early (the audio before it stays playable),
    or :class:`~cogs.engine.audio.source.SourceClosed` when the player let go of the source.
    """
    reader = WavStreamReader() if response.container == "wav" else None
    converter = None if reader else PcmConverter(response.raw_format)
    try:
        async for chunk in response.chunks():
            payload = chunk
            if reader is not None:
                payload = reader.feed(chunk)
                if converter is None and reader.format is not None:
                    converter = PcmConverter(reader.format)
            if converter is not None and payload:
                await _write(sink, converter.convert(payload))
            if reader is not None and reader.complete:
                break
        if reader is not None:
            reader.finish()
        if converter is not None:
            await _write(sink, converter.flush())
        await sink.end()
    except WavFormatError as error:
        log.warning("AsyncFlow sent audio that can't be played: %s", error)
        raise UnplayableAudio(error.summary) from None
    finally:
        sink.finish()


async def _write(sink: PcmSink, pcm: bytes) -> None:
    if pcm:
        await sink.write(pcm)
