"""The main loop of a worker process (``mode="process"``).

A worker is a fresh interpreter started by :mod:`gearshift._backends._process`
with two pipe file descriptors and two outcome logs.  It never re-imports the
caller's ``__main__`` (functions defined there arrive by value through
cloudpickle), so scripts work without an ``if __name__ == "__main__"`` guard.

Messages, each one pickled ``bytes`` frame on the pipes:

    parent -> worker   hello:  (sys_path, initializer_blob, max_tasks, authkey)
                       task:   (task_id, fn_key, fn_blob | None, call, is_async, stop, items_blob,
                                timeout, start, size, trace)
                       fn_key: forget that function (its run is over)
                       prime:  (fn_blob,) unpickle a function once, to import what it needs now
                       None:   finish and exit
    worker -> parent   a kind byte, then the pickle (the parent knows what failed to unpickle):
                       C ("ready", pid) | ("init_failed", traceback_text) | ("primed",)
                       I outcome          one per item, only under a timeout
                       P outcomes         (8-byte count first) outcomes moved out of the log early
                       R (task_id, True, ChunkResult) | (task_id, False, (exception, traceback_text))
                       L (task_id, ChunkResult, count): the count outcomes are ints, in the task's
                                          outcome log (the ChunkResult's outcomes are empty)
                       (after "I" frames the ChunkResult's outcomes are empty)

Each outcome is also recorded in an outcome log (``_worker_log.py``) as it
comes; how a chunk runs under a timeout or on a loop is ``_worker_run.py``'s,
what is sent (and stood in for) ``_worker_send.py``'s.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import OrderedDict

from . import _worker_send
from ._frames import PipeEnd as Connection
from ._task import Task
from ._task_recorded import run_chunk_recorded
from ._worker_log import PHASE_INTS, PHASE_ITEMS, PHASE_RUNNING, OutcomeLog
from ._worker_run import _Rescue, _run_async, _run_timed
from ._worker_send import _encode_result, _encode_unpickling_error, _send

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: functions a worker keeps unpickled; the parent mirrors this bound exactly
FN_CACHE_SIZE = 64


def main(read_fd: int, write_fd: int, *log_fds: int) -> None:
    """Serve tasks until the parent says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    rx, tx = Connection(read_fd), Connection(write_fd)
    logs = [OutcomeLog(fd) for fd in log_fds]
    _worker_send.owned.extend([rx, tx, *logs])
    os.register_at_fork(after_in_child=_after_fork_in_child)
    try:
        sys_path, init_blob, max_tasks, authkey = pickle.loads(rx.recv_bytes())
        sys.path[:] = sys_path
        if authkey:  # the parent's, so multiprocessing proxies it sends can connect
            import multiprocessing.process

            multiprocessing.process.current_process().authkey = authkey
        if init_blob is not None:
            initializer, initargs = _loads(init_blob)
            initializer(*initargs)
    except BaseException:
        _send(tx, b"C" + pickle.dumps(("init_failed", traceback.format_exc())))
        return
    _send(tx, b"C" + pickle.dumps(("ready", os.getpid())))
    _serve(rx, tx, logs, max_tasks)


def _after_fork_in_child() -> None:
    # The user's function forked.  The child must not answer for the worker:
    # it loses the pipes and the logs, and ends as soon as it is back in gearshift.
    _worker_send.forked = True
    for thing in _worker_send.owned:
        try:
            thing.close()
        except (OSError, ValueError, BufferError):
            if isinstance(thing, OutcomeLog):  # still mapped: at least make every record fail
                thing.mm.seek(0, os.SEEK_END)


def _serve(rx: Connection, tx: Connection, logs: list[OutcomeLog], max_tasks: int | None) -> None:
    fns: OrderedDict[int, Any] = OrderedDict()
    done = 0
    received = 0
    while True:
        try:
            frame = rx.recv_bytes()
        except (EOFError, OSError):
            return
        message = pickle.loads(frame)
        if message is None:
            return
        if type(message) is int:  # a finished run's function (and shared object): free it
            fns.pop(message, None)
            continue
        if len(message) == 1:  # a prime: import what the function needs before work arrives
            _prime(message[0])
            _send(tx, b"C" + pickle.dumps(("primed",)))
            continue
        task_id, fn_key, fn_blob, call, is_async, stop, items_blob, timeout, start, size, trace = message
        log = logs[received % len(logs)]
        received += 1
        log.begin(task_id)
        arrived = time.monotonic_ns() if trace else 0  # a trace shows the unpickling too
        what = "function"
        try:
            if fn_blob is None:
                fn = fns[fn_key]
            else:
                fn = _loads(fn_blob)
                if fn_key >= 0:  # negative keys are one-off functions (Executor.submit)
                    fns[fn_key] = fn
                    if len(fns) > FN_CACHE_SIZE:
                        fns.popitem(last=False)
            what = "items"
            log.phase(PHASE_ITEMS)
            task = Task(fn, _loads(items_blob), call, is_async, stop, start=start, timeout=timeout, trace=trace)
        except BaseException as exc:  # SystemExit from a __reduce__ included: it must not end the worker
            _send(tx, _encode_unpickling_error(task_id, exc, what, start, size))
            continue
        log.phase(PHASE_RUNNING)
        if timeout is not None:
            result = _run_timed(task, tx)
        elif is_async:
            result = _run_async(task, tx, log)
        else:
            log.phase(PHASE_INTS)
            result = run_chunk_recorded(task, log, _Rescue(task, tx, log))
        if result.trace is not None:
            result.trace += (arrived,)
        if log.ints_only:  # every outcome is in the log's int array: the parent reads them there
            log.ints_only = False
            _send(tx, b"L" + pickle.dumps((task_id, result, log.done[0]), protocol=pickle.HIGHEST_PROTOCOL))
        else:
            _send(tx, _encode_result(task_id, result, start))
        # Free the items and results now, not when the next task arrives (their
        # finalizers may matter to the caller).
        del message, task, result
        done += 1
        if max_tasks is not None and done >= max_tasks:
            return


def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def _prime(blob: bytes) -> None:
    """Unpickle a function and drop it: its module and what that imports are loaded here from now on.

    Sent by ``Backend.warm(fn)`` (auto starting a pool while the calling thread
    runs items): a worker that gets no item in that run is ready for the next
    one.  A failure is the first task's to report, when it unpickles the function itself.
    """
    try:
        _loads(blob)
    except BaseException:  # SystemExit from a __reduce__ included: it must not end the worker
        pass


def _exit_with_parent() -> None:
    """Make sure this worker never outlives its parent (no orphans).

    On Linux the kernel kills us when the parent dies (PR_SET_PDEATHSIG); a
    thread watching the parent's pid covers the other POSIX systems.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - exotic libc
            pass
    if os.getppid() != parent:  # the parent died before the line above ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="gearshift-parent-watch", daemon=True).start()


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
