"""What crosses between the parent and its worker processes, on the parent's side.

Pickling what a worker runs (cloudpickle, keeping the file names of code
pickled by value, so worker tracebacks show their lines), with errors that name
the item and the step; and reading a dead or misunderstood worker's outcome
log (see ``_worker_log.OutcomeLog``) one record at a time, so that a record this
process cannot unpickle fails its own item only.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import traceback
import types
from collections import ChainMap
from collections.abc import Sequence

import cloudpickle

from .._errors import UnpicklableError
from .._task import INT_TAG, Raised
from .._worker_log import (
    INT_RECORD,
    LOG_DONE,
    LOG_FIELDS,
    LOG_HEADER,
    LOG_INTS,
    PHASE_INTS,
    PHASE_RUNNING,
    PHASE_UNPICKLING,
)
from . import _shm

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

# -- pickling ---------------------------------------------------------------------------------

_cloudpickle_code_reduce = getattr(cloudpickle.cloudpickle, "_code_reduce", None)


def _code_reduce(code: types.CodeType) -> Any:
    # cloudpickle 3.1.3 names code pickled by value "<dynamic-code>" (a reproducible
    # payload); users read worker tracebacks, so the code keeps its real file name
    # and the worker's traceback shows the file and line (cloudpickle 3.0 kept it).
    rebuild, args = _cloudpickle_code_reduce(code)  # type: ignore[misc]
    real = code.co_filename
    return rebuild, tuple(real if type(arg) is str and arg == "<dynamic-code>" else arg for arg in args)


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, keeping the file names of code pickled by value."""

    if _cloudpickle_code_reduce is not None:
        dispatch_table = ChainMap({types.CodeType: _code_reduce}, cloudpickle.Pickler.dispatch_table)


def cloudpickle_dumps(obj: Any) -> bytes:
    """``cloudpickle.dumps`` for what a worker runs: functions keep their file names (see :class:`_Pickler`)."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def dumps(obj: Any, what: str) -> bytes:
    try:
        return cloudpickle_dumps(obj)
    except BaseException as exc:  # a __reduce__ may raise anything; a real Ctrl-C goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
        name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
        raise UnpicklableError(
            f"cannot pickle the {what} {name!r} to send it to a worker process: {type(exc).__name__}: {exc}. "
            "Define it at module level (not inside another function) and make sure everything it refers to "
            "can be pickled, or use mode='thread', which needs no pickling.",
            step=f"pickling the {what}",
        ) from exc


class _Discard:
    def write(self, data: Any) -> int:
        return len(data)


def check_pickles(obj: Any, what: str) -> None:
    """Raise :class:`UnpicklableError` (as :func:`dumps` would) unless ``obj`` pickles.

    Nothing is kept and big buffers are not even copied, so checking a large
    ``shared=`` object up front costs little.
    """
    try:
        pickler = cloudpickle.CloudPickler(_Discard(), protocol=5, buffer_callback=lambda _buffer: False)
        pickler.dump(_shm._wrap(obj))
    except Exception:
        dumps(obj, what)  # raises, with the message
        raise


def dumps_items(items: Sequence[Any], start: int) -> bytes:
    try:
        return pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # a __reduce__ may raise anything (SystemExit too); a real Ctrl-C goes on
        if isinstance(exc, KeyboardInterrupt):
            raise
    try:
        return cloudpickle_dumps(items)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        error = exc
    for offset, item in enumerate(items):
        try:
            cloudpickle_dumps(item)
        except BaseException as item_exc:
            if isinstance(item_exc, KeyboardInterrupt):
                raise
            raise UnpicklableError(
                f"cannot pickle item {start + offset} ({type(item).__qualname__}: {_repr(item)}) to send it "
                f"to a worker process: {type(item_exc).__name__}: {item_exc}. Items travel between "
                "processes: pass plain data (or objects defined at module level), or use mode='thread'.",
                index=start + offset,
                step="pickling the item",
            ) from item_exc
    raise UnpicklableError(f"cannot pickle items {start}..: {error}", step="pickling the item") from error


def _repr(item: Any) -> str:
    try:
        return f"{item!r:.60}"
    except Exception:
        return "?"


# -- outcome logs (the worker's side is _worker_log.OutcomeLog) ----------------------------------

_DONE = struct.Struct("<q")
_INT_TAG = bytes([INT_TAG])


def log_file() -> int:
    """A new shared-memory file for one outcome log (memory only, never on a disk when Linux allows)."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("gearshift-outcomes")
    import tempfile  # (not Linux: 2-6 ms of imports a Linux parent never needs)

    fd, path = tempfile.mkstemp(prefix="gearshift-outcomes-")
    os.unlink(path)
    return fd


def read_ints(fd: int, count: int) -> list[int]:
    """The first ``count`` outcomes of a log in its int array (see ``_worker_log.PHASE_INTS``)."""
    if count <= 0:
        return []
    data = bytearray(8 * count)
    view = memoryview(data)
    got = 0
    while got < len(data):  # pread may return less than asked for
        n = os.preadv(fd, [view[got:]], LOG_HEADER + got)
        if n <= 0:
            raise OSError(f"outcome log cut short at {got} of {len(data)} bytes")
        got += n
    return view.cast("q").tolist()


def read_log(fd: int, start: int) -> tuple[int, int, int, list[Any]]:
    """(task id, phase, index of the first outcome, the outcomes counted) of an outcome log.

    ``start`` is the input index of the task's first item (for the errors of
    outcomes that do not unpickle here).
    """
    header = os.pread(fd, LOG_HEADER, 0)
    if len(header) < LOG_HEADER:
        return -1, PHASE_UNPICKLING, 0, []
    task_id, phase, first = LOG_FIELDS.unpack_from(header)
    (done,) = _DONE.unpack_from(header, LOG_DONE)
    if phase == PHASE_INTS:  # every outcome so far is in the int array
        return task_id, phase, first, read_ints(fd, done)
    (n_ints,) = _DONE.unpack_from(header, LOG_INTS)
    if phase != PHASE_RUNNING:
        n_ints = 0
    ints = read_ints(fd, n_ints)
    offset = LOG_HEADER + 8 * n_ints
    try:  # the log is sparse: nothing was ever written past its first hole
        end = os.lseek(fd, offset, os.SEEK_HOLE)
    except (OSError, AttributeError):
        end = os.fstat(fd).st_size
    count = max(0, done - first - n_ints)
    chunks = []
    while offset < end and count:
        data = os.pread(fd, min(end - offset, 1 << 24), offset)
        if not data:
            break
        chunks.append(data)
        offset += len(data)
    return task_id, phase, first, ints + decode_records(b"".join(chunks), count, start + first + n_ints)


def decode_records(records: bytes, count: int, start: int) -> list[Any]:
    """The ``count`` outcomes in a log, one record each; a record that does not unpickle here fails its item alone.

    ``start`` is the input index of the first record's item.
    """
    stream = io.BytesIO(records)
    out: list[Any] = []
    size = INT_RECORD.size
    while len(out) < count:
        pos = stream.tell()
        if records[pos : pos + 1] == _INT_TAG:  # an int, packed (see _worker_log.OutcomeLog)
            out.append(INT_RECORD.unpack_from(records, pos)[1])
            stream.seek(pos + size)
            continue
        try:
            out.append(pickle.load(stream))
            continue
        except BaseException as exc:  # SystemExit from a __reduce__ included
            error = exc
        stream.seek(pos)
        try:  # walk the record's opcodes, running nothing, to find where the next one begins
            for _ in pickletools.genops(stream):
                pass
        except Exception:  # not a record at all: should not happen (only whole records are counted)
            break
        out.append(unloadable(error, start + len(out)))
    return out


def load_outcome(data: memoryview, index: int) -> Any:
    try:
        return pickle.loads(data)
    except BaseException as exc:  # SystemExit from a __reduce__ included
        return unloadable(exc, index)


def unloadable(exc: BaseException, index: int) -> Raised:
    error = UnpicklableError(
        f"the result of item {index} could not be unpickled in this process: {type(exc).__name__}: {exc}. "
        "Return plain data, or objects whose classes this process can import and rebuild.",
        index=index,
        step="unpickling the result",
    )
    return Raised(error, "".join(traceback.format_exception(error)))
