"""amap/aimap leave the caller's event loop free (contract C7), in every mode, auto included.

A monitor task on the caller's loop sleeps 5 ms at a time and records the
longest gap between its ticks while the run goes on.  Items sleep or compute
300 ms each (plain functions and coroutines); a run whose coroutines computed
on the caller's loop would stall it for at least that long per item.

The one exception is by design: in ``mode="async"`` the caller's coroutines run
on the caller's own loop (they may use its resources), so a coroutine's own
synchronous stretch stalls it: that time is the coroutine's, not gearshift's.
``mode="auto"`` cannot know beforehand whether a coroutine computes, so it
never runs coroutines on the caller's loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import gearshift
import timed_work

# Grids over gearshift's own semantics, not over its dependencies' APIs: run once, on the newest
# versions (.ci/run's lowest-versions step leaves slow tests out to stay within CI's 15 minutes).
pytestmark = pytest.mark.slow

#: the contract says 50 ms; the rest is room for a loaded 2-core machine.  A stretch of
#: computation on the caller's loop stalls it for ITEM_SECONDS per item, and several
#: items start together, so a run that did so stalls it for far longer than this.
MAX_LAG = 0.5
ITEM_SECONDS = 0.3
ITEMS = 4

FUNCTIONS: dict[str, Callable[[float], Any]] = {
    "plain-sleep": timed_work.nap,
    "plain-compute": timed_work.spin,
    "async-sleep": timed_work.anap,
    "async-compute": timed_work.aspin,
}


async def _longest_stall(run: Callable[[], Awaitable[list[Any]]]) -> tuple[float, list[Any]]:
    """Run ``run()`` on this loop while a 5 ms ticker watches it; (the longest gap between ticks, results)."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)  # ticking before the run starts
    try:
        results = await run()
    finally:
        done.set()
        await task
    return max(gaps), results


def _cases() -> list[Any]:
    cases = []
    for mode in ("sync", "async", "thread", "process", "auto"):
        for fn in FUNCTIONS:
            marks = []
            if mode == "async" and fn == "async-compute":
                marks.append(
                    pytest.mark.skip(reason="in async mode the coroutine's own computing is on the caller's loop")
                )
            cases.append(pytest.param(mode, fn, marks=marks, id=f"{mode}-{fn}"))
    return cases


@pytest.mark.timeout(60)
@pytest.mark.parametrize("api", ["amap", "aimap"])
@pytest.mark.parametrize(("mode", "fn"), _cases())
def test_the_callers_loop_is_never_stalled(mode: str, fn: str, api: str) -> None:
    function = FUNCTIONS[fn]
    items = [ITEM_SECONDS] * ITEMS

    async def run() -> list[Any]:
        if api == "amap":
            return await gearshift.amap(function, items, mode=mode, workers=ITEMS)
        return [r async for r in gearshift.aimap(function, items, mode=mode, workers=ITEMS)]

    stall, results = asyncio.run(_longest_stall(run))
    assert results == items
    assert stall < MAX_LAG, f"the caller's loop stalled {stall:.3f} s"


@pytest.mark.timeout(60)
def test_auto_runs_coroutines_off_the_callers_loop() -> None:
    async def main() -> tuple[int, list[int]]:
        return id(asyncio.get_running_loop()), await gearshift.amap(timed_work.which_loop, range(20), mode="auto")

    caller, loops = asyncio.run(main())
    assert caller not in loops


@pytest.mark.timeout(60)
def test_async_mode_runs_coroutines_on_the_callers_loop() -> None:
    """By design (and documented): they may use the caller's loop's resources."""

    async def main() -> tuple[int, list[int]]:
        return id(asyncio.get_running_loop()), await gearshift.amap(timed_work.which_loop, range(20), mode="async")

    caller, loops = asyncio.run(main())
    assert set(loops) == {caller}
