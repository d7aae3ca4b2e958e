"""Measure a function on real items: the facts a :class:`~gearshift.Profile` records.

The measuring runs through the ordinary :class:`~gearshift._runner.Runner`
(one item per chunk, so every ``ChunkResult`` is one item's cost), which means
the error policy, retries and ordering hold during measurement too, and the
results can be kept: ``mode="auto"`` hands them to the caller and never runs
an item twice.  Two phases:

1. one at a time on the calling thread: wall and CPU time per item;
2. for work that computes rather than waits, a few items on ``k`` threads at
   once: did the throughput scale (GIL released, or a free-threaded build) or
   stay flat (GIL held)?  This is measured, never assumed from the build.

Pickling costs are measured on the sampled function, items and results.
Coroutine functions are measured alone on an event loop with a heartbeat
task: the heartbeat's lateness is the time the coroutine blocked its loop.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle
import statistics
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from ._options import Options, check_function, check_items, is_async_function, make_options
from ._plan import Plan
from ._planner import CALIBRATE_BELOW_SECONDS, Machine, decide, gil_enabled
from ._pools import borrow_probe_pool, return_probe_pool
from ._profile import Profile
from ._runner import ResultsObserver, Runner
from ._task import CALL_ONE, _call

__all__ = ["Gate", "ProbeTail", "Sampler", "advise", "profile"]

#: the one-at-a-time phase stops after this many items (in chunks of 1, 2, 4, ...)...
SEQUENTIAL_MAX = 2048
#: ...or once it has taken this long (after at least MIN_ITEMS, or any one slow item)
SEQUENTIAL_BUDGET = 0.01
MIN_ITEMS = 3
#: an item that computes for less than this gets a second one measured after it (the
#: first call of a function often pays for imports and caches); one that waits does not
SECOND_LOOK_SECONDS = 0.2
#: the budget of the one-at-a-time phase for profile() and advise(), which only measure
PROFILE_BUDGET = 0.2
#: items shorter than this are not worth a thread probe (dispatch would dominate)
THREAD_PROBE_MIN_SECONDS = 50e-6
#: items on a CPU less than this share of their time (and at least half) are probed on threads
MIXED_CPU_SHARE = 0.7
#: items per thread in the thread probe: at least this many...
THREAD_PROBE_ROUNDS = 2
#: ...and enough for the probe to last about this long (short probes are mostly noise)
THREAD_PROBE_SECONDS = 0.08
THREAD_PROBE_MAX_ROUNDS = 16
#: how many sampled items and results to pickle (together, as the process backend ships a chunk)
PICKLE_SAMPLE = 32
#: a value that takes longer than this to pickle is measured alone
BIG_PICKLE_SECONDS = 1e-3
#: items holding buffers this big may have their pickling measured only when it matters
#: (see :meth:`Sampler.measure_pickling`): copying megabytes is milliseconds of page faults
DEFER_PICKLE_BYTES = 1 << 20


class Gate:
    """An iterator over ``source`` that can be closed between items, without losing any.

    The runner reads its items through a gate; closing it ends that runner's
    input cleanly (what it took runs to the end), and the rest of ``source``
    stays available for the next runner.

    When ``source`` raises an exception, the gate ends there as if the input
    had (readers never see it: a runner would drop what it has in flight) and
    keeps it in :attr:`error`: the auto driver raises it once the results of
    the items read before it are handed out.
    """

    def __init__(self, source: Iterator[Any], length: int | None) -> None:
        self.source = source
        self.length = length
        self.taken = 0
        self.ended = False
        self.limit: int | None = None  # stop after this many more items
        self.stop: Callable[[], bool] | None = None  # or when this says so
        self.kept: list[Any] = []  # a few items, for pickling measurements
        #: held while taking items: a lookahead thread may take some during the first item
        self.lock = threading.Lock()
        #: :meth:`lend` may hand out lazy slices (nobody else takes items meanwhile)
        self.lazy = False
        self._lent = 0  # items the last lazy slice could hold, until settled
        #: what the source raised (see above); the gate has ended then
        self.error: Exception | None = None

    def open(self, *, limit: int | None = None, stop: Callable[[], bool] | None = None, lazy: bool = False) -> Gate:
        """Reopen for the next runner: at most ``limit`` more items, or until ``stop()``.

        ``lazy``: the runner is the only one to take items (no lookahead
        threads), so its inline path may read them straight from the source.
        """
        self.limit = None if limit is None else self.taken + limit
        self.stop = stop
        self.lazy = lazy
        return self

    @property
    def remaining(self) -> int | None:
        return None if self.length is None else max(0, self.length - self.taken)

    def __iter__(self) -> Gate:
        return self

    def __next__(self) -> Any:
        with self.lock:
            return self._next()

    def _next(self) -> Any:
        if self.ended or (self.limit is not None and self.taken >= self.limit) or (self.stop and self.stop()):
            raise StopIteration
        try:
            item = next(self.source)
        except StopIteration:
            self.ended = True
            raise
        except Exception as exc:
            self._keep(exc)
            raise StopIteration from None
        self.taken += 1
        if len(self.kept) < PICKLE_SAMPLE:
            self.kept.append(item)
        return item

    def take(self, size: int) -> list[Any]:
        """Up to ``size`` next items, as a list (the runner's fast path: no per-item call)."""
        with self.lock:
            if self.stop and self.stop():
                return []
            return self.take_locked(size)

    def lend(self, size: int) -> Iterable[Any]:
        """Up to ``size`` next items for the inline runner, which reads them at once and calls :meth:`settle`.

        When :attr:`lazy`, a slice of the source read as the items run: no list
        is built (for a million trivial items that list costs 4 % of the job).
        """
        with self.lock:
            self._lent = 0
            if self.stop and self.stop():
                return []
            if not self.lazy:
                return self.take_locked(size)
            size = self._allowed(size)
            if size <= 0:
                return []
            self._lent = size
            return self._guarded(size)

    def _guarded(self, size: int) -> Iterator[Any]:
        try:
            yield from itertools.islice(self.source, size)
        except Exception as exc:
            self._keep(exc)  # (then settle() sees a short read: the gate has ended)

    def settle(self, used: int) -> None:
        """The inline runner read ``used`` items of what :meth:`lend` gave (one outcome each)."""
        if self._lent:
            self.taken += used
            if used < self._lent:
                self.ended = True  # (or the chunk stopped at a failure: the run ends then too)
            self._lent = 0

    def take_locked(self, size: int) -> list[Any]:
        """:meth:`take` for a caller that holds :attr:`lock`, without asking ``stop``."""
        size = self._allowed(size)
        if size <= 0:
            return []
        items = self._read(size)
        if len(items) < size:
            self.ended = True
        self.taken += len(items)
        if len(self.kept) < PICKLE_SAMPLE:
            self.kept.extend(items[: PICKLE_SAMPLE - len(self.kept)])
        return items

    def _read(self, size: int) -> list[Any]:
        """Up to ``size`` items of the source (fewer if it ends or raises)."""
        items: list[Any] = []
        try:
            items.extend(itertools.islice(self.source, size))
        except Exception as exc:
            self._keep(exc)
        return items

    def _keep(self, exc: Exception) -> None:
        self.error = exc
        self.ended = True

    def _allowed(self, size: int) -> int:
        """How many of ``size`` items may still be taken (0 once ended or at the limit)."""
        if self.ended:
            return 0
        return size if self.limit is None else min(size, self.limit - self.taken)

    def __length_hint__(self) -> int:
        remaining = self.remaining
        if remaining is None:
            return 0
        return remaining if self.limit is None else min(remaining, self.limit - self.taken)


class Sampler:
    """Collects measurements (from runner observers) and builds the :class:`Profile`."""

    def __init__(self, is_async: bool, *, defer_buffers: bool = False) -> None:
        self.is_async = is_async
        #: leave big buffers' pickling for later, and the second look to the thread probe
        #: (``mode="auto"``: see :meth:`measure_pickling` and :meth:`enough`)
        self.defer_buffers = defer_buffers
        #: buffer bytes the first item holds (set by run_sequential once it has run)
        self.first_buffer_bytes = 0
        #: the one-at-a-time phase ended after one computing item: the probe takes the second look
        self.second_look_on_threads = False
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.spent = 0.0
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
        self.pickles: dict[str, Any] = {}
        #: sampled items whose pickling is left for later (see measure_pickling), and their buffer bytes
        self.deferred_items: list[Any] | None = None
        self.deferred_bytes = 0
        self._probe_items = 0
        self._ticker: _GilTicker | None = None
        self.gil_free: float | None = None
        #: seconds the probed threads waited for a CPU (set by probe_threads)
        self.probe_queued: Callable[[], float] = lambda: 0.0
        self.probe_cpu: list[float] = []  # each probed call's own CPU time
        self.active = [0]  # probed calls running right now
        self._probe_t0 = 0.0
        self._probe_p0 = 0.0
        self._probe_t1 = 0.0
        self._probe_p1 = 0.0

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
        self.measured += items
        self.items += items

    def baseline(self) -> None:
        """Read the counters that :meth:`observe` compares against: call right before measuring."""
        self._queued = runqueue_seconds()
        self._switches = voluntary_switches()

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
        # ends this segment); otherwise a second item, unwatched, says.
        return n >= 2 or per_chunk >= SECOND_LOOK_SECONDS

    def _second_look_goes_to_threads(self) -> bool:
        """Whether the first item alone is enough here, because the thread probe takes the second look.

        Items that carry big buffers and compute are probed on threads whatever
        a second look says (see :func:`wants_thread_probe`), so it is taken
        there, two items at a time, rather than on one more item alone while
        the other cores idle: on 48 items of 7 ms, that item alone was 4 % of
        the job.  An item that seemed to wait is not trusted alone (see :meth:`enough`).
        """
        wall, cpu = self.wall[0], self.cpu[0]
        self.second_look_on_threads = (
            self.defer_buffers
            and wall >= THREAD_PROBE_MIN_SECONDS
            and cpu >= 0.5 * wall
            and _copy_bound(self.first_buffer_bytes, wall)
        )
        return self.second_look_on_threads

    # -- phase 2: k threads at once -----------------------------------------------

    def start_threads(self, k: int) -> None:
        """The probe of ``k`` threads starts: its clocks start now (see :meth:`watch_gil`)."""
        self.threads = k
        self._probe_items = 0
        self._probe_t0, self._probe_p0 = time.perf_counter(), time.process_time()

    def watch_gil(self) -> None:
        """Start the GIL ticker next to the probed threads (:meth:`finish_threads` reads it)."""
        k = self.threads
        self._ticker = _GilTicker(lambda: self.active[0] >= k)
        self._ticker.start()

    def observe_threads(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        self._probe_items += items
        self.items += items
        self._probe_t1, self._probe_p1 = time.perf_counter(), time.process_time()

    def finish_threads(self) -> None:
        if self._ticker is not None:
            self.gil_free = self._ticker.finish()
            self._ticker = None
        if self.second_look_on_threads and len(self.wall) == 1 and len(self.probe_cpu) >= 2 and self.cpu[0] > 0:
            # The second look, taken on the probe: an item's own CPU time does not count the
            # other threads' turns, and the first item's wall-to-CPU ratio gives its wall.
            cpu = statistics.median(self.probe_cpu)
            self.cpu.append(cpu)
            self.wall.append(cpu * max(1.0, self.wall[0] / self.cpu[0]))
        span = self._probe_t1 - self._probe_t0
        if self._probe_items < 2 or span <= 0 or not self.wall:
            return
        per_item = _typical(self.wall)
        # Time the threads spent runnable but without a CPU (another program's fault, not
        # the GIL's: a thread waiting for the GIL sleeps) is left out, as in phase 1.
        queued = self.probe_queued() / max(1, self.threads)
        effective = max(span - queued, 0.2 * span)
        self.preempted += queued
        self.thread_scaling = self._probe_items * per_item / effective
        self.threads_cpu = (self._probe_p1 - self._probe_p0) / span

    # -- pickling ---------------------------------------------------------------------

    def measure_pickling(self, fn: Any, items: list[Any], results: list[Any]) -> None:
        """Pickled size and time of ``fn``, the sampled items and the sampled results.

        With :attr:`defer_buffers`, items holding big buffers (:data:`DEFER_PICKLE_BYTES`,
        bytes, bytearrays, NumPy arrays...) whose mere copying at pipe speed
        would cost over a tenth of an item's time are not pickled now: their
        size is their buffers', and the time is measured by
        :meth:`measure_deferred` only if processes could still win after the
        thread probe (which that cost makes sure runs).  Pickling one 8 MiB
        buffer takes 6 ms, mostly page faults: 2 % of a job of 48 items of
        12 ms that two threads finish in 0.3 s, paid while nothing else runs.
        """
        import cloudpickle

        try:
            t0 = time.perf_counter()
            blob = cloudpickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
            self.pickles["fn"] = (len(blob), time.perf_counter() - t0)
        except Exception as exc:
            self.pickles["unpicklable"] = f"fn does not pickle ({type(exc).__name__}: {exc})"[:200]
            return
        if self.defer_buffers and items and self.wall:
            size = buffer_bytes(items[0])
            if _copy_bound(size, _typical(self.wall)):
                self.deferred_items, self.deferred_bytes = items[:PICKLE_SAMPLE], size
                items = []
        for what, values in (("item", items[:PICKLE_SAMPLE]), ("result", results[:PICKLE_SAMPLE])):
            if not values:
                continue
            try:
                size, seconds = _pickle_cost(values)
            except Exception as exc:
                self.pickles["unpicklable"] = f"an {what} does not pickle ({type(exc).__name__}: {exc})"[:200]
                return
            self.pickles[what] = (size, seconds)

    def measure_deferred(self) -> None:
        """Measure the item pickling :meth:`measure_pickling` left for later (if any)."""
        items, self.deferred_items = self.deferred_items, None
        if not items:
            return
        try:
            self.pickles["item"] = _pickle_cost(items)
        except Exception as exc:
            self.pickles["unpicklable"] = f"an item does not pickle ({type(exc).__name__}: {exc})"[:200]

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
        )


def buffer_bytes(value: Any) -> int:
    """Bytes of the buffers ``value`` exposes (bytes, bytearray, memoryview, NumPy arrays...),
    directly or as elements of a tuple or list (``starmap`` arguments); 0 for anything else."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    total = 0
    for v in values:
        if isinstance(v, (str, int, float, type(None))):
            continue
        try:
            total += memoryview(v).nbytes
        except TypeError:
            pass
    return total


def _copy_bound(size: int, wall: float) -> bool:
    """Whether buffers of ``size`` bytes are big and would take over a tenth of ``wall`` just to
    copy at pipe speed: such items are probed on threads, whatever their pickling costs."""
    return size >= DEFER_PICKLE_BYTES and size / 1e9 > 0.1 * wall


def _dumps(values: list[Any]) -> bytes:
    import cloudpickle

    try:
        return pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        blob: bytes = cloudpickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        return blob


def _pickle_cost(values: list[Any]) -> tuple[int, float]:
    """Bytes and seconds per value when ``values`` are pickled together, as a chunk is.

    The process backend pickles a whole chunk at once, so what counts is the
    marginal cost of one more value, not the fixed cost of a ``dumps`` call
    (a few microseconds, more than a short string's own cost): the time for
    all values less the time for one, divided among the others.  Cheap
    measurements are repeated and the fastest kept (a timer's noise is of the
    order of what is measured).
    """
    n = len(values)
    t0 = time.perf_counter()
    one_blob = _dumps(values[:1])
    one = time.perf_counter() - t0
    if n < 2 or one > BIG_PICKLE_SECONDS:
        # One value is all it takes for big ones (megabytes: the call's fixed cost is lost
        # in it), and pickling every sampled value would cost as much as the work.
        return len(one_blob), one
    t0 = time.perf_counter()
    blob = _dumps(values)
    full = time.perf_counter() - t0
    size = max(1, (len(blob) - len(one_blob)) // (n - 1))
    if full < 1e-3:  # repeat only what is cheap to repeat
        for _ in range(3):
            t0 = time.perf_counter()
            _dumps(values)
            full = min(full, time.perf_counter() - t0)
            t0 = time.perf_counter()
            _dumps(values[:1])
            one = min(one, time.perf_counter() - t0)
    return size, max(full - one, 0.0) / (n - 1) if full > one else full / n


def runqueue_seconds(native_id: int | None = None) -> float | None:
    """Seconds a thread has spent ready to run but waiting for a CPU (Linux), or None.

    The calling thread by default; another thread of this process by its OS id
    (``threading.get_native_id()``).
    """
    path = "/proc/thread-self/schedstat" if native_id is None else f"/proc/self/task/{native_id}/schedstat"
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def voluntary_switches() -> int | None:
    """How many times this thread has gone to sleep (blocked, waited) so far, or None.

    A thread that computes without pause is only ever switched out involuntarily,
    so an unchanged count proves a stretch of wall time held no waiting.
    """
    try:
        import resource  # POSIX only

        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    except (ImportError, AttributeError, OSError):
        return None


def _typical(values: list[float]) -> float:
    return statistics.median(values[1:] or values)


# -- the two phases, as runners over a gate ----------------------------------------


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
) -> Iterator[list[Any]]:
    """Phase 1: items one at a time on this thread until the sample is big enough (or ``until()``); yields results.

    ``before_first`` is called right before the first item runs, once the
    set-up (which may import modules: CPU time) is done; ``after_first`` once
    it is over, before the sampler reads its counters: whatever it does (wake
    a thread, wait) is not put on the items measured after it.
    """
    from ._backends._sync import Backend as SyncBackend

    plan = Plan("sync", 1, None, ("measuring: items one at a time, in growing chunks",))
    first = [after_first]

    def observe(items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if first:
            hook = first.pop()
            if hook is not None:
                hook()
            if gate.kept and sampler.defer_buffers:
                sampler.first_buffer_bytes = buffer_bytes(gate.kept[0])
        sampler.observe(items, elapsed, cpu, nbytes)

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
    if before_first is not None:
        before_first()
    yield from runner.batches(gate.open(limit=max_items, stop=stop))


def wants_thread_probe(sampler: Sampler, *, always: bool = False) -> bool:
    """Whether thread scaling is worth measuring.

    Only for items long enough to measure that mostly compute (waiting always
    overlaps on threads).  Unless ``always``, only when processes, the other
    way to spread computation, would pay for it: ``fn`` or the data does not
    pickle, or pickling costs over a tenth of the work; or on a free-threaded
    build, where threads may scale without pickling at all; or when the work
    is mixed (:data:`MIXED_CPU_SHARE`): then the planner weighs threads that
    overlap the rest of an item against processes, and the rest may not be
    waiting at all but time a virtual machine's host took the CPU away, which
    the thread's clocks cannot tell apart (see :meth:`Sampler.observe`).
    """
    if not sampler.wall:
        return False
    wall, cpu = _typical(sampler.wall), _typical(sampler.cpu)
    if wall < THREAD_PROBE_MIN_SECONDS or cpu < 0.5 * wall:
        return False
    if always or not gil_enabled() or "unpicklable" in sampler.pickles or cpu < MIXED_CPU_SHARE * wall:
        return True
    item, result = sampler.pickles.get("item"), sampler.pickles.get("result")
    if item is None or result is None:
        return True
    ipc: float = 2 * (item[1] + result[1]) + (item[0] + result[0]) / 1e9
    return ipc > 0.1 * wall


def probe_threads(
    fn: Callable[..., Any],
    gate: Gate,
    options: Options,
    call: int,
    sampler: Sampler,
    threads: int,
    max_items: int | None = None,
    on_results: ResultsObserver | None = None,
    *,
    handoff: bool = False,
) -> Generator[list[Any], None, ProbeTail | None]:
    """Phase 2: ``threads`` items at a time on threads; measures scaling and busy cores; yields results.

    With ``handoff``, the measuring ends once the probe has taken all its
    items, and its last ones, still running, are returned as a
    :class:`ProbeTail` (None if none were left): the plan can start while they
    finish, instead of cores idling through the probe's drain.
    """
    backend = borrow_probe_pool(threads)
    opts = dataclasses.replace(options, chunksize=1)
    plan = Plan("thread", threads, 1, ("measuring: items on threads at once",))
    timed = _Queued(fn, sampler.probe_cpu, sampler.active)
    sampler.probe_queued = timed.queued
    runner = Runner(
        backend,
        timed,
        opts,
        plan,
        call=call,
        window=2 * threads,
        observer=sampler.observe_threads,
        on_results=on_results,
        first_index=gate.taken,
    )
    limit = threads * probe_rounds(sampler)
    if max_items is not None:
        limit = min(limit, max_items)
    sampler.start_threads(threads)
    tail = None
    batches = None
    finished = False
    try:
        runner.start(gate.open(limit=limit))
        sampler.watch_gil()  # once the items are on their way: starting a thread takes a moment
        batches = runner.batches()
        for batch in batches:
            yield batch
            if handoff and runner.took_all and runner.running:
                tail = ProbeTail(runner, batches, backend)
                return tail
        finished = True
    finally:
        sampler.finish_threads()
        if tail is None:
            if batches is not None:
                batches.close()  # (cancels what is left, when the probe was cut short)
            return_probe_pool(backend, clean=finished)
    return None


class ProbeTail:
    """The thread probe's last items, still running after its measuring ended.

    Their results come before anything later in the input: hand out
    :meth:`batches` before the next segment's, and :meth:`close` in a
    ``finally``: the probe's pool goes back for the next probe once every
    item is over, and is let go (not waited for) if some were dropped.
    """

    def __init__(self, runner: Runner, batches: Generator[list[Any], None, None], backend: Any) -> None:
        self.runner: Runner | None = runner
        self._batches = batches
        self._backend = backend
        self._drained = False

    def batches(self) -> Iterator[list[Any]]:
        """The probe's remaining results, in input order."""
        yield from self._batches
        self._drained = True

    def close(self) -> None:
        """Drop what nobody collected (a run that stopped early); idempotent."""
        if self._backend is not None:
            self._batches.close()
            return_probe_pool(self._backend, clean=self._drained)
            self._backend = None


def probe_rounds(sampler: Sampler) -> int:
    """Items per thread for the thread probe, from the measured time per item."""
    wall = _typical(sampler.wall) if sampler.wall else THREAD_PROBE_SECONDS
    wanted = math.ceil(THREAD_PROBE_SECONDS / wall) if wall > 0 else THREAD_PROBE_MAX_ROUNDS
    return max(THREAD_PROBE_ROUNDS, min(THREAD_PROBE_MAX_ROUNDS, wanted))


class _GilTicker(threading.Thread):
    """Wakes up every millisecond next to the probed threads: how long until it gets the GIL?

    A thread coming back from a timed wait needs the GIL to go on.  When the
    probed work holds it, that takes about the switch interval (5 ms: the
    waiter must ask the holder to drop it); when the work releases it, almost
    nothing.  Time spent waiting for a CPU (a busy machine) is subtracted, so
    load does not pass for the GIL.  The ticker holds the GIL only for
    microseconds, so it barely disturbs what it measures; but each wake-up
    takes a core from the work for a moment, so once :data:`SETTLE_TICKS`
    ticks say plainly that the GIL is free, it stops looking.
    """

    TICK = 0.001
    #: ticks after which waits averaging under SETTLED_WAIT switch intervals end the looking
    SETTLE_TICKS = 24
    SETTLED_WAIT = 0.05

    def __init__(self, busy: Callable[[], bool]) -> None:
        super().__init__(name="gearshift-gil-probe", daemon=True)
        self._busy = busy
        self._finished = threading.Event()  # set by finish(): the last wait ends at once
        self.waits: list[float] = []
        self.queued_share = 0.0

    def run(self) -> None:
        # The run queue is read only at both ends: reading it is a system call, and every
        # system call gives the GIL up and waits to get it back, which is what is measured.
        q0, start = runqueue_seconds(), time.perf_counter()
        settled = self.SETTLED_WAIT * sys.getswitchinterval()
        total = 0.0
        while True:
            t0 = time.perf_counter()
            busy = self._busy()
            if self._finished.wait(self.TICK):
                break
            if busy:
                wait = max(0.0, time.perf_counter() - t0 - self.TICK)
                self.waits.append(wait)
                total += wait
                if len(self.waits) >= self.SETTLE_TICKS and total < settled * len(self.waits):
                    break
        q1, end = runqueue_seconds(), time.perf_counter()
        if q0 is not None and q1 is not None and end > start:
            self.queued_share = (q1 - q0) / (end - start)

    def finish(self) -> float | None:
        """Share of the time the GIL was free (None: too few ticks to say)."""
        self._finished.set()
        self.join()
        if len(self.waits) < 2:
            return None
        # Each tick lasts TICK plus its wait; the CPU-queue share of that is not the GIL's.
        mean_wait = statistics.fmean(self.waits)
        mean_wait = max(0.0, mean_wait - self.queued_share * (self.TICK + mean_wait))
        held = mean_wait / sys.getswitchinterval()
        return min(1.0, max(0.0, 1.0 - held))


class _Queued:
    """Calls ``fn`` and notes its CPU time; :meth:`queued` says how long the calling threads waited for a CPU.

    The run queue is read once per thread, at its first call, and once more
    at the end (from any thread): not twice per call, since each reading is
    a file read of tens of microseconds, taken from the work it measures.
    """

    def __init__(self, fn: Callable[..., Any], cpu: list[float], active: list[int]) -> None:
        self.fn, self.cpu, self.active = fn, cpu, active
        self.lock = threading.Lock()
        self._starts: dict[int, float] = {}  # OS thread id: its run-queue clock at its first call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        native = threading.get_native_id()
        if native not in self._starts:
            q0 = runqueue_seconds()
            if q0 is not None:
                self._starts[native] = q0
        c0 = time.thread_time()
        with self.lock:
            self.active[0] += 1
        try:
            return self.fn(*args, **kwargs)
        finally:
            with self.lock:
                self.active[0] -= 1
            self.cpu.append(time.thread_time() - c0)

    def queued(self) -> float:
        """Seconds the threads that called spent ready to run but without a CPU, since their first call."""
        total = 0.0
        for native, q0 in list(self._starts.items()):
            q1 = runqueue_seconds(native)
            if q1 is not None:
                total += max(0.0, q1 - q0)
        return total


def probe_threads_count(cpus: int) -> int:
    return max(2, min(cpus, 4))


# -- coroutine functions --------------------------------------------------------------


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


# -- the public functions --------------------------------------------------------------


def profile(fn: Callable[..., Any], items: Iterable[Any], *, sample: int | None = None) -> Profile:
    """Run ``fn`` on a small sample of ``items`` and return what was measured.

    ``sample`` caps the items run (default: as many as fit in a short time
    budget, at most 32).  Items are run one at a time first, then, for work
    that computes, several at once on threads; exceptions raised by ``fn``
    are counted, not raised.  The results are thrown away: use ``map(...,
    mode="auto")`` to measure and keep them.
    """
    check_function(fn)
    check_items(items)
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise ValueError(f"sample must be an int >= 1 or None (None picks a size), got {sample!r}")
    is_async = is_async_function(fn)
    sampler = Sampler(is_async)
    limit = sample or SEQUENTIAL_MAX
    source = iter(items)
    results: list[Any] = []
    kept: list[Any]
    if is_async:
        kept = []

        def taking() -> Iterator[Any]:
            for item in source:
                if len(kept) < PICKLE_SAMPLE:
                    kept.append(item)
                yield item

        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no loop here, measure on a fresh one
            measure_async(fn, taking(), sampler, limit, budget=1.0)
        else:  # called from a coroutine: this loop must not block, so measure on a helper thread
            helper = threading.Thread(target=measure_async, args=(fn, taking(), sampler, limit, 1.0))
            helper.start()
            helper.join()
    else:
        options = make_options(errors="return")
        gate = Gate(source, None)
        threads = probe_threads_count(Machine.current().cpus)
        known = sample or (len(items) if hasattr(items, "__len__") else None)  # type: ignore[arg-type]
        # Leave items for the thread probe: up to its longest, at most half of what there is.
        probe_items = min(threads * THREAD_PROBE_MAX_ROUNDS, (known or 0) // 2)
        seq_limit = max(1, min(limit, known - probe_items)) if known else limit
        sequential = run_sequential(
            fn, gate, options, CALL_ONE, sampler, limit=seq_limit, budget=PROFILE_BUDGET, max_items=known and seq_limit
        )
        for batch in sequential:
            results.extend(batch)
        if wants_thread_probe(sampler, always=True) and (sample is None or gate.taken < sample):
            left = None if sample is None else sample - gate.taken
            for batch in probe_threads(fn, gate, options, CALL_ONE, sampler, threads, left):
                results.extend(batch)
        from ._errors import Failure

        sampler.failures = sum(1 for r in results if isinstance(r, Failure))
        results = [r for r in results if not isinstance(r, Failure)]
        kept = gate.kept
    sampler.measure_pickling(fn, kept, results)
    return sampler.build()


def advise(fn: Callable[..., Any], items: Iterable[Any], **map_options: Any) -> Plan:
    """Measure ``fn`` on the first few ``items`` and return the plan ``map(..., mode="auto")`` would follow.

    ``map_options`` are :func:`gearshift.map`'s keyword arguments; explicit
    ``mode``, ``workers`` and ``chunksize`` are kept as given.  The items
    measured are run (and their results discarded).  With a cluster
    configured (``address=``, ``client=`` or the environment), it is asked for
    its size when the work could pay for it, and the plan says whether it does.
    """
    from operator import length_hint

    options = make_options(**map_options)
    if options.mode != "auto":
        from ._planner import plan_fixed

        return plan_fixed(options, is_async=is_async_function(fn))
    length = length_hint(items, 0) or None
    measured = profile(fn, items)
    cheap = bool(measured.wall) and measured.median_wall < CALIBRATE_BELOW_SECONDS
    machine = Machine.current(process_workers=options.workers, calibrate=cheap)
    if options.cluster is None:
        return decide(measured, options, machine, length)
    from ._cluster import connect

    cluster, backend = connect(options, measured, length, machine)
    if backend is not None:
        backend.shutdown()
    return decide(measured, options, machine, length, cluster)
