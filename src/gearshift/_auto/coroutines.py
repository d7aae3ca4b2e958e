"""Coroutine functions: how long one ``async def`` call keeps its event loop from running anything else.

Each item is awaited alone on a fresh loop next to a heartbeat task; the
heartbeat's lateness is the time the coroutine blocked its loop
(:attr:`~gearshift.Profile.loop_blocked`).  A coroutine that computes more
than it awaits (see :func:`~.costs.work_kind`) is better run as processes,
each with its own event loop: under ``mode="auto"`` a :class:`LoopWatch` sees
that on the plan's private loop, and the run re-plans (see :mod:`.run`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .._profile import Profile
from .._task import CALL_ONE, _call
from .clocks import cpu_clock, gil_enabled, runqueue_seconds, voluntary_switches
from .costs import work_kind
from .sampler import Sampler

__all__ = ["LoopWatch", "loop_computes", "measure_async"]


async def _blocking_of(coro: Any, tick: float = 0.001) -> tuple[Any, float]:
    """Await ``coro`` next to a heartbeat; return its outcome and how long it kept the loop busy.

    The heartbeat sleeps ``tick`` at a time; when it wakes over a millisecond late
    the loop was held that long, less the time the thread waited for a CPU on a
    busy machine.  If the thread slept meanwhile (the loop idled in its selector)
    it counts at most the CPU the thread used: a virtual machine's host taking
    the CPU away makes an idle loop's beat late too.  If it never slept, the loop
    was held all along, also while the host had the CPU.  Blocking in steps
    shorter than a millisecond goes unseen.
    """
    import asyncio  # here, not at module level: `import gearshift` must not load asyncio

    late = 0.0
    done = False

    async def heartbeat() -> None:
        nonlocal late
        while not done:
            q0, s0, t0, c0 = runqueue_seconds(), voluntary_switches(), time.perf_counter(), time.thread_time()
            await asyncio.sleep(tick)
            lateness = time.perf_counter() - t0 - tick
            q1, s1 = runqueue_seconds(), voluntary_switches()
            if q0 is not None and q1 is not None:
                lateness -= q1 - q0  # waiting for a CPU is the machine's doing, not the coroutine's
            if s0 is None or s1 != s0:
                lateness = min(lateness, time.thread_time() - c0)
            if lateness > 0.001:  # below that it is timer slack, not a blocked loop
                late += lateness

    beat = asyncio.ensure_future(heartbeat())
    await asyncio.sleep(0)  # let the heartbeat start before the coroutine can block
    try:
        result: Any = await coro
    except Exception as exc:
        result = exc
    finally:
        done = True
        await beat
    return result, late


def measure_async(fn: Callable[..., Any], items: Iterable[Any], sampler: Sampler, limit: int, budget: float) -> None:
    """Run coroutine items one at a time with a heartbeat: wall, CPU and loop blocking per item."""
    import asyncio

    blocked: list[float] = []
    walls: list[float] = []
    with asyncio.Runner() as runner:
        for item in items:
            sampler.baseline()  # for every item: the loop in between is not the item's
            t0, c0 = time.perf_counter(), time.thread_time()
            outcome, item_blocked = runner.run(_blocking_of(_call(fn, CALL_ONE, item)))
            elapsed = time.perf_counter() - t0
            sampler.observe(1, elapsed, time.thread_time() - c0)
            sampler.failures += isinstance(outcome, Exception)
            blocked.append(item_blocked)
            walls.append(sampler.wall[-1])  # without the time spent waiting for a CPU, like `blocked`
            if len(sampler.wall) >= limit or sampler.spent >= budget:
                break
    # The first item is left out when there are others, as in the per-item figures: its
    # warm-up (imports, first connections) blocks the loop once, not for every item.
    if len(walls) > 1:
        blocked, walls = blocked[1:], walls[1:]
    if sum(walls) > 0:
        sampler.loop_blocked = min(1.0, sum(blocked) / sum(walls))


#: an async plan is judged once it has run this long...
LOOP_WATCH_SECONDS = 0.2
#: ...and this many items have completed; it is judged again at most every LOOP_WATCH_SECONDS / 2,
#: and after LOOP_WATCH_JUDGEMENTS judgements that it awaits, no more
LOOP_WATCH_ITEMS = 8
LOOP_WATCH_JUDGEMENTS = 8


def loop_computes(cpu: float, queued: float, wall: float) -> bool:
    """Whether a loop thread that used ``cpu`` seconds of a CPU (and waited ``queued`` for one) in
    ``wall`` seconds was kept busy computing, by the one definition (:func:`~.costs.work_kind`):
    then its coroutines compute, and one loop runs them one at a time."""
    return work_kind(cpu + queued, wall) == "computing"


class LoopWatch:
    """Wraps an ``async def`` run by an auto plan on its private loop: does that loop compute?

    The coroutines are created on the loop's thread, so the first call finds
    that thread; from then on its CPU clock (read from any thread) and its
    run-queue time say whether the loop was busy computing (the coroutines
    block it) or idle in its selector (they await).  :meth:`verdict` is read
    by the run's observer after each chunk.
    """

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.completed = 0
        self._clock: int | None = None
        self._native = 0
        self._t0 = self._cpu0 = 0.0
        self._queued0: float | None = None
        self._next = 0.0  # the next judgement, on the perf_counter clock
        self._judged = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._clock is None:
            clock = cpu_clock(threading.get_ident())
            if clock is not None:
                self._native = threading.get_native_id()
                self._t0, self._cpu0 = time.perf_counter(), time.clock_gettime(clock)
                self._queued0 = runqueue_seconds()
                self._clock = clock
        return self.fn(*args, **kwargs)

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        self.completed += items

    def reading(self) -> tuple[float, float, float] | None:
        """(CPU seconds, seconds queued for a CPU, wall seconds) of the loop thread so far, or None."""
        if self._clock is None:
            return None
        try:
            cpu = time.clock_gettime(self._clock) - self._cpu0
        except OSError:  # the loop thread ended
            return None
        wall = time.perf_counter() - self._t0
        if work_kind(cpu, wall) == "computing":
            return cpu, 0.0, wall  # (the run queue, a file read, only when the CPU alone does not say)
        queued = runqueue_seconds(self._native)
        waited = queued - self._queued0 if queued is not None and self._queued0 is not None else 0.0
        return cpu, max(0.0, waited), wall

    def verdict(self) -> Profile | None:
        """Once enough ran: a profile of coroutines that block their loop (None while too early, or if they await)."""
        if self.completed < LOOP_WATCH_ITEMS or self._clock is None:
            return None
        now = time.perf_counter()
        if now < self._next or self._judged >= LOOP_WATCH_JUDGEMENTS:
            return None
        self._next = now + LOOP_WATCH_SECONDS / 2
        reading = self.reading()
        if reading is None or reading[2] < LOOP_WATCH_SECONDS:
            return None
        cpu, queued, wall = reading
        self._judged += 1
        if not loop_computes(cpu, queued, wall):
            return None
        per_item = cpu / self.completed
        share = min(1.0, (cpu + queued) / wall)
        return Profile(
            is_async=True,
            wall=(per_item / share,) * 2,
            cpu=(per_item,) * 2,
            items=self.completed,
            loop_blocked=share,
            preempted=queued,
            gil_enabled=gil_enabled(),
        )
