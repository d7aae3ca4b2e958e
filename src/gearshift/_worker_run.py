"""How a chunk runs in a worker when its outcomes cannot simply be recorded in turn.

Under a timeout each outcome is sent as it comes (the parent kills a late
worker, so none that finished may be lost); coroutines run one after another on
the worker's loop, each outcome recorded before the next starts; and an
outcome the log's pickler refuses is rescued (``_Rescue``): pickled another way,
or failed alone.  The plain case is ``_task_recorded.run_chunk_recorded``.
"""

from __future__ import annotations

import os
import pickle
import struct

from . import _worker_send
from ._frames import PipeEnd as Connection
from ._task import ChunkResult, Raised, Task
from ._task_run import run_chunk, run_chunk_each
from ._worker_log import OutcomeLog
from ._worker_send import _encode_item, _encode_moved, _pickled, _record, _send, _stand_in

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any


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
        if _worker_send.forked:
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
        if _worker_send.forked:
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
        if _worker_send.forked:  # a forked child came back from the user's function
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
