"""The audio source obeys discord.py's player contract: whole 3840-byte frames, never a blocking read."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest

from cogs.engine.audio.formats import FRAME_BYTES, SILENCE_FRAME
from cogs.engine.audio.source import SourceClosed, StreamingAudioSource, ms_to_bytes


def make_source(prebuffer_ms: int = 40, read_ahead_ms: int = 200) -> StreamingAudioSource:
    return StreamingAudioSource(
        loop=asyncio.get_running_loop(),
        prebuffer_bytes=ms_to_bytes(prebuffer_ms),
        read_ahead_bytes=ms_to_bytes(read_ahead_ms),
    )


def drain(source: StreamingAudioSource, limit: int = 10_000) -> list[bytes]:
    frames: list[bytes] = []
    for _ in range(limit):
        frame = source.read()
        if not frame:
            return frames
        frames.append(frame)
    raise AssertionError("the source never ended")


async def test_frames_are_exactly_3840_bytes_and_the_last_is_zero_padded() -> None:
    source = make_source()
    audio = bytes(range(256)) * 60  # 15360 bytes: 4 frames exactly
    await source.write(audio + b"\x01\x02\x03\x04")  # plus one stereo sample
    source.finish()
    frames = drain(source)
    assert [len(f) for f in frames] == [FRAME_BYTES] * 5
    assert all(type(f) is bytes for f in frames)
    assert b"".join(frames[:4]) == audio
    assert frames[4] == b"\x01\x02\x03\x04" + bytes(FRAME_BYTES - 4)
    assert source.read() == b""  # stays ended
    assert source.played_to_end


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
    await source.write(b"\x05\x00" * 100)
    source.finish()
    await asyncio.wait_for(source.wait_ready(), 1)
    frames = drain(source)
    assert len(frames) == 1 and frames[0][:200] == b"\x05\x00" * 100


async def test_a_stall_gives_silence_without_blocking_then_rebuffers_before_speaking_again() -> None:
    source = make_source(prebuffer_ms=60)  # 3 frames
    loud = b"\x10\x20" * (FRAME_BYTES // 2)
    await source.write(loud * 3)
    assert [source.read() for _ in range(3)] == [loud] * 3

    started = time.perf_counter()
    stalled = [source.read() for _ in range(5)]
    assert time.perf_counter() - started < 0.01  # never waits for the download
    assert stalled == [SILENCE_FRAME] * 5

    await source.write(loud)  # one frame is not enough to resume smoothly
    assert source.read() == SILENCE_FRAME
    await source.write(loud * 2)
    assert [source.read() for _ in range(3)] == [loud] * 3
    assert source.silence_frames == 6


async def test_the_producer_waits_while_the_read_ahead_is_full() -> None:
    source = make_source(prebuffer_ms=20, read_ahead_ms=200)  # 10 frames of read-ahead
    writer = asyncio.create_task(source.write(bytes(FRAME_BYTES * 12)))
    await asyncio.sleep(0.01)
    assert not writer.done()  # over the high-water mark: back-pressure
    assert source.buffered_bytes == FRAME_BYTES * 12  # the chunk was taken whole, nothing more
    for _ in range(7):
        source.read()  # down to the low-water mark: the producer is woken
    await asyncio.wait_for(writer, 1)


async def test_cleanup_is_idempotent_wakes_the_producer_and_runs_the_callback_on_the_loop() -> None:
    source = make_source(read_ahead_ms=40)
    called: list[str] = []
    source.on_cleanup(lambda: called.append("cleanup"))
    writer = asyncio.create_task(source.write(bytes(FRAME_BYTES * 4)))
    await asyncio.sleep(0)
    await asyncio.to_thread(source.cleanup)  # the player thread calls it
    source.cleanup()
    with pytest.raises(SourceClosed):
        await asyncio.wait_for(writer, 1)
    await asyncio.sleep(0)
    assert called == ["cleanup"]
    assert source.read() == b""
    with pytest.raises(SourceClosed):
        await source.write(b"\x00\x00\x00\x00")


async def test_del_after_the_loop_closed_does_not_raise() -> None:
    loop = asyncio.new_event_loop()
    source = StreamingAudioSource(loop=loop)
    source.on_cleanup(lambda: None)
    loop.close()
    del source
    gc.collect()
