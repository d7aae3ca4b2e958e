"""Per-item timeouts for work that runs on threads of this process.

A thread cannot be stopped from outside, so in ``sync``, ``thread`` and (for
plain functions) ``async`` mode a late item is *abandoned*: its chunk's future
resolves at once with the outcomes that finished plus a
:class:`~gearshift.TaskTimeout` for the late item, whatever the thread returns
later is discarded, and a fresh thread takes the abandoned one's place so the
pool keeps its capacity (``_threads.py``).  The abandoned thread is a daemon:
it ends when its item returns and never holds up interpreter exit.

One watchdog thread per process watches every chunk with a deadline.  Items
report their start and end (``run_chunk_each``), which costs a lock and a
clock read per item; this path is used only when ``timeout=`` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from . import _sigmask
from ._task import ChunkResult, Raised, Task, timeout_error
from ._task_run import run_chunk_each

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any


class _Abandoned(BaseException):
    """Unwinds a chunk whose late item was given up on (never seen by callers)."""


class _Watch:
    """One chunk running under a per-item deadline."""

    __slots__ = (
        "abandoned",
        "deadline",
        "done",
        "future",
        "item",
        "lock",
        "on_abandon",
        "outcomes",
        "t0",
        "task",
        "thread",
    )

    def __init__(self, task: Task, future: Future[Any], on_abandon: Callable[[threading.Thread], None]) -> None:
        self.task, self.future, self.on_abandon = task, future, on_abandon
        self.outcomes: list[Any] = []
        self.lock = threading.Lock()
        self.item = 0
        self.deadline = time.monotonic() + task.timeout  # type: ignore[operator]
        self.done = False
        self.abandoned = False
        self.thread = threading.current_thread()
        self.t0 = time.perf_counter()

    def report(self, k: int, outcome: Any) -> None:
        with self.lock:
            if self.done:
                raise _Abandoned
            if outcome is not None:
                self.outcomes.append(outcome)
                k += 1  # the next item starts now (deadlines only ever move later)
            self.item = k
            self.deadline = time.monotonic() + self.task.timeout  # type: ignore[operator]

    def claim(self) -> bool:
        """Take the right to resolve the future (False: the watchdog took it already)."""
        with self.lock:
            if self.done:
                return False
            self.done = True
            return True

    def finish(self, result: ChunkResult) -> None:
        if not self.claim():
            return
        result.outcomes = self.outcomes
        self.future.set_result(result)

    def expire(self, now: float) -> bool:
        """Give up on the late item if its deadline passed; True if this chunk was abandoned."""
        with self.lock:
            if self.done or now < self.deadline or self.item >= len(self.task.items):
                return False
            self.done = self.abandoned = True
        timeout = self.task.timeout
        assert timeout is not None
        error = timeout_error(self.task.start + self.item, timeout, "was abandoned (a thread cannot be stopped)")
        outcomes = [*self.outcomes, Raised(error)]
        self.future.set_result(ChunkResult(outcomes, time.perf_counter() - self.t0, 0.0, 1 + _failures(self.outcomes)))
        return True


def _failures(outcomes: list[Any]) -> int:
    return sum(1 for o in outcomes if type(o) is Raised)


class _Watchdog:
    """The one thread per process that expires late chunks."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._watches: set[_Watch] = set()
        self._thread: threading.Thread | None = None

    def add(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=_sigmask.service(self._run), name="gearshift-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def remove(self, watch: _Watch) -> None:
        with self._cond:
            self._watches.discard(watch)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                expired = [w for w in self._watches if w.deadline <= now]
                for watch in expired:
                    self._watches.discard(watch)
                    if watch.expire(now):
                        watch.on_abandon(watch.thread)
                # Deadlines only move later while a chunk runs, so waking early is harmless.
                # With nothing to watch it sleeps until add(): a thread that wakes for nothing
                # takes the GIL from whatever computes, and auto's measuring sees that as waiting.
                soonest = min((w.deadline for w in self._watches), default=float("inf"))
                wait = None if soonest == float("inf") else max(0.001, min(soonest - now, 1.0))
                self._cond.wait(wait)


_watchdog = _Watchdog()


def watch_chunk(task: Task, future: Future[Any], on_abandon: Callable[[threading.Thread], None]) -> bool:
    """Run ``task`` here, item by item, under its per-item timeout; resolve ``future``.

    Returns False when the chunk was abandoned: this thread was given up on
    (``on_abandon`` was called with it, to start a replacement) and should end.
    """
    watch = _Watch(task, future, on_abandon)
    _watchdog.add(watch)
    try:
        watch.finish(run_chunk_each(task, watch.report))
    except _Abandoned:
        return False
    except BaseException as exc:  # a bug here must not hang the run
        if watch.claim():
            future.set_exception(exc)
    finally:
        _watchdog.remove(watch)
    return not watch.abandoned
