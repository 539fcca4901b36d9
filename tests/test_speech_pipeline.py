"""Client → WAV reader → converter → audio source: the frames the player gets equal what AsyncFlow sent."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from cogs.engine.asyncflow.client import AsyncFlowClient
from cogs.engine.asyncflow.errors import UnplayableAudio
from cogs.engine.audio.formats import FRAME_BYTES
from cogs.engine.audio.pipeline import pump_speech
from cogs.engine.audio.source import StreamingAudioSource, ms_to_bytes
from tests.asyncflow_server import DEMO_VOICE_ID, FakeAsyncFlow, Fault, expected_samples

MakeClient = Callable[..., AsyncFlowClient]
TEXT = "Pipeline check"  # 14 characters: 700 ms


class PcmKept:
    """Stands where the audio source stands (a :class:`~cogs.engine.audio.pipeline.PcmSink`), keeping the PCM
    it is given, to compare sample by sample before Opus encoding (tests/test_audio_source.py covers that)."""

    def __init__(self) -> None:
        self.pcm = bytearray()
        self.ended = False
        self.finished = False

    async def write(self, pcm: bytes) -> None:
        assert not self.finished
        self.pcm += pcm

    async def end(self) -> None:
        self.ended = True

    def finish(self) -> None:
        self.finished = True


async def frames_for(client: AsyncFlowClient, text: str = TEXT) -> np.ndarray:
    """Run one request through the pipeline; the Discord-format PCM it gives the source, padded to whole frames
    as the source pads the last one."""
    kept = PcmKept()
    async with await client.open_speech(text) as response:
        await pump_speech(response, kept)
    assert kept.ended and kept.finished
    pcm = bytes(kept.pcm) + bytes(-len(kept.pcm) % FRAME_BYTES)
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, 2).astype(np.float64) / 32768


@pytest.mark.parametrize("style", ["exact", "streaming", "zero", "extra_chunks", "extensible"])
@pytest.mark.parametrize("split_header", [False, True], ids=["whole-header", "header-byte-by-byte"])
async def test_every_wav_header_shape_plays_the_exact_samples(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, style: str, split_header: bool
) -> None:
    asyncflow.wav_header = style  # type: ignore[assignment]
    asyncflow.split_header = split_header
    asyncflow.chunk_bytes = 777
    stereo = await frames_for(make_client())
    ideal = expected_samples(TEXT, DEMO_VOICE_ID, 48_000)
    assert len(stereo) == -(-len(ideal) // 960) * 960  # whole frames, the last one padded
    assert np.array_equal(stereo[:, 0], stereo[:, 1])
    assert np.max(np.abs(stereo[: len(ideal), 0] - ideal)) < 2 / 32768
    assert not stereo[len(ideal) :].any()


@pytest.mark.parametrize(
    ("sample_rate", "channels", "encoding"),
    [(24_000, 1, "s16le"), (44_100, 1, "f32le"), (16_000, 2, "s16le"), (48_000, 1, "mulaw"), (22_050, 1, "s24le")],
)
async def test_audio_in_another_format_is_converted_not_played_at_the_wrong_speed(
    asyncflow: FakeAsyncFlow, make_client: MakeClient, sample_rate: int, channels: int, encoding: str
) -> None:
    asyncflow.faults.append(Fault.wrong_format(sample_rate=sample_rate, channels=channels, encoding=encoding))  # type: ignore[arg-type]
    left = (await frames_for(make_client()))[:, 0]
    ideal = expected_samples(TEXT, DEMO_VOICE_ID, 48_000)
    assert abs(len(left) - len(ideal)) <= 960  # same duration, within a frame
    spectrum = np.abs(np.fft.rfft(left))
    peak = np.fft.rfftfreq(len(left), 1 / 48_000)[np.argmax(spectrum)]
    ideal_peak = np.fft.rfftfreq(len(ideal), 1 / 48_000)[np.argmax(np.abs(np.fft.rfft(ideal)))]
    assert peak == pytest.approx(ideal_peak, abs=3)
    n = min(len(left), len(ideal))
    correlation = np.corrcoef(left[:n], ideal[:n])[0, 1]
    assert correlation > 0.95


async def test_a_json_body_with_status_200_is_refused_as_unplayable(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    asyncflow.faults.append(Fault.unexpected_json(200, {"detail": {"error_code": "SOMETHING", "message": "odd"}}))
    source = StreamingAudioSource(loop=asyncio.get_running_loop())
    with pytest.raises(UnplayableAudio, match="JSON"):
        async with await make_client().open_speech(TEXT) as response:
            await pump_speech(response, source)
    assert source.read() == b""  # nothing to play, and the source is finished


async def test_a_long_text_is_never_downloaded_far_ahead_of_playback(
    asyncflow: FakeAsyncFlow, make_client: MakeClient
) -> None:
    """Ten minutes of speech, read slowly: the server cannot push more than the read-ahead plus socket buffers."""
    asyncflow.ms_per_char = 1000.0
    text = "x" * 600  # 600 s of audio: 57.6 MB of stereo PCM if buffered whole
    source = StreamingAudioSource(loop=asyncio.get_running_loop(), read_ahead_bytes=ms_to_bytes(1000))
    # The stand-in renders all ten minutes before its first byte: seconds on a busy machine.
    response = await make_client(first_byte_timeout=15.0).open_speech(text)
    pump = asyncio.create_task(pump_speech(response, source))
    await asyncio.sleep(0.5)
    buffered = source.buffered_frames * FRAME_BYTES
    received = response.bytes_received
    source.cleanup()
    await asyncio.wait({pump})
    await response.aclose()
    assert buffered <= ms_to_bytes(1000) + 2 * 65_536 * 2  # read-ahead plus at most one upmixed chunk, encoded
    assert received < 8 * 1024 * 1024  # bounded by back-pressure and TCP windows, not the text length
