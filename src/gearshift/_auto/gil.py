"""The GIL probe: a few items on threads at once, to see whether threads scale for this work.

Work that computes is run on ``k`` threads for a moment (about
:data:`THREAD_PROBE_SECONDS`): did the throughput scale (GIL released, or a
free-threaded build) or stay flat (GIL held)?  A ticker thread next to them
reads how long it waits for the GIL (see :class:`GilReading`).  This is
measured, never assumed from the build.  The probe runs through an ordinary
:class:`~gearshift._runner.Runner`, so its results are kept; its last items
may still be running when the plan is made (a :class:`ProbeTail`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator, Iterator

from .._options import Options
from .._plan import Plan
from .._pools import borrow_probe_pool, return_probe_pool
from .._profile import median
from .._record import replace
from .._runner import ResultsObserver, Runner
from .clocks import gil_enabled, runqueue_seconds
from .costs import GIL_FREE_THRESHOLD, typical, work_kind
from .gate import Gate
from .sampler import THREAD_PROBE_MIN_SECONDS, Sampler
from .ticker import GilTicker

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ProbeTail",
    "ThreadProbe",
    "may_probe",
    "probe_threads",
    "probe_threads_count",
    "thread_scaling",
    "wants_thread_probe",
]

#: items per thread in the thread probe: at least this many...
THREAD_PROBE_ROUNDS = 2
#: ...and enough for the probe to last about this long (short probes are mostly noise)
THREAD_PROBE_SECONDS = 0.08
THREAD_PROBE_MAX_ROUNDS = 16
#: the process's CPU over the probed calls' own above which other threads computed beside them (native
#: pools): the caller's and the GIL ticker's threads add a few per cent; numpy-eigvalsh's BLAS kept 1.6
#: threads busy per item (its advise, 2026-12-07), and a pool's threads count whole
NATIVE_BESIDE = 1.5


def wants_thread_probe(sampler: Sampler, *, always: bool = False) -> bool:
    """Whether thread scaling is worth measuring.

    Only for items long enough to measure that mostly compute (waiting always
    overlaps on threads).  Unless ``always``, only when processes, the other
    way to spread computation, would pay for it: ``fn`` or the data does not
    pickle, or pickling costs over a tenth of the work; or on a free-threaded
    build, where threads may scale without pickling at all; or when the work
    is mixed (:func:`~.costs.work_kind`): then the planner weighs threads that
    overlap the rest of an item against processes, and the rest may not be
    waiting at all but time a virtual machine's host took the CPU away, which
    the thread's clocks cannot tell apart (see :meth:`Sampler.observe`).
    """
    if not sampler.wall:
        return False
    wall, cpu = typical(sampler.wall), typical(sampler.cpu)
    kind = work_kind(cpu, wall)
    if wall < THREAD_PROBE_MIN_SECONDS or kind == "waiting":
        return False
    if always or not gil_enabled() or "unpicklable" in sampler.pickles or kind == "mixed":
        return True
    if sampler.gil_free_alone is not None and sampler.gil_free_alone >= GIL_FREE_THRESHOLD:
        # The ticker beside the items got the GIL at once: threads may spread this work without
        # a pool's start or any pickling (zlib, hashlib on big buffers), so the probe says how well.
        # (A free reading alone proves nothing: see GilReading.  A held one settles it.)
        return True
    item, result = sampler.pickles.get("item"), sampler.pickles.get("result")
    if item is None or result is None:
        return True
    ipc: float = 2 * (item[1] + result[1]) + (item[0] + result[0]) / 1e9
    return ipc > 0.1 * wall


class ThreadProbe:
    """The thread probe's clocks: items through, time span, CPU, the GIL ticker; :meth:`finish` writes the figures."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.threads = 0
        self.items = 0
        self.cpu: list[float] = []  # each probed call's own CPU time
        self.active = [0]  # probed calls running right now
        #: seconds the probed threads waited for a CPU (set by probe_threads)
        self.queued: Callable[[], float] = lambda: 0.0
        self._ticker: GilTicker | None = None
        self._t0 = self._p0 = self._t1 = self._p1 = 0.0

    def start(self, k: int) -> None:
        """The probe of ``k`` threads starts: its clocks start now (see :meth:`watch_gil`)."""
        self.threads = self.sampler.threads = k
        self.items = 0
        self._t0, self._p0 = time.perf_counter(), time.process_time()

    def watch_gil(self) -> None:
        """Start the GIL ticker next to the probed threads (:meth:`finish` reads it)."""
        k = self.threads
        self._ticker = GilTicker(lambda: self.active[0] >= k)
        self._ticker.start()

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        self.items += items
        self.sampler.items += items
        self._t1, self._p1 = time.perf_counter(), time.process_time()

    def finish(self) -> None:
        s = self.sampler
        if self._ticker is not None:
            s.gil_free = self._ticker.finish()
            self._ticker = None
        if s.second_look_on_threads and len(s.wall) == 1 and len(self.cpu) >= 2 and s.cpu[0] > 0:
            # The second look, taken on the probe: an item's own CPU time does not count the
            # other threads' turns, and the first item's wall-to-CPU ratio gives its wall.
            cpu = median(self.cpu)
            s.cpu.append(cpu)
            s.wall.append(cpu * max(1.0, s.wall[0] / s.cpu[0]))
        span = self._t1 - self._t0
        if self.items < 2 or span <= 0 or not s.wall:
            return
        per_item = typical(s.wall)
        # Time the threads spent runnable but without a CPU (another program's fault, not
        # the GIL's: a thread waiting for the GIL sleeps) is left out, as in phase 1.
        queued = self.queued() / max(1, self.threads)
        effective = max(span - queued, 0.2 * span)
        s.preempted += queued
        busy = self._p1 - self._p0
        computing = work_kind(typical(s.cpu), per_item) == "computing"
        s.thread_scaling = thread_scaling(self.items, per_item, effective, busy, sum(self.cpu), computing=computing)
        s.threads_cpu = busy / span


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
    probe = ThreadProbe(sampler)
    backend = borrow_probe_pool(threads)
    opts = replace(options, chunksize=1)
    plan = Plan("thread", threads, 1, ("measuring: items on threads at once",))
    timed = _Queued(fn, probe.cpu, probe.active)
    probe.queued = timed.queued
    runner = Runner(
        backend,
        timed,
        opts,
        plan,
        call=call,
        window=2 * threads,
        observer=probe.observe,
        on_results=on_results,
        first_index=gate.taken,
    )
    limit = threads * probe_rounds(sampler)
    if max_items is not None:
        limit = min(limit, max_items)
    probe.start(threads)
    tail = None
    batches = None
    finished = False
    try:
        runner.start(gate.open(limit=limit))
        probe.watch_gil()  # once the items are on their way: starting a thread takes a moment
        batches = runner.batches()
        for batch in batches:
            yield batch
            if handoff and runner.took_all and runner.running:
                tail = ProbeTail(runner, batches, backend)
                return tail
        finished = True
    finally:
        probe.finish()
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


def thread_scaling(items: int, per_item: float, seconds: float, busy: float, calls: float, *, computing: bool) -> float:
    """How many times as fast as one at a time (``per_item`` seconds each) ``items`` went on threads in ``seconds``.

    For work that computes, never more than the cores the process kept busy
    meanwhile (``busy`` CPU seconds over ``seconds``): threads cannot compute
    faster than that, and a throughput above it says the one-at-a-time figure
    ran slow (beside auto's own load, or on a busy host): csv parsing read
    2.2x on 2 threads with 1.05 cores busy, and went to threads that were no
    faster than one loop (issue 21).  Not when the process used over
    :data:`NATIVE_BESIDE` times the calls' own CPU (``calls``): native pools
    then computed beside them (NumPy's BLAS), whose one-at-a-time figure may
    be slow for want of a cap, not by mistake.
    """
    scaling = items * per_item / seconds
    if computing and calls > 0 and busy <= NATIVE_BESIDE * calls:
        scaling = min(scaling, busy / seconds)
    return scaling


def may_probe(remaining: int | None, threads: int, sampler: Sampler, *, early_processes: bool = False) -> bool:
    """Whether a thread probe of ``threads`` threads may be made now, ``remaining`` items left (None: unknown).

    Always when the GIL was seen free beside the items measured one at a time
    (:attr:`Sampler.gil_free_alone`): threads are then the plan that reading supports, even one that
    takes every item left (the suite's hash-big-args, 12 items of 9 ms, ran its rest on the probe's
    two threads in half sync's time).  Otherwise the probe would run blind, and is not made:

    * while items run on processes already (``early_processes``: the lookahead judged the first item
      computing): the probe waits for them to be back first, the CPUs idle meanwhile, and a first
      item that read "mixed" did so on a busy host (a test of Ctrl-C found the run waiting 20 s
      there, its early item a long one);
    * when it would take every item left: it measures nothing a plan could use, and is itself the
      plan, on threads (the coarse benchmark, 4 jobs of 1.5 s on 2 CPUs: the last job probed alone
      on a thread after the early ones were back, 5.0 s against 3.0, traced 2026-12-07).  An input
      of unknown length may always have more.
    """
    if sampler.gil_free_alone is not None and sampler.gil_free_alone >= GIL_FREE_THRESHOLD:
        return True
    if early_processes:
        return False
    return remaining is None or remaining > threads * probe_rounds(sampler)


def probe_rounds(sampler: Sampler) -> int:
    """Items per thread for the thread probe, from the measured time per item."""
    wall = typical(sampler.wall) if sampler.wall else THREAD_PROBE_SECONDS
    wanted = math.ceil(THREAD_PROBE_SECONDS / wall) if wall > 0 else THREAD_PROBE_MAX_ROUNDS
    return max(THREAD_PROBE_ROUNDS, min(THREAD_PROBE_MAX_ROUNDS, wanted))


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
