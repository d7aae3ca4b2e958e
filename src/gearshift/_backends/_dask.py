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
:class:`~gearshift.WorkerCrashed` for that chunk alone.  A result lost with
its worker after the task finished is recomputed by dask; if that fails, the
chunk (whose function did complete) is submitted again once (``_Entry``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, ClassVar

from .._cpu import usable_cpus
from .._task import Task
from ._remote import Deadlines, EngineFuture, crashed, decode, remote_args, run_remote

if TYPE_CHECKING:
    import distributed

#: seconds shutdown waits for cancelled tasks' callbacks before closing the client
_CANCEL_GRACE = 5.0
#: times a task that ran to completion, but whose result was lost with its worker and could
#: not be recomputed, is submitted again before its chunk fails (see ``_Entry``)
RESUBMITS = 1


class _Entry:
    """A chunk in flight: its dask future (replaced when resubmitted), ours, and the chunk.

    ``finished`` is set once dask reported the task's result: its function ran
    to completion.  If that result is then lost with its worker and dask's
    recomputation fails (``KilledWorker``: the workers it ran on died, usually
    killed by another task), the chunk itself did nothing wrong, so it is
    submitted again, up to :data:`RESUBMITS` times, rather than failed.
    """

    __slots__ = ("finished", "future", "remote", "resubmits", "task")

    def __init__(self, remote: distributed.Future[bytes], task: Task) -> None:
        self.remote = remote
        self.task = task
        self.future = EngineFuture(lambda: self.remote.cancel())
        self.finished = False
        self.resubmits = 0


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
        # One consumer thread takes finished tasks from as_completed in batches
        # and fetches their results with one gather per batch (a done-callback
        # per future calling result() would cost a round trip per task).  Not
        # as_completed(with_results=True): when a result is lost with its worker
        # after the task finished, and dask's recomputation of it then fails
        # (KilledWorker), that variant's fetch raises inside dask's tracking
        # coroutine and the future is never yielded: the run would hang.
        self._completed = distributed.as_completed(loop=self._client.loop)
        self._pending: dict[Any, _Entry] = {}
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
        entry = _Entry(self._client.submit(run_remote, *remote_args(task, "dask"), pure=False), task)
        self._track(entry)
        if task.timeout is not None:
            self._deadlines.add(entry.future, task)
        return entry.future

    def _track(self, entry: _Entry) -> None:
        with self._lock:
            self._pending[entry.remote.key] = entry
            self._completed.add(entry.remote)
            if self._consumer is None:
                self._consumer = threading.Thread(target=self._consume, name="gearshift-dask-results", daemon=True)
                self._consumer.start()

    def _consume(self) -> None:
        while True:
            try:
                batch = self._completed.next_batch(block=True)
            except StopIteration:  # nothing in flight: stop, unless a submit slipped in
                with self._lock:
                    if self._completed.count():
                        continue
                    self._consumer = None
                    return
            with self._lock:
                for remote in batch:
                    entry = self._pending.get(remote.key)
                    if entry is not None and remote.status != "error" and remote.status != "cancelled":
                        entry.finished = True  # its function ran to completion
            values, failed = self._fetch(batch)
            for remote in batch:
                with self._lock:
                    entry = self._pending.pop(remote.key, None)
                    if entry is not None and self._resubmit(entry, remote, values):
                        continue
                    self._lock.notify_all()
                if entry is not None:
                    try:
                        self._resolve(remote, values.get(remote.key), failed, entry.future, entry.task)
                    finally:
                        entry.future.release()  # no reference to the dask future may keep its result on the cluster
            del batch, values  # nor may this thread's

    def _resubmit(self, entry: _Entry, remote: distributed.Future[bytes], values: dict[Any, bytes]) -> bool:
        """Submit again a chunk that ran to completion but whose result was lost; True if done (under the lock)."""
        if (
            remote.key in values
            or remote.status != "error"
            or not entry.finished
            or entry.resubmits >= RESUBMITS
            or entry.future.done()
            or self._closed
        ):
            return False
        from distributed.scheduler import KilledWorker

        if not isinstance(_exception_of(remote), KilledWorker):
            return False
        entry.resubmits += 1
        entry.finished = False
        entry.remote = self._client.submit(run_remote, *remote_args(entry.task, "dask"), pure=False)
        self._pending[entry.remote.key] = entry
        self._completed.add(entry.remote)
        return True

    def _fetch(self, batch: list[distributed.Future[bytes]]) -> tuple[dict[Any, bytes], BaseException | None]:
        """The results of the tasks of ``batch`` that have one, by key, in one round trip.

        ``errors="skip"`` leaves out tasks that failed or were cancelled; a
        result lost with its worker is waited for while dask recomputes it, and
        left out too if the recomputation fails.  Returns the error instead when
        the fetch itself fails (the client is closing).
        """
        wanted = {i: remote for i, remote in enumerate(batch) if remote.status not in ("error", "cancelled")}
        if not wanted:
            return {}, None
        try:
            got = self._client.gather(wanted, errors="skip")
        except Exception as exc:
            return {}, exc
        return {batch[i].key: value for i, value in got.items() if value is not None}, None

    def _resolve(
        self,
        remote: distributed.Future[bytes],
        value: bytes | None,
        failed: BaseException | None,
        future: EngineFuture,
        task: Task,
    ) -> None:
        if future.done():  # cancelled by us (or timed out): nothing to deliver
            return
        if value is not None:
            try:
                future.settle(decode(value, task))
            except BaseException as exc:
                future.settle(exception=exc)
        elif remote.status == "cancelled":
            future.settle(exception=crashed("dask", task, CancelledError(), "the dask scheduler dropped the task"))
        elif remote.status == "error":  # what the engine reports: the task itself never raises
            from distributed.scheduler import KilledWorker

            error = _exception_of(remote)
            future.settle(exception=crashed("dask", task, error) if isinstance(error, KilledWorker) else error)
        else:
            cause = failed or RuntimeError(f"its result could not be fetched (dask status {remote.status!r})")
            future.settle(exception=crashed("dask", task, cause, "a {engine} result was lost"))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if wait and not cancel_futures:
                self._lock.wait_for(lambda: not self._pending)
            remotes = [entry.remote for entry in self._pending.values()]
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


def _exception_of(remote: distributed.Future[bytes]) -> BaseException:
    """The exception of a failed dask task (already known to this client: no round trip to the cluster)."""
    try:
        exc = remote.exception(timeout=_CANCEL_GRACE)
    except Exception as error:  # the client is closing
        return error
    return exc if isinstance(exc, BaseException) else RuntimeError(f"the dask task failed: {exc!r}")
