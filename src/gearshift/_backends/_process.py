"""``mode="process"``: chunks run in worker processes, real parallelism for Python code.

Data flow::

    caller threads            manager thread (one per pool)          worker processes
    --------------            -----------------------------          ----------------
    submit(task)
      pickle fn (once a run)
      pickle items  --------> pending deque
      return Future           dispatch: worker with fewest in
                              flight (<= prefetch) ---- pipe ----->  recv, unpickle, run_chunk_recorded:
                              wait(result pipes, wake pipe)          each outcome, as it comes, is also
                                                                     pickled into an outcome log
                                                                     (shared memory, one per task in flight)
    future resolves <-------  result frame  <------------ pipe ------  send ChunkResult (one frame)
                              EOF on a pipe = worker died:
                                read the running job's outcome log:
                                what finished is kept, the item that
                                was running fails with WorkerCrashed,
                                the rest of the chunk is run again,
                                later jobs go back to pending, a new
                                worker is started
                              deadlines (timeout=, abort): the late
                                worker is killed, same as a death

Supervision.  Without a timeout a chunk's results cross the pipe in one frame
(cheap), and the outcome log keeps every finished item's outcome where the
parent can read it if the worker dies (``_worker_log.OutcomeLog``): a crash costs
the item that was running, never a sibling that finished (each item runs at
most ``1 + retries`` times); a chunk whose outcomes are all ints leaves them
in the log only (an "L" frame), read from there.  Coroutines of a chunk run one
after another on the worker's loop and are recorded the same way.  With
``timeout=`` the worker streams one frame per item instead (plain or ``async
def`` fn), so the manager also knows when the running item started and names
the item that was late.  The runner resubmits the rest of a chunk cut
short.  Workers that die before they are ready, several in a row, break the
pool with a clear error instead of being respawned forever.

Pickle faults fail their item alone: an item that does not unpickle in the
worker (even by calling ``sys.exit``), a result that does not pickle there, a
result that does not unpickle here (the log gives the outcomes one by one),
each becomes that item's :class:`UnpicklableError` naming the step.  A
BaseException raised by the function comes back as itself.

Workers are fresh interpreters (``python -c``), not forks: safe in threaded
programs, and the caller's ``__main__`` is never re-imported.  Functions and
items are pickled with cloudpickle (lambdas and closures work), keeping the
file names of code pickled by value so worker tracebacks show the lines.  Each
worker has its own pair of pipes, so no lock is shared between processes, and
only the manager thread touches workers, which keeps the bookkeeping
single-threaded.  Each worker leads its own process group: what the user's
function forks dies with it, and the terminal's Ctrl-C reaches only the parent.
Workers get their share of the CPUs for native thread pools (``OMP_NUM_THREADS``
and the like in their environment, see ``_native``), and start on the pool's
creation for a shared pool, so the interpreters start while the run sets up.

The pool is one class cut by job into a stack of modules, each a class that
uses only those below it (every field is set once, by ``WorkerPool``)::

    Backend         _process.py         the caller's side (submit, warm, forget) and the manager's loop
    CrashHandling   _process_crash.py   deadlines and deaths: what a dead or late worker leaves
    FrameDispatch   _process_frames.py  jobs down the pipes, frames back, futures resolved
    WorkerPool      _process_pool.py    the pool's state; workers started, stopped, killed, reaped
"""

from __future__ import annotations

import math
import os
import select
import threading
import time
from concurrent.futures import Future

from .. import _sigmask
from .._task import SharedCall, Task
from .._worker import FN_CACHE_SIZE
from . import _crossing, _shm
from ._process_crash import CrashHandling
from ._process_pool import _broken_pool, _dumps, _Job

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, ClassVar


class Backend(CrashHandling):
    """``mode="process"``: see the module docstring."""

    name: ClassVar[str] = "process"
    prefetch: ClassVar[int] = 2
    target_chunk_seconds: ClassVar[float] = 0.02
    concurrent_items: ClassVar[bool] = False

    @property
    def broken(self) -> bool:
        """True once the pool cannot run work any more (see ``BrokenProcessPool``)."""
        return self._broken is not None

    # -- caller side ---------------------------------------------------------

    def submit(self, task: Task) -> Future[Any]:
        if self._broken is not None:
            raise _broken_pool(str(self._broken)) from self._broken
        if self._closing:
            raise RuntimeError("cannot schedule new futures after shutdown")
        fn_key, fn_blob = self._function_blob(task)
        packed = _shm.pack(task.items)  # big buffers: through shared memory, not the pipe
        items_blob = packed[0] if packed is not None else _crossing.dumps_items(task.items, task.start)
        job = _Job(task, next(self._task_ids), fn_key, fn_blob, items_blob)
        self._jobs[job.future] = job
        job.future.add_done_callback(self._forget)
        if packed is not None:
            job.future.add_done_callback(packed[1])
        with self._lock:
            self._pending.append(job)
            if self._manager is None:
                self._manager = threading.Thread(
                    target=_sigmask.service(self._manage), name="gearshift-process-manager", daemon=True
                )
                self._manager.start()
        self._wake()
        return job.future

    def warm(self, fn: Callable[..., Any] | None = None) -> None:
        """Start every worker now, without waiting for them: work submitted later finds them ready.

        ``mode="auto"`` calls it when it has chosen processes and keeps running
        items on the calling thread while the interpreters start (see :meth:`ready`).
        With ``fn``, each worker also unpickles it once, ahead of any work, so
        that it imports what fn needs (NumPy, the user's module) while it is
        idle: when the calling thread ran every item itself, the next run finds
        workers that need nothing more (a run of 24 NumPy items once took
        0.24 s instead of 0.08 for want of it).  At the pool's shutdown a worker
        still importing for nothing is killed, not waited for.
        """
        prime = None
        if fn is not None:
            try:
                prime = _dumps(fn, "function")
            except Exception:  # the work's first task says what does not pickle
                pass
        with self._lock:
            if self._closing or self._broken is not None:
                return
            self._warming = True
            if prime is not None:
                self._prime = prime
            if self._manager is None:
                self._manager = threading.Thread(
                    target=_sigmask.service(self._manage), name="gearshift-process-manager", daemon=True
                )
                self._manager.start()
        self._wake()

    def ready(self) -> bool:
        """True when every worker has started and said so, and loaded the function :meth:`warm` sent it
        (or the pool is broken: nothing to wait for)."""
        if self._broken is not None:
            return True
        procs = list(self._procs)
        return len(procs) >= self.workers and all(w.ready and not w.priming for w in procs) and self._prime is None

    def forget(self, fn_id: int) -> None:
        """A run is over: drop its function (and the ``shared=`` object bound to it) here and in the workers.

        Jobs of that run still queued keep their own copy of the pickled
        function and send it again if a worker no longer has it.
        """
        if self._fn_blobs.pop(fn_id, None) is not None:
            self._release(fn_id)
            self._forgotten.append(fn_id)
            self._wake()

    def _forget(self, future: Future[Any]) -> None:
        self._jobs.pop(future, None)

    def _function_blob(self, task: Task) -> tuple[int, bytes]:
        if task.fn_id is None:
            return next(self._one_off_keys), _dumps(task.fn, "function")
        blob = self._fn_blobs.get(task.fn_id)
        if blob is None:
            packed = _shm.pack_object(task.fn) if type(task.fn) is SharedCall else None
            if packed is not None:  # a big shared= object: workers read it from shared memory
                blob, self._fn_release[task.fn_id] = packed
            else:
                blob = _dumps(task.fn, "function")
            self._fn_blobs[task.fn_id] = blob
            if len(self._fn_blobs) > FN_CACHE_SIZE:
                self._release(self._fn_blobs.popitem(last=False)[0])
        return task.fn_id, blob

    def _release(self, fn_id: int) -> None:
        release = self._fn_release.pop(fn_id, None)
        if release is not None:
            release()

    # -- manager thread ------------------------------------------------------

    def _manage(self) -> None:
        try:
            while True:
                self._settle()
                if self._closing and not self._pending and not any(w.outstanding for w in self._procs):
                    return
                by_fd = {w.rx.fileno(): w for w in self._procs}
                deadline = self._next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                for ready in _wait([self._wake_r, *by_fd], timeout):
                    if ready == self._wake_r:
                        os.read(self._wake_r, 65536)
                    else:
                        self._receive(by_fd[ready])
                if deadline is not None:
                    self._enforce_deadlines(time.monotonic())
        except BaseException as exc:  # a bug or a broken pool: fail everything, never hang
            self._break(exc)
        finally:
            self._stop_workers()

    def _settle(self) -> None:
        """Start the workers that waiting jobs need and send each what it can take, until nothing changes.

        Sending a job can find its worker dead before its pipe's end of file
        was seen: the send fails, and the jobs that worker held go back to
        pending (``_process_crash.py``).  A worker must start for them now:
        nothing else would wake the manager for them (a deep run of the
        semantics harness caught the hang).
        """
        while True:
            self._keep_workers()
            self._dispatch()
            if not self._pending or len(self._procs) >= self.workers:
                return


def _wait(fds: list[int], timeout: float | None) -> list[int]:
    """The descriptors among ``fds`` that are readable or closed, waiting at most ``timeout`` seconds."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(None if timeout is None else math.ceil(timeout * 1000))]
