"""A joblib parallel backend named ``"gearshift"``: scikit-learn's ``n_jobs=`` on gearshift's workers.

Importing this module registers it::

    import gearshift.joblib
    with joblib.parallel_config(backend="gearshift", n_jobs=2):
        GridSearchCV(...).fit(X, y)             # fits run in gearshift worker processes

``parallel_config(backend="gearshift", mode="thread")`` picks another mode (``"thread"``,
``"process"``, ``"dask"``, ``"ray"``; ``address=``/``client=`` for the cluster ones).

What it keeps from gearshift: a task whose worker crashes (segfault, ``os._exit``, the OOM
killer) fails with :class:`gearshift.WorkerCrashed`, the worker is replaced and the pool goes
on; workers are fresh interpreters (no fork of a threaded parent), kept warm between calls
like loky's. What it keeps from joblib: batching, ``return_as="generator"`` (results are
handed over by callbacks), ``timeout=``, nested calls (they run on joblib's threading backend,
then sequentially, as under loky), and BLAS/OpenMP threads capped in worker processes
(``inner_max_num_threads=``, else ``cpus // n_jobs``).
"""

from __future__ import annotations

import atexit
import os
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, cast

import cloudpickle

from ._errors import MissingDependencyError

try:
    from joblib import parallel as _parallel
    from joblib._parallel_backends import AutoBatchingMixin, FallbackToBackend, ParallelBackendBase, SequentialBackend
except ImportError as error:  # pragma: no cover - exercised by tests/test_joblib.py in a subprocess
    raise MissingDependencyError(
        "gearshift.joblib needs the 'joblib' package, which is not installed. "
        "Install it with: pip install gearshift[joblib]"
    ) from error

from ._backends._base import Aborts
from ._cpu import usable_cpus
from ._executor import Executor
from ._joblib_worker import init_worker

if TYPE_CHECKING:
    from ._options import ExecutorMode

__all__ = ["MODES", "GearshiftBackend"]

#: the gearshift modes a joblib backend can run on (sync is joblib's own "sequential")
MODES = ("thread", "process", "dask", "ray")

# Warm executors kept between Parallel calls (starting interpreters that import scikit-learn
# takes seconds), one per configuration; shut down at interpreter exit.
_lock = threading.Lock()
_executors: dict[tuple[Any, ...], Executor] = {}
_in_use: dict[tuple[Any, ...], int] = {}  # Parallel calls configured on each warm executor now


def _forget_in_child() -> None:
    # A forked child (joblib's "multiprocessing" backend) must not use its parent's pools: their
    # manager threads did not come along, and the workers answer to the parent.
    global _lock
    _lock = threading.Lock()
    _executors.clear()
    _in_use.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class GearshiftBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]  # joblib ships no type hints
    """joblib's backend contract (``configure``, ``submit`` + ``retrieve_result_callback``) on a gearshift Executor."""

    supports_retrieve_callback = True
    supports_inner_max_num_threads = True

    def __init__(
        self,
        mode: str = "process",
        *,
        address: str | None = None,
        client: Any = None,
        nesting_level: int | None = None,
        inner_max_num_threads: int | None = None,
        **backend_kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(
                f"the joblib backend 'gearshift' runs in mode {', '.join(map(repr, MODES))}, got mode={mode!r} "
                "(for no parallelism, use n_jobs=1)"
            )
        if (address is not None or client is not None) and mode not in ("dask", "ray"):
            raise ValueError(f"address= and client= apply to mode='dask' or 'ray', not mode={mode!r}")
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **backend_kwargs)
        self.mode = cast("ExecutorMode", mode)  # one of MODES, checked above
        self._address, self._client = address, client
        self._executor: Executor | None = None
        self._private = False  # the executor is this call's own (shut down when the call ends)
        self._key: tuple[Any, ...] | None = None  # the warm executor's, while a call uses it
        self._futures: set[Future[Any]] = set()
        self._futures_lock = threading.Lock()

    @property
    def uses_threads(self) -> bool:  # joblib reads these two to honour prefer= and require="sharedmem"
        return self.mode == "thread"

    @property
    def supports_sharedmem(self) -> bool:
        return self.mode == "thread"

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning; pass a positive number, or -1 for every CPU")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            return max(usable_cpus() + 1 + n_jobs, 1)
        return int(n_jobs)

    def configure(
        self, n_jobs: int | None = 1, parallel: Any = None, prefer: str | None = None, require: str | None = None,
        **backend_kwargs: Any,
    ) -> int:  # fmt: skip
        """Pick (or start) the executor for this Parallel call; joblib's per-call options are not used."""
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1 and self.mode in ("thread", "process"):
            # As joblib's own backends do: one job runs in the caller, with no pool at all.
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        options = {**self.backend_kwargs, **backend_kwargs}
        initializer, initargs = options.get("initializer"), tuple(options.get("initargs", ()))
        if initializer is not None and self.mode not in ("thread", "process"):
            raise ValueError(f"initializer= applies to mode='thread' or 'process', not mode={self.mode!r}")
        if initializer is None and self._address is None and self._client is None:
            self._executor = self._warm_executor(n_jobs)
        else:
            # A pool of its own, for this call only: its workers ran this initializer, or it talks to
            # someone else's cluster, which may go away (a kept connection would outlive it; as _pools.py).
            self._executor = self._new_executor(n_jobs, initializer, initargs)
            self._private = True
        return n_jobs

    def _new_executor(self, n_jobs: int, initializer: Any = None, initargs: tuple[Any, ...] = ()) -> Executor:
        if self.mode == "thread":
            return Executor("thread", n_jobs, initializer=initializer, initargs=initargs)
        if self.mode != "process":
            return Executor(self.mode, n_jobs, address=self._address, client=self._client)
        env = self._prepare_worker_env(n_jobs)
        user = None if initializer is None else cloudpickle.dumps((initializer, initargs))
        executor = Executor("process", n_jobs, initializer=init_worker, initargs=(env, user))
        # joblib keeps 2 x n_jobs batches in flight itself; a batch queued behind a running one on a
        # busy worker would wait for it while another worker idles (return_as="generator_unordered").
        executor._backend.prefetch = 1  # type: ignore[misc]
        return executor

    def _warm_executor(self, n_jobs: int) -> Executor:
        env = self._prepare_worker_env(n_jobs) if self.mode == "process" else {}
        key = (self.mode, n_jobs, tuple(sorted(env.items())))
        self._release()
        with _lock:
            executor = _executors.get(key)
            if executor is None:
                executor = self._new_executor(n_jobs)
                # One warm pool per mode: a new configuration replaces the others no call uses now.
                for old_key in [k for k in _executors if k[0] == self.mode and not _in_use.get(k)]:
                    _executors.pop(old_key).shutdown(wait=False)
                _executors[key] = executor
            _in_use[key] = _in_use.get(key, 0) + 1
            self._key = key
            return executor

    def _release(self) -> None:
        if self._key is not None:
            with _lock:
                _in_use[self._key] = _in_use.get(self._key, 1) - 1
            self._key = None

    def submit(self, func: Any, callback: Any = None) -> Future[Any]:
        if self._executor is None:
            raise RuntimeError("the 'gearshift' joblib backend was not configured; joblib.Parallel does this")
        future = self._executor.submit(func)
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._futures_lock:
            self._futures.discard(future)

    def retrieve_result_callback(self, out: Future[Any]) -> Any:
        return out.result()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """A task failed or the caller stopped: cancel what waits, stop what runs; the pool stays usable."""
        with self._futures_lock:
            futures, self._futures = list(self._futures), set()
        running = [f for f in futures if not f.cancel() and not f.done()]
        backend = self._executor._backend if self._executor is not None else None
        if running and isinstance(backend, Aborts):
            # process: kill and replace those workers now; threads finish unobserved
            backend.abort(running, 0.0)

    def compute_batch_size(self) -> int:
        # Batches hide the cost of a round trip to a process or a cluster; a thread needs none.
        return 1 if self.mode == "thread" else int(super().compute_batch_size())

    def terminate(self) -> None:
        # A warm executor stays for the next call (see _warm_executor); a private one goes.
        if self._private and self._executor is not None:
            self._executor.shutdown(wait=True)
        self._release()
        self._executor, self._private = None, False
        self.reset_batch_stats()


def _shutdown_all() -> None:
    with _lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        executor.shutdown(wait=True, cancel_futures=True)


atexit.register(_shutdown_all)
_parallel.register_parallel_backend("gearshift", GearshiftBackend)
