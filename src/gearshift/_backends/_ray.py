"""``mode="ray"``: chunks run as Ray tasks.

Where Ray comes from, first match wins: a Ray already initialised in this
process (used as it is, never shut down here), ``address=`` (an existing
cluster, via ``ray.init(address=...)``; ``GEARSHIFT_RAY_ADDRESS`` supplies it,
see ``_options.py``, else Ray's own ``RAY_ADDRESS``), else a local Ray on 127.0.0.1 with ``workers``
CPUs and no dashboard, shut down by :meth:`Backend.shutdown`.  Workers need
gearshift installed.

Robustness comes from Ray itself: a task whose worker process dies is
re-run (``max_retries``) on another worker; only after that does the chunk
fail, as :class:`~gearshift.WorkerCrashed`.  A chunk past its deadline is
cancelled with ``force=True``, which stops the worker running it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import CancelledError, Future
from typing import Any, ClassVar

from .._cpu import usable_cpus
from .._task import Task
from ._remote import Deadlines, EngineFuture, crashed, decode, remote_args, run_remote

#: times Ray re-runs a chunk whose worker died before the chunk fails
MAX_RETRIES = 3

_remote_fn: Any = None
_remote_lock = threading.Lock()


def _remote() -> Any:
    """``run_remote`` as a Ray remote function (made once per process)."""
    global _remote_fn
    with _remote_lock:
        if _remote_fn is None:
            import ray

            _remote_fn = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)(run_remote)
        return _remote_fn


class Backend:
    name: ClassVar[str] = "ray"
    prefetch: ClassVar[int] = 2
    # A Ray task round trip costs about a millisecond and more (benchmarks/cluster.py):
    # chunks of ~100 ms keep that under a few percent.
    target_chunk_seconds: ClassVar[float] = 0.1
    concurrent_items: ClassVar[bool] = False

    def __init__(self, workers: int | None = None, *, address: str | None = None) -> None:
        import ray

        self.workers = workers or self.default_workers(False)
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray and address is None and os.environ.get("RAY_ADDRESS"):
            address = os.environ["RAY_ADDRESS"]  # Ray's own variable names the user's cluster
        if not self._owns_ray and address not in (None, "auto"):
            current = ray.get_runtime_context().gcs_address
            if address != current:
                raise RuntimeError(
                    f"Ray is already initialised in this process (connected to {current}), so address={address!r} "
                    "cannot be used; call ray.shutdown() first, or leave address= out to use the current Ray"
                )
        if self._owns_ray:
            if address is not None:
                ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
            else:
                ray.init(
                    # "local": without it ray.init() joins whatever /tmp/ray/ray_current_cluster
                    # names (a `ray start` head, or a dead one's leftover) and refuses num_cpus.
                    address="local",
                    num_cpus=self.workers,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    logging_level=logging.WARNING,
                    # Local workers import what this process can import (as process mode's do).
                    job_config=ray.job_config.JobConfig(code_search_path=[p for p in sys.path if p]),
                )
        self._refs: dict[Any, Any] = {}  # ObjectRef id -> ObjectRef, not yet settled
        self._lock = threading.Condition()
        self._deadlines = Deadlines()
        self._closed = False

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        # The CPUs of a local Ray; on an existing cluster this caps the chunks
        # in flight, so pass workers= the cluster's CPU count to use all of it.
        return usable_cpus()

    @property
    def address(self) -> str:
        """The address of the Ray cluster (for plans and messages)."""
        import ray

        return str(ray.get_runtime_context().gcs_address)

    def cluster_workers(self) -> int:
        """CPUs the Ray cluster offers now (what ``mode="auto"`` weighs it by): one chunk each."""
        import ray

        return int(ray.cluster_resources().get("CPU", 0))  # type: ignore[no-untyped-call,unused-ignore]

    def submit(self, task: Task) -> Future[Any]:
        if self._closed:
            raise RuntimeError("cannot submit work after shutdown()")
        import ray

        ref = _remote().remote(*remote_args(task, "Ray"))
        # force=True stops the worker process: the only way to end a call that hangs.
        future = EngineFuture(lambda: ray.cancel(ref, force=False), lambda: ray.cancel(ref, force=True))
        with self._lock:
            self._refs[ref.hex()] = ref
        if task.timeout is not None:
            self._deadlines.add(future, task)
        ref.future().add_done_callback(lambda f: self._settle(ref, f, future, task))
        return future

    def _settle(self, ref: Any, done: Future[Any], future: EngineFuture, task: Task) -> None:
        try:
            self._resolve(done, future, task)
        finally:
            future.release()  # no reference to the ObjectRef may keep its result in Ray's store
            with self._lock:
                self._refs.pop(ref.hex(), None)
                self._lock.notify_all()

    def _resolve(self, done: Future[Any], future: EngineFuture, task: Task) -> None:
        if future.done():
            return
        from ray import exceptions as rex

        try:
            blob = done.result()
        except (rex.TaskCancelledError, CancelledError) as exc:  # not by us: our cancel settles first
            future.settle(exception=crashed("ray", task, exc, "Ray cancelled the task"))
            return
        except (rex.WorkerCrashedError, rex.NodeDiedError, rex.OutOfMemoryError, rex.ObjectLostError) as exc:
            future.settle(exception=crashed("ray", task, exc))
            return
        except rex.RayTaskError as exc:  # run_remote itself failed, e.g. fn did not unpickle there
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            future.settle(exception=cause)
            return
        except BaseException as exc:
            future.settle(exception=exc)
            return
        try:
            future.settle(decode(blob, task))
        except BaseException as exc:
            future.settle(exception=exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        import ray

        with self._lock:
            if self._closed:
                return
            self._closed = True
            if wait and not cancel_futures:
                self._lock.wait_for(lambda: not self._refs)
            refs = list(self._refs.values())
        self._deadlines.close()
        for ref in refs:
            try:
                ray.cancel(ref, force=False)
            except Exception:
                pass
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
