"""The main loop of a worker process (``mode="process"``).

A worker is a fresh interpreter started by :mod:`gearshift._backends._process`
with two pipe file descriptors.  It never re-imports the caller's ``__main__``
(functions defined there arrive by value through cloudpickle), so scripts work
without an ``if __name__ == "__main__"`` guard.

Messages, each one pickled ``bytes`` frame on the pipes:

    parent -> worker   hello:  (sys_path, initializer_blob, max_tasks, authkey)
                       task:   (task_id, fn_key, fn_blob | None, call, is_async, stop, items_blob,
                                timeout, start)
                       fn_key: forget that function (its run is over)
                       None:   finish and exit
    worker -> parent   ("ready", pid) | ("init_failed", traceback_text)
                       ("item", outcome)   one per item, only for a plain function under a timeout
                       (task_id, True, ChunkResult) | (task_id, False, (exception, traceback_text))
                       (after "item" frames the ChunkResult's outcomes are empty)
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
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from ._errors import RemoteError, UnpicklableError
from ._task import ChunkResult, Raised, Task, run_chunk, run_chunk_each

#: functions a worker keeps unpickled; the parent mirrors this bound exactly
FN_CACHE_SIZE = 64


def main(read_fd: int, write_fd: int) -> None:
    """Serve tasks until the parent says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    rx, tx = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
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
        tx.send_bytes(pickle.dumps(("init_failed", traceback.format_exc())))
        return
    tx.send_bytes(pickle.dumps(("ready", os.getpid())))
    _serve(rx, tx, max_tasks)


def _serve(rx: Connection, tx: Connection, max_tasks: int | None) -> None:
    fns: OrderedDict[int, Any] = OrderedDict()
    done = 0
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
        task_id, fn_key, fn_blob, call, is_async, stop, items_blob, timeout, start = message
        try:
            if fn_blob is None:
                fn = fns[fn_key]
            else:
                fn = _loads(fn_blob)
                if fn_key >= 0:  # negative keys are one-off functions (Executor.submit)
                    fns[fn_key] = fn
                    if len(fns) > FN_CACHE_SIZE:
                        fns.popitem(last=False)
            task = Task(fn, _loads(items_blob), call, is_async, stop, start=start, timeout=timeout)
        except BaseException as exc:
            tx.send_bytes(_encode_error(task_id, exc, "while unpickling its task"))
            continue
        if timeout is not None and not is_async:
            # The parent enforces the timeout by killing this process: tell it
            # each item's outcome as it comes, so none that finished is lost.
            def report(k: int, outcome: Any) -> None:
                if outcome is not None:
                    tx.send_bytes(_encode_item(outcome))

            result = run_chunk_each(task, report)
        else:
            result = run_chunk(task)
        tx.send_bytes(_encode_result(task_id, result))
        # Free the items and results now, not when the next task arrives (their
        # finalizers may matter to the caller).
        del message, task, result
        done += 1
        if max_tasks is not None and done >= max_tasks:
            return


def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def _encode_result(task_id: int, result: ChunkResult) -> bytes:
    if result.failures:  # no per-item scan in the common case: it costs ~10 % of a tiny task
        for i, outcome in enumerate(result.outcomes):
            if type(outcome) is Raised:
                result.outcomes[i] = Raised(outcome.exception, outcome.traceback_text())
    message = (task_id, True, result)
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:  # lambdas, local classes and the like
        return cloudpickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception:
        pass
    # Something in the chunk does not pickle: find it, keep everything else.
    outcomes = [_picklable_outcome(o) for o in result.outcomes]
    failures = sum(1 for o in outcomes if type(o) is Raised)
    fixed = ChunkResult(outcomes, result.elapsed, result.cpu, failures)
    return cloudpickle.dumps((task_id, True, fixed), protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


def _encode_item(outcome: Any) -> bytes:
    if type(outcome) is Raised:
        outcome = Raised(outcome.exception, outcome.traceback_text())
    try:
        return pickle.dumps(("item", outcome), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    try:
        return cloudpickle.dumps(("item", outcome), protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
    except Exception:
        return cloudpickle.dumps(("item", _picklable_outcome(outcome)), protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


def _picklable_outcome(outcome: Any) -> Any:
    try:
        cloudpickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        return outcome
    except Exception as exc:
        if type(outcome) is Raised:
            original = outcome.exception
            stand_in = RemoteError(_type_name(original), str(original), outcome.tb or "")
            return Raised(stand_in, outcome.tb)
        error = UnpicklableError(
            f"the result ({type(outcome).__qualname__}) cannot be pickled to return it from the worker "
            f"process: {type(exc).__name__}: {exc}. Return plain data, or use mode='thread'."
        )
        return Raised(error, "".join(traceback.format_exception(error)))


def _encode_error(task_id: int, exc: BaseException, when: str) -> bytes:
    text = f"Worker failed {when}:\n" + "".join(traceback.format_exception(exc))
    try:
        return pickle.dumps((task_id, False, (exc, text)))
    except Exception:
        return pickle.dumps((task_id, False, (RemoteError(_type_name(exc), str(exc), text), text)))


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


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
    main(int(sys.argv[1]), int(sys.argv[2]))
