"""Clocks: what the operating system says about this process's threads and this machine.

Reading them is all this module does (each function is a system call or a
file read); deciding what the readings mean is the sampler's, the GIL
probe's and the lookahead's job.
"""

from __future__ import annotations

import math
import sys
import time

from .._record import Record
from .._schedstat import runqueue_seconds
from .costs import COSTS, PARENT_ITEM_SECONDS, PARENT_ITEM_WORK, Machine
from .memory import rent_paid

__all__ = [
    "CpuClocks",
    "cpu_clock",
    "cpu_clocks",
    "current_machine",
    "gil_enabled",
    "parent_item_seconds",
    "runqueue_seconds",
    "threads_used",
    "voluntary_switches",
]


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


def cpu_clock(ident: int) -> int | None:
    """The CPU-time clock of thread ``ident``, readable from any thread (POSIX), or None."""
    try:
        clock = time.pthread_getcpuclockid(ident)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return None
    return clock


class CpuClocks(Record, frozen=True, slots=True):
    """CPU seconds at one moment: the process's, the calling thread's, and each other Python thread's."""

    process: float
    thread: float
    #: by thread ident (``threading.enumerate()``); empty where threads' clocks cannot be read
    others: dict[int, float]


def cpu_clocks() -> CpuClocks:
    """The process's, this thread's and the other Python threads' CPU time now (a few microseconds)."""
    return CpuClocks(time.process_time(), time.thread_time(), _python_threads())


def _python_threads() -> dict[int, float]:
    threading = sys.modules.get("threading")  # (not imported: no other Python thread, as in a script's first call)
    if threading is None or not hasattr(time, "pthread_getcpuclockid"):
        return {}
    me, out = threading.get_ident(), {}
    for t in threading.enumerate():
        if t.ident is not None and t.ident != me:
            try:
                out[t.ident] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
            except OSError:  # (it ended meanwhile)
                continue
    return out


def threads_used(since: CpuClocks) -> float:
    """Threads kept busy beside the calling one since ``since`` that Python did not start (1.0: none).

    The process's CPU time over the calling thread's, leaving out what the other
    Python threads alive at the end used (a program's own busy thread, auto's
    GIL ticker): only threads no Python code started, as a BLAS's, and threads
    that ended meanwhile (a function's own helpers), count beside the caller's.
    Another busy Python thread once read as the items' native pools ("1.3
    threads" with NumPy loaded) and priced processes from a capped sample whose
    only difference was noise (CI of d07aef8, 2026-12-07).
    """
    now = cpu_clocks()
    own = now.thread - since.thread
    if own <= 0:
        return 1.0
    python = 0.0
    for ident, cpu in now.others.items():
        before = since.others.get(ident, 0.0)
        python += cpu - before if cpu >= before else cpu  # (a smaller reading: a new thread with a reused ident)
    return max(1.0, (now.process - since.process - python) / own)


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


_CALIBRATION_ITEMS = 5000
_parent_item: float | None = None


def parent_item_seconds() -> float:
    """The parent's own work per item in process mode on this machine, measured once per process.

    A constant would be right on one machine only: hosts differ twofold in
    speed, and on work of a fraction of a microsecond per item that share
    decides whether processes beat sync.  The loop does what the parent
    does for each item, minus the backend's bookkeeping: take it from the
    input, pickle it, unpickle a result, collect it (best of three, a
    millisecond in all), times ``parent_item_work`` (see :data:`~.costs.COSTS`).
    """
    global _parent_item
    if _parent_item is None:
        import itertools
        import pickle

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


def current_machine(*, process_workers: int | None = None, calibrate: bool = False) -> Machine:
    """The facts for this process: usable CPUs, GIL, warm pools, open-file limit.

    ``calibrate``: also measure the parent's work per item in process mode
    (about a millisecond, once per process), for work so cheap per item that
    the parent's share decides whether processes pay.
    """
    from .._cpu import usable_cpus
    from .._pools import is_warm

    cpus = usable_cpus()
    max_async = int(COSTS["max_async"].value)
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY:
            max_async = max(64, min(max_async, soft - 64))  # each item may hold a socket
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    return Machine(
        cpus=cpus,
        gil_enabled=gil_enabled(),
        process_pool_warm=is_warm("process", process_workers or cpus),
        process_start_paid=rent_paid(),
        process_item_seconds=parent_item_seconds() if calibrate else PARENT_ITEM_SECONDS,
        max_async=max_async,
    )
