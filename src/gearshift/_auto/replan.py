"""Re-plan: notice that the work changed under the plan (drift) and say when to measure again.

:class:`Drift` watches every chunk the plan's runner completes (as its
``observer``): chunks costing 100x more (or less) per item than the sample
said, or results from worker processes grown 100x and over 64 KiB each, for
:data:`DRIFT_CHUNKS` chunks in a row, trip it; the driver then closes the
gate, lets the segment drain and measures again, at most :data:`MAX_REPLANS`
times.  It reads no clock: the runner hands it each chunk's figures, so tests
feed it made-up ones.

A sync plan runs its chunks on the calling thread, up to tens of thousands
of cheap items each: items that turn heavy inside one would run it to its
end before Drift hears of it (100,000 items turning 1 ms heavy at 60,000: a
median 19,611 of them ran so, benchmarks/results/drift_latency.json).  So,
over a list, tuple or range (the gate can end such a chunk from another
thread: :meth:`.gate.Gate.cut`), :func:`watch_overrun` has the process's one
watcher thread look at the chunk running every :data:`POLL` seconds and end
it, after the item it is running, once it has run :data:`DRIFT_FACTOR` times
as long as its items were expected to take (at least :data:`OVERRUN_FLOOR`):
by then it is a drifted chunk whatever the rest of it would cost.  The runner
goes on from the first item not reached, in chunks sized from what the cut
one took, which Drift judges as any other (there, 403 heavy items ran).
Other inputs (generators) are not cut: their drift is seen as chunks end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from .gate import Gate
    from .state import RunState

__all__ = [
    "DRIFT_CHUNKS",
    "DRIFT_FACTOR",
    "HUGE_RESULT_BYTES",
    "MAX_REPLANS",
    "OVERRUN_FLOOR",
    "POLL",
    "Drift",
    "Overrun",
    "may_replan",
    "overrun_after",
    "replan",
    "unwatch_overrun",
    "watch_overrun",
]

#: per-item cost this many times the sample's (either way) means the work changed
DRIFT_FACTOR = 100.0
#: results this many bytes per item (and DRIFT_FACTOR times the sample's) change the plan too:
#: moving them between processes now costs more than a small computation
HUGE_RESULT_BYTES = 64 * 1024
#: consecutive drifted chunks before re-planning (one odd item is not a trend)
DRIFT_CHUNKS = 3
#: re-plans allowed per run
MAX_REPLANS = 3
#: how often the watcher looks at the chunks of sync plans (none runs meanwhile: it sleeps)
POLL = 0.05
#: a chunk is never cut before it has run this long (shorter overruns cost less than a look)
OVERRUN_FLOOR = 0.1


class Drift:
    """Observer that trips when chunks cost far more (or less) per item than the sample said,
    or when their results, sent back from worker processes, grew huge."""

    def __init__(
        self, expected: float, expected_bytes: int | None, then: Callable[[int, float, float, int], None] | None
    ) -> None:
        self.expected = expected
        self.huge = max(HUGE_RESULT_BYTES, DRIFT_FACTOR * (expected_bytes or 0))
        self.then = then
        self.streak = 0
        self.tripped = False

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if self.then is not None:
            self.then(items, elapsed, cpu, nbytes)
        if self.expected <= 0 or items <= 0:
            return
        ratio = (elapsed / items) / self.expected
        drifted = ratio > DRIFT_FACTOR or ratio < 1 / DRIFT_FACTOR or nbytes / items > self.huge
        self.streak = self.streak + 1 if drifted else 0
        if self.streak >= DRIFT_CHUNKS:
            self.tripped = True


def replan(state: RunState, drifted: bool) -> bool:
    """Phase 4: whether to measure again, after a run phase that stopped because the work drifted
    (or, for coroutines, its loop computed), while items are left; counts the re-plan."""
    if not drifted or state.gate.remaining == 0:
        return False
    state.replans += 1
    state.report.replans = state.replans
    return True


def may_replan(replans: int) -> bool:
    """Whether a run that re-planned ``replans`` times may still watch for drift."""
    return replans < MAX_REPLANS


def overrun_after(expected: float, items: int) -> float:
    """Seconds after which a chunk of ``items`` items, each expected to take ``expected``, is cut.

    DRIFT_FACTOR times its expected time: however its other items go, its
    time per item is then past the factor, so Drift counts it as drifted.
    """
    return max(OVERRUN_FLOOR, DRIFT_FACTOR * expected * items)


class Overrun:
    """One sync plan's gate, as the watcher sees it: which chunk runs, since when (by :data:`clock`)."""

    def __init__(self, gate: Gate, expected: float) -> None:
        self.gate, self.expected = gate, expected
        self.chunk = -1
        self.since = 0.0
        #: chunks ended early
        self.cuts = 0

    def look(self, now: float) -> bool:
        """At time ``now``: cut the chunk running if it has overrun; True if it was cut.

        A chunk is timed from the first look that sees it running (its start is
        not stamped: no clock is read per chunk on the calling thread), so it
        runs at least :func:`overrun_after` before it is cut, and at most one POLL more.
        """
        chunk, items = self.gate.running()
        if chunk != self.chunk or not items:
            self.chunk, self.since = (chunk if items else -1), now
            return False
        if now - self.since < overrun_after(self.expected, items) or not self.gate.cut(chunk):
            return False
        self.cuts += 1
        self.chunk = -1
        return True


#: the clock the watcher reads (a test may replace it)
clock: Callable[[], float] = time.monotonic


class _Watcher(threading.Thread):
    """The process's one thread that looks at every watched sync plan each POLL (asleep when there is none)."""

    def __init__(self) -> None:
        super().__init__(name="gearshift-overrun", daemon=True)
        self.cond = threading.Condition()
        self.watched: list[Overrun] = []

    def run(self) -> None:
        while True:
            with self.cond:
                while not self.watched:
                    self.cond.wait()
                self.cond.wait(POLL)
                watched = list(self.watched)
            now = clock()
            for overrun in watched:
                try:
                    overrun.look(now)
                except Exception:  # (one run's trouble never ends the watching of the others)
                    pass


_watcher: _Watcher | None = None
_watcher_lock = threading.Lock()


def watch_overrun(gate: Gate, expected: float) -> Overrun:
    """Have ``gate``'s cuttable chunks cut when they overrun; :func:`unwatch_overrun` it when the plan ends."""
    global _watcher
    overrun = Overrun(gate, expected)
    with _watcher_lock:
        if _watcher is None or not _watcher.is_alive():  # (again in a forked child)
            _watcher = _Watcher()
            _watcher.start()
        watcher = _watcher
    with watcher.cond:
        watcher.watched.append(overrun)
        watcher.cond.notify()
    return overrun


def unwatch_overrun(overrun: Overrun) -> None:
    watcher = _watcher
    if watcher is None:
        return
    with watcher.cond:
        if overrun in watcher.watched:
            watcher.watched.remove(overrun)
