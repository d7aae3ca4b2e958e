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
                       None:   finish and exit
    worker -> parent   a kind byte, then the pickle (the parent knows what failed to unpickle):
                       C ("ready", pid) | ("init_failed", traceback_text)
                       I outcome          one per item, only under a timeout
                       P outcomes         (8-byte count first) outcomes moved out of the log early
                       R (task_id, True, ChunkResult) | (task_id, False, (exception, traceback_text))
                       L (task_id, ChunkResult, count): the count outcomes are ints, in the task's
                                          outcome log (the ChunkResult's outcomes are empty)
                       (after "I" frames the ChunkResult's outcomes are empty)

Outcome logs.  Without a timeout a chunk's results travel in one frame at its
end (cheap), so the worker also writes each outcome, the moment it has it, to
a shared-memory file the parent can read if the worker dies: a crash then
costs only the item that was running.  Each log holds a header (the task, its
phase, the index of its first record, the outcomes recorded) and independent
records (a pickle, or a packed int).  While every outcome of a chunk is an int
(the commonest result) they go to an int64 array in the log instead, and the
result frame ("L") carries none: the parent reads them from the log, so they
are neither kept in a list nor pickled.  The worker
alternates between two logs, one per task in flight, so the parent can also
read a finished task's outcomes one by one when the whole result frame does not
unpickle there.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
import sys
import threading
import time
import traceback
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

import cloudpickle

from ._errors import RemoteError, UnpicklableError
from ._task import INT_TAG, ChunkResult, Raised, Task, run_chunk, run_chunk_each, run_chunk_recorded

#: functions a worker keeps unpickled; the parent mirrors this bound exactly
FN_CACHE_SIZE = 64
#: outcome logs per worker: at least the parent's prefetch (tasks in flight per worker)
LOG_SLOTS = 2
#: bytes before the first record: task id, phase, index of the first record, outcomes recorded (int64 each)
LOG_HEADER = 64
LOG_FIELDS = struct.Struct("<qqq")
LOG_DONE = 24
#: in PHASE_RUNNING: how many outcomes the int array holds before the records (int64)
LOG_INTS = 32
PHASE_UNPICKLING = 0  # the task arrived; its function is being unpickled
PHASE_RUNNING = 1  # items run; each outcome is recorded as it comes
PHASE_ITEMS = 2  # the function is ready; the items are being unpickled
PHASE_INTS = 3  # items run; every outcome so far is an int, stored at LOG_HEADER + 8 * k
#: a record is a pickle (its first byte is pickle's PROTO, 0x80) or, for an ``int`` that fits in
#: 64 bits, INT_TAG and the value (ints are common results, and packing one is cheaper than pickling)
INT_RECORD = struct.Struct("<Bq")
_INT64 = struct.Struct("<q")
#: sizes tried for a log's mapping (sparse: memory is used only by what is written)
_LOG_SPANS = (1 << 36, 1 << 30, 1 << 26)
#: a log that held more than this gives its memory back when the next task begins
_KEEP_PAGES = 64 << 20

STEP_UNPICKLE_ITEM = "unpickling the item in the worker"
STEP_PICKLE_RESULT = "pickling the result in the worker"

_forked = False  # this process is a child that the user's function forked from a worker
_owned: list[Any] = []  # what a forked child must close: it must never speak for the worker


def main(read_fd: int, write_fd: int, *log_fds: int) -> None:
    """Serve tasks until the parent says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent()
    rx, tx = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    logs = [OutcomeLog(fd) for fd in log_fds]
    _owned.extend([rx, tx, *logs])
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
    global _forked
    _forked = True
    for thing in _owned:
        try:
            thing.close()
        except (OSError, ValueError, BufferError):
            if isinstance(thing, OutcomeLog):  # still mapped: at least make every record fail
                thing.mm.seek(0, os.SEEK_END)


def _send(tx: Connection, data: bytes) -> None:
    if _forked:
        os._exit(0)
    tx.send_bytes(data)


class OutcomeLog:
    """One outcome log: a shared-memory file mapped here, read by the parent after a crash.

    Each record is a pickle of its own (no memo: none refers to another),
    or an ``int`` packed as ``INT_RECORD``, written whole, then counted in the
    header (``done``): the parent reads only counted records, so one cut short
    by a kill is never taken for an outcome.
    """

    __slots__ = (
        "done", "fd", "first", "ints", "ints_only", "mm", "pack_int", "record", "span", "task_id", "write_bytes",
    )  # fmt: skip

    def __init__(self, fd: int) -> None:
        self.fd = fd
        for span in _LOG_SPANS:
            try:
                os.ftruncate(fd, span)
                self.mm = mmap.mmap(fd, span)
                self.span = span
                break
            except (OSError, ValueError, OverflowError):
                continue
        else:  # pragma: no cover - no memory to map at all
            raise MemoryError("cannot map the outcome log")
        pickler = pickle.Pickler(self.mm, pickle.HIGHEST_PROTOCOL)
        pickler.fast = True  # no memo: each record unpickles alone
        self.record = pickler.dump
        #: ``write_bytes(pack_int(INT_TAG, value))`` records an int; struct.error past 64 bits
        self.write_bytes, self.pack_int = self.mm.write, INT_RECORD.pack
        #: outcomes of the task recorded so far (the header's last field), written after each record
        self.done = memoryview(self.mm)[LOG_DONE : LOG_DONE + 8].cast("q")
        #: in PHASE_INTS, outcome k is ``ints[k]``, counted in ``done`` like a record
        self.ints = memoryview(self.mm)[LOG_HEADER:].cast("q")
        #: every outcome of the task is in ``ints`` (the parent reads them there)
        self.ints_only = False
        self.task_id = -1
        self.first = 0

    def begin(self, task_id: int) -> None:
        """A new task: forget the previous one's records."""
        self.task_id = task_id
        self.restart(0, PHASE_UNPICKLING)

    def phase(self, phase: int) -> None:
        LOG_FIELDS.pack_into(self.mm, 0, self.task_id, phase, self.first)
        self.ints_only = phase == PHASE_INTS

    def leave_ints(self, count: int) -> list[Any]:
        """The int array holds ``count`` outcomes; records follow them.  Those outcomes, as a list."""
        if _forked:  # a forked child came back from the user's function
            os._exit(0)
        self.ints_only = False
        _INT64.pack_into(self.mm, LOG_INTS, count)
        LOG_FIELDS.pack_into(self.mm, 0, self.task_id, PHASE_RUNNING, self.first)
        self.mm.seek(LOG_HEADER + 8 * count)
        return self.ints[:count].tolist()

    def restart(self, first: int, phase: int = PHASE_RUNNING) -> None:
        """Drop the records; the next one is the outcome of item ``first`` of the task."""
        # Old records stay where they are (only counted ones are read), unless they were huge.
        if max(self.mm.tell(), LOG_HEADER + 8 * self.done[0]) > _KEEP_PAGES:  # give their pages back
            os.ftruncate(self.fd, LOG_HEADER)
            os.ftruncate(self.fd, self.span)
        self.first = first
        self.done[0] = first
        self.ints_only = False
        _INT64.pack_into(self.mm, LOG_INTS, 0)
        LOG_FIELDS.pack_into(self.mm, 0, self.task_id, phase, first)
        self.mm.seek(LOG_HEADER)

    def put(self, outcome: Any) -> None:
        """Record one outcome (not counted yet: see ``done``)."""
        if type(outcome) is int and -(1 << 63) <= outcome < (1 << 63):
            self.write_bytes(self.pack_int(INT_TAG, outcome))
        else:
            self.record(outcome)

    def write(self, record: bytes) -> bool:
        """Append a record pickled elsewhere; False if it does not fit."""
        if len(record) > self.span - self.mm.tell():
            return False
        self.mm.write(record)
        return True

    def close(self) -> None:
        self.ints.release()
        self.done.release()
        self.mm.close()
        os.close(self.fd)


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


def _run_timed(task: Task, tx: Connection) -> ChunkResult:
    # The parent enforces the timeout by killing this process: tell it
    # each item's outcome as it comes, so none that finished is lost.
    reported = 0

    def report(k: int, outcome: Any) -> None:
        nonlocal reported
        if outcome is not None:
            _send(tx, _encode_item(outcome, task.start + k))
            reported = k + 1

    try:
        if task.is_async:  # its items run one after another on this process's loop
            task.on_item = report
            result = run_chunk(task)
            result.outcomes = []
            return result
        return run_chunk_each(task, report)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit...: the run stops, the worker lives on
        if _forked:
            os._exit(0)
        outcome = Raised(exc)
        _send(tx, _encode_item(outcome, task.start + reported))
        return ChunkResult([], 0.0, 0.0, 1)


def _run_async(task: Task, tx: Connection, log: OutcomeLog) -> ChunkResult:
    # The items run one after another on this process's loop: each outcome is
    # recorded before the next item starts, as run_chunk_recorded does for a
    # plain function, so a crash costs only the item that was running.
    rescue = _Rescue(task, tx, log)
    record, committed = log.put, log.done
    recorded: list[Any] = []

    def on_item(k: int, outcome: Any) -> None:
        if type(outcome) is Raised:
            outcome.traceback_text()
        recorded.append(outcome)
        try:
            record(outcome)
        except BaseException as exc:  # a __reduce__ may raise anything; the item fails alone
            recorded[-1] = rescue(recorded, exc)
        committed[0] = len(recorded)

    task.on_item = on_item
    try:
        result = run_chunk(task)
    except BaseException as exc:  # escaped the loop itself (not a coroutine's outcome): the run stops
        if _forked:
            os._exit(0)
        outcome = Raised(exc)
        on_item(len(recorded), outcome)
        return ChunkResult(recorded, 0.0, 0.0, sum(1 for o in recorded if type(o) is Raised))
    result.outcomes = recorded
    result.failures = sum(1 for o in recorded if type(o) is Raised)
    return result


class _Rescue:
    """Record an outcome the log's pickler refused: pickle it another way, or fail that item alone.

    The refused record may be half written, so the outcomes recorded so far go
    to the parent now (a "P" frame) and the log starts again from this item.
    """

    __slots__ = ("log", "task", "tx")

    def __init__(self, task: Task, tx: Connection, log: OutcomeLog) -> None:
        self.task, self.tx, self.log = task, tx, log

    def __call__(self, out: list[Any], exc: BaseException) -> Any:
        if _forked:  # a forked child came back from the user's function
            os._exit(0)
        log = self.log
        k = len(out) - 1
        outcome = out[k]
        if type(outcome) is int and isinstance(exc, struct.error):  # too big for an int record; nothing written
            log.record(outcome)
            return outcome
        record = _pickled(outcome)
        if record is None:
            outcome = _stand_in(outcome, self.task.start + k)
            record = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        if k > log.first:
            start = self.task.start + log.first
            _send(self.tx, _encode_moved([_record(o, start + j) for j, o in enumerate(out[log.first : k])]))
        log.restart(k)
        if not log.write(record):  # bigger than the whole log: send it now
            _send(self.tx, _encode_moved([record]))
            log.restart(k + 1)
        return outcome


def _pickled(outcome: Any) -> bytes | None:
    if type(outcome) is Raised:
        outcome.traceback_text()
    for dumps in (pickle.dumps, cloudpickle.dumps):  # cloudpickle: lambdas, local classes and the like
        try:
            return dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # a __reduce__ may raise anything; a crash there is the item's
            if _forked:
                os._exit(0)
    return None


def _picklable_outcome(outcome: Any) -> Any:
    """``outcome`` if it pickles, else what stands in for it (used by the dask and ray workers too)."""
    return outcome if _pickled(outcome) is not None else _stand_in(outcome, None)


def _stand_in(outcome: Any, index: int | None) -> Raised:
    """What the parent gets for an outcome that cannot be pickled."""
    if type(outcome) is Raised:
        original = outcome.exception
        return Raised(RemoteError(_type_name(original), str(original), outcome.tb or ""), outcome.tb)
    try:
        pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        reason = "unknown"
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
    which = "the result" if index is None else f"the result of item {index}"
    error = UnpicklableError(
        f"{which} ({type(outcome).__qualname__}) cannot be pickled to return it from the "
        f"worker process: {reason}. Return plain data, or use mode='thread'.",
        index=index,
        step=STEP_PICKLE_RESULT,
    )
    return Raised(error, "".join(traceback.format_exception(error)))


def _loads(blob: bytes) -> Any:
    return pickle.loads(blob)


def _dumps_any(message: Any) -> bytes:
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # lambdas, local classes and the like
        return cloudpickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]


def _encode_result(task_id: int, result: ChunkResult, start: int) -> bytes:
    if result.failures:  # no per-item scan in the common case: it costs ~10 % of a tiny task
        for i, outcome in enumerate(result.outcomes):
            if type(outcome) is Raised and outcome.tb is None:
                result.outcomes[i] = Raised(outcome.exception, outcome.traceback_text())
    message = (task_id, True, result)
    try:
        return b"R" + _dumps_any(message)
    except Exception:
        pass
    # Something in the chunk does not pickle (every outcome was checked as it was
    # recorded, so this is rare): find it, keep everything else.
    outcomes = [o if _pickled(o) is not None else _stand_in(o, start + k) for k, o in enumerate(result.outcomes)]
    failures = sum(1 for o in outcomes if type(o) is Raised)
    fixed = ChunkResult(outcomes, result.elapsed, result.cpu, failures, trace=result.trace)
    return b"R" + _dumps_any((task_id, True, fixed))


def _encode_item(outcome: Any, index: int) -> bytes:
    if type(outcome) is Raised:
        outcome = Raised(outcome.exception, outcome.traceback_text())
    record = _pickled(outcome)
    if record is None:
        record = pickle.dumps(_stand_in(outcome, index), protocol=pickle.HIGHEST_PROTOCOL)
    return b"I" + record


def _encode_moved(records: list[bytes]) -> bytes:
    """Outcomes as independent pickles, one record each: one the parent cannot unpickle fails its item alone."""
    return b"P" + len(records).to_bytes(8, "little") + b"".join(records)


def _record(outcome: Any, index: int) -> bytes:
    record = _pickled(outcome)
    if record is None:
        record = pickle.dumps(_stand_in(outcome, index), protocol=pickle.HIGHEST_PROTOCOL)
    return record


def _encode_unpickling_error(task_id: int, exc: BaseException, what: str, start: int, size: int) -> bytes:
    if what == "items":
        which = f"item {start}" if size == 1 else f"one of items {start}..{start + size - 1} (each runs again alone)"
        index = start if size == 1 else None
    else:
        which, index = f"the function (for the items from {start})", None
    error = UnpicklableError(
        f"{which} could not be unpickled in the worker process: {type(exc).__name__}: {exc}. "
        "Make sure what you pass pickles and unpickles cleanly (a __reduce__ or __setstate__ "
        "that raises or exits fails here), or use mode='thread'.",
        index=index,
        step=STEP_UNPICKLE_ITEM if what == "items" else "unpickling the function in the worker",
    )
    text = "Worker failed while unpickling its task:\n" + "".join(traceback.format_exception(exc))
    return b"R" + pickle.dumps((task_id, False, (error, text)))


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
    main(*(int(arg) for arg in sys.argv[1:]))
