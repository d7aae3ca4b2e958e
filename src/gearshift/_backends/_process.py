"""``mode="process"``: chunks run in worker processes, real parallelism for Python code.

Data flow::

    caller threads            manager thread (one per pool)          worker processes
    --------------            -----------------------------          ----------------
    submit(task)
      pickle fn (once a run)
      pickle items  --------> pending deque
      return Future           dispatch: worker with fewest in
                              flight (<= prefetch) ---- pipe ----->  recv, unpickle, run_chunk
                              wait(result pipes, wake pipe)
    future resolves <-------  result frame  <------------ pipe ------  send ChunkResult
                              EOF on a pipe = worker died:
                                first job in flight fails with
                                WorkerCrashed, the rest go back to
                                pending, a new worker is started

Workers are fresh interpreters (``python -c``), not forks: safe in threaded
programs, and the caller's ``__main__`` is never re-imported.  Functions and
items are pickled with cloudpickle (lambdas and closures work).  Each worker
has its own pair of pipes, so no lock is shared between processes, and only
the manager thread touches workers, which keeps the bookkeeping single-threaded.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pickle
import signal
import subprocess
import sys
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection, wait
from typing import Any, ClassVar

import cloudpickle

from .._cpu import usable_cpus
from .._errors import RemoteTraceback, UnpicklableError, WorkerCrashed
from .._task import Task, unwrap
from .._worker import FN_CACHE_SIZE

#: a job bigger than this is sent only to an idle worker, so a write can never
#: block the manager while that worker is busy
_SMALL_JOB = 16 * 1024
_BOOT = (
    "import sys; sys.path.insert(0, {path!r}); "
    "from gearshift._worker import main; main(int(sys.argv[1]), int(sys.argv[2]))"
)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_live: weakref.WeakSet[Backend] = weakref.WeakSet()


class _Job:
    __slots__ = (
        "call",
        "fn_blob",
        "fn_key",
        "future",
        "is_async",
        "items_blob",
        "single",
        "size",
        "start",
        "stop",
        "task_id",
    )

    def __init__(self, task: Task, task_id: int, fn_key: int, fn_blob: bytes, items_blob: bytes) -> None:
        self.task_id = task_id
        self.future: Future[Any] = Future()
        self.fn_key, self.fn_blob, self.items_blob = fn_key, fn_blob, items_blob
        self.call, self.is_async, self.stop = task.call, task.is_async, task.stop_on_error
        self.size, self.start, self.single = len(task.items), task.start, task.single


class _Worker:
    __slots__ = ("known", "outstanding", "proc", "rx", "sent", "tx")

    def __init__(self, proc: subprocess.Popen[bytes], rx: Connection, tx: Connection) -> None:
        self.proc, self.rx, self.tx = proc, rx, tx
        self.outstanding: deque[_Job] = deque()
        self.known: OrderedDict[int, None] = OrderedDict()  # mirrors the worker's function cache
        self.sent = 0


class Backend:
    name: ClassVar[str] = "process"
    prefetch: ClassVar[int] = 2
    target_chunk_seconds: ClassVar[float] = 0.02
    concurrent_items: ClassVar[bool] = False

    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        max_tasks_per_child: int | None = None,
    ) -> None:
        self.workers = workers or self.default_workers(False)
        self._init_blob = None if initializer is None else _dumps((initializer, initargs), "initializer")
        self._max_tasks = max_tasks_per_child
        self._pending: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = _pipe_pair()
        self._procs: list[_Worker] = []
        self._manager: threading.Thread | None = None
        self._closing = False
        self._broken: BaseException | None = None
        self._task_ids = itertools.count()
        self._one_off_keys = itertools.count(-1, -1)  # negative keys: sent every time, not cached
        self._fn_blobs: OrderedDict[int, bytes] = OrderedDict()
        _live.add(self)

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        return usable_cpus()

    # -- caller side ---------------------------------------------------------

    def submit(self, task: Task) -> Future[Any]:
        if self._broken is not None:
            raise BrokenProcessPool(str(self._broken)) from self._broken
        if self._closing:
            raise RuntimeError("cannot submit work after shutdown()")
        fn_key, fn_blob = self._function_blob(task)
        job = _Job(task, next(self._task_ids), fn_key, fn_blob, _dumps_items(task.items, task.start))
        with self._lock:
            self._pending.append(job)
            if self._manager is None:
                self._manager = threading.Thread(target=self._manage, name="gearshift-process-manager", daemon=True)
                self._manager.start()
        self._wake()
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closing = True
            if cancel_futures:
                while self._pending:
                    self._pending.popleft().future.cancel()
            manager = self._manager
        self._wake()
        if wait and manager is not None and manager is not threading.current_thread():
            manager.join()

    def _function_blob(self, task: Task) -> tuple[int, bytes]:
        if task.fn_id is None:
            return next(self._one_off_keys), _dumps(task.fn, "function")
        blob = self._fn_blobs.get(task.fn_id)
        if blob is None:
            blob = _dumps(task.fn, "function")
            self._fn_blobs[task.fn_id] = blob
            if len(self._fn_blobs) > FN_CACHE_SIZE:
                self._fn_blobs.popitem(last=False)
        return task.fn_id, blob

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # the pipe is full of wake-ups already
            pass

    # -- manager thread ------------------------------------------------------

    def _manage(self) -> None:
        try:
            while True:
                self._keep_workers()
                self._dispatch()
                if self._closing and not self._pending and not any(w.outstanding for w in self._procs):
                    return
                by_conn = {w.rx: w for w in self._procs}
                for ready in wait([self._wake_r, *by_conn]):
                    if ready is self._wake_r:
                        os.read(self._wake_r, 65536)
                    else:
                        self._receive(by_conn[ready])  # type: ignore[index]
        except BaseException as exc:  # a bug or a broken pool: fail everything, never hang
            self._break(exc)
        finally:
            self._stop_workers()

    def _keep_workers(self) -> None:
        # Workers start on first demand and are replaced (after a crash, or
        # max_tasks_per_child) only while there is work waiting for them.
        while self._pending and len(self._procs) < self.workers:
            self._procs.append(self._spawn())

    def _spawn(self) -> _Worker:
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
                    "-c",
                    _BOOT.format(path=_PACKAGE_PARENT),
                    str(p2c_r),
                    str(c2p_w),
                ],
                pass_fds=(p2c_r, c2p_w),
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(p2c_r)
            os.close(c2p_w)
        worker = _Worker(proc, Connection(c2p_r, writable=False), Connection(p2c_w, readable=False))
        worker.tx.send_bytes(pickle.dumps((list(sys.path), self._init_blob, self._max_tasks)))
        return worker

    def _dispatch(self) -> None:
        while self._pending:
            worker = self._pick_worker(self._pending[0])
            if worker is None:
                return
            with self._lock:
                if not self._pending:
                    return
                job = self._pending.popleft()
            if not job.future.running() and not job.future.set_running_or_notify_cancel():
                continue  # cancelled while it waited (a requeued job is running already)
            blob = None
            if job.fn_key not in worker.known:
                blob = job.fn_blob
                if job.fn_key >= 0:
                    worker.known[job.fn_key] = None
                    if len(worker.known) > FN_CACHE_SIZE:
                        worker.known.popitem(last=False)
            frame = (job.task_id, job.fn_key, blob, job.call, job.is_async, job.stop, job.items_blob)
            worker.outstanding.append(job)
            worker.sent += 1
            try:
                worker.tx.send_bytes(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError:
                self._on_death(worker)

    def _pick_worker(self, job: _Job) -> _Worker | None:
        best: _Worker | None = None
        for w in self._procs:
            if self._max_tasks is not None and w.sent >= self._max_tasks:
                continue
            busy = len(w.outstanding)
            if busy >= self.prefetch or (busy and len(job.items_blob) > _SMALL_JOB):
                continue
            if best is None or busy < len(best.outstanding):
                best = w
        return best

    def _receive(self, worker: _Worker) -> None:
        try:
            frame = worker.rx.recv_bytes()
        except (EOFError, OSError):
            self._on_death(worker)
            return
        self._handle(worker, frame)

    def _handle(self, worker: _Worker, frame: bytes) -> None:
        try:
            message = pickle.loads(frame)
        except Exception as exc:  # a result type the parent cannot import
            job = worker.outstanding.popleft()
            job.future.set_exception(
                UnpicklableError(f"the worker's result could not be unpickled here: {type(exc).__name__}: {exc}")
            )
            return
        tag = message[0]
        if tag == "ready":
            return
        if tag == "init_failed":
            self._break(BrokenProcessPool(f"a worker's initializer failed:\n{message[1]}"))
            return
        _, ok, payload = message
        job = worker.outstanding.popleft()
        if ok and job.single:
            try:
                job.future.set_result(unwrap(payload))
            except Exception as exc:
                job.future.set_exception(exc)
        elif ok:
            job.future.set_result(payload)
        else:
            error, text = payload
            error.__cause__ = RemoteTraceback(text)
            job.future.set_exception(error)

    def _on_death(self, worker: _Worker) -> None:
        # Results written before the worker died are still in the pipe: keep them.
        try:
            while worker.rx.poll(0):
                self._handle(worker, worker.rx.recv_bytes())
        except (EOFError, OSError):
            pass
        code = worker.proc.wait()
        if worker in self._procs:
            self._procs.remove(worker)
        _close(worker)
        if worker.outstanding:
            job = worker.outstanding.popleft()
            job.future.set_exception(_crash_error(worker.proc.pid, code, job))
            with self._lock:
                self._pending.extendleft(reversed(worker.outstanding))
            worker.outstanding.clear()

    def _break(self, exc: BaseException) -> None:
        self._broken = exc
        with self._lock:
            jobs = list(self._pending)
            self._pending.clear()
        for w in self._procs:
            jobs.extend(w.outstanding)
            w.outstanding.clear()
        for job in jobs:
            if not job.future.done():
                if job.future.running() or job.future.set_running_or_notify_cancel():
                    job.future.set_exception(BrokenProcessPool(str(exc)))
        self._closing = True

    def _stop_workers(self) -> None:
        for w in self._procs:
            with contextlib.suppress(OSError):
                w.tx.send_bytes(pickle.dumps(None))
        for w in self._procs:
            try:
                w.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            _close(w)
        self._procs.clear()


def _crash_error(pid: int, code: int, job: _Job) -> WorkerCrashed:
    if code < 0:
        try:
            how = f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
    else:
        how = f"exited with code {code}"
    index = job.start if job.size == 1 else None
    where = f"item {index}" if index is not None else f"one of items {job.start}..{job.start + job.size - 1}"
    return WorkerCrashed(f"worker process {pid} {how} while running {where}", index=index, exitcode=code)


def _close(worker: _Worker) -> None:
    for conn in (worker.rx, worker.tx):
        with contextlib.suppress(OSError):
            conn.close()


def _pipe_pair() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


def _dumps(obj: Any, what: str) -> bytes:
    try:
        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception as exc:
        name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
        raise UnpicklableError(
            f"cannot pickle the {what} {name!r} to send it to a worker process: {type(exc).__name__}: {exc}. "
            "Define it at module level (not inside another function) and make sure everything it refers to "
            "can be pickled, or use mode='thread', which needs no pickling."
        ) from exc


def _dumps_items(items: Sequence[Any], start: int) -> bytes:
    try:
        return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:
        return cloudpickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception as exc:
        for offset, item in enumerate(items):
            try:
                cloudpickle.dumps(item)
            except Exception as item_exc:
                raise UnpicklableError(
                    f"cannot pickle item {start + offset} ({type(item).__qualname__}: {item!r:.60}) to send it "
                    f"to a worker process: {type(item_exc).__name__}: {item_exc}. Items travel between "
                    "processes: pass plain data (or objects defined at module level), or use mode='thread'."
                ) from item_exc
        raise UnpicklableError(f"cannot pickle items {start}..: {exc}") from exc


@atexit.register
def _shutdown_all() -> None:
    for backend in list(_live):
        backend.shutdown(wait=True, cancel_futures=True)
