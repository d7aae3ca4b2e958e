"""Coroutine functions: how long one ``async def`` call keeps its event loop from running anything else.

Each item is awaited alone on a fresh loop next to a heartbeat task; the
heartbeat's lateness is the time the coroutine blocked its loop
(:attr:`~gearshift.Profile.loop_blocked`).  A coroutine that computes more
than it awaits (see :func:`~.costs.work_kind`) is better run as processes,
each with its own event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from .._task import CALL_ONE, _call
from .clocks import runqueue_seconds, voluntary_switches
from .sampler import Sampler

__all__ = ["measure_async"]


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
