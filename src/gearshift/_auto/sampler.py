"""The sampler: items one at a time on the calling thread, timed, until the sample is big enough.

:func:`run_sequential` runs the first items through an ordinary
:class:`~gearshift._runner.Runner` on the sync backend (one chunk of 1, 2,
4... items at a time, so each chunk's cost is known) and hands every
chunk's clocks to a :class:`Sampler`, which also collects what the other
measurements find (:mod:`.gil`, :mod:`.pickling`, :mod:`.coroutines`) and
builds the :class:`~gearshift.Profile`.  Time the machine took away (a busy
host, a virtual machine's) is told from waiting by the clocks of
:mod:`.clocks` and left out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from .._options import Options
from .._plan import Plan
from .._profile import Profile
from .._runner import ResultsObserver, Runner
from .clocks import gil_enabled, runqueue_seconds, voluntary_switches
from .costs import work_kind
from .first import FirstItem
from .gate import Gate
from .pickling import buffer_bytes, copy_bound

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NOT_WORTH_PROBING", "SEQUENTIAL_BUDGET", "SEQUENTIAL_MAX", "Sampler", "run_sequential"]

#: the one-at-a-time phase stops after this many items (in chunks of 1, 2, 4, ...)...
SEQUENTIAL_MAX = 2048
#: ...or once it has taken this long (after at least MIN_ITEMS, or any one slow item)
SEQUENTIAL_BUDGET = 0.01
MIN_ITEMS = 3
#: an item that computes for less than this gets a second one measured after it (the
#: first call of a function often pays for imports and caches); one that waits does not
SECOND_LOOK_SECONDS = 0.2
#: sync time of the rest below which nothing more is measured: it runs in sync
NOT_WORTH_PROBING = 0.02
#: the budget of the one-at-a-time phase for profile() and advise(), which only measure
PROFILE_BUDGET = 0.2
#: items shorter than this are not worth a thread probe (dispatch would dominate)
THREAD_PROBE_MIN_SECONDS = 50e-6


class Sampler:
    """Collects measurements (from runner observers) and builds the :class:`Profile`."""

    def __init__(self, is_async: bool, *, defer_buffers: bool = False) -> None:
        self.is_async = is_async
        #: leave big buffers' pickling for later, and the second look to the thread probe
        #: (``mode="auto"``: see :func:`.pickling.measure_pickling` and :meth:`enough`)
        self.defer_buffers = defer_buffers
        #: buffer bytes the first item holds (set by run_sequential once it has run)
        self.first_buffer_bytes = 0
        #: the one-at-a-time phase ended after one computing item: the probe takes the second look
        self.second_look_on_threads = False
        #: modules the first item loaded (set by run_sequential once it has run)
        self.first_imports = 0
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.spent = 0.0
        self.cpu_spent = 0.0  # (CPU time over the same chunks)
        self.measured = 0  # items measured one chunk at a time
        self.items = 0  # items run in every phase
        self.preempted = 0.0
        self._queued: float | None = None  # read lazily: a system call, not worth it for tiny jobs
        self._switches: int | None = None  # times this thread went to sleep, at the last reading
        self.failures = 0
        self.threads = 0
        self.thread_scaling: float | None = None
        self.threads_cpu: float | None = None
        self.loop_blocked: float | None = None
        self.pickles: dict[str, Any] = {}  # see :mod:`.pickling`
        #: sampled items whose pickling is left for later (see measure_pickling), and their buffer bytes
        self.deferred_items: list[Any] | None = None
        self.deferred_bytes = 0
        self.gil_free: float | None = None
        #: the GIL ticker's reading while the items ran one at a time (see :func:`.ticker.tick_beside`)
        self.gil_free_alone: float | None = None

    # -- phase 1: one at a time ------------------------------------------------

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        # Chunks grow 1, 2, 4, ...: the first is the first item alone (warm-up shows), later
        # ones average over enough items that timer overhead vanishes for microsecond work.
        # On a busy machine the thread also waits for a CPU; that is not the work waiting,
        # so the scheduler's run-queue time (same thread, since it was last read) is taken out.
        # Reading it is a system call (tens of µs): only when the chunk did not compute all along.
        # A thread that never went to sleep during the chunk did not wait at all: whatever
        # of the wall its CPU time does not cover was taken from it (another program, a
        # virtual machine's host, a container's CPU quota), so the work's own time is its CPU.
        gap = elapsed - cpu
        switches = voluntary_switches()
        if gap > max(100e-6, 0.1 * elapsed):
            queued = runqueue_seconds()
            if switches is not None and switches == self._switches:
                stolen = gap
            elif queued is not None and self._queued is not None:
                stolen = min(max(0.0, queued - self._queued), gap)
            else:
                stolen = 0.0
            self.preempted += stolen
            elapsed -= stolen
            self._queued = queued
        self._switches = switches
        self.wall.append(elapsed / max(1, items))
        self.cpu.append(cpu / max(1, items))
        self.spent += elapsed
        self.cpu_spent += cpu
        self.measured += items
        self.items += items

    def baseline(self) -> None:
        """Read the counters that :meth:`observe` compares against: call right before measuring."""
        self._queued = runqueue_seconds()
        self._switches = voluntary_switches()

    def unread(self) -> None:
        """No counters were read before the next observation: none of its time is taken for the machine's."""
        self._queued = self._switches = None

    def enough(self, limit: int = SEQUENTIAL_MAX, budget: float = SEQUENTIAL_BUDGET) -> bool:
        n = len(self.wall)
        if n == 0:
            return False
        if self.measured >= limit and n >= MIN_ITEMS:
            return True
        if n == 1 and self._second_look_goes_to_threads():
            return True
        if self.spent < budget:
            return False
        if n >= MIN_ITEMS:
            return True
        per_chunk = self.spent / n
        if per_chunk < budget / 2:
            return False
        # One short item is not trusted alone: its call may have paid for imports and caches.
        # Nor is one that seemed to wait: while it ran, the lookahead's watcher took the GIL
        # from it to look, and to observe() that handover is the thread going to sleep, so
        # time a virtual machine's host stole from a computation passes for waiting.  Work
        # that really waits has its next items started on threads by then (the lookahead
        # ends this segment); otherwise a second item, unwatched, says.  One that loaded modules
        # is not trusted alone however long it took: its time is its imports' as much as the work's.
        return n >= 2 or (per_chunk >= SECOND_LOOK_SECONDS and not self.first_imports)

    def _second_look_goes_to_threads(self) -> bool:
        """Whether the first item alone is enough here, because the thread probe takes the second look.

        Items that carry big buffers and compute are probed on threads whatever
        a second look says (see :func:`.gil.wants_thread_probe`), so it is taken
        there, two items at a time, rather than on one more item alone while
        the other cores idle: on 48 items of 7 ms, that item alone was 4 % of
        the job.  An item that seemed to wait is not trusted alone (see :meth:`enough`).
        """
        wall, cpu = self.wall[0], self.cpu[0]
        self.second_look_on_threads = (
            self.defer_buffers
            and wall >= THREAD_PROBE_MIN_SECONDS
            and work_kind(cpu, wall) != "waiting"
            and copy_bound(self.first_buffer_bytes, wall)
        )
        return self.second_look_on_threads

    # -- phase 2: k threads at once -----------------------------------------------

    # -- the record -------------------------------------------------------------------

    def build(self) -> Profile:
        fn = self.pickles.get("fn", (None, None))
        item = self.pickles.get("item", (self.deferred_bytes or None, None))
        result = self.pickles.get("result", (None, None))
        return Profile(
            is_async=self.is_async,
            wall=tuple(self.wall),
            cpu=tuple(self.cpu),
            items=self.items,
            failures=self.failures,
            threads=self.threads if self.thread_scaling is not None else 0,
            thread_scaling=self.thread_scaling,
            gil_free=self.gil_free if self.thread_scaling is not None else None,
            threads_cpu=self.threads_cpu,
            loop_blocked=self.loop_blocked,
            fn_bytes=fn[0],
            fn_pickle_seconds=fn[1],
            item_bytes=item[0],
            item_pickle_seconds=item[1],
            result_bytes=result[0],
            result_pickle_seconds=result[1],
            unpicklable=self.pickles.get("unpicklable"),
            preempted=self.preempted,
            gil_enabled=gil_enabled(),
            first_imports=self.first_imports,
        )


def run_sequential(
    fn: Callable[..., Any],
    gate: Gate,
    options: Options,
    call: int,
    sampler: Sampler,
    *,
    limit: int = SEQUENTIAL_MAX,
    budget: float = SEQUENTIAL_BUDGET,
    max_items: int | None = None,
    on_results: ResultsObserver | None = None,
    until: Callable[[], bool] | None = None,
    before_first: Callable[[], object] | None = None,
    after_first: Callable[[], None] | None = None,
    first: FirstItem | None = None,
) -> Iterator[list[Any]]:
    """Phase 1: items one at a time on this thread until the sample is big enough (or ``until()``); yields results.

    ``before_first`` is called right before the first item runs, once the
    set-up (which may import modules: CPU time) is done; ``after_first`` once
    it is over, before the sampler reads its counters: whatever it does (wake
    a thread, wait) is not put on the items measured after it.

    ``first``: the first item ran already (the lean start's, see :mod:`.first`):
    its times are the first sample and its result the first batch.
    """
    from .._backends._sync import Backend as SyncBackend

    plan = Plan("sync", 1, None, ("measuring: items one at a time, in growing chunks",))
    hooks = [after_first]
    modules = [0]  # (modules loaded, read right before the first item: see below)

    def observe(items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if hooks:
            if first is None:
                sampler.first_imports = max(0, len(sys.modules) - modules[0])
            hook = hooks.pop()
            if hook is not None:
                hook()
            if gate.kept and sampler.defer_buffers:
                sampler.first_buffer_bytes = buffer_bytes(gate.kept[0])
        sampler.observe(items, elapsed, cpu, nbytes)

    if first is not None:
        sampler.unread()  # (the counters were not read when it started)
        sampler.first_imports = first.imports
        observe(1, first.wall, first.cpu)
        yield [first.result]
    sampler.baseline()  # so the first item's wait for a CPU is not taken for I/O
    runner = Runner(
        SyncBackend(),
        fn,
        options,
        plan,
        call=call,
        observer=observe,
        on_results=on_results,
        first_index=gate.taken,
    )
    if until is None:
        stop = lambda: sampler.enough(limit, budget)  # noqa: E731
    else:
        stop = lambda: until() or sampler.enough(limit, budget)  # noqa: E731
    if before_first is not None and first is None:
        before_first()
    modules[0] = len(sys.modules)
    yield from runner.batches(gate.open(limit=max_items, stop=stop))
