"""``mode="dask"``: chunks run on a ``dask.distributed`` cluster.

Where the cluster comes from, first match wins: ``client=`` (the caller's own
``distributed.Client``, never closed here), ``address=`` (an existing
scheduler; ``GEARSHIFT_DASK_ADDRESS`` supplies it, see ``_options.py``), else a
``LocalCluster`` of single-threaded worker processes on 127.0.0.1, closed by
:meth:`Backend.shutdown`.  Workers need gearshift installed (chunks run through
:func:`gearshift._backends._remote.run_remote`).

Robustness comes from dask itself: a task whose worker dies is rescheduled on
another worker, and only after ``distributed.scheduler.allowed-failures``
deaths does it fail (``KilledWorker``), which the runner then sees as
:class:`~gearshift.WorkerCrashed` for that chunk alone.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, ClassVar

from .._cpu import usable_cpus
from .._task import Task
from ._remote import Deadlines, EngineFuture, crashed, decode, run_remote

if TYPE_CHECKING:
    import distributed

#: seconds shutdown waits for cancelled tasks' callbacks before closing the client
_CANCEL_GRACE = 5.0


class Backend:
    name: ClassVar[str] = "dask"
    prefetch: ClassVar[int] = 2
    # A round trip through the scheduler costs milliseconds (see benchmarks/cluster.py):
    # chunks of ~100 ms keep that under a few percent.
    target_chunk_seconds: ClassVar[float] = 0.1
    concurrent_items: ClassVar[bool] = False

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        client: distributed.Client | None = None,
    ) -> None:
        import distributed

        self.workers = workers or self.default_workers(False)
        self._cluster: distributed.LocalCluster | None = None
        self._owns_client = client is None
        if client is not None:
            if not isinstance(client, distributed.Client):
                raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
            self._client = client
        elif address is not None:
            self._client = distributed.Client(address, set_as_default=False)
        else:
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,  # no dashboard; its HTTP endpoints on any free port, not 8787
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster, set_as_default=False)
        # Results come back through one as_completed consumer thread, which
        # fetches them on the client's event loop: a done-callback per future
        # calling result() would add a round trip to that loop for each task.
        self._completed = distributed.as_completed(loop=self._client.loop, with_results=True, raise_errors=False)
        self._pending: dict[Any, tuple[distributed.Future[bytes], EngineFuture, Task]] = {}
        self._consumer: threading.Thread | None = None
        self._lock = threading.Condition()
        # dask cannot interrupt a running task: past the deadline the key is
        # cancelled (its result will be dropped) and the chunk fails here.
        self._deadlines = Deadlines()
        self._closed = False

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        # One single-threaded worker process per usable CPU for a local
        # cluster; on an existing cluster this caps the chunks in flight, so
        # pass workers= the cluster's thread count to use all of it.
        return usable_cpus()

    @property
    def client(self) -> distributed.Client:
        """The ``distributed.Client`` this backend submits through."""
        return self._client

    @property
    def address(self) -> str:
        """The scheduler's address (for plans and messages)."""
        scheduler = self._client.scheduler
        return str(scheduler.address) if scheduler is not None else "an unconnected scheduler"

    def cluster_workers(self) -> int:
        """Worker threads the cluster offers now (what ``mode="auto"`` weighs it by)."""
        return sum(self._client.nthreads().values())

    def submit(self, task: Task) -> Future[Any]:
        if self._closed:
            raise RuntimeError("cannot submit work after shutdown()")
        remote = self._client.submit(run_remote, task, pure=False)
        future = EngineFuture(remote.cancel)
        with self._lock:
            self._pending[remote.key] = (remote, future, task)
            self._completed.add(remote)
            if self._consumer is None:
                self._consumer = threading.Thread(target=self._consume, name="gearshift-dask-results", daemon=True)
                self._consumer.start()
        if task.timeout is not None:
            self._deadlines.add(future, task)
        return future

    def _consume(self) -> None:
        while True:
            try:
                remote, result = next(self._completed)
            except StopIteration:  # nothing in flight: stop, unless a submit slipped in
                with self._lock:
                    if self._completed.count():
                        continue
                    self._consumer = None
                    return
            with self._lock:
                entry = self._pending.pop(remote.key, None)
                self._lock.notify_all()
            if entry is not None:
                _, future, task = entry
                try:
                    self._resolve(remote.status, result, future, task)
                finally:
                    future.release()  # no reference to the dask future may keep its result on the cluster

    def _resolve(self, status: str, result: Any, future: EngineFuture, task: Task) -> None:
        if future.done():  # cancelled by us (or timed out): nothing to deliver
            return
        if status == "cancelled":
            cause = result if isinstance(result, BaseException) else CancelledError()
            future.settle(exception=crashed("dask", task, cause, "the dask scheduler dropped the task"))
        elif status == "error":  # what the engine reports: the task itself never raises
            from distributed.scheduler import KilledWorker

            exc = result[1]
            future.settle(exception=crashed("dask", task, exc) if isinstance(exc, KilledWorker) else exc)
        else:
            try:
                future.settle(decode(result, task))
            except BaseException as exc:
                future.settle(exception=exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if wait and not cancel_futures:
                self._lock.wait_for(lambda: not self._pending)
            remotes = [remote for remote, _, _ in self._pending.values()]
        self._deadlines.close()
        if remotes:
            # The consumer cancels our futures as these come back; wait for it while the client is alive.
            self._client.cancel(remotes)
            with self._lock:
                self._lock.wait_for(lambda: not self._pending, timeout=_CANCEL_GRACE)
        if self._owns_client:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
