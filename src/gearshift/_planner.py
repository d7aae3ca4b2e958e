"""Choose a plan.  Pure decision logic: no work is run here.

:func:`plan_fixed` serves explicit modes.  :func:`decide` serves
``mode="auto"``: from a measured :class:`~gearshift.Profile`, the caller's
options and a few facts about the machine it estimates the time of the
remaining work under each mode with a simple cost model, picks the fastest,
and says why in sentences that cite the measured figures.  Options the caller
passed explicitly (workers, chunksize) are always kept.

The cost model, per item (``w`` wall, ``c`` CPU, measured):

- sync: ``w``.
- threads: ``max(serial, c / cpus, w / k)`` where ``serial`` is the part that
  does not overlap between threads (from the measured thread scaling, by
  Amdahl's law; without a measurement, CPU time holds the GIL).  ``k`` is as
  many threads as keep the waiting overlapped, within the cap.
- processes: ``(w + pickling) / workers``, bounded below by the parent's own
  pickling and by the machine's CPUs, plus a pool start when no pool is warm
  (the calling thread runs items meanwhile, so only the missed parallelism counts).
- async (coroutine functions): ``max(blocked, w / k)``, ``blocked`` being the
  time an item holds its event loop.

When a dask or Ray cluster is configured (``address=``, ``client=`` or
``GEARSHIFT_DASK_ADDRESS`` / ``GEARSHIFT_RAY_ADDRESS``), the caller passes
its facts as a :class:`Cluster` (engine, address, how many worker threads it
offers) and :func:`decide` weighs it against the best local mode.  The rule,
from ``benchmarks/cluster.py`` on a 2-worker LocalCluster (results/cluster.md),
for ``n`` remaining items of ``w`` seconds and ``b`` bytes (item + result):

- an item must take at least the measured break-even against sync: 19.5 ms
  (dask), 9.3 ms (ray); lighter items stay local whatever their number;
- the cluster's predicted time, ``n*w/W`` over its ``W`` workers plus one round
  trip per ~100 ms chunk (6.95 ms dask, 1.47 ms ray; process mode: 0.10 ms)
  plus ``n*b`` at 4.63 ns/byte (dask), 2.68 ns/byte (ray), must be under 0.8x
  the best local estimate (taken no higher than ``n*w`` over the local CPUs) ...
- ... and save at least 1 s: a real network's latency exceeds a local one's.

:func:`cluster_worthwhile` is that rule; :func:`cluster_may_pay` tells the
caller whether the cluster is worth asking for its size at all.
"""

from __future__ import annotations

import dataclasses
import math
import sys

from ._backends import backend_class
from ._options import Options
from ._plan import Alternative, Plan
from ._profile import Profile, fmt_bytes, fmt_seconds

__all__ = [
    "Cluster",
    "Machine",
    "cluster_may_pay",
    "cluster_seconds",
    "cluster_worthwhile",
    "decide",
    "plan_fixed",
    "processes_may_win",
]

#: input length assumed when it is unknown (a generator): long enough to amortize a pool start
UNKNOWN_LENGTH = 1000
#: a mode must beat sync by this factor to be chosen: the model is rough, sync never surprises
MARGIN = 0.8
#: coroutines in flight at the start when nothing was measured (the limiter grows it)
ASYNC_START = 1024
#: a GIL probe reading below this means the work holds the GIL
GIL_FREE_THRESHOLD = 0.7
#: on near-ties prefer the mode with fewer ways to go wrong (no pickling, no extra memory)
PREFERENCE = {"process": 1.1}
#: jobs estimated to take less than this in sync stay in sync (not worth any start-up)
TINY_JOB_SECONDS = 0.005


#: the parent's own work per item in process mode, when not measured (see parent_item_seconds)
PARENT_ITEM_SECONDS = 0.3e-6


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """What the planner needs to know about the machine and the interpreter.

    The per-chunk overheads and the pipe bandwidth are orders of magnitude of
    the backends' own costs, not promises; ``benchmarks/planner.py`` checks the
    decisions they lead to.
    """

    cpus: int
    gil_enabled: bool = True
    process_pool_warm: bool = False
    process_start_seconds: float = 0.3
    thread_chunk_seconds: float = 40e-6
    process_chunk_seconds: float = 250e-6
    #: the parent's own work per item in process mode (taking it, collecting its result):
    #: :meth:`current` measures it on this machine (see :func:`parent_item_seconds`)
    process_item_seconds: float = PARENT_ITEM_SECONDS
    pipe_bytes_per_second: float = 1e9
    max_threads: int = 512
    max_async: int = 10_000

    @classmethod
    def current(cls, *, process_workers: int | None = None, calibrate: bool = False) -> Machine:
        """The facts for this process: usable CPUs, GIL, warm pools, open-file limit.

        ``calibrate``: also measure :attr:`process_item_seconds` (about a
        millisecond, once per process), for work so cheap per item that the
        parent's share decides whether processes pay.
        """
        from ._cpu import usable_cpus
        from ._pools import is_warm

        cpus = usable_cpus()
        max_async = 10_000
        try:
            import resource

            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            if soft != resource.RLIM_INFINITY:
                max_async = max(64, min(max_async, soft - 64))  # each item may hold a socket
        except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
            pass
        return cls(
            cpus=cpus,
            gil_enabled=gil_enabled(),
            process_pool_warm=is_warm("process", process_workers or cpus),
            process_item_seconds=parent_item_seconds() if calibrate else PARENT_ITEM_SECONDS,
            max_async=max_async,
        )


#: items cheaper than this make the parent's share of process mode count: it is measured
CALIBRATE_BELOW_SECONDS = 20e-6
#: the parent's work per item in process mode, in units of the calibration loop's time per
#: item: fitted on a 2-core host where trivial items through a warm pool took 0.155 µs each
#: (0.016 µs of it pickling them) and the loop 0.04 µs; a twice slower host takes twice both
PARENT_ITEM_WORK = 3.5
_CALIBRATION_ITEMS = 5000
_parent_item: float | None = None


def parent_item_seconds() -> float:
    """The parent's own work per item in process mode on this machine, measured once per process.

    A constant would be right on one machine only: hosts differ twofold in
    speed, and on work of a fraction of a microsecond per item that share
    decides whether processes beat sync.  The loop does what the parent
    does for each item, minus the backend's bookkeeping: take it from the
    input, pickle it, unpickle a result, collect it (best of three, a
    millisecond in all).
    """
    global _parent_item
    if _parent_item is None:
        import itertools
        import pickle
        import time

        values = list(range(_CALIBRATION_ITEMS))
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            out: list[int] = []
            blob = pickle.dumps(list(itertools.islice(iter(values), _CALIBRATION_ITEMS)), pickle.HIGHEST_PROTOCOL)
            out.extend(pickle.loads(blob))
            best = min(best, time.perf_counter() - t0)
        _parent_item = PARENT_ITEM_WORK * best / _CALIBRATION_ITEMS
    return _parent_item


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def plan_fixed(options: Options, *, is_async: bool) -> Plan:
    """The plan for an explicit mode (or for ``auto`` when nothing was measured)."""
    reasons: list[str] = []
    mode = options.mode
    if mode == "auto":
        if is_async:
            mode = "async"
            reasons.append("fn is a coroutine function: its awaits overlap on one event loop")
        else:
            mode = "sync"
            reasons.append("fn is a plain function and nothing was measured: sync never adds overhead")
    else:
        reasons.append(f"mode={mode!r} was asked for")
    cls = backend_class(mode)
    if options.workers is not None:
        workers = options.workers
        reasons.append(f"workers={workers} was asked for")
    else:
        workers = cls.default_workers(is_async)
    if options.chunksize is not None:
        reasons.append(f"chunksize={options.chunksize} was asked for")
    return Plan(mode=mode, workers=workers, chunksize=options.chunksize, reasons=tuple(reasons))


# -- clusters -----------------------------------------------------------------
#
# When is handing work to a dask or Ray cluster worth it?  The cluster's workers
# add parallelism, but every task pays a round trip through the engine
# (client -> scheduler -> worker -> back) and every byte of items and results
# crosses the network.  The constants are measured by benchmarks/cluster.py on
# a 2-worker local cluster (results/cluster.md): a LocalCluster or local Ray is
# the best case of a real network, so the rule errs on the side of staying local.

#: seconds one task's round trip costs through gearshift and the engine
#: (``overhead per task``: a function that does nothing, one item per task;
#: measured 6.95 ms for dask, 1.47 ms for ray, 0.10 ms for process mode)
CLUSTER_TASK_SECONDS: dict[str, float] = {"dask": 6.95e-03, "ray": 1.47e-03}
#: seconds per byte of items plus results moved between this process and the workers
#: (``transfer per MiB``, a round trip: measured 9.7 ms for dask, 5.6 ms for ray, / 2 MiB)
CLUSTER_SECONDS_PER_BYTE: dict[str, float] = {"dask": 4.63e-09, "ray": 2.68e-09}
#: seconds of work the runner puts in one automatic chunk on a cluster (the backends' target)
CLUSTER_CHUNK_SECONDS = 0.1
#: per-item work below which a cluster lost to sync in the benchmark (``break-even task
#: size vs sync``, one item per task: 19.48 ms dask, 9.31 ms ray): such items stay local
CLUSTER_BREAK_EVEN_SECONDS: dict[str, float] = {"dask": 19.48e-03, "ray": 9.31e-03}
#: the cluster must be predicted at least this much faster than local processes ...
CLUSTER_MARGIN = 0.8
#: ... and save at least this many seconds: a real network's latency is above a
#: local cluster's, so smaller predicted gains are within the estimate's error
CLUSTER_MIN_SAVING_SECONDS = 1.0


def cluster_seconds(
    per_item_seconds: float,
    payload_bytes: float,
    *,
    items: int,
    cluster_workers: int,
    engine: str = "dask",
    startup_seconds: float = 0.0,
) -> float:
    """Predicted wall time of ``items`` items on a cluster of ``cluster_workers`` workers.

    The work divides among the workers; the round trips (one per automatic
    chunk of ~``CLUSTER_CHUNK_SECONDS``) and the transfers go through this one
    client, so they do not.
    """
    per_chunk = max(1, int(CLUSTER_CHUNK_SECONDS / per_item_seconds)) if per_item_seconds > 0 else items
    tasks = math.ceil(items / max(1, per_chunk))
    return (
        items * per_item_seconds / cluster_workers
        + tasks * CLUSTER_TASK_SECONDS[engine]
        + items * payload_bytes * CLUSTER_SECONDS_PER_BYTE[engine]
        + startup_seconds
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Cluster:
    """A configured dask or Ray cluster, as the planner sees it.

    The caller gathers the facts (connecting is not the planner's business):
    ``workers`` is what the cluster itself reports (dask: its worker threads,
    Ray: its CPUs), or None when it was not asked because
    :func:`cluster_may_pay` said the work is too small for any cluster.
    """

    engine: str
    address: str
    workers: int | None = None
    startup_seconds: float = 0.0


def cluster_may_pay(per_item_seconds: float, *, items: int, local_workers: int, engine: str = "dask") -> bool:
    """False when no cluster, however big, could pass :func:`cluster_worthwhile`.

    Items lighter than the break-even never go; and since the local time is
    taken no higher than ``items * per_item_seconds / local_workers``, a job
    shorter than :data:`CLUSTER_MIN_SAVING_SECONDS` there cannot save that much.
    """
    return (
        per_item_seconds >= CLUSTER_BREAK_EVEN_SECONDS[engine]
        and items * per_item_seconds / max(1, local_workers) >= CLUSTER_MIN_SAVING_SECONDS
    )


def cluster_worthwhile(
    per_item_seconds: float,
    payload_bytes: float,
    *,
    items: int,
    local_workers: int,
    cluster_workers: int,
    engine: str = "dask",
    startup_seconds: float = 0.0,
    local_seconds: float | None = None,
) -> bool:
    """True when ``items`` items of ``per_item_seconds`` of work and ``payload_bytes``
    of item plus result each should run faster on the cluster than on ``local_workers``
    local processes, by the margin :data:`CLUSTER_MARGIN` and at least
    :data:`CLUSTER_MIN_SAVING_SECONDS`.

    ``startup_seconds`` is what connecting costs (a running cluster: ~0; a
    LocalCluster or local Ray to start: seconds, see the benchmark).  Local
    processes are credited with no overhead at all, so a cluster is chosen only
    when its extra workers clearly pay for the network; ``local_seconds``, the
    best local mode's estimate, lowers that further (threads overlapping waits).
    Items lighter than the measured break-even (:data:`CLUSTER_BREAK_EVEN_SECONDS`)
    always stay local.
    """
    if items <= 0 or cluster_workers <= local_workers or per_item_seconds < CLUSTER_BREAK_EVEN_SECONDS[engine]:
        return False
    local = items * per_item_seconds / max(1, local_workers)
    if local_seconds is not None:
        local = min(local, local_seconds)
    remote = cluster_seconds(
        per_item_seconds,
        payload_bytes,
        items=items,
        cluster_workers=cluster_workers,
        engine=engine,
        startup_seconds=startup_seconds,
    )
    return remote < CLUSTER_MARGIN * local and local - remote >= CLUSTER_MIN_SAVING_SECONDS


def decide(
    profile: Profile, options: Options, machine: Machine, remaining: int | None, cluster: Cluster | None = None
) -> Plan:
    """The plan for ``remaining`` items (None: unknown) of the work ``profile`` describes.

    With ``cluster`` (a configured dask or Ray cluster) its mode is weighed
    against the best local one by the cluster rule (module docstring).
    """
    n = remaining if remaining is not None else UNKNOWN_LENGTH
    n = max(1, n)
    reasons = _describe(profile, machine)
    estimates = (
        _estimates_async(profile, options, machine, n) if profile.is_async else _estimates(profile, options, machine, n)
    )
    sync = estimates[0]
    best = min(estimates, key=lambda a: a.seconds * PREFERENCE.get(a.mode, 1.0))
    why: str
    if profile.is_async and not profile.wall:
        best = estimates[1]  # nothing measured: the event loop, and the limiter finds the concurrency
        why = best.note
    elif profile.wall and sync.seconds < TINY_JOB_SECONDS and not profile.is_async:
        best = sync
        why = f"the whole job is about {fmt_seconds(sync.seconds)} in sync: not worth starting anything"
    elif best is not sync and best.seconds > MARGIN * sync.seconds and not profile.is_async:
        best = sync
        why = "no mode is estimated to beat sync by 20%: sync"
    else:
        why = best.note
    if cluster is not None:
        remote, verdict = _cluster(profile, options, machine, n, cluster, best.seconds)
        if remote is not None:
            best, why = remote, verdict
            estimates.append(remote)
        else:
            reasons.append(why)
            why = verdict
    reasons.append(why)
    if options.workers is not None:
        reasons.append(f"workers={options.workers} was asked for")
    if options.chunksize is not None:
        reasons.append(f"chunksize={options.chunksize} was asked for")
    speedup: float | None = None
    if profile.wall:
        speedup = sync.seconds / best.seconds if best.seconds > 0 else 1.0
        length = "" if remaining is not None else f" (length unknown, {UNKNOWN_LENGTH} assumed)"
        reasons.append(
            f"estimated {fmt_seconds(best.seconds)} for {n} items{length}: {speedup:.1f}x sync; "
            + ", ".join(f"{a.mode} {fmt_seconds(a.seconds)}" for a in estimates if a is not best)
        )
    chunksize = options.chunksize if options.chunksize is not None else best.chunksize
    return Plan(
        mode=best.mode,
        workers=best.workers,
        chunksize=chunksize,
        reasons=tuple(reasons),
        expected_speedup=speedup,
        profile=profile,
        alternatives=tuple(estimates),
    )


def processes_may_win(profile: Profile, options: Options, machine: Machine, remaining: int | None) -> bool:
    """Whether :func:`decide` could pick processes if moving the items cost nothing.

    The process estimate only grows with the pickling cost and the others do
    not depend on it, so when even free items would not make processes the
    plan (the thread probe found threads using every CPU), measuring how long
    big items take to pickle is time spent for nothing.
    """
    if profile.unpicklable is not None or profile.is_async:
        return False
    free = dataclasses.replace(
        profile,
        item_bytes=0,
        item_pickle_seconds=0.0,
        result_bytes=profile.result_bytes or 0,
        result_pickle_seconds=profile.result_pickle_seconds or 0.0,
    )
    return decide(free, options, machine, remaining).mode == "process"


def _cluster(
    profile: Profile, options: Options, machine: Machine, n: int, cluster: Cluster, local_seconds: float
) -> tuple[Alternative | None, str]:
    """The cluster's alternative when the rule says it pays (else None), and the sentence why (not)."""
    engine, w = cluster.engine, profile.median_wall
    at = f"a {engine} cluster at {cluster.address}"
    even = f"break-even {fmt_seconds(CLUSTER_BREAK_EVEN_SECONDS[engine])}/item"
    if profile.is_async or not profile.wall:
        return None, f"{at} is configured; coroutine functions stay on this machine's event loop"
    if profile.unpicklable is not None:
        return None, f"{at} is configured, but the work does not pickle: it stays here"
    payload = profile.ipc_bytes or 0
    facts = f"per-item {fmt_seconds(w)}, {fmt_bytes(payload)} payload"
    if w < CLUSTER_BREAK_EVEN_SECONDS[engine]:
        return None, f"{facts}: {at} does not pay ({even})"
    if not cluster_may_pay(w, items=n, local_workers=machine.cpus, engine=engine):
        return None, (
            f"{facts}: {at} does not pay: {n} items are about {fmt_seconds(n * w / machine.cpus)} on "
            f"{machine.cpus} CPUs here, and it must save {CLUSTER_MIN_SAVING_SECONDS:g} s ({even})"
        )
    if cluster.workers is None:
        return None, f"{at} is configured but its size is unknown: the work stays here"
    if cluster.workers < 1:
        return None, f"{at} has no workers: the work stays here"
    workers = options.workers or cluster.workers
    seconds = cluster_seconds(
        w, payload, items=n, cluster_workers=workers, engine=engine, startup_seconds=cluster.startup_seconds
    )
    if not cluster_worthwhile(
        w,
        payload,
        items=n,
        local_workers=machine.cpus,
        cluster_workers=workers,
        engine=engine,
        startup_seconds=cluster.startup_seconds,
        local_seconds=local_seconds,
    ):
        return None, (
            f"{facts}: {at} ({workers} workers) does not pay: estimated {fmt_seconds(seconds)} there "
            f"against {fmt_seconds(local_seconds)} here ({even}; it must be "
            f"{1 - CLUSTER_MARGIN:.0%} and {CLUSTER_MIN_SAVING_SECONDS:g} s faster)"
        )
    note = f"{facts}: {at} pays ({even}); {engine}, {workers} workers"
    return Alternative(engine, workers, None, seconds, note), note


# -- the sentences ---------------------------------------------------------------


def _describe(profile: Profile, machine: Machine) -> list[str]:
    out: list[str] = []
    if profile.wall:
        w, c = profile.median_wall, profile.median_cpu
        kind = "CPU-bound" if profile.cpu_share >= 0.7 else "mostly waiting" if profile.cpu_share < 0.3 else "mixed"
        out.append(f"per-item CPU {fmt_seconds(c)} of {fmt_seconds(w)} wall: {kind}")
        if profile.warmup > 3:
            out.append(f"the first item took {profile.warmup:.0f}x the typical time (warm-up, not counted)")
    if profile.thread_scaling is not None:
        held = _serial_share(profile) >= 0.5
        if held:
            verdict = "the GIL is held" if machine.gil_enabled else "the work does not overlap"
        else:
            verdict = "it overlaps (the GIL is released)" if machine.gil_enabled else "it overlaps (free-threaded)"
        gil = "" if profile.gil_free is None else f", the GIL free {profile.gil_free:.0%} of the time"
        out.append(f"{profile.threads} threads ran at {profile.thread_scaling:.1f}x{gil}: {verdict}")
    if profile.loop_blocked is not None:
        out.append(f"the coroutine blocked its event loop {profile.loop_blocked:.0%} of its time")
    if profile.unpicklable is not None:
        out.append(f"processes are out: {profile.unpicklable}")
    elif profile.item_bytes is not None and profile.item_pickle_seconds is None:
        out.append(
            f"items hold {fmt_bytes(profile.item_bytes)} buffers: even moving them for free, processes "
            "would not beat threads, so their pickling was not measured"
        )
    elif profile.item_bytes is not None and profile.result_bytes is not None:
        out.append(f"item pickles to {fmt_bytes(profile.item_bytes)}, result to {fmt_bytes(profile.result_bytes)}")
    return out


# -- the cost model ---------------------------------------------------------------


def _serial_share(profile: Profile) -> float:
    """Share of an item's wall time that cannot overlap between threads.

    With the GIL, from how often a spinning thread could get it (``gil_free``):
    robust on a busy machine.  Without it (free-threaded), from the measured
    throughput of ``threads`` threads, by Amdahl's law.
    """
    k = profile.threads
    if profile.gil_enabled and profile.gil_free is not None:
        # The GIL probe separates cleanly (held: under 0.5, released: over 0.9, even on a
        # busy machine) but is noisy in between: below GIL_FREE_THRESHOLD it counts as held.
        return 1.0 if profile.gil_free < GIL_FREE_THRESHOLD else 1.0 - profile.gil_free
    if profile.thread_scaling is None or k < 2:
        return 1.0
    s = min(max(profile.thread_scaling, 1.0), float(k))
    return min(1.0, max(0.0, (1 / s - 1 / k) / (1 - 1 / k)))


def _estimates(profile: Profile, options: Options, machine: Machine, n: int) -> list[Alternative]:
    w, c = profile.median_wall, profile.median_cpu
    cpus = machine.cpus
    out = [Alternative("sync", 1, None, n * w, "sync is estimated fastest")]

    # Threads.
    if profile.thread_scaling is not None:
        serial = _serial_share(profile) * w
    else:
        serial = c if machine.gil_enabled else c / cpus
    floor = max(serial, c / cpus, 1e-7)
    k_needed = max(1, math.ceil(w / floor - 0.25))  # 2.1 CPUs' worth is 2 threads, not 3
    cap = options.workers or machine.max_threads
    k = max(1, min(cap, k_needed, n))
    chunk = 1 if w >= 1e-3 or k > cpus else _chunk(0.005, w, n, k)
    per_item = max(serial, c / cpus, w / k) + machine.thread_chunk_seconds / chunk
    seconds = n * per_item + k * 50e-6  # thread start-up
    if k > cpus:
        note = (
            f"threads overlap the waiting: up to {k} in flight "
            f"(measured {fmt_seconds(w)} wait per item over {fmt_seconds(floor)} of serial work), adapted while running"
        )
    else:
        note = f"threads: {k} workers overlap it without pickling"
    out.append(Alternative("thread", k, chunk, seconds, note))

    # Processes.
    ipc, size = profile.ipc_seconds, profile.ipc_bytes
    if profile.unpicklable is None and ipc is not None and size is not None:
        p = options.workers or cpus
        transfer = size / machine.pipe_bytes_per_second
        chunk = _chunk(0.02, w + ipc / 2, n, p)
        overhead = machine.process_chunk_seconds / chunk
        worker_side = (w + ipc / 2 + transfer) / p
        parent_side = ipc / 2 + transfer + overhead + machine.process_item_seconds
        # The parent's work takes CPU time too: with as many workers as CPUs it shares them.
        cores = (c + ipc + 2 * transfer + overhead + machine.process_item_seconds) / cpus
        start = _cold_start(machine, p)
        fn_cost = (profile.fn_pickle_seconds or 0.0) + (profile.fn_bytes or 0) * p / machine.pipe_bytes_per_second
        seconds = start + fn_cost + n * max(worker_side, parent_side, cores)
        note = f"processes: {p} workers, chunks of {chunk}"
        if options.chunksize is None:
            note += " to start, then sized as the run goes"
        if parent_side >= worker_side:
            note += f" (moving {fmt_bytes(size)} per item limits them)"
        out.append(Alternative("process", p, chunk, seconds, note))
    return out


def _estimates_async(profile: Profile, options: Options, machine: Machine, n: int) -> list[Alternative]:
    w = profile.median_wall
    blocked = (profile.loop_blocked or 0.0) * w if profile.loop_blocked is not None else profile.median_cpu
    cap = options.workers or machine.max_async
    k = max(1, min(cap, n))
    out = [Alternative("sync", 1, None, n * w, "sync")]
    note = f"async: up to {k} coroutines in flight on one loop, adapted while running"
    if not profile.wall:
        # Nothing measured: start at a moderate window and let the limiter double it while
        # throughput rises (thousands of connections at once can overflow a server's backlog).
        k = max(1, min(cap, n, ASYNC_START))
        note = f"fn is a coroutine function: async, starting with {k} in flight, doubled while throughput rises"
    out.append(Alternative("async", k, None, n * max(blocked, w / k), note))
    if profile.wall and profile.unpicklable is None and profile.ipc_seconds is not None and blocked > 0.5 * w:
        p = options.workers or machine.cpus
        start = _cold_start(machine, p)
        seconds = start + n * max(blocked / p, w / (p * 32)) + n * profile.ipc_seconds / 2
        out.append(Alternative("process", p, 32, seconds, f"the coroutine blocks its loop: {p} processes"))
    return out


def _cold_start(machine: Machine, workers: int) -> float:
    """Seconds lost to starting a cold process pool of ``workers``.

    Auto keeps running items on the calling thread while the workers start,
    so the start costs only the parallelism missed meanwhile: one worker's
    worth of the time is used.
    """
    if machine.process_pool_warm:
        return 0.0
    return machine.process_start_seconds * (1 - 1 / max(1, workers))


def _chunk(target: float, per_item: float, n: int, workers: int) -> int:
    """Items per chunk so a chunk takes about ``target`` seconds, while every worker gets 4 or more."""
    size = math.ceil(target / per_item) if per_item > 0 else n
    cap = max(1, math.ceil(n / (workers * 4)))
    return max(1, min(size, cap, 65536))
