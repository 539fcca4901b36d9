"""The audio source obeys discord.py's player contract: one Opus packet per read, never a blocking read."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import discord
import numpy as np
import pytest

from cogs.engine.audio.formats import FRAME_BYTES
from cogs.engine.audio.opus import EncoderPool, SpeechEncoder
from cogs.engine.audio.source import SourceClosed, StreamingAudioSource, ms_to_bytes
from cogs.engine.config import OpusSettings
from tests.audio_checks import FRAME


def make_source(
    prebuffer_ms: int = 40, read_ahead_ms: int = 200, pool: EncoderPool | None = None
) -> StreamingAudioSource:
    return StreamingAudioSource(
        loop=asyncio.get_running_loop(),
        prebuffer_bytes=ms_to_bytes(prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(read_ahead_ms),
        pool=pool,
    )


def drain(source: StreamingAudioSource, limit: int = 10_000) -> list[bytes]:
    packets: list[bytes] = []
    for _ in range(limit):
        packet = source.read()
        if not packet:
            return packets
        packets.append(packet)
    raise AssertionError("the source never ended")


def decode(packets: list[bytes]) -> np.ndarray:
    """What a listener's Discord client plays: left channel, floats."""
    decoder = discord.opus.Decoder()  # type: ignore[no-untyped-call]
    pcm = b"".join(decoder.decode(packet, fec=False) for packet in packets)
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)[:, 0].astype(np.float64) / 32768


def tone(frames: int, hz: float = 440.0, level: float = 0.5) -> bytes:
    """Discord-format PCM of a tone, both channels alike."""
    t = np.arange(frames * FRAME) / 48_000
    mono = (level * 32767 * np.sin(2 * np.pi * hz * t)).astype("<i2")
    return np.repeat(mono, 2).tobytes()


def envelope(samples: np.ndarray) -> np.ndarray:
    frames = samples[: len(samples) // FRAME * FRAME].reshape(-1, FRAME)
    rms: np.ndarray = np.sqrt(np.mean(frames**2, axis=1))
    return rms


async def test_pcm_written_in_any_sizes_comes_out_as_one_packet_per_frame_that_decodes_back_to_it() -> None:
    source = make_source(read_ahead_ms=10_000)
    audio = tone(50) + bytes(FRAME_BYTES * 10) + tone(40, hz=300) + b"\x01\x02\x03\x04"  # and one stereo sample
    for start in range(0, len(audio), 1000):  # chunks that cut frames anywhere
        await source.write(audio[start : start + 1000])
    await source.end()
    packets = drain(source)

    assert len(packets) == 101  # 100 whole frames and the padded part-frame
    assert all(type(packet) is bytes and 0 < len(packet) < 1500 for packet in packets)
    assert source.read() == b""  # stays ended
    assert source.played_to_end
    heard, sent = envelope(decode(packets)), envelope(np.frombuffer(audio[: 100 * FRAME_BYTES], "<i2")[::2] / 32768)
    assert np.corrcoef(heard[:100], sent)[0, 1] > 0.95  # frame by frame (Opus delays by 6.5 ms, a third of a frame)
    assert len(decode(packets)) == 101 * FRAME


async def test_encoding_runs_in_the_pool_not_on_the_event_loop() -> None:
    threads: set[str] = set()

    class Watched(EncoderPool):
        def encoder(self) -> SpeechEncoder:
            encoder = super().encoder()
            encode = encoder.encode_frames

            def watched(pcm: bytes) -> list[bytes]:
                threads.add(threading.current_thread().name)
                return encode(pcm)

            encoder.encode_frames = watched  # type: ignore[method-assign]
            return encoder

    pool = Watched(OpusSettings())
    try:
        source = make_source(pool=pool, read_ahead_ms=2000)
        for _ in range(5):
            await source.write(tone(3))
        await source.end()
        assert len(drain(source)) == 15
    finally:
        pool.close()
    assert threads and all(name.startswith("asyncflow-opus") for name in threads)


async def test_ready_waits_for_the_prebuffer_then_playback_starts() -> None:
    source = make_source(prebuffer_ms=100)  # 5 frames
    waiter = asyncio.create_task(source.wait_ready())
    await source.write(bytes(FRAME_BYTES * 4))
    await asyncio.sleep(0)
    assert not waiter.done()
    await source.write(bytes(FRAME_BYTES))
    await asyncio.wait_for(waiter, 1)


async def test_a_short_text_is_ready_when_the_stream_ends_before_the_prebuffer_fills() -> None:
    source = make_source(prebuffer_ms=500)
    await source.write(tone(1)[:400])
    await source.end()
    await asyncio.wait_for(source.wait_ready(), 1)
    assert len(drain(source)) == 1


async def test_a_stall_gives_silence_packets_without_blocking_then_rebuffers_before_speaking_again() -> None:
    source = make_source(prebuffer_ms=60)  # 3 frames
    await source.write(tone(3))
    speech = [source.read() for _ in range(3)]

    started = time.perf_counter()
    stalled = [source.read() for _ in range(5)]
    assert time.perf_counter() - started < 0.01  # never waits for the download
    assert stalled == [source._pool.silence] * 5
    assert not decode(stalled).any()  # digital silence, one packet per 20 ms

    await source.write(tone(1))  # one frame is not enough to resume smoothly
    assert source.read() == source._pool.silence
    await source.write(tone(2))
    resumed = [source.read() for _ in range(3)]
    assert all(packet != source._pool.silence for packet in speech + resumed)
    assert source.silence_frames == 6


async def test_the_producer_waits_while_the_read_ahead_is_full() -> None:
    source = make_source(prebuffer_ms=20, read_ahead_ms=200)  # 10 frames of read-ahead
    writer = asyncio.create_task(source.write(bytes(FRAME_BYTES * 12)))
    await asyncio.sleep(0.1)
    assert not writer.done()  # over the high-water mark: back-pressure
    assert source.buffered_frames == 12  # the chunk was taken whole, nothing more
    for _ in range(7):
        source.read()  # down to the low-water mark: the producer is woken
    await asyncio.wait_for(writer, 1)


async def test_cached_packets_are_played_as_they_are() -> None:
    encoder = SpeechEncoder(OpusSettings())
    packets = encoder.encode_frames(tone(20))
    source = make_source(read_ahead_ms=1000)
    await source.write_packets(packets)
    source.finish()
    assert drain(source) == packets


async def test_cleanup_is_idempotent_wakes_the_producer_and_runs_the_callback_on_the_loop() -> None:
    source = make_source(read_ahead_ms=40)
    called: list[str] = []
    source.on_cleanup(lambda: called.append("cleanup"))
    writer = asyncio.create_task(source.write(bytes(FRAME_BYTES * 4)))
    await asyncio.sleep(0.1)
    await asyncio.to_thread(source.cleanup)  # the player thread calls it
    source.cleanup()
    with pytest.raises(SourceClosed):
        await asyncio.wait_for(writer, 1)
    await asyncio.sleep(0)
    assert called == ["cleanup"]
    assert source.read() == b""
    with pytest.raises(SourceClosed):
        await source.write(bytes(FRAME_BYTES))


async def test_del_after_the_loop_closed_does_not_raise() -> None:
    loop = asyncio.new_event_loop()
    source = StreamingAudioSource(loop=loop)
    source.on_cleanup(lambda: None)
    loop.close()
    del source
    gc.collect()
