"""What a worker sends its parent: outcomes pickled into frames, with stand-ins for what does not pickle.

Each outcome is pickled on its own where one may fail (a streamed item, a
record moved out of the log), so an outcome that does not pickle here, or not
unpickle in the parent, fails its item alone: it becomes an
:class:`UnpicklableError` naming the step.  A child that the user's function
forked inside a worker (``forked``) never speaks for it: it ends as soon as it
is back here.  The frame kinds are listed in ``_worker.py``.
"""

from __future__ import annotations

import os
import pickle
import traceback

import cloudpickle

from ._errors import RemoteError, UnpicklableError
from ._frames import PipeEnd as Connection
from ._task import ChunkResult, Raised

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

STEP_UNPICKLE_ITEM = "unpickling the item in the worker"
STEP_PICKLE_RESULT = "pickling the result in the worker"

forked = False  # this process is a child that the user's function forked from a worker
owned: list[Any] = []  # what a forked child must close: it must never speak for the worker


def _send(tx: Connection, data: bytes) -> None:
    if forked:
        os._exit(0)
    tx.send_bytes(data)


def _pickled(outcome: Any) -> bytes | None:
    if type(outcome) is Raised:
        outcome.traceback_text()
    for dumps in (pickle.dumps, cloudpickle.dumps):  # cloudpickle: lambdas, local classes and the like
        try:
            return dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # a __reduce__ may raise anything; a crash there is the item's
            if forked:
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
