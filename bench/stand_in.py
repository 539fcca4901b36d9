"""The AsyncFlow stand-in in a child process, so its work doesn't count in the benchmark's own CPU and memory.

``python -m bench.stand_in [--realtime-factor R] [--first-byte-delay S] [--ms-per-char M] [--stalls N
--stall-after-bytes B --stall-seconds S]`` serves real espeak-ng speech on 127.0.0.1, prints ``READY <base
url>`` once it listens, and stops when its stdin closes. ``--stalls N`` makes the first N speech responses
pause for S seconds after B bytes of body (a synthesis hiccup in the middle of an utterance).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

READY_PREFIX = "READY "


@dataclass(frozen=True)
class Stalls:
    count: int = 0
    after_bytes: int = 0
    seconds: float = 0.0


async def serve(
    *,
    realtime_factor: float | None,
    first_byte_delay: float,
    ms_per_char: float,
    chunk_bytes: int = 4096,
    stalls: Stalls = Stalls(),
) -> None:
    from bench.speech_audio import espeak_speech
    from tests import asyncflow_server
    from tests.asyncflow_server import FakeAsyncFlow, Fault

    _keep_rendered_speech(asyncflow_server)
    server = FakeAsyncFlow(host="127.0.0.1", port=0)
    server.realtime_factor = realtime_factor  # None: as fast as the client reads (its back-pressure paces it)
    server.first_byte_delay = first_byte_delay
    server.ms_per_char = ms_per_char
    server.chunk_bytes = chunk_bytes
    server.speech_samples = espeak_speech()
    server.faults = [Fault.stall_after(stalls.after_bytes, stalls.seconds) for _ in range(stalls.count)]
    await server.start()
    try:
        print(READY_PREFIX + server.base_url, flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin (or dies)
    finally:
        await server.stop()


def _keep_rendered_speech(module: Any) -> None:
    """Render each length of speech once: rendering 20 s takes the stand-in ~17 ms, during which it answers no
    one else, so 200 requests at once would reach their first byte over 3 s instead of together."""
    render = module._speech_audio
    rendered: dict[tuple[float, str, int], bytes] = {}

    def speech_audio(speech: Any, seconds: float, encoding: str, channels: int) -> bytes:
        key = (seconds, encoding, channels)  # one espeak paragraph per process: the samples never change
        if key not in rendered:
            rendered[key] = render(speech, seconds, encoding, channels)
        return rendered[key]

    module._speech_audio = speech_audio


class ServerProcess:
    """``with ServerProcess([...options]) as server:`` — ``server.base_url`` is where it listens."""

    def __init__(self, options: Sequence[str] = ()) -> None:
        self._argv = [sys.executable, "-m", "bench.stand_in", *options]
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> ServerProcess:
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()  # the child prints one line once it listens (or dies: empty)
        if not line.startswith(READY_PREFIX):
            self.__exit__()
            raise RuntimeError(f"the AsyncFlow stand-in did not start: {line!r}")
        self.base_url = line[len(READY_PREFIX) :].strip()
        return self

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread) the stand-in has used so far, from ``/proc``."""
        if self._proc is None:
            return 0.0
        with open(f"/proc/{self._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def __exit__(self, *_exc: object) -> None:
        proc = self._proc
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stand_in", description=__doc__.splitlines()[0])
    parser.add_argument("--realtime-factor", type=float, default=None)
    parser.add_argument("--first-byte-delay", type=float, default=0.0)
    parser.add_argument("--ms-per-char", type=float, default=50.0)
    parser.add_argument("--chunk-bytes", type=int, default=4096, help="size of each body chunk the stand-in sends")
    parser.add_argument("--stalls", type=int, default=0, help="how many speech responses stall once")
    parser.add_argument("--stall-after-bytes", type=int, default=0)
    parser.add_argument("--stall-seconds", type=float, default=0.0)
    parser.add_argument("--nice", type=int, default=0, help="lower the stand-in's CPU priority by this much")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    asyncio.run(
        serve(
            realtime_factor=args.realtime_factor,
            first_byte_delay=args.first_byte_delay,
            ms_per_char=args.ms_per_char,
            chunk_bytes=args.chunk_bytes,
            stalls=Stalls(args.stalls, args.stall_after_bytes, args.stall_seconds),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
