"""Native thread pools (BLAS, OpenMP) in this process, and how many threads each worker should give them.

NumPy, SciPy and friends compute with native libraries (OpenBLAS, MKL, BLIS,
an OpenMP runtime) that start one thread per CPU of their own.  Two worker
processes on two CPUs, each running a two-thread OpenBLAS, oversubscribe the
machine: measured on a NumPy ``eigvalsh`` job (issue 21), process mode took
0.46-0.54 s with the default pools and 0.11 s with one BLAS thread per
worker.  So workers get ``thread_share`` threads each, through the
environment variables the libraries read when they load (as joblib's loky
does) and, for libraries already loaded here, through threadpoolctl.

Everything here is a pure function of its arguments and of what is loaded in
this process, and cheap to call: nothing is imported when no native library
is loaded (threadpoolctl itself takes tens of milliseconds to import).

Contract for the planner (``mode="auto"``):

* :func:`native_pools` lists the pools loaded now (empty when threadpoolctl
  is not installed).  Call it before and after running the measured items:
  :func:`new_pools` of the two is what the function brought in.
* :func:`native_threads` is the most threads a single call into them may use
  here (1 when there is none): a function whose CPU time per item exceeds its
  wall time by about that factor is computing on native threads, which the GIL
  does not serialise; it scales with ``workers x thread_share(workers)``
  threads, never more than the CPUs.
* :func:`thread_share` is what every worker (thread or process) is capped to.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from ._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "THREAD_VARS",
    "NativePool",
    "NativeUse",
    "describe",
    "native_pools",
    "native_threads",
    "new_pools",
    "thread_share",
    "worker_environment",
]

#: the variables native libraries read for their thread count when they load (the list loky uses)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
#: modules that bring native thread pools; if none is imported, none is loaded (a cheap first look)
_NATIVE_MODULES = ("numpy", "scipy", "torch", "numexpr", "numba", "sklearn", "cv2", "mkl", "tensorflow", "jax")


class NativePool(Record, frozen=True):
    """One native thread pool loaded in this process (from ``threadpoolctl.threadpool_info``)."""

    #: "blas" or "openmp"
    api: str
    #: "openblas", "mkl", "blis", "openmp", ...
    library: str
    #: threads it uses for one call now
    threads: int
    version: str | None
    path: str

    def __str__(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.library}{version} ({self.api}, {self.threads} thread{'s' if self.threads != 1 else ''})"


class NativeUse(Record, frozen=True):
    """What ``mode="auto"`` saw measured items do with native thread pools (see ``_auto.measure``).

    ``threads_used`` is the process's CPU time over the calling thread's while
    the items ran one at a time: about 1 when the pools stayed idle, up to the
    pools' size when every call kept all their threads busy.  (Not CPU over
    wall: on a busy machine the wall time grows with the load.)  When the
    items used more threads than a worker would get, a few more ran with every
    pool capped to ``capped_threads``: ``capped_wall`` and ``capped_cpu`` (the
    process's CPU) per item.  Native libraries often gain little from their
    threads on small problems and lose much when the CPUs are shared, so the
    cost model prices capped workers from that measurement, not from a guess.

    ``wall`` is the uncapped items' wall time as it was, the time spent
    waiting for a CPU included: an item's own native threads crowd the CPUs
    and wait for each other (a 2-thread OpenBLAS on 2 shared CPUs took 3-10x
    its 1-thread time), so that time is the pools' doing, not another
    program's.  ``capped_wall`` leaves it out, as for any item that runs on
    one thread; ``capped_cpu`` is the calling thread's CPU time per capped item.
    """

    pools: tuple[NativePool, ...]
    threads_used: float
    wall: float
    capped_threads: int | None = None
    capped_wall: float | None = None
    capped_cpu: float | None = None

    @property
    def threads(self) -> int:
        """The most threads one call into the pools may use, uncapped."""
        return native_threads(self.pools)

    def summary(self) -> str:
        """One line: the pools, how many threads an item kept busy, and what a capped item took."""
        from ._profile import fmt_seconds

        names = ", ".join(str(p) for p in self.pools) or "none found"
        line = (
            f"native thread pools: {names}; an item kept {self.threads_used:.1f} threads busy "
            f"and took {fmt_seconds(self.wall)}"
        )
        if self.capped_threads is not None and self.capped_wall is not None:
            s = "s" if self.capped_threads != 1 else ""
            line += f", {fmt_seconds(self.capped_wall)} with the pools capped to {self.capped_threads} thread{s}"
        return line


def native_pools(modules: Mapping[str, Any] | None = None) -> tuple[NativePool, ...]:
    """The native thread pools loaded in this process now; ``()`` without threadpoolctl.

    ``modules`` (default ``sys.modules``) is only looked at to skip the
    search when nothing that loads such a library was imported.
    """
    modules = sys.modules if modules is None else modules
    if not any(name in modules for name in _NATIVE_MODULES):
        return ()
    try:
        import threadpoolctl
    except ImportError:
        return ()
    pools = []
    for info in threadpoolctl.threadpool_info():
        pools.append(
            NativePool(
                api=str(info.get("user_api", "")),
                library=str(info.get("internal_api", "")),
                threads=int(info.get("num_threads") or 1),
                version=info.get("version"),
                path=str(info.get("filepath", "")),
            )
        )
    return tuple(pools)


def new_pools(before: Iterable[NativePool], after: Iterable[NativePool]) -> tuple[NativePool, ...]:
    """The pools in ``after`` whose library file was not loaded in ``before``."""
    seen = {p.path for p in before}
    return tuple(p for p in after if p.path not in seen)


def native_threads(pools: Iterable[NativePool]) -> int:
    """The most threads one call into these pools may use (1 when there are none)."""
    return max((p.threads for p in pools), default=1)


def thread_share(workers: int, cpus: int) -> int:
    """Native threads each of ``workers`` workers gets on ``cpus`` CPUs: its share, at least 1."""
    if workers < 1 or cpus < 1:
        raise ValueError(f"workers and cpus must be at least 1, got workers={workers}, cpus={cpus}")
    return max(1, cpus // workers)


def worker_environment(workers: int, cpus: int, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to add to a worker process's environment so its native pools take their share.

    A variable the user set already is kept (their choice wins); nothing is
    added when one worker may use every CPU anyway.
    """
    share = thread_share(workers, cpus)
    if share >= cpus:
        return {}
    return {name: str(share) for name in THREAD_VARS if name not in environ}


def describe(pools: Iterable[NativePool], workers: int, cpus: int) -> str:
    """One line for ``advise``: what was loaded, and what each worker gets."""
    pools = tuple(pools)
    if not pools:
        return "no native thread pools (BLAS, OpenMP) loaded"
    share = thread_share(workers, cpus)
    names = ", ".join(str(p) for p in pools)
    return (
        f"native thread pools loaded: {names}; with {workers} workers on {cpus} CPUs each worker "
        f"gets {share} native thread{'s' if share != 1 else ''}"
    )
