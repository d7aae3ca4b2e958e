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
parent can read it if the worker dies (``_worker.OutcomeLog``): a crash costs
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
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import multiprocessing.process
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _trace
from .._cpu import usable_cpus
from .._errors import RemoteTraceback, WorkerCrashed
from .._frames import FrameReader, PipeEnd
from .._native import worker_environment
from .._task import ChunkResult, Raised, SharedCall, Task, timeout_error, unwrap
from .._worker import FN_CACHE_SIZE, LOG_SLOTS, PHASE_ITEMS, PHASE_UNPICKLING, STEP_UNPICKLE_ITEM
from . import _crossing, _shm, _zygote
from ._crossing import check_pickles as check_pickles  # _api checks up front with these

if TYPE_CHECKING:
    from concurrent.futures.process import BrokenProcessPool

#: a job bigger than this is sent only to an idle worker, so a write can never
#: block the manager while that worker is busy
_SMALL_JOB = 16 * 1024
_BOOT = (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import sys; sys.path.insert(0, {path!r}); "
    "from gearshift._worker import main; main(*map(int, sys.argv[1:]))"
)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: workers dying before they are ready this many times in a row break the pool
MAX_STARTUP_FAILURES = 3
#: extra seconds an async chunk gets past ``timeout`` (its items time themselves
#: out on the worker's loop; the kill is a backstop for a blocked loop)
ASYNC_KILL_GRACE = 1.0

_live: weakref.WeakSet[Backend] = weakref.WeakSet()
_dumps = _crossing.dumps  # _api checks functions up front with it
#: what a worker that died before its task ran was doing, by the phase in its outcome log
_UNPICKLING_STEPS = {PHASE_UNPICKLING: "unpickling the function in the worker", PHASE_ITEMS: STEP_UNPICKLE_ITEM}
#: the kind byte that starts every frame a worker sends (see _worker.py)
_ITEM, _MOVED, _RESULT, _INTS = b"I"[0], b"P"[0], b"R"[0], b"L"[0]


class _Job:
    __slots__ = (
        "call",
        "fn_blob",
        "fn_key",
        "future",
        "is_async",
        "items_blob",
        "kill_at",
        "partial",
        "single",
        "size",
        "slot",
        "start",
        "stop",
        "task_id",
        "timed",
        "timeout",
        "trace",
    )

    def __init__(self, task: Task, task_id: int, fn_key: int, fn_blob: bytes, items_blob: bytes) -> None:
        self.task_id = task_id
        self.future: Future[Any] = Future()
        self.fn_key, self.fn_blob, self.items_blob = fn_key, fn_blob, items_blob
        self.call, self.is_async, self.stop = task.call, task.is_async, task.stop_on_error
        self.size, self.start, self.single = len(task.items), task.start, task.single
        self.timeout, self.trace = task.timeout, task.trace
        #: under a timeout the worker streams every outcome ("I" frames)
        self.timed = task.timeout is not None
        #: outcomes that arrived before the chunk's result frame ("I" or "P" frames)
        self.partial: list[Any] = []
        #: which of its worker's outcome logs this job's outcomes are recorded in
        self.slot = 0
        #: when set, the job was aborted: kill its worker if it still runs then
        self.kill_at: float | None = None


class _Worker:
    __slots__ = ("born", "known", "logs", "outstanding", "proc", "progress_at", "ready", "rx", "sent", "tx")

    def __init__(
        self, proc: subprocess.Popen[bytes] | _zygote.ForkedWorker, rx: FrameReader, tx: PipeEnd, logs: list[int]
    ) -> None:
        self.proc, self.rx, self.tx = proc, rx, tx
        self.logs = logs  # the outcome logs' file descriptors, read after a crash (see _worker.py)
        self.outstanding: deque[_Job] = deque()
        self.known: OrderedDict[int, None] = OrderedDict()  # mirrors the worker's function cache
        self.sent = 0
        self.ready = False  # said hello: startup time never counts against a timeout
        self.progress_at = 0.0  # when the running item (the head job's next one) started
        self.born = time.monotonic_ns()  # for a trace's pool start event


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
        self._fn_release: dict[int, Callable[[], None]] = {}  # shared-memory files of a cached function
        self._jobs: dict[Future[Any], _Job] = {}  # unresolved jobs, for abort()
        self._forgotten: deque[int] = deque()  # functions of finished runs, to drop from the workers
        self._startup_failures = 0
        self._warming = False  # start workers before any work arrives (see warm())
        self._cpus = usable_cpus()
        #: forks workers from one clean pre-started interpreter (see _zygote.py); None: not started yet
        self._zygote: _zygote.Zygote | None = None
        self._use_zygote = _zygote.wanted()
        _live.add(self)

    @property
    def broken(self) -> bool:
        """True once the pool cannot run work any more (see ``BrokenProcessPool``)."""
        return self._broken is not None

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        return usable_cpus()

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

    def abort(self, futures: list[Future[Any]], grace: float) -> None:
        """Kill the workers still running these jobs ``grace`` seconds from now."""
        kill_at = time.monotonic() + grace
        for future in futures:
            job = self._jobs.get(future)
            if job is not None and (job.kill_at is None or kill_at < job.kill_at):
                job.kill_at = kill_at
        self._wake()

    def warm(self) -> None:
        """Start every worker now, without waiting for them: work submitted later finds them ready.

        ``mode="auto"`` calls it when it has chosen processes and keeps running
        items on the calling thread while the interpreters start (see :meth:`ready`).
        """
        with self._lock:
            if self._closing or self._broken is not None:
                return
            self._warming = True
            if self._manager is None:
                self._manager = threading.Thread(target=self._manage, name="gearshift-process-manager", daemon=True)
                self._manager.start()
        self._wake()

    def ready(self) -> bool:
        """True when every worker has started and said so (or the pool is broken: nothing to wait for)."""
        if self._broken is not None:
            return True
        procs = list(self._procs)
        return len(procs) >= self.workers and all(w.ready for w in procs)

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

    def _keep_workers(self) -> None:
        # Workers start on first demand and are replaced (after a crash, or
        # max_tasks_per_child) only while there is work waiting for them.
        # warm() asks for the full complement once, ahead of any work.
        while (self._pending or self._warming) and len(self._procs) < self.workers:
            self._procs.append(self._spawn())
        self._warming = False

    def _spawn(self) -> _Worker:
        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        logs = [_crossing.log_file() for _ in range(LOG_SLOTS)]
        # Native thread pools (BLAS, OpenMP) read their size when they load: each worker's
        # take its share of the CPUs, or the workers' pools together oversubscribe them.
        caps = worker_environment(self.workers, self._cpus, os.environ)
        env = {**os.environ, **caps} if caps else None
        try:
            forked = self._fork_worker([p2c_r, c2p_w, *logs], env or dict(os.environ)) if self._use_zygote else None
            proc: subprocess.Popen[bytes] | _zygote.ForkedWorker = forked or subprocess.Popen(
                [
                    sys.executable,
                    *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
                    "-c",
                    _BOOT.format(path=_PACKAGE_PARENT),
                    str(p2c_r),
                    str(c2p_w),
                    *map(str, logs),
                ],
                pass_fds=(p2c_r, c2p_w, *logs),
                stdin=subprocess.DEVNULL,
                env=env,
                # Its own process group: the terminal's Ctrl-C is the parent's to handle, and
                # whatever the user's function forks dies with the worker (see _kill).
                process_group=0,
            )
        except BaseException:
            for fd in logs:
                os.close(fd)
            raise
        finally:
            os.close(p2c_r)
            os.close(c2p_w)
        worker = _Worker(proc, FrameReader(c2p_r), PipeEnd(p2c_w), logs)
        # The authkey lets workers use multiprocessing proxies (Manager objects) the caller passes.
        authkey = bytes(multiprocessing.process.current_process().authkey)
        worker.tx.send_bytes(pickle.dumps((list(sys.path), self._init_blob, self._max_tasks, authkey)))
        return worker

    def _fork_worker(self, fds: list[int], env: dict[str, str]) -> _zygote.ForkedWorker | None:
        """A worker forked by the pool's zygote (started on first use, again if it died); None if it cannot."""
        for _ in range(2):
            if self._zygote is None or not self._zygote.alive():
                if self._zygote is not None:
                    self._zygote.close()
                self._zygote = _zygote.take_early() or _zygote.Zygote(_PACKAGE_PARENT, env)
            try:
                return self._zygote.spawn(fds, env)
            except (EOFError, ConnectionError):  # it died: its workers went with it, and their pipes say so
                self._zygote.close()
                self._zygote = None
            except OSError:  # it cannot take this request (an environment over 1 MiB): this worker starts fresh
                return None
        self._use_zygote = False  # twice in a row: start fresh interpreters instead
        return None

    def _dispatch(self) -> None:
        while self._forgotten:
            fn_key = self._forgotten.popleft()
            for w in self._procs:
                if w.known.pop(fn_key, 0) is None:
                    try:
                        w.tx.send_bytes(pickle.dumps(fn_key))
                    except OSError:
                        pass  # it died: the next wait() sees its pipe close
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
            if job.kill_at is not None:  # aborted while it waited to be requeued
                job.future.set_exception(CancelledError())
                continue
            blob = None
            if job.fn_key not in worker.known:
                blob = job.fn_blob
                if job.fn_key >= 0:
                    worker.known[job.fn_key] = None
                    if len(worker.known) > FN_CACHE_SIZE:
                        worker.known.popitem(last=False)
            frame = (
                job.task_id, job.fn_key, blob, job.call, job.is_async, job.stop, job.items_blob, job.timeout,
                job.start, job.size, job.trace,
            )  # fmt: skip
            if not worker.outstanding:
                worker.progress_at = time.monotonic()
            worker.outstanding.append(job)
            job.slot = worker.sent % LOG_SLOTS  # the worker takes its logs in turn, task by task
            job.partial = []  # a job sent again (its worker died before it started) starts afresh
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
            if busy:
                size = len(job.items_blob) + (0 if job.fn_key in w.known else len(job.fn_blob))
                # No more jobs in flight than the worker has outcome logs (see _worker.LOG_SLOTS).
                if busy >= min(self.prefetch, LOG_SLOTS) or size > _SMALL_JOB:
                    continue
            if best is None or busy < len(best.outstanding):
                best = w
        return best

    def _receive(self, worker: _Worker) -> bool:
        """Handle every frame the worker has written so far; False if there was none."""
        try:
            frames = worker.rx.frames()
        except (EOFError, OSError):
            self._on_death(worker)
            return True
        for frame in frames:
            self._handle(worker, frame)
        return bool(frames)

    def _handle(self, worker: _Worker, frame: bytes) -> None:
        kind = frame[0]
        if kind == _ITEM:  # one item of a timed chunk finished; the next starts now
            job = worker.outstanding[0]
            job.partial.append(_crossing.load_outcome(memoryview(frame)[1:], job.start + len(job.partial)))
            worker.progress_at = time.monotonic()
            return
        if kind == _INTS:  # a chunk whose outcomes are all ints: they are in its outcome log
            _, result, count = pickle.loads(memoryview(frame)[1:])
            job = worker.outstanding.popleft()
            worker.progress_at = time.monotonic()
            # Read now: the worker reuses this log only for a task sent after this one is done.
            result.outcomes = _crossing.read_ints(worker.logs[job.slot], count)
            result.nbytes = len(frame) + 8 * count
            self._resolve(job, result)
            return
        if kind == _MOVED:  # outcomes the worker could not keep in its log
            job = worker.outstanding[0]
            count = int.from_bytes(frame[1:9], "little")
            # One record per outcome: a record that does not unpickle here fails its item alone.
            job.partial.extend(_crossing.decode_records(bytes(frame[9:]), count, job.start + len(job.partial)))
            return
        try:
            message = pickle.loads(memoryview(frame)[1:])
        except BaseException as exc:  # a result this process cannot unpickle: that item fails
            if kind != _RESULT:
                raise
            self._result_unloadable(worker, worker.outstanding.popleft(), exc)
            return
        tag = message[0]
        if tag == "ready":
            worker.ready = True
            _trace.pool_started(worker.proc.pid, worker.born)
            worker.progress_at = time.monotonic()
            self._startup_failures = 0
            return
        if tag == "init_failed":
            self._break(_broken_pool(f"a worker's initializer failed:\n{message[1]}"))
            return
        _, ok, payload = message
        job = worker.outstanding.popleft()
        worker.progress_at = time.monotonic()
        if ok and job.timed:
            payload.outcomes = job.partial
            payload.failures = sum(1 for o in job.partial if type(o) is Raised)
        if ok:
            payload.nbytes = len(frame)  # for auto: results that grow huge change the plan
            self._resolve(job, payload)
        else:
            error, text = payload
            error.__cause__ = RemoteTraceback(text)
            job.future.set_exception(error)

    @staticmethod
    def _resolve(job: _Job, result: ChunkResult) -> None:
        if job.single:
            try:
                job.future.set_result(unwrap(result))
            except BaseException as exc:  # fn's own KeyboardInterrupt goes to the caller too
                job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _result_unloadable(self, worker: _Worker, job: _Job, exc: BaseException) -> None:
        """The chunk's result frame does not unpickle here: take its outcomes one by one from the log."""
        outcomes = list(job.partial)
        if not job.timed:
            task_id, _phase, first, logged = _crossing.read_log(worker.logs[job.slot], job.start)
            if task_id == job.task_id:
                outcomes.extend(logged[max(0, len(outcomes) - first) :])
            else:  # nothing to tell the items apart by (should not happen): fail them all, run none again
                outcomes.extend(_crossing.unloadable(exc, job.start + k) for k in range(len(outcomes), job.size))
        failures = sum(1 for o in outcomes if type(o) is Raised)
        self._resolve(job, ChunkResult(outcomes, 0.0, 0.0, failures))

    def _next_deadline(self) -> float | None:
        """The soonest moment a running job must be checked (timeout or abort), if any."""
        soonest: float | None = None
        for w in self._procs:
            if not w.outstanding or not w.ready:
                continue
            head = w.outstanding[0]
            for when in (_late_at(w, head), head.kill_at):
                if when is not None and (soonest is None or when < soonest):
                    soonest = when
        return soonest

    def _enforce_deadlines(self, now: float) -> None:
        for w in list(self._procs):
            if not w.outstanding or not w.ready:
                continue
            head = w.outstanding[0]
            late_at = _late_at(w, head)
            late = late_at is not None and now >= late_at
            if not late and (head.kill_at is None or now < head.kill_at):
                continue
            if self._receive(w):
                continue  # frames were waiting: they may have moved the deadline
            _kill(w)
            self._on_death(w, killed_for=head)

    def _on_death(self, worker: _Worker, killed_for: _Job | None = None) -> None:
        try:
            self._after_death(worker, killed_for)
        finally:
            _close(worker, logs=True)

    def _after_death(self, worker: _Worker, killed_for: _Job | None) -> None:
        # Results written before the worker died are still in the pipe: keep them.
        try:
            while frames := worker.rx.frames():
                for frame in frames:
                    self._handle(worker, frame)
        except (EOFError, OSError):
            pass
        code = _reap(worker)
        if worker in self._procs:
            self._procs.remove(worker)
        _close(worker)
        if not worker.ready and killed_for is None:
            # It never started the work it was sent: not the work's fault.
            with self._lock:
                self._pending.extendleft(reversed(worker.outstanding))
            worker.outstanding.clear()
            self._startup_failures += 1
            if self._startup_failures >= MAX_STARTUP_FAILURES and not self._closing:
                self._break(
                    _broken_pool(
                        f"{self._startup_failures} worker processes in a row died before they were ready (the last "
                        f"{_how(code)}); gearshift stopped starting new ones. Check that {sys.executable} starts "
                        "and can import gearshift, and that the initializer, if any, does not crash the process."
                    )
                )
            return
        if not worker.outstanding:
            return
        job = worker.outstanding.popleft()
        requeue = list(worker.outstanding)
        worker.outstanding.clear()
        if job.kill_at is not None:
            job.future.set_exception(CancelledError())
        elif killed_for is job:
            # Killed because it ran late: the item running then gets the timeout.
            self._cut_short(job, lambda i: timeout_error(i, job.timeout or 0.0, _killed(worker, "was killed")))
        elif killed_for is not None:
            requeue.insert(0, job)  # the late job finished just in time; this one had barely started
        else:
            try:
                self._crashed(worker, job, code)
            except BaseException as exc:  # a bug here must not leave the job unresolved
                job.future.set_exception(exc)
                raise
        for job in [j for j in requeue if j.kill_at is not None]:
            requeue.remove(job)  # aborted: no worker needs to start for it
            job.future.set_exception(CancelledError())
        with self._lock:
            self._pending.extendleft(reversed(requeue))

    def _crashed(self, worker: _Worker, job: _Job, code: int) -> None:
        """The worker died while it held ``job``: keep what finished, blame the item that was running.

        Outcomes come from the streamed frames and the job's outcome log; the
        log's header also says whether the worker had begun the task at all.
        """
        pid = worker.proc.pid
        task_id, phase, first, logged = _crossing.read_log(worker.logs[job.slot], job.start)
        if task_id != job.task_id or phase in (PHASE_UNPICKLING, PHASE_ITEMS):
            if not (job.timed and job.partial):  # (it streamed outcomes: it ran)
                # No item ran: each runs again alone (a single item is the culprit; a pickle
                # fault is not retried, see the runner); dying between tasks is no task's fault.
                step = _UNPICKLING_STEPS.get(phase) if task_id == job.task_id else None
                index = job.start if job.size == 1 else None
                job.future.set_exception(_crash_error(pid, code, job, index, step or "", pickle_step=step))
                return
        outcomes = list(job.partial)
        if not job.timed:
            outcomes.extend(logged[max(0, len(outcomes) - first) :])
        if len(outcomes) < job.size:
            outcomes.append(Raised(_crash_error(pid, code, job, job.start + len(outcomes))))
        # else: every item had finished (it died sending the result): nothing to blame
        failures = sum(1 for o in outcomes if type(o) is Raised)
        self._resolve(job, ChunkResult(outcomes, 0.0, 0.0, failures))

    @staticmethod
    def _cut_short(job: _Job, error: Callable[[int | None], BaseException]) -> None:
        """Resolve a job whose worker was killed for a timeout: keep streamed outcomes, fail the running item."""
        outcomes = [*job.partial, Raised(error(job.start + len(job.partial)))]
        failures = sum(1 for o in outcomes if type(o) is Raised)
        job.future.set_result(ChunkResult(outcomes, 0.0, 0.0, failures))

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
                    job.future.set_exception(_broken_pool(str(exc)))
        self._closing = True

    def _stop_workers(self) -> None:
        for w in self._procs:
            with contextlib.suppress(OSError):
                w.tx.send_bytes(pickle.dumps(None))
        for w in self._procs:
            _reap(w, timeout=5.0)
            _close(w, logs=True)
        self._procs.clear()
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None


def _late_at(worker: _Worker, job: _Job) -> float | None:
    if job.timeout is None:
        return None
    # A coroutine times itself out on the worker's loop; the kill is a backstop for a blocked loop.
    return worker.progress_at + job.timeout + (ASYNC_KILL_GRACE if job.is_async else 0.0)


def _killed(worker: _Worker, what: str) -> str:
    return f"its worker process {worker.proc.pid} {what} and replaced"


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _crash_error(
    pid: int, code: int, job: _Job, index: int | None, step: str | None = None, *, pickle_step: str | None = None
) -> WorkerCrashed:
    """``step``: the task never started running (None: it did); "" when the worker died between tasks."""
    if step is not None:
        which = f"item {index}" if index is not None else f"items {job.start}..{job.start + job.size - 1}"
        when = f"while {step}" if step else "before it started the task"
        where = f"{when} ({which}{'' if index is not None else ': each runs again alone'})"
    elif index is not None:
        # The outcome log knows when an item ended, not whether its pickling (right after it) had begun.
        where = f"while running item {index} (or pickling its result)"
    else:
        where = f"while running one of items {job.start}..{job.start + job.size - 1} (each runs again alone)"
    return WorkerCrashed(
        f"worker process {pid} {_how(code)} {where}; it was replaced", index=index, exitcode=code, step=pickle_step
    )


def _kill(worker: _Worker) -> None:
    """Kill the worker and whatever the user's function forked there (its process group)."""
    try:
        os.killpg(worker.proc.pid, signal.SIGKILL)
    except OSError:
        worker.proc.kill()


def _reap(worker: _Worker, timeout: float | None = None) -> int:
    """Wait for the worker's exit (killing it after ``timeout``), kill what it left in its group, then reap it.

    Until it is reaped its pid cannot be reused, so the group killed is surely its own.
    """
    pid = worker.proc.pid
    if isinstance(worker.proc, _zygote.ForkedWorker):  # the zygote's child: it reports the exit
        if not worker.proc.wait_exit(timeout):
            _kill(worker)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        return worker.proc.wait()
    deadline = None if timeout is None else time.monotonic() + timeout
    while worker.proc.returncode is None:
        flags = os.WEXITED | os.WNOWAIT | (os.WNOHANG if deadline is not None else 0)
        try:
            if os.waitid(os.P_PID, pid, flags) is not None:
                break
        except ChildProcessError:  # reaped already
            break
        except InterruptedError:
            continue
        if deadline is not None and time.monotonic() >= deadline:
            _kill(worker)
            deadline = None  # now wait for it
        elif deadline is not None:
            _wait_exit(pid, deadline - time.monotonic())
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    return worker.proc.wait()


def _wait_exit(pid: int, seconds: float) -> None:
    """Return when the child ``pid`` has exited or ``seconds`` have passed (maybe sooner).

    A pidfd says the moment it exits (a worker told to stop takes a few
    milliseconds; polling every 10 ms added up to that to every pool's
    shutdown, so to every one-shot script's exit); without one, a short sleep.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux 5.3+, or it is gone already
        time.sleep(max(0.0, min(seconds, 0.01)))
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0, math.ceil(seconds * 1000)))
    finally:
        os.close(fd)


def _close(worker: _Worker, logs: bool = False) -> None:
    """Close the worker's pipes (each once) and, with ``logs``, its outcome logs (once read)."""
    for conn in (worker.rx, worker.tx):
        with contextlib.suppress(OSError):
            conn.close()
    if logs:
        fds, worker.logs = worker.logs, []
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _broken_pool(message: str) -> BrokenProcessPool:
    # Imported when needed: concurrent.futures.process loads all of multiprocessing.
    from concurrent.futures.process import BrokenProcessPool

    return BrokenProcessPool(message)


def _wait(fds: list[int], timeout: float | None) -> list[int]:
    """The descriptors among ``fds`` that are readable or closed, waiting at most ``timeout`` seconds."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return [fd for fd, _ in poller.poll(None if timeout is None else math.ceil(timeout * 1000))]


def _pipe_pair() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    return r, w


def _shutdown_all() -> None:
    # Exit waits for the work submitted, like the standard library (runs that
    # ended cancelled their own); a Ctrl-C during that wait kills the workers.
    backends = list(_live)
    try:
        for backend in backends:
            backend.shutdown(wait=True)
    except KeyboardInterrupt:
        for backend in backends:
            backend.abort(list(backend._jobs), 0.0)
            backend.shutdown(wait=True, cancel_futures=True)


# A forked child does not own its parent's workers: its exit must not stop them (see _pools).
os.register_at_fork(after_in_child=_live.clear)

# Like the standard library's pools: before other atexit callbacks, so that
# work submitted from one of those is refused rather than left hanging.
_register_atexit = getattr(threading, "_register_atexit", atexit.register)
_register_atexit(_shutdown_all)
