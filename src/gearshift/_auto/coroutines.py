"""Coroutine functions: how long one ``async def`` call keeps its event loop from running anything else.

Each item is awaited alone on a fresh loop next to a heartbeat task; the
heartbeat's lateness is the time the coroutine blocked its loop
(:attr:`~gearshift.Profile.loop_blocked`).  A coroutine that computes more
than it awaits (see :func:`~.costs.work_kind`) is better run as processes,
each with its own event loop: under ``mode="auto"`` a :class:`LoopWatch` sees
that on the plan's private loop, and the run re-plans (see :mod:`.run`).
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Generator, Iterable

from .._profile import Profile
from .._task import CALL_ONE, call_item
from .clocks import gil_enabled, runqueue_seconds, voluntary_switches
from .costs import work_kind
from .sampler import Sampler

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LOOP_WATCH_SECONDS", "STEPS_OF_BUSY", "WATCH_WINDOW", "LoopWatch", "measure_async"]


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
            outcome, item_blocked = runner.run(_blocking_of(call_item(fn, CALL_ONE, item)))
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


#: until the watch has judged the loop, at most this many coroutines are in flight on it: a loop
#: that computes must run the ones started there one after another (they cannot move to processes)
WATCH_WINDOW = 4
#: the loop is judged once it has run this long after the first coroutine completed (whose
#: steps may have paid for imports or connections once), and two have completed; once only, at
#: WATCH_WINDOW in flight: with hundreds in flight, a loop busy scheduling coroutines that wait
#: looks like one that computes (on a crowded host, 1,000 napping coroutines were sent to
#: processes, whose loops run a chunk's coroutines one after another)
LOOP_WATCH_SECONDS = 0.05
#: a busy loop computes only if the coroutines' own steps used at least this share of the CPU its
#: thread used: else it is busy scheduling (a thousand coroutines that await, say), which
#: processes would not speed up.  CPU against CPU, so a crowded machine moves neither.  (Set by
#: hand: 1,000 coroutines napping 50 ms were read as computing without it on a crowded host, their
#: steps' wall time swollen by waits for the GIL; a coroutine that computes is near 1.)
STEPS_OF_BUSY = 0.5


class LoopWatch:
    """Wraps an ``async def`` run by an auto plan on its private loop: do its coroutines keep the loop busy?

    Judged once, at :data:`WATCH_WINDOW` coroutines in flight, about
    :data:`LOOP_WATCH_SECONDS` after the first one completed.  Three readings,
    each robust to a crowded machine:

    - the loop is busy unless it waits in its selector while some of its
      coroutines are in flight (asyncio's own loops: the selector's ``select``
      is timed, hooked from the loop's thread at the first call and unhooked by
      :meth:`close`; elsewhere, uvloop say, the coroutines' steps are counted
      instead).  Waiting for a CPU or for the GIL counts as busy; time with
      none of its coroutines in flight (waiting for the run to send more) is
      left out;
    - the coroutines' steps, each timed by :func:`_drive` from being resumed
      to its next await, on the wall and CPU clocks: their CPU must be most of
      the CPU the loop's thread used (:data:`STEPS_OF_BUSY`), or the loop is
      busy with its own scheduling;
    - each coroutine's own waits (suspended while the loop waited in its
      selector) must be short beside its steps.

    Busy by the one definition (:func:`~.costs.work_kind`) and all three:
    :meth:`verdict` returns the coroutines' profile and the run re-plans.
    Otherwise (or once plainly waiting, seen every LOOP_WATCH_SECONDS even
    before anything completes) ``on_awaits`` hands the window to the limiter.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        clock: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.thread_time,
    ) -> None:
        self.fn = fn
        self.clock, self.cpu = clock, cpu
        #: seconds spent in the coroutines' steps; of those that completed; how many completed
        self.busy = self.done_busy = 0.0
        #: seconds the completed coroutines spent suspended while the loop waited in its selector (their
        #: own waits, not their turns behind others' steps; only when hooked)
        self.done_waits = 0.0
        #: CPU seconds of the coroutines' steps, of those that completed; the loop thread's CPU clock
        #: at its last wait in the selector (None: not hooked)
        self.steps_cpu = self.done_cpu = 0.0
        self.loop_cpu: float | None = None
        self.completed = 0
        #: coroutines started and not completed; seconds with none (since ``_empty_since``, if none now)
        self.inflight = 0
        self.starved = 0.0
        self._empty_since: float | None = None
        #: (watched, busy, steps_cpu, loop_cpu, done_busy, done_cpu, done_waits) when the first
        #: coroutine completed: the judgements count from there
        self._base: tuple[float, float, float, float | None, float, float, float] | None = None
        self.started: float | None = None  # the first call, on ``clock``
        self.judged = 0
        #: set by the first judgement that the loop does not compute: the window is the limiter's then
        self.awaits = False
        #: called once, from the loop's thread or the run's, when ``awaits`` is set (the run widens its window)
        self.on_awaits: Callable[[], None] | None = None
        self._closed = False
        #: seconds the loop waited in its selector with coroutines in flight (None: not hooked, steps count)
        self.idle: float | None = None
        self._unhook: Callable[[], None] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.started is None:
            self.started = self._empty_since = self.clock()
            self._hook()
        return _stepped(self, args, kwargs)

    def _hook(self) -> None:
        """Time the running loop's waits in its selector (asyncio's selector loops; on its thread)."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called off a loop: nothing to hook
            return
        self._every(loop)
        selector = getattr(loop, "_selector", None)
        select = getattr(selector, "select", None)
        if select is None or "select" in vars(selector):
            return  # not a selector loop, or watched already
        clock, cpu = self.clock, self.cpu
        self.idle, self.loop_cpu = 0.0, cpu()

        def timed(timeout: float | None = None) -> Any:
            self.loop_cpu = cpu()
            if (timeout is not None and timeout <= 0) or not self.inflight:
                # A poll between ready callbacks (the loop is not waiting), or nothing of ours in
                # flight (the time is left out as starved).
                return select(timeout)
            t0 = clock()
            try:
                return select(timeout)
            finally:
                self.idle = (self.idle or 0.0) + clock() - t0

        selector.select = timed  # type: ignore[union-attr]  # (an instance attribute: del restores the method)
        self._unhook = lambda: vars(selector).pop("select", None)

    def _every(self, loop: Any) -> None:
        """Every LOOP_WATCH_SECONDS on the loop: coroutines that await long (none completes for a
        while) must not stay at WATCH_WINDOW in flight until one does."""

        def tick() -> None:
            if self._closed or self.awaits:
                return
            self._check_awaits()
            if not self.awaits:
                loop.call_later(LOOP_WATCH_SECONDS, tick)

        loop.call_later(LOOP_WATCH_SECONDS, tick)

    def _check_awaits(self) -> None:
        """Plainly waiting since the first call (its warm-up included): the window may widen now."""
        watched, busy = self._watched(self.clock())
        if watched >= LOOP_WATCH_SECONDS and work_kind(busy, watched) == "waiting":
            self._awaiting()

    def _awaiting(self) -> None:
        if not self.awaits:
            self.awaits = True
            if self.on_awaits is not None:
                self.on_awaits()

    def close(self) -> None:
        """Stop timing the loop's selector (from any thread; the run is over)."""
        self._closed = True
        if self._unhook is not None:
            self._unhook()
            self._unhook = None

    def begin(self) -> None:
        """A coroutine takes its first step (on the loop's thread)."""
        if not self.inflight and self._empty_since is not None:
            self.starved += self.clock() - self._empty_since
            self._empty_since = None
        self.inflight += 1

    def step(self, seconds: float, cpu: float) -> None:
        """A coroutine ran one step of ``seconds``, using ``cpu`` seconds of CPU (on the loop's thread)."""
        self.busy += seconds
        self.steps_cpu += cpu

    def done(self, seconds: float, cpu: float, waits: float = 0.0) -> None:
        """A coroutine completed, after ``seconds`` in its steps in all, ``cpu`` of CPU, and ``waits``
        suspended while the loop waited in its selector (on the loop's thread)."""
        self.done_busy += seconds
        self.done_waits += waits
        self.done_cpu += cpu
        self.completed += 1
        self.inflight -= 1
        now = self.clock()
        if not self.inflight:
            self._empty_since = now
        if self._base is None:
            self._base = (
                *self._watched(now),
                self.steps_cpu,
                self.loop_cpu,
                self.done_busy,
                self.done_cpu,
                self.done_waits,
            )

    def _watched(self, now: float) -> tuple[float, float]:
        """(seconds watched, seconds busy) from the first call to ``now``, starved time left out:
        busy is out of the selector (if hooked), else in the coroutines' steps."""
        if self.started is None:
            return 0.0, 0.0
        starved = self.starved
        if self._empty_since is not None:
            starved += max(0.0, now - self._empty_since)
        watched = now - self.started - starved
        return watched, (self.busy if self.idle is None else watched - self.idle)

    def reading(self) -> tuple[float, float, int, float, float | None] | None:
        """(seconds busy, seconds watched, coroutines completed, CPU of their steps, CPU of the loop's
        thread or None) since the first one completed, or None."""
        if self._base is None:
            return None
        watched0, busy0, steps0, loop0, _, _, _ = self._base
        watched, busy = self._watched(self.clock())
        loop = None if self.loop_cpu is None or loop0 is None else self.loop_cpu - loop0
        return busy - busy0, watched - watched0, self.completed - 1, self.steps_cpu - steps0, loop

    def verdict(self) -> Profile | None:
        """Once enough ran: a profile of coroutines that block their loop (None while too early, or if they await)."""
        if not self.awaits:
            self._check_awaits()  # (no need to wait for more completions, a round trip each)
        reading = self.reading()
        if reading is None or self.awaits:
            return None
        busy, watched, completed, steps, loop = reading
        if completed < 1 or watched < LOOP_WATCH_SECONDS:
            return None
        self.judged += 1
        assert self._base is not None
        per_item = (self.done_busy - self._base[4]) / completed
        per_item_cpu = (self.done_cpu - self._base[5]) / completed
        waits = (self.done_waits - self._base[6]) / completed
        if (
            work_kind(busy, watched) != "computing"
            or (loop is not None and steps < STEPS_OF_BUSY * loop)
            or work_kind(per_item, per_item + waits) == "waiting"
        ):
            self._awaiting()
            return None
        # Per coroutine, the first one left out: its steps on the wall clock (as the sampler times
        # plain functions; a crowded machine makes them longer, and processes would see that too)
        # and their CPU; its wall time adds its own waits (not its turns behind the others).
        wall = per_item + waits
        return Profile(
            is_async=True,
            wall=(wall,) * 2,
            cpu=(per_item_cpu,) * 2,
            items=self.completed,
            loop_blocked=per_item / wall if wall > 0 else 1.0,
            gil_enabled=gil_enabled(),
        )


async def _stepped(watch: LoopWatch, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Await ``watch.fn(*args, **kwargs)``, telling ``watch`` how long each of its steps held the loop.

    (The coroutine is made here, so one cancelled before it started is never made, and never
    reported as "never awaited".)
    """
    return await _drive(watch.fn(*args, **kwargs), watch)


@types.coroutine
def _drive(coro: Any, watch: LoopWatch) -> Generator[Any, Any, Any]:
    """Step ``coro`` by hand (what ``await`` does), timing each step on the wall and CPU clocks."""
    clock, cpu, total, total_cpu, waits = watch.clock, watch.cpu, 0.0, 0.0, 0.0
    send, value, error = coro.send, None, None
    watch.begin()
    while True:
        t0, c0 = clock(), cpu()
        try:
            yielded = send(value) if error is None else coro.throw(error)
        except StopIteration as stop:
            _last_step(watch, clock() - t0, cpu() - c0, total, total_cpu, waits)
            return stop.value
        except BaseException:
            _last_step(watch, clock() - t0, cpu() - c0, total, total_cpu, waits)
            raise
        seconds, used = clock() - t0, cpu() - c0
        total, total_cpu = total + seconds, total_cpu + used
        watch.step(seconds, used)
        idle0 = watch.idle or 0.0
        try:
            value, error = (yield yielded), None
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # thrown in (a cancellation, say): on to the coroutine
            value, error = None, exc
        waits += (watch.idle or 0.0) - idle0  # the loop waited in its selector while this one was suspended


def _last_step(watch: LoopWatch, seconds: float, used: float, total: float, total_cpu: float, waits: float) -> None:
    """The last step of a coroutine (it returned or raised): count it, and the coroutine."""
    watch.step(seconds, used)
    watch.done(total + seconds, total_cpu + used, waits)
