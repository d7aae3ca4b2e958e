"""CPU-bound coroutines under ``mode="auto"`` (issue 21 item 6): the loop watch and its window.

An ``async def`` run by auto starts on a private loop with at most ``WATCH_WINDOW`` coroutines in
flight; a :class:`~gearshift._auto.coroutines.LoopWatch` judges within about 50 ms whether that
loop computes (then the run re-plans to processes, each with its own event loop) or awaits (then
the concurrency limiter takes the window).  The judgements are tested here on made-up readings
(an injected clock); the live loop lag of the caller's loop is proved by
``tests/test_semantics_bounds.py::test_c7_loop_lag``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import gearshift
from gearshift._auto.coroutines import LOOP_WATCH_SECONDS, WATCH_WINDOW, LoopWatch


class Clock:
    """A clock that moves only when told (or by ``tick`` at every reading)."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


async def _nothing(x: int) -> int:
    return x


def _watch(clock: Clock) -> LoopWatch:
    watch = LoopWatch(_nothing, clock, cpu=clock)
    watch(0).close()  # the first call starts the watch (off a loop: nothing to hook, steps are counted)
    assert watch.idle is None
    return watch


def _ran(watch: LoopWatch, clock: Clock, seconds: float, *, busy: bool) -> None:
    """One coroutine started and completed after ``seconds``: in one step (busy) or waiting (one short step)."""
    watch.begin()
    clock.now += seconds
    step = seconds if busy else 1e-4
    watch.step(step, step)
    watch.done(step, step)


def test_a_loop_whose_coroutines_compute_is_judged_within_the_watch_window() -> None:
    clock = Clock()
    watch = _watch(clock)
    _ran(watch, clock, 0.02, busy=True)  # the first one (its warm-up): the judgements count from here
    assert watch.verdict() is None
    _ran(watch, clock, 0.02, busy=True)
    assert watch.verdict() is None  # 20 ms after the first: too early to judge
    for _ in range(2):
        _ran(watch, clock, 0.02, busy=True)
    profile = watch.verdict()
    assert profile is not None and profile.is_async and not watch.awaits
    assert profile.loop_blocked == pytest.approx(1.0)
    assert profile.median_cpu == pytest.approx(0.02)  # per coroutine, the first one left out
    assert watch.judged == 1


def test_a_loop_whose_coroutines_await_hands_the_window_on_at_once() -> None:
    clock = Clock()
    watch = _watch(clock)
    _ran(watch, clock, 0.03, busy=False)
    assert watch.verdict() is None and not watch.awaits  # 30 ms: too early to say
    _ran(watch, clock, 0.03, busy=False)
    assert watch.verdict() is None and watch.awaits  # plainly waiting from the first call on
    assert watch.judged == 0  # (no judgement spent: the loop is still watched for computing)


def test_the_run_is_told_once_when_the_loop_awaits() -> None:
    clock = Clock()
    watch = _watch(clock)
    told: list[bool] = []
    watch.on_awaits = lambda: told.append(True)
    for _ in range(5):
        _ran(watch, clock, 0.03, busy=False)
        watch.verdict()
    assert told == [True]


def test_a_first_coroutine_that_warms_up_is_not_taken_for_computing() -> None:
    clock = Clock()
    watch = _watch(clock)
    _ran(watch, clock, 0.3, busy=True)  # imports, a first connection: once
    for _ in range(10):
        _ran(watch, clock, 0.01, busy=False)
        assert watch.verdict() is None
    assert watch.awaits and watch.judged >= 1


def test_a_loop_seen_awaiting_is_left_alone() -> None:
    """With hundreds in flight, a loop busy scheduling coroutines that wait would look like one
    that computes: once seen awaiting (at 4 in flight), it is not judged again."""
    clock = Clock()
    watch = _watch(clock)
    _ran(watch, clock, 0.01, busy=False)
    for _ in range(3):
        _ran(watch, clock, LOOP_WATCH_SECONDS, busy=False)
        assert watch.verdict() is None
    assert watch.awaits and watch.judged <= 1
    for _ in range(10):
        _ran(watch, clock, LOOP_WATCH_SECONDS, busy=True)
        assert watch.verdict() is None


def test_the_waits_in_the_selector_are_what_counts_when_hooked() -> None:
    """A loop that never waits in its selector is busy, even if its coroutines' steps are a bit
    less than all of the time: it may wait for the GIL between them (another thread computing)."""
    clock = Clock()
    watch = _watch(clock)
    watch.idle = 0.0  # (as if hooked)
    for _ in range(5):
        watch.begin()
        clock.now += 0.02
        watch.step(0.012, 0.012)  # 60 %: under the 70 % that says computing
        watch.done(0.012, 0.012)
    assert watch.verdict() is not None
    waiting = _watch(clock)
    waiting.idle = 0.0
    for _ in range(5):
        _ran(waiting, clock, 0.02, busy=True)  # long steps...
        waiting.idle += 0.019  # ...yet the loop waited in its selector most of the time
    assert waiting.verdict() is None and waiting.awaits


def test_a_loop_busy_scheduling_coroutines_that_await_is_not_computing() -> None:
    """A thousand coroutines that nap keep a loop busy (out of its selector) with scheduling, not
    with their own steps: processes would not speed that up (it was re-planned to sync once).
    Their steps' wall time may be long (waits for the GIL): their CPU says what they cost."""
    clock = Clock()
    watch = _watch(clock)
    watch.idle, watch.loop_cpu = 0.0, 0.0  # (as if hooked: never in the selector)
    for _ in range(10):
        watch.begin()
        clock.now += 0.02
        watch.step(0.02, 1e-4)  # a long step on the wall clock, 0.1 ms of CPU
        watch.done(0.02, 1e-4)
        watch.loop_cpu += 0.019  # the loop's thread computed all along (scheduling)
    assert watch.verdict() is None and watch.awaits
    assert watch.judged == 1
    computing = _watch(clock)
    computing.idle, computing.loop_cpu = 0.0, 0.0
    for _ in range(10):
        computing.begin()
        clock.now += 0.02
        computing.step(0.02, 0.006)  # a third of a CPU: a crowded machine...
        computing.done(0.02, 0.006)
        computing.loop_cpu += 0.007  # ...but the steps are most of what the loop's thread did
    profile = computing.verdict()
    assert profile is not None and profile.median_cpu == pytest.approx(0.006)


def test_coroutines_that_wait_are_not_computing_on_a_loop_kept_from_the_gil() -> None:
    """Other threads holding the GIL keep a loop out of its selector, and its steps are most of
    its CPU: the coroutines' own waits (suspended while the loop waited in its selector) still say
    that they await (they were re-planned to sync once, then napped one at a time)."""
    clock = Clock()
    watch = _watch(clock)
    watch.idle, watch.loop_cpu = 0.0, 0.0
    for _ in range(10):
        watch.begin()
        clock.now += 0.02
        watch.idle += 0.002  # in the selector 10 % of the time...
        watch.step(5e-4, 5e-4)
        watch.done(5e-4, 5e-4, waits=0.002)  # ...and each coroutine waited all of it
        watch.loop_cpu += 6e-4
    assert watch.verdict() is None and watch.awaits


def test_time_with_no_coroutine_in_flight_is_left_out() -> None:
    """A loop waiting for the run to send more (slow on a crowded machine) says nothing about the
    coroutines: a loop that computes whenever it has coroutines is judged computing."""
    clock = Clock()
    watch = _watch(clock)
    for _ in range(6):
        _ran(watch, clock, 0.02, busy=True)
        clock.now += 0.05  # nothing in flight: the next one is late
    assert watch.verdict() is not None
    assert watch.starved == pytest.approx(0.25)  # (the last gap is still open)


def test_the_watch_drives_coroutines_as_await_does() -> None:
    clock = Clock(tick=1.0)  # every reading one second on: each step counts 1

    async def three_awaits(x: int) -> int:
        for _ in range(3):
            await asyncio.sleep(0)
        return x * 2

    async def fails(x: int) -> int:
        await asyncio.sleep(0)
        raise ValueError(f"bad {x}")

    async def main() -> tuple[int, BaseException | None, bool]:
        watch = LoopWatch(three_awaits, clock)
        value = await watch(21)
        assert watch.completed == 1 and watch.busy == watch.done_busy == 4  # 3 awaits: 4 steps
        failing = LoopWatch(fails, clock)
        error = None
        try:
            await failing(1)
        except ValueError as exc:
            error = exc
        assert failing.completed == 1
        watch.close()
        failing.close()
        return value, error, True

    value, error, _ = asyncio.run(main())
    assert value == 42 and str(error) == "bad 1"


def test_a_cancelled_coroutine_sees_its_cancellation() -> None:
    seen: list[str] = []

    async def slow(x: int) -> int:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return x

    async def main() -> None:
        watch = LoopWatch(slow)
        task = asyncio.ensure_future(watch(1))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        watch.close()

    asyncio.run(main())
    assert seen == ["cancelled"]


def test_the_selector_hook_times_waits_and_is_removed() -> None:
    async def nap(x: int) -> int:
        await asyncio.sleep(0.02)
        return x

    async def main() -> None:
        selector = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
        watch = LoopWatch(nap)
        assert await watch(1) == 1
        assert watch.idle is not None and watch.idle > 0  # it waited in the selector
        assert "select" in vars(selector)
        again = LoopWatch(nap)
        await again(2)
        assert again.idle is None  # watched already: the second counts steps
        watch.close()
        assert "select" not in vars(selector)  # the loop's own method again
        third = LoopWatch(nap)
        await third(3)
        assert third.idle is not None
        third.close()

    asyncio.run(main())


@pytest.fixture
def running_peak() -> dict[str, int]:
    return {"now": 0, "peak": 0}


def _napping(counts: dict[str, int]) -> Any:
    async def nap(x: int) -> int:
        counts["now"] += 1
        counts["peak"] = max(counts["peak"], counts["now"])
        await asyncio.sleep(0.005)
        counts["now"] -= 1
        return x

    return nap


@pytest.mark.timeout(60)
def test_until_judged_few_coroutines_run_on_the_private_loop(
    monkeypatch: pytest.MonkeyPatch, running_peak: dict[str, int]
) -> None:
    monkeypatch.setattr(LoopWatch, "verdict", lambda self: None)  # never judged...
    monkeypatch.setattr(LoopWatch, "_check_awaits", lambda self: None)  # ...not even on its own clock
    assert gearshift.map(_napping(running_peak), range(60), mode="auto") == list(range(60))
    assert running_peak["peak"] == WATCH_WINDOW


@pytest.mark.timeout(60)
def test_once_the_loop_awaits_the_limiter_has_the_window(
    monkeypatch: pytest.MonkeyPatch, running_peak: dict[str, int]
) -> None:
    def awaits(self: LoopWatch) -> None:
        self._awaiting()

    monkeypatch.setattr(LoopWatch, "verdict", awaits)
    with gearshift.reporting() as reports:
        assert gearshift.map(_napping(running_peak), range(600), mode="auto") == list(range(600))
    assert running_peak["peak"] > 10 * WATCH_WINDOW, running_peak
    assert reports[0].by_mode() == {"async": 600}


@pytest.mark.timeout(60)
def test_amap_makes_its_run_off_the_callers_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run imports the runner (auto, its package) and may start pools: never on the caller's loop (C7)."""
    import gearshift._call as api

    made_on: list[int] = []
    real = api._Run

    class Run(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made_on.append(threading.get_ident())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(api, "_Run", Run)

    async def main() -> int:
        with gearshift.reporting() as reports:
            assert await gearshift.amap(_nothing, range(5), mode="auto") == list(range(5))
            assert [x async for x in gearshift.aimap(_nothing, range(3), mode="sync")] == [0, 1, 2]
        assert len(reports) == 1  # the helper thread runs in the caller's context
        return threading.get_ident()

    caller = asyncio.run(main())
    assert len(made_on) == 2 and caller not in made_on


@pytest.mark.timeout(60)
def test_aimap_closed_at_once_ends_cleanly() -> None:
    async def main() -> list[int]:
        results = gearshift.aimap(_nothing, range(10_000), mode="auto")
        got = [await anext(results)]  # type: ignore[call-overload]
        await results.aclose()  # type: ignore[attr-defined]
        return got

    assert asyncio.run(main()) == [0]


@pytest.mark.timeout(60)
def test_coroutines_that_await_long_are_not_held_to_the_watch_window() -> None:
    """None completes until all 20 are in flight: the watch must widen the window on its own clock."""
    running = {"now": 0}

    async def gather_all(x: int) -> int:
        running["now"] += 1
        deadline = asyncio.get_running_loop().time() + 20
        while running["now"] < 20:  # (on the private loop's thread only)
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"only {running['now']} of 20 coroutines were started")
            await asyncio.sleep(0.005)
        return x

    assert gearshift.map(gather_all, range(20), mode="auto") == list(range(20))


@pytest.mark.parametrize(
    ("busy", "cpu", "computed"),
    [
        (0.020, 0.019, True),  # 20 ms of steps on a CPU: a computing coroutine, the zygote boots
        (0.009, 0.009, False),  # under the lookahead's first look (10 ms): too short to tell
        (0.020, 0.004, False),  # its steps took long but hardly computed
        (0.060, 0.012, True),  # a crowded machine stretched its steps: it still computed 12 ms
    ],
)
def test_a_completed_coroutine_boots_the_zygote_only_when_it_computed_long(
    busy: float, cpu: float, computed: bool
) -> None:
    from gearshift._auto.run import _computed_long

    watch = LoopWatch(abs)
    watch.done(busy, cpu)  # (one coroutine completed: made-up figures, no loop)
    assert _computed_long(watch) is computed
