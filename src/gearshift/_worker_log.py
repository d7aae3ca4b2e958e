"""A worker's outcome logs: shared-memory files that keep each outcome where the parent can read it after a crash.

Without a timeout a chunk's results travel in one frame at its
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

The parent reads them (``_backends/_crossing.py``) with the layout defined here.
"""

from __future__ import annotations

import mmap
import os
import pickle
import struct

from . import _worker_send
from ._task import INT_TAG

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

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
        if _worker_send.forked:  # a forked child came back from the user's function
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
