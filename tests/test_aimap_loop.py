"""Which event loop runs the caller's coroutines, for contract C7.

The lag of the caller's loop itself, in every mode and entry point, is measured by
``tests/test_semantics_bounds.py::test_c7_loop_lag``.  The one exception is by design: in
``mode="async"`` the caller's coroutines run on the caller's own loop (they may use its
resources), so a coroutine's own synchronous stretch stalls it: that time is the coroutine's, not gearshift's.
``mode="auto"`` cannot know beforehand whether a coroutine computes, so it
never runs coroutines on the caller's loop.
"""

from __future__ import annotations

import asyncio

import pytest

import gearshift
import timed_work


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
