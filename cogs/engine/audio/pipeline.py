"""From AsyncFlow's HTTP body to Discord-format PCM in an audio source: WAV header, conversion, back-pressure."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..asyncflow.errors import UnplayableAudio
from ..asyncflow.stream import SpeechResponse
from .convert import PcmConverter
from .source import StreamingAudioSource
from .wav import WavFormatError, WavStreamReader

log = logging.getLogger(__name__)


async def pump_speech(
    response: SpeechResponse, source: StreamingAudioSource, on_audio: Callable[[bytes], None] | None = None
) -> None:
    """Copy one speech response into ``source`` as it downloads, then mark the source finished.

    ``on_audio`` sees every piece of Discord-format PCM written (the phrase cache keeps a copy).

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
                await _write(source, converter.convert(payload), on_audio)
            if reader is not None and reader.complete:
                break
        if reader is not None:
            reader.finish()
        if converter is not None:
            await _write(source, converter.flush(), on_audio)
    except WavFormatError as error:
        log.warning("AsyncFlow sent audio that can't be played: %s", error)
        raise UnplayableAudio(error.summary) from None
    finally:
        source.finish()


async def _write(source: StreamingAudioSource, pcm: bytes, on_audio: Callable[[bytes], None] | None) -> None:
    if on_audio is not None and pcm:
        on_audio(pcm)
    await source.write(pcm)
