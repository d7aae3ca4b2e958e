"""The process pool's workers from birth to death: start them, stop them, kill and reap them.

Workers are fresh interpreters (``python -c``) or forks of the pool's clean
zygote (``_zygote.py``), each the leader of its own process group, with its
own pair of pipes and its outcome logs.  This module also holds the pool's
state (``WorkerPool``, set once by the constructor and used by the frame
dispatch and the crash handling above it) and what stops every pool when the
interpreter exits.  See ``_process.py`` for the data flow.
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
from concurrent.futures import Future

from .. import _sigmask
from .._cpu import usable_cpus
from .._frames import FrameReader, PipeEnd
from .._native import worker_environment
from .._task import Task
from .._worker_log import LOG_SLOTS
from . import _crossing, _zygote

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from concurrent.futures.process import BrokenProcessPool
    from typing import Any, ClassVar

_BOOT = _sigmask.UNBLOCK_IN_CHILD + (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import sys; sys.path.insert(0, {path!r}); "
    "from gearshift._worker import main; main(*map(int, sys.argv[1:]))"
)
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: every pool alive, stopped at exit (see _shutdown_all)
_live: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_dumps = _crossing.dumps


class _Job:
    """One submitted chunk, as the manager tracks it until its future resolves."""

    __slots__ = (
        "call",
        "fn_blob",
        "fn_key",
        "future",
        "is_async",
        "items_blob",
        "kill_at",
        "partial",
        "resent",
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
        #: sent again once already because its worker died before taking it (see _crashed)
        self.resent = False


class _Worker:
    """One worker process: its pipes, its outcome logs and the jobs sent to it."""

    __slots__ = (
        "born", "known", "logs", "outstanding", "priming", "proc", "progress_at", "ready", "rx", "sent", "tx",
    )  # fmt: skip

    def __init__(
        self, proc: subprocess.Popen[bytes] | _zygote.ForkedWorker, rx: FrameReader, tx: PipeEnd, logs: list[int]
    ) -> None:
        self.proc, self.rx, self.tx = proc, rx, tx
        self.logs = logs  # the outcome logs' file descriptors, read after a crash (see _worker_log.py)
        self.outstanding: deque[_Job] = deque()
        self.known: OrderedDict[int, None] = OrderedDict()  # mirrors the worker's function cache
        self.sent = 0
        self.ready = False  # said hello: startup time never counts against a timeout
        self.progress_at = 0.0  # when the running item (the head job's next one) started
        self.born = time.monotonic_ns()  # for a trace's pool start event
        self.priming = False  # sent a prime (see Backend.warm) it has not said it is done with


class WorkerPool:
    """The state of one process pool, and its workers' lifecycle; ``Backend`` (``_process.py``) is its face."""

    #: jobs in flight per worker (see ``Backend``)
    prefetch: ClassVar[int]

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        return usable_cpus()

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
        # From 1: a blank outcome log reads as task 0, which no job may be taken for (see _crashed).
        self._task_ids = itertools.count(1)
        self._one_off_keys = itertools.count(-1, -1)  # negative keys: sent every time, not cached
        self._fn_blobs: OrderedDict[int, bytes] = OrderedDict()
        self._fn_release: dict[int, Callable[[], None]] = {}  # shared-memory files of a cached function
        self._jobs: dict[Future[Any], _Job] = {}  # unresolved jobs, for abort()
        self._forgotten: deque[int] = deque()  # functions of finished runs, to drop from the workers
        self._startup_failures = 0
        self._warming = False  # start workers before any work arrives (see warm())
        self._prime: bytes | None = None  # the function warm() has the workers unpickle ahead of work
        self._cpus = usable_cpus()
        #: forks workers from one clean pre-started interpreter (see _zygote.py); None: not started yet
        self._zygote: _zygote.Zygote | None = None
        self._use_zygote = _zygote.wanted()
        _live.add(self)

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

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:  # the pipe is full of wake-ups already
            pass

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
            if w.priming and not w.outstanding:  # an import nobody waits for: not worth waiting for
                _kill(w)
                continue
            with contextlib.suppress(OSError):
                w.tx.send_bytes(pickle.dumps(None))
        for w in self._procs:
            _reap(w, timeout=5.0)
            _close(w, logs=True)
        self._procs.clear()
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None


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
