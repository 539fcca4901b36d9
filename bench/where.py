"""Where the CPU goes: CPU time per kind of thread, and a sampling profile, without py-spy.

* :class:`ThreadCpu` sums CPU time by the thread's role (its name without the per-instance suffix:
  ``audio-player``, ``asyncflow-opus``, the event loop's ``MainThread``, ...): threads still alive at the end
  from ``/proc/self/task/<tid>/stat``, threads that end before it from ``time.thread_time()`` as they end.
* :class:`Sampler` is a thread that wakes every ``interval`` and notes, for each other thread, the innermost
  frame of its Python stack that is in one of ``ours`` (a few path fragments) and the innermost frame of
  all; counted per role, it says where each kind of thread spends its wall time (running or waiting).
"""

from __future__ import annotations

import collections
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from types import FrameType

_SUFFIX = re.compile(r"[:_-](0x[0-9a-f]+|\d+)(_\d+)?$")
_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy (all processes), from ``/proc/stat``."""
    with open("/proc/stat") as stat:
        ticks = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / _TICK


def role(name: str) -> str:
    """``audio-player:0x7f..`` -> ``audio-player``; ``asyncflow-opus_3`` -> ``asyncflow-opus``."""
    return _SUFFIX.sub("", name)


def _thread_cpu_s(native_id: int) -> float | None:
    try:
        with open(f"/proc/self/task/{native_id}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


class ThreadCpu:
    """``cpu = ThreadCpu(); ...; cpu.stop()``: CPU seconds per role over the interval.

    Threads alive at :meth:`stop` are read from ``/proc`` then (reading every thread takes ~50 us each and holds
    the GIL, so it is not done during a run). A thread that ends before calls :func:`thread_ending` as it ends
    (discord.py's player threads do, in their ``after`` callback: see ``bench/designs.py``)."""

    current: ThreadCpu | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start: dict[int, float] = {}
        self._ended: dict[int, tuple[str, float]] = {}
        for thread in threading.enumerate():
            cpu = _thread_cpu_s(thread.native_id) if thread.native_id is not None else None
            if thread.native_id is not None and cpu is not None:
                self._start[thread.native_id] = cpu
        ThreadCpu.current = self

    def ended(self, name: str, native_id: int, cpu_s: float) -> None:
        with self._lock:
            self._ended.setdefault(native_id, (role(name), cpu_s))

    def stop(self) -> dict[str, float]:
        ThreadCpu.current = None
        by_role: collections.defaultdict[str, float] = collections.defaultdict(float)
        with self._lock:
            for native, (name, ended_cpu) in self._ended.items():
                by_role[name] += ended_cpu - self._start.get(native, 0.0)
            for thread in threading.enumerate():
                tid = thread.native_id
                cpu = _thread_cpu_s(tid) if tid is not None and tid not in self._ended else None
                if tid is not None and cpu is not None:
                    by_role[role(thread.name)] += cpu - self._start.get(tid, 0.0)  # started since: all of it
        return dict(by_role)


def thread_ending() -> None:
    """Report the calling thread's CPU to the :class:`ThreadCpu` measuring now, if any (call it as it ends)."""
    measuring = ThreadCpu.current
    native = threading.get_native_id()
    if measuring is not None:
        measuring.ended(threading.current_thread().name, native, time.thread_time())


class Sampler(threading.Thread):
    """Samples every thread's stack every ``interval`` seconds; :meth:`top` lists the commonest places."""

    def __init__(self, ours: Iterable[str] = ("/cogs/", "/bench/"), interval: float = 0.002) -> None:
        super().__init__(daemon=True, name="bench-sampler")
        self._ours = tuple(ours)
        self._interval = interval
        self._done = threading.Event()
        self.samples: collections.Counter[tuple[str, str, str]] = collections.Counter()
        """(role, innermost frame of ours, innermost frame) -> samples."""
        self.per_role: collections.Counter[str] = collections.Counter()

    def run(self) -> None:
        me = threading.get_ident()
        while not self._done.wait(self._interval):
            names = {thread.ident: role(thread.name) for thread in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                name = names.get(ident, "?")
                self.samples[(name, self._place(frame, ours=True), self._place(frame, ours=False))] += 1
                self.per_role[name] += 1

    def _place(self, frame: FrameType | None, *, ours: bool) -> str:
        while frame is not None:
            path = frame.f_code.co_filename
            if not ours or any(part in path for part in self._ours):
                return f"{'/'.join(path.rsplit('/', 2)[-2:])}:{frame.f_code.co_name}"
            frame = frame.f_back
        return "-"

    def stop(self) -> None:
        self._done.set()
        self.join(5)

    def top(self, count: int = 12) -> list[str]:
        """The commonest (role, our frame, innermost frame), as share of that role's samples."""
        lines = []
        for (name, mine, leaf), hits in self.samples.most_common(count):
            lines.append(f"{100 * hits / self.per_role[name]:5.1f}% of {name:16} {mine:45} in {leaf}")
        return lines


def cpu_table(by_role: dict[str, float], audio_s: float, wall_s: float) -> list[str]:
    """CPU per role as ms per second of audio, and as cores."""
    return [
        f"{name:24} {1000 * cpu / audio_s:8.2f} ms/s of audio  {cpu / wall_s:5.2f} cores"
        for name, cpu in sorted(by_role.items(), key=lambda item: -item[1])
        if cpu > 0
    ]
