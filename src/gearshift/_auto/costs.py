"""The cost model of ``mode="auto"``: pure arithmetic over measured facts, every constant in one table.

Nothing here measures or runs anything: :mod:`.decide` calls these functions
with a :class:`~gearshift.Profile` (what was measured), the caller's options and
a :class:`Machine` (facts about this machine), and tests call them with
made-up ones.  The model, per item (``w`` wall, ``c`` CPU, measured):

- sync: ``w``.
- threads: ``max(serial, c / cpus, w / k)`` where ``serial`` is the part that
  does not overlap between threads (from the GIL probe or the measured thread
  scaling, by Amdahl's law; without a measurement, CPU time holds the GIL).
  ``k`` is as many threads as keep the waiting overlapped, within the cap.
- processes: ``(w + pickling) / workers``, bounded below by the parent's own pickling and by
  the CPUs, plus a cold pool's start (only the parallelism missed meanwhile counts).
- async (coroutine functions): ``max(blocked, w / k)``, ``blocked`` being the
  time an item holds its event loop; processes each with a loop when it blocks.
- a dask or Ray cluster: :mod:`.cluster_costs` (its constants in :data:`COSTS` too).

:data:`COSTS` names, for every constant, where its value comes from.  The
backends' own costs are ``benchmarks/costs.py``'s measurements; the policy
constants (margins, cut-offs) and a few costs never measured on their own were
set by hand (most when the planner was written, commit 90f5770, 2026-11-22),
and the table says so rather than invent a source.  ``benchmarks/planner.py``
and the suite check the decisions they lead to.
"""

from __future__ import annotations

import math

from .._native import thread_share
from .._options import Options
from .._plan import Alternative
from .._profile import Profile, fmt_bytes, fmt_seconds, median
from .._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Literal

    WorkKind = Literal["waiting", "mixed", "computing"]

__all__ = ["COSTS", "Constant", "Machine", "estimates", "estimates_async", "typical", "work_kind"]

UNMEASURED = "none: set by hand in 90f5770 (2026-11-22), never measured on its own"
#: benchmarks/costs.py's measurements on a quiet host: the mechanism constants below are its medians
COSTS_JSON = "benchmarks/results/costs.json (2026-12-05, d96d675, host vm, 2 CPUs, load 1.7, median of 9 rounds)"
CLUSTER_JSON = "benchmarks/results/cluster.json (2026-11-22, 2-CPU x86_64 Linux VM, Python 3.11.7, load 7.3)"


class Constant(Record, frozen=True, slots=True):
    """One constant of the cost model: its value, what it is, where it was measured (or that it was not)."""

    value: float
    what: str
    source: str


#: every constant of the cost model, by name
COSTS: dict[str, Constant] = {
    # -- waiting vs computing: the one definition (measuring, lookahead, planning and the sentences use it)
    "waits_below": Constant(0.3, "CPU share of wall under which work waits", UNMEASURED),
    "computes_above": Constant(0.7, "CPU share of wall over which work computes", UNMEASURED),
    # -- the decision
    "unknown_length": Constant(1000, "items assumed when the input's length is unknown", UNMEASURED),
    "margin": Constant(0.8, "a mode must be estimated under this fraction of sync to be chosen", UNMEASURED),
    "process_preference": Constant(1.1, "process estimates are weighed up by this (more ways to go wrong)", UNMEASURED),
    "tiny_job_seconds": Constant(0.005, "jobs estimated under this in sync stay in sync", UNMEASURED),
    "gil_free_threshold": Constant(
        0.7,
        "a GIL probe reading below this counts as the GIL held",
        "none: from the GIL probe's spread (held < 0.5, released > 0.9) noted in 90f5770; no results file",
    ),
    "async_start": Constant(
        10_000,
        "coroutines in flight at the start when nothing was measured (within max_async and the open-file limit)",
        "benchmarks/results/async-start.json (2026-12-06, 51b9fee, host vm): a start of 1,024 cost a round trip",
    ),
    # -- threads
    "thread_chunk_seconds": Constant(27e-6, "a thread pool's round trip per chunk", COSTS_JSON),
    "thread_start_seconds": Constant(85e-6, "starting one thread", COSTS_JSON),
    "thread_chunk_target": Constant(0.005, "seconds of work in a thread chunk of short items", UNMEASURED),
    "max_threads": Constant(512, "threads at most for waiting work", UNMEASURED),
    "max_async": Constant(10_000, "coroutines in flight at most (less with a low open-file limit)", UNMEASURED),
    # -- processes
    "process_start_seconds": Constant(
        0.061,
        "starting a cold process pool of one worker per CPU (a script's first pool, its zygote started early)",
        f"{COSTS_JSON} (before the early zygote, {CLUSTER_JSON} read 0.23 s)",
    ),
    "process_chunk_seconds": Constant(72e-6, "a process pool's round trip per chunk", COSTS_JSON),
    "process_chunk_target": Constant(0.02, "seconds of work in a process chunk", UNMEASURED),
    "early_processes_after": Constant(
        0.05,
        "auto's first item, computing this long, has the next ones started on worker processes beside it",
        f"none: set by hand (2026-12-05), under the cold pool start measured (61 ms) in {COSTS_JSON}: "
        "an item that has computed this long is taken to last about as long again, past the pool's start",
    ),
    "max_chunk": Constant(65536, "items per chunk at most", UNMEASURED),
    # -- the lean start (gearshift._lean keeps copies: it runs before this module loads)
    "load_auto_seconds": Constant(
        0.045,
        "what buying auto costs a lean start: loading it, then the fixed costs of its first plan",
        "none: set by hand; loading alone is +20.1 ms (benchmarks/results/cold-s9-load.json, 2026-12-06, eeb698c), "
        "and 0.020 read worse (cold-suite-9b.json: geomean 1.064 against 1.011 at 0.045, the same rounds)",
    ),
    "lean_chunk_seconds": Constant(0.001, "work in a lean chunk between two checks", "none: set by hand (2026-12-05)"),
    "pipe_bytes_per_second": Constant(755e6, "bytes per second through a worker's pipe", COSTS_JSON),
    "parent_item_seconds": Constant(
        0.12e-6, "the parent's own work per item in process mode, when not calibrated", COSTS_JSON
    ),
    "parent_item_work": Constant(
        3.5,
        "the parent's work per item, in units of the calibration loop's time per item",
        "none: fitted in 4c45f19 (2026-11-23) on a 2-core host (0.155 us per trivial item through a warm pool, "
        "loop 0.04 us); no results file",
    ),
    "calibrate_below_seconds": Constant(20e-6, "items cheaper than this have the parent's share measured", UNMEASURED),
    "async_process_chunk": Constant(32, "coroutines per chunk for processes each with an event loop", UNMEASURED),
    # -- native thread pools (BLAS, OpenMP)
    "native_threads_seen": Constant(
        1.25,
        "an item whose process CPU exceeds its calling thread's by this factor used native threads",
        "none: set by hand (2026-12-05); one thread reads 1.0-1.3 with the lookahead's watcher and "
        "a 2-thread OpenBLAS reads 1.9 (eigvalsh of 300x300 products, 2-CPU host at load 6)",
    ),
    "native_capped_items": Constant(
        2, "items measured with the native pools capped (the first pays the switch)", "none: set by hand (2026-12-05)"
    ),
    "native_capping_paid": Constant(
        1.25,
        "capped items this many times faster than uncapped ones: the function's next runs here are measured capped",
        "none: set by hand (2026-12-05); capped 6 ms against uncapped 30-470 ms on a busy 2-CPU host, while a "
        "function without native work (another busy thread in the process read as its pools) reads about 1",
    ),
    # -- clusters
    "dask_task_seconds": Constant(6.95e-3, "one task's round trip through dask", CLUSTER_JSON),
    "ray_task_seconds": Constant(1.47e-3, "one task's round trip through Ray", CLUSTER_JSON),
    "dask_seconds_per_byte": Constant(4.63e-9, "item plus result bytes through dask (9.70 ms / 2 MiB)", CLUSTER_JSON),
    "ray_seconds_per_byte": Constant(2.68e-9, "item plus result bytes through Ray (5.62 ms / 2 MiB)", CLUSTER_JSON),
    "dask_break_even_seconds": Constant(19.48e-3, "per-item work under which dask lost to sync", CLUSTER_JSON),
    "ray_break_even_seconds": Constant(9.31e-3, "per-item work under which Ray lost to sync", CLUSTER_JSON),
    "cluster_chunk_seconds": Constant(0.1, "seconds of work in an automatic chunk on a cluster", UNMEASURED),
    "cluster_margin": Constant(0.8, "a cluster must be estimated under this fraction of local", UNMEASURED),
    "cluster_min_saving_seconds": Constant(
        1.0, "...and save at least this much (a real network is slower)", UNMEASURED
    ),
}


def _c(name: str) -> float:
    return COSTS[name].value


WAITS_BELOW = _c("waits_below")
COMPUTES_ABOVE = _c("computes_above")
UNKNOWN_LENGTH = int(_c("unknown_length"))
MARGIN = _c("margin")
PREFERENCE = {"process": _c("process_preference")}
TINY_JOB_SECONDS = _c("tiny_job_seconds")
GIL_FREE_THRESHOLD = _c("gil_free_threshold")
ASYNC_START = int(_c("async_start"))
PARENT_ITEM_SECONDS = _c("parent_item_seconds")
PARENT_ITEM_WORK = _c("parent_item_work")
CALIBRATE_BELOW_SECONDS = _c("calibrate_below_seconds")
NATIVE_THREADS_SEEN = _c("native_threads_seen")
NATIVE_CAPPED_ITEMS = int(_c("native_capped_items"))
NATIVE_CAPPING_PAID = _c("native_capping_paid")
CLUSTER_TASK_SECONDS = {"dask": _c("dask_task_seconds"), "ray": _c("ray_task_seconds")}
CLUSTER_SECONDS_PER_BYTE = {"dask": _c("dask_seconds_per_byte"), "ray": _c("ray_seconds_per_byte")}
CLUSTER_BREAK_EVEN_SECONDS = {"dask": _c("dask_break_even_seconds"), "ray": _c("ray_break_even_seconds")}
CLUSTER_CHUNK_SECONDS = _c("cluster_chunk_seconds")
CLUSTER_MARGIN = _c("cluster_margin")
CLUSTER_MIN_SAVING_SECONDS = _c("cluster_min_saving_seconds")


def work_kind(cpu: float, wall: float) -> WorkKind:
    """Whether work that used ``cpu`` seconds of a CPU in ``wall`` seconds waits, computes or both.

    The one definition auto uses everywhere: the lookahead (the first item
    waits: start the next ones), the thread probe (only work that does not
    wait is probed), the cost model and the plan's sentences.
    """
    if wall <= 0 or cpu >= COMPUTES_ABOVE * wall:
        return "computing"
    return "waiting" if cpu < WAITS_BELOW * wall else "mixed"


def typical(values: Sequence[float]) -> float:
    """The typical figure of a sample: the median, the first (warm-up) left out when there are others."""
    return median(values[1:] or values)


class Machine(Record, frozen=True, slots=True):
    """What the cost model needs to know about the machine and the interpreter.

    The per-chunk overheads and the pipe bandwidth are orders of magnitude of
    the backends' own costs (see :data:`COSTS`), not promises.
    :func:`gearshift._auto.clocks.current_machine` reads this machine's.
    """

    cpus: int
    gil_enabled: bool = True
    process_pool_warm: bool = False
    process_start_seconds: float = _c("process_start_seconds")
    #: seconds earlier runs here lost for want of a warm process pool (:mod:`.memory`'s rent):
    #: a cold pool's start is charged less this, so it is bought once renting has cost as much
    process_start_paid: float = 0.0
    thread_chunk_seconds: float = _c("thread_chunk_seconds")
    process_chunk_seconds: float = _c("process_chunk_seconds")
    #: the parent's own work per item in process mode (taking it, collecting its result)
    process_item_seconds: float = PARENT_ITEM_SECONDS
    pipe_bytes_per_second: float = _c("pipe_bytes_per_second")
    max_threads: int = int(_c("max_threads"))
    max_async: int = int(_c("max_async"))
    #: seconds until the items the lookahead started on processes are all back: a plan of any other
    #: mode hands their results out first, so its own items start after them (processes run beside)
    early_left: float = 0.0

    @classmethod
    def current(cls, *, process_workers: int | None = None, calibrate: bool = False) -> Machine:
        """This machine's facts (see :func:`gearshift._auto.clocks.current_machine`)."""
        from .clocks import current_machine

        return current_machine(process_workers=process_workers, calibrate=calibrate)


# -- local modes -----------------------------------------------------------------


def serial_share(profile: Profile) -> float:
    """Share of an item's wall time that cannot overlap between threads.

    With the GIL, from how long a ticking thread waited for it (``gil_free``):
    a long wait proves it held, even on a busy machine, where throughput is
    noisy.  A short wait only says the GIL changed hands often (see
    :class:`~.ticker.GilReading`), so then the measured throughput of
    ``threads`` threads (Amdahl's law) may say more of it is serial.  Without
    the GIL (free-threaded), from that throughput alone.
    """
    k = profile.threads
    if profile.gil_enabled and profile.gil_free is not None:
        # A GIL reading under GIL_FREE_THRESHOLD proves it held (the ticker waited whole
        # switch intervals, even on a busy machine).  A higher one only says the GIL changed
        # hands often: the probed calls' own clocks say whether they waited for it.
        if profile.gil_free < GIL_FREE_THRESHOLD:
            return 1.0
        if profile.thread_scaling is None or k < 2:
            return 1.0 - profile.gil_free
        return max(1.0 - profile.gil_free, _amdahl(profile.thread_scaling, k))
    if profile.thread_scaling is None or k < 2:
        return 1.0
    return _amdahl(profile.thread_scaling, k)


def _amdahl(scaling: float, k: int) -> float:
    """The serial share that makes ``k`` threads ``scaling`` times as fast as one (Amdahl's law)."""
    s = min(max(scaling, 1.0), float(k))
    return min(1.0, max(0.0, (1 / s - 1 / k) / (1 - 1 / k)))


def native_at(profile: Profile, share: int) -> tuple[float, float]:
    """Wall and CPU time of an item whose native pools are capped to ``share`` threads (uncapped: sync's).

    As measured at the pools' own size (the wall as it was, the process's CPU
    time) and, when a capped sample ran, at its cap (one thread: the calling
    thread's CPU is all of it); in between, linear in ``1 / threads``.  With no
    capped sample, the CPU the items used spread over at most ``share`` threads.
    """
    w, c = profile.median_wall, profile.median_cpu
    native = profile.native
    if native is None:
        return w, c
    full, wall, cpu = native.threads, native.wall, c * native.threads_used
    if share >= full:
        return wall, cpu
    low, low_wall, low_cpu = native.capped_threads, native.capped_wall, native.capped_cpu
    if low is None or low_wall is None or low_cpu is None or low >= full:
        return max(wall, cpu / max(1.0, min(share, native.threads_used))), cpu
    f = 0.0 if share <= low else (1 / low - 1 / share) / (1 / low - 1 / full)
    return low_wall + f * (wall - low_wall), low_cpu + f * (cpu - low_cpu)


def _capped(profile: Profile, workers: int, share: int, cpus: int) -> str:
    """The words for what a plan of ``workers`` does with the items' native pools ('' when nothing)."""
    native = profile.native
    if native is None or share >= native.threads:
        return ""
    s = "s" if share != 1 else ""
    return f", each with its native pools capped to {share} thread{s} ({workers} x {share} on {cpus} CPUs)"


def estimates(profile: Profile, options: Options, machine: Machine, n: int) -> list[Alternative]:
    """Estimated seconds for ``n`` items of a plain function under sync, threads and processes.

    Threads and processes run with each worker's native pools capped to its
    share of the CPUs (:func:`~gearshift._native.thread_share`), priced by
    :func:`native_at`; sync runs them as they are.  Unprobed, threads overlap only an item that
    waits (:func:`work_kind`): others' rest may be time they did not run (docs/auto.md, section 4).
    """
    w, c, cpus = profile.median_wall, profile.median_cpu, machine.cpus
    sync = profile.native.wall if profile.native is not None else w  # (its pools as they are)
    out = [Alternative("sync", 1, None, machine.early_left + n * sync, "sync is estimated fastest")]

    # Threads.
    if profile.thread_scaling is not None:
        serial = serial_share(profile) * w
    else:
        serial = c / cpus if not machine.gil_enabled else (c if work_kind(c, w) == "waiting" else w)
    floor = max(serial, c / cpus, 1e-7)
    k_needed = max(1, math.ceil(w / floor - 0.25))  # 2.1 CPUs' worth is 2 threads, not 3
    cap = options.workers or machine.max_threads
    k = max(1, min(cap, k_needed, n))
    chunk = 1 if w >= 1e-3 or k > cpus else chunk_size(_c("thread_chunk_target"), w, n, k)
    share = thread_share(k, cpus)
    wk, ck = native_at(profile, share)
    per_item = max(serial, ck / cpus, wk / k) + machine.thread_chunk_seconds / chunk
    seconds = machine.early_left + n * per_item + k * _c("thread_start_seconds")
    if k > cpus:
        note = (
            f"threads overlap the waiting: up to {k} in flight "
            f"(measured {fmt_seconds(w)} wait per item over {fmt_seconds(floor)} of serial work), adapted while running"
        )
    else:
        note = f"threads: {k} workers overlap it without pickling"
    out.append(Alternative("thread", k, chunk, seconds, note + _capped(profile, k, share, cpus)))

    # Processes.
    ipc, size = profile.ipc_seconds, profile.ipc_bytes
    if profile.unpicklable is None and ipc is not None and size is not None:
        p = options.workers or cpus
        share = thread_share(p, cpus)
        wp, cp = native_at(profile, share)
        transfer = size / machine.pipe_bytes_per_second
        chunk = chunk_size(_c("process_chunk_target"), wp + ipc / 2, n, p)
        overhead = machine.process_chunk_seconds / chunk
        worker_side = (wp + ipc / 2 + transfer) / min(p, n)  # (fewer items than workers: some stay idle)
        parent_side = ipc / 2 + transfer + overhead + machine.process_item_seconds
        # The parent's work takes CPU time too: with as many workers as CPUs it shares them.
        cores = (cp + ipc + 2 * transfer + overhead + machine.process_item_seconds) / cpus
        start = cold_start(machine, p, profile.import_seconds)
        fn_cost = (profile.fn_pickle_seconds or 0.0) + (profile.fn_bytes or 0) * p / machine.pipe_bytes_per_second
        seconds = start + fn_cost + n * max(worker_side, parent_side, cores)
        note = f"processes: {p} workers, chunks of {chunk}"
        if options.chunksize is None:
            note += " to start, then sized as the run goes"
        if parent_side >= worker_side:
            note += f" (moving {fmt_bytes(size)} per item limits them)"
        note += _capped(profile, p, share, cpus)
        out.append(Alternative("process", p, chunk, seconds, note))
    return out


def estimates_async(profile: Profile, options: Options, machine: Machine, n: int) -> list[Alternative]:
    """Estimated seconds for ``n`` items of a coroutine function: sync, one event loop, processes with loops."""
    w = profile.median_wall
    blocked = (profile.loop_blocked or 0.0) * w if profile.loop_blocked is not None else profile.median_cpu
    cap = options.workers or machine.max_async
    k = max(1, min(cap, n))
    out = [Alternative("sync", 1, None, n * w, "sync")]
    note = f"async: up to {k} coroutines in flight on one loop, adapted while running"
    if not profile.wall:
        # Nothing measured: start every item up to the cap (ASYNC_START's source: a smaller start
        # costs a round trip per doubling), and let the limiter shrink the window from the first
        # round trip on if latency climbs without more throughput.
        k = max(1, min(cap, n, ASYNC_START))
        note = f"fn is a coroutine function: async, starting with {k} in flight, doubled while throughput rises"
    out.append(Alternative("async", k, None, n * max(blocked, w / k), note))
    if profile.wall and profile.unpicklable is None and profile.ipc_seconds is not None:
        if work_kind(blocked, w) != "waiting":
            # One process per CPU at most: workers= of a coroutine function is its concurrency (often
            # thousands, for I/O), not a number of interpreters to start.
            p = min(options.workers or machine.cpus, machine.cpus)
            chunk = int(_c("async_process_chunk"))
            seconds = cold_start(machine, p) + n * max(blocked / p, w / (p * chunk)) + n * profile.ipc_seconds / 2
            note = f"the coroutine blocks its loop: {p} processes, each with its own event loop"
            out.append(Alternative("process", p, chunk, seconds, note))
    return out


def cold_start(machine: Machine, workers: int, imports: float = 0.0) -> float:
    """Seconds lost to starting a cold process pool of ``workers``, whose first calls pay ``imports``
    again (:attr:`~gearshift.Profile.import_seconds`: the modules the first item loaded here).

    Auto keeps running items on the calling thread while the workers start,
    so the start costs only the parallelism missed meanwhile: one worker's
    worth of the time is used, less what earlier runs lost for want of the pool.
    """
    if machine.process_pool_warm:
        return 0.0
    return max(0.0, (machine.process_start_seconds + imports) * (1 - 1 / max(1, workers)) - machine.process_start_paid)


def chunk_size(target: float, per_item: float, n: int, workers: int) -> int:
    """Items per chunk so a chunk takes about ``target`` seconds, while every worker gets 4 or more."""
    size = math.ceil(target / per_item) if per_item > 0 else n
    cap = max(1, math.ceil(n / (workers * 4)))
    return max(1, min(size, cap, int(_c("max_chunk"))))
