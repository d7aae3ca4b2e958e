"""Run a chunk in a worker process, recording each outcome before the next item starts.

A worker process records outcomes where its parent can read them if the
process dies (``_worker_log.OutcomeLog``), so items that finished are never
run again.  While every outcome is an int it goes to the log's int array
(no list, no pickling); the first other outcome switches to records for good.
The timed, async and refused-record cases are ``_worker_run``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._task import CALL_ONE, CALL_STAR, INT_TAG, ChunkResult, Raised, Task, fn_name, trace_begin, trace_end

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

_UNSET: Any = object()  # no outcome (yet)
_END: Any = object()  # no item left


def _ints_prefix(
    fn: Callable[..., Any], call: int, rest: Any, ints: memoryview, committed: memoryview
) -> tuple[int, Any, BaseException | None]:
    """Run items while fn returns ints, storing each in ``ints`` and counting it in ``committed``.

    Returns (outcomes stored, then: ``_END`` when no item is left, or the
    outcome that is not a storable int, or ``_UNSET`` and what fn raised).
    """
    done = 0
    value: Any = _UNSET
    try:
        if call == CALL_ONE:
            for item in rest:
                value = fn(item)
                if type(value) is not int:
                    return done, value, None
                ints[done] = value
                done += 1
                committed[0] = done
                value = _UNSET
        elif call == CALL_STAR:
            for args in rest:
                value = fn(*args)
                if type(value) is not int:
                    return done, value, None
                ints[done] = value
                done += 1
                committed[0] = done
                value = _UNSET
        else:
            for args, kwargs in rest:
                value = fn(*args, **kwargs)
                if type(value) is not int:
                    return done, value, None
                ints[done] = value
                done += 1
                committed[0] = done
                value = _UNSET
    except BaseException as exc:
        if value is _UNSET:  # fn raised
            return done, _UNSET, exc
        return done, value, None  # storing it failed (past 64 bits, or a child forked by fn): record it
    return done, _END, None


def run_chunk_recorded(task: Task, log: Any, rescue: Callable[[list[Any], BaseException], Any]) -> ChunkResult:
    """Like :func:`run_chunk` for a plain function, but record each outcome before the next item starts.

    A worker process records outcomes where its parent can read them if the
    process dies (``log``, see ``_worker_log.OutcomeLog``), so items that finished
    are never run again: ``log.record(outcome)`` (one C call; an int is
    packed instead), then
    ``log.done[0]`` (shared memory) counts it, so the parent never takes a
    record cut short for an outcome.  When recording raises, ``rescue(out,
    exc)`` records ``out[-1]`` another way and returns the outcome to keep
    there.  Failed items carry their traceback text (they cross a process
    boundary).  A BaseException that is not an Exception ends the chunk; its
    outcome comes last.
    """
    fn, call, stop = task.fn, task.call, task.stop_on_error
    mark = None
    if task.trace:
        mark, fn = trace_begin(task)
    failures = 0
    record, committed = log.record, log.done
    # An int is packed, not pickled (see _worker_log.OutcomeLog); one past 64 bits raises struct.error
    # and the rescue pickles it.
    write, pack_int, int_tag = log.write_bytes, log.pack_int, INT_TAG
    rest = iter(task.items)
    t0, c0 = time.perf_counter(), time.thread_time()
    # While every outcome is an int, it goes to the log's int array and nowhere else: the
    # parent reads the chunk's outcomes there (no list, no pickling).  The first other
    # outcome (or exception) leaves that mode for good: records from then on.
    done, pending, error = _ints_prefix(fn, call, rest, log.ints, committed)
    if pending is _END:
        result = ChunkResult([], time.perf_counter() - t0, time.thread_time() - c0, 0)
        if mark is not None:
            result.trace = trace_end(mark)
        return result
    out: list[Any] = log.leave_ints(done)
    append = out.append
    while True:
        try:
            if error is not None:  # fn raised in the int prefix: the handler below takes it
                exc, error = error, None
                raise exc
            if pending is not _UNSET:  # fn's outcome that ended the int prefix: record it
                value, pending = pending, _UNSET
                append(value)
                record(value)
                done += 1
                committed[0] = done
            if call == CALL_ONE:
                for item in rest:
                    value = fn(item)
                    append(value)
                    if type(value) is int:
                        write(pack_int(int_tag, value))
                    else:
                        record(value)
                    done += 1
                    committed[0] = done
            elif call == CALL_STAR:
                for args in rest:
                    value = fn(*args)
                    append(value)
                    if type(value) is int:
                        write(pack_int(int_tag, value))
                    else:
                        record(value)
                    done += 1
                    committed[0] = done
            else:
                for args, kwargs in rest:
                    value = fn(*args, **kwargs)
                    append(value)
                    if type(value) is int:
                        write(pack_int(int_tag, value))
                    else:
                        record(value)
                    done += 1
                    committed[0] = done
        except BaseException as exc:
            if len(out) > done:  # recording the value failed, not fn
                out[-1] = kept = rescue(out, exc)
                done += 1
                committed[0] = done
                if type(kept) is Raised:
                    failures += 1
                    if stop:
                        break
                continue
            if isinstance(exc, StopIteration):  # as PEP 479 has it for generators
                exc = RuntimeError(f"{fn_name(fn)} raised StopIteration")
            outcome = Raised(exc)
            outcome.traceback_text()
            append(outcome)
            failures += 1
            try:
                record(outcome)
            except BaseException as record_exc:
                out[-1] = rescue(out, record_exc)
            done += 1
            committed[0] = done
            if stop or not isinstance(exc, Exception):
                break
            continue
        break
    result = ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)
    if mark is not None:
        result.trace = trace_end(mark)
    return result
