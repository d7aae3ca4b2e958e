"""Module-level functions for tests: picklable by reference in worker processes."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def double(x: int) -> int:
    return x * 2


def add(a: int, b: int) -> int:
    return a + b


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


class Boom(ValueError):
    """A user exception type that must arrive with its own type."""


def fail_on_3(x: int) -> int:
    if x == 3:
        raise Boom(f"item {x} is bad")
    return x


async def afail_on_3(x: int) -> int:
    await asyncio.sleep(0)
    return fail_on_3(x)


def fail_once(arg: tuple[int, str]) -> int:
    """Fails the first time it sees an item, succeeds the next (state in a file, so it works across processes)."""
    x, folder = arg
    marker = Path(folder) / f"seen-{x}"
    if not marker.exists():
        marker.touch()
        raise Boom(f"first attempt at {x}")
    return x


def getpid(_: object) -> int:
    return os.getpid()


def slow_identity(x: int) -> int:
    time.sleep(0.01)
    return x


def record_and_sleep(arg: tuple[int, str]) -> int:
    x, path = arg
    with open(path, "a") as f:
        f.write(f"{x}\n")
    time.sleep(0.02)
    return x


# -- shared= : count how often a worker unpickles (and frees) the shared object ----------

_UNPICKLED: dict[str, int] = {}
_FREED: dict[str, int] = {}


class CountedTable:
    """A read-only table that counts, per token, its unpickles and deaths in this process."""

    def __init__(self, token: str, data: bytes) -> None:
        self.token, self.data = token, data

    def __reduce__(self) -> tuple[object, tuple[str, bytes]]:
        return _rebuild_counted, (self.token, self.data)

    def __del__(self) -> None:
        _FREED[self.token] = _FREED.get(self.token, 0) + 1


def _rebuild_counted(token: str, data: bytes) -> CountedTable:
    _UNPICKLED[token] = _UNPICKLED.get(token, 0) + 1
    return CountedTable(token, data)


def unpickles_here(table: CountedTable, _item: object) -> tuple[int, int, int]:
    """(pid, how many times this process unpickled the table, its size)."""
    return os.getpid(), _UNPICKLED.get(table.token, 0), len(table.data)


def unpickles_of(pair: tuple[CountedTable, object]) -> tuple[int, int]:
    """The same, for a table passed with every item (the contrast to shared=)."""
    return os.getpid(), _UNPICKLED.get(pair[0].token, 0)


def freed_here(token: str) -> tuple[int, int]:
    """(pid, how many tables of this token died in this process)."""
    return os.getpid(), _FREED.get(token, 0)


def lookup(table: dict[int, int], key: int) -> int:
    return table[key]


async def alookup(table: dict[int, int], key: int) -> int:
    await asyncio.sleep(0)
    return table[key]


def sleeps_of(thread: threading.Thread) -> int:
    """How many times ``thread`` has gone to sleep so far (Linux: its voluntary context switches)."""
    with open(f"/proc/self/task/{thread.native_id}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches in /proc")


class Recorder:
    """Wraps ``work``: notes every item it is called with and the most calls in progress at once.

    Thread-safe; subclasses note more in :meth:`on_start` / :meth:`on_end` (called under the lock).
    """

    def __init__(self, work: Any) -> None:
        self.work = work
        self.lock = threading.Lock()
        self.calls: list[Any] = []
        self.running = 0
        self.peak = 0

    def __call__(self, x: Any) -> Any:
        with self.lock:
            self.calls.append(x)
            self.on_start(x)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return self.work(x)
        finally:
            with self.lock:
                self.running -= 1
                self.on_end(x)

    def on_start(self, x: Any) -> None:
        pass

    def on_end(self, x: Any) -> None:
        pass


class CountedInput:
    """An endless input that counts what was read and what the consumer took (read-ahead, C5).

    It ends once it is ``hard_stop`` items ahead of the consumer: the bound is broken already,
    and ending the input keeps a failing test from exhausting the machine's memory.
    """

    def __init__(self, hard_stop: int) -> None:
        self.hard_stop = hard_stop
        self.read = 0
        self.consumed = 0
        self.most_ahead = 0

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count():
            if self.read - self.consumed > self.hard_stop:
                return
            self.read += 1
            yield i

    def took_one(self) -> None:
        self.consumed += 1
        self.most_ahead = max(self.most_ahead, self.read - self.consumed)


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not): read from /proc, so any pid, not only children."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_group(proc: subprocess.Popen[Any], seconds: float = 15) -> None:
    """End a child started in its own process group (a scheduler, a worker, a Ray head) and what it started."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(seconds)
