"""What the distributed backends (dask, ray) share: the worker-side entry point,
result decoding, engine-backed futures and a deadline watcher.

Data flow for one chunk::

    runner            backend (this process)               engine worker (elsewhere)
    ------            ----------------------               -------------------------
    submit(task) ---> engine.submit(run_remote,       ---> run_remote(blob): unpickle
                        pack(task) (_shipping.py:            (a missing module fails each
                        own modules by value), ...)          item, named), then
                      EngineFuture (cancel -> engine)        run_chunk (per-item errors
                      deadline registered if timeout=        captured with traceback text)
                                                             -> cloudpickle bytes
    future <--------  decode(bytes) / WorkerCrashed  <----- result, or the engine's error

The engines pickle what they return themselves, but a result that does not
pickle would then fail the whole chunk with an engine error; pickling on the
worker (with the same fallbacks as the process backend) keeps every good
result of the chunk and names the bad one.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import cloudpickle

from .._errors import TaskTimeout, UnpicklableError, WorkerCrashed
from .._task import ChunkResult, Raised, Task, unwrap
from .._task_run import run_chunk
from ._shipping import pack, unpack

#: a chunk that has not come back after ``timeout x items x SLACK + GRACE``
#: seconds is given up on from this side.  Workers apply ``timeout`` to each
#: item themselves, so this only catches a chunk that never returns (a worker
#: that hangs); the factor covers the wait behind the other chunks queued on
#: the same worker (``prefetch`` per worker), the grace an engine's slow start
SLACK = 3.0
GRACE = 10.0


def run_remote(blob: bytes, start: int, size: int, engine: str) -> bytes:
    """Run the task pickled in ``blob`` (by :func:`._shipping.pack`) on an engine worker.

    The result comes pickled, per-item tracebacks as text.  ``start``, ``size`` and
    ``engine`` say which items the task holds and where it runs, for the error that
    fails them all when a module the task needs is missing on the worker.

    With ``task.timeout``, each item of a plain function runs on a helper
    thread; one that is still running at the limit is reported as
    :class:`~gearshift.TaskTimeout` and left behind (a thread cannot be
    stopped: its result is discarded when it comes, as in ``thread`` mode),
    so the worker goes on with the next item.  Coroutines are cancelled.
    """
    unpacked = unpack(blob, start, size, engine)
    if isinstance(unpacked, ChunkResult):
        return cloudpickle.dumps(unpacked, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    task = unpacked
    if task.timeout is None or task.is_async:  # arun_chunk applies the timeout to coroutines itself
        result = run_chunk(task)
    else:
        result = _run_timed(task, task.timeout)
    for i, outcome in enumerate(result.outcomes):
        if type(outcome) is Raised:
            result.outcomes[i] = Raised(outcome.exception, outcome.traceback_text())
    try:
        return cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception:
        from .._worker_send import _picklable_outcome  # the process workers' fallbacks, reused

        outcomes = [_picklable_outcome(o) for o in result.outcomes]
        failures = sum(1 for o in outcomes if type(o) is Raised)
        fixed = ChunkResult(outcomes, result.elapsed, result.cpu, failures, trace=result.trace)
        return cloudpickle.dumps(fixed, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


def remote_args(task: Task, engine: str) -> tuple[bytes, int, int, str]:
    """The arguments of :func:`run_remote` for ``task``."""
    return pack(task), task.start, len(task.items), engine


def _run_timed(task: Task, timeout: float) -> ChunkResult:
    outcomes: list[Any] = []
    failures = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for offset, item in enumerate(task.items):
        one = Task(task.fn, [item], task.call, start=task.start + offset)
        box: list[Any] = []
        helper = threading.Thread(
            target=lambda one=one, box=box: box.append(run_chunk(one).outcomes[0]),
            name="gearshift-timed-item",
            daemon=True,
        )
        helper.start()
        helper.join(timeout)
        outcome = box[0] if box else Raised(item_timeout(timeout, task.start + offset))
        outcomes.append(outcome)
        if type(outcome) is Raised:
            failures += 1
            if task.stop_on_error:
                break
    return ChunkResult(outcomes, time.perf_counter() - t0, time.thread_time() - c0, failures)


def item_timeout(timeout: float, index: int | None) -> TaskTimeout:
    return TaskTimeout(
        f"the item did not finish within timeout={timeout:g} s (its result, if any, was discarded)",
        index=index,
        timeout=timeout,
    )


def decode(blob: bytes, task: Task) -> Any:
    """The value of what :func:`run_remote` returned: a ChunkResult, or a single task's value (may raise)."""
    try:
        result: ChunkResult = pickle.loads(blob)
    except Exception as exc:  # a result type this process cannot import
        raise UnpicklableError(f"the worker's result could not be unpickled here: {type(exc).__name__}: {exc}") from exc
    return unwrap(result) if task.single else result


def crashed(engine: str, task: Task, cause: BaseException, what: str = "a {engine} worker died") -> WorkerCrashed:
    """The error for a chunk whose worker died (after the engine's own retries).

    Also for a chunk the engine dropped without being asked to (``what`` says
    so): failing it, rather than cancelling it, lets the runner retry or report
    its items, so none goes missing.
    """
    size = len(task.items)
    index = task.start if size == 1 else None
    where = f"item {task.start}" if size == 1 else f"one of items {task.start}..{task.start + size - 1}"
    happened = what.format(engine=engine)
    error = WorkerCrashed(f"{happened} while running {where}: {type(cause).__name__}: {cause}", index=index)
    error.__cause__ = cause
    return error


def _nothing() -> None:
    pass


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:  # the engine may be shutting down already; the task is ours to forget
        pass


class EngineFuture(Future[Any]):
    """A standard future tied to an engine's task.

    :meth:`cancel` also cancels the engine's task; ``stop`` (default: the same
    as cancel) is how a task past its deadline is stopped.
    """

    def __init__(self, cancel: Callable[[], object], stop: Callable[[], object] | None = None) -> None:
        super().__init__()
        self._cancel_engine = cancel
        self._stop_engine = stop or cancel

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        _quietly(self._cancel_engine)
        return True

    def stop_engine(self) -> None:
        """Stop the engine's task (past its deadline); this future is left as it is."""
        _quietly(self._stop_engine)

    def release(self) -> None:
        """Forget the engine's task (it is finished): nothing here keeps its result alive on the cluster."""
        self._cancel_engine = self._stop_engine = _nothing

    def settle(self, result: Any = None, exception: BaseException | None = None) -> None:
        """Resolve unless already resolved (cancelled, timed out): late engine results are dropped."""
        try:
            if exception is not None:
                self.set_exception(exception)
            else:
                self.set_result(result)
        except Exception:  # InvalidStateError: someone got there first
            pass


class Deadlines:
    """One thread that fails futures still pending at their deadline.

    The future fails with :class:`~gearshift.TaskTimeout`, then its engine
    task is stopped (:meth:`EngineFuture.stop_engine`).
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, EngineFuture, TaskTimeout]] = []
        self._cond = threading.Condition()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, future: EngineFuture, task: Task) -> None:
        assert task.timeout is not None
        size = len(task.items)
        when = time.monotonic() + task.timeout * size * SLACK + GRACE
        index = task.start if size == 1 else None
        error = item_timeout(task.timeout, index)
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._ids), future, error))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="gearshift-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify()

    def _watch(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    wait = None if not self._heap else self._heap[0][0] - time.monotonic()
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, future, error = heapq.heappop(self._heap)
            if future.done():
                continue
            future.settle(exception=error)  # first: stopping the engine's task must not look like a cancel
            future.stop_engine()
