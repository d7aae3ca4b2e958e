"""The unit of work that backends execute: one chunk of items, one function.

This module is imported inside worker processes, so it stays small and imports
nothing heavy.  ``run_chunk`` and ``arun_chunk`` are the only places where the
user's function is called; every backend goes through them, so calling
conventions and error capture are written once.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import RemoteTraceback, TaskTimeout

if TYPE_CHECKING:
    import asyncio

#: ``Task.trace``: what the executing side times for a trace (see _trace.py): the chunk, or each item too
TRACE_CHUNK = 1
TRACE_ITEMS = 2

#: the tag of an int record in a worker's outcome log (see _worker_log.OutcomeLog)
INT_TAG = 1

# How an item becomes arguments: fn(item), fn(*item), or fn(*item[0], **item[1]).
CALL_ONE = 0
CALL_STAR = 1
CALL_ARGS = 2


class Raised:
    """An item's outcome when the function raised; ``tb`` is text (remote) or None (local)."""

    __slots__ = ("exception", "tb")

    def __init__(self, exception: BaseException, tb: str | None = None):
        self.exception = exception
        self.tb = tb

    def traceback_text(self) -> str:
        if self.tb is None:
            import traceback  # on the first failure only: a clean run never formats one

            self.tb = "".join(traceback.format_exception(self.exception))
        return self.tb

    def __repr__(self) -> str:
        return f"Raised({self.exception!r})"


@dataclasses.dataclass(slots=True)
class Task:
    """One chunk handed to a backend.

    ``start`` is the input index of the first item (for error messages);
    ``stop_on_error`` stops at the first failing item (nothing after it is
    needed), so the outcomes list is then shorter than ``items``; ``fn_id``
    is the same for every task of one run, so a backend may ship ``fn`` once
    per run (None: ship it with this task).  A ``single`` task holds one call
    (``Executor.submit``): its future resolves to the value itself, or raises.
    """

    fn: Callable[..., Any]
    items: Sequence[Any]
    call: int = CALL_ONE
    is_async: bool = False
    stop_on_error: bool = False
    start: int = 0
    fn_id: int | None = None
    single: bool = False
    timeout: float | None = None
    #: told ``(offset, outcome)`` as each item of a concurrent (async) chunk ends, on its loop; in-process
    #: chunks only, never shipped: a results observer must not wait for the chunk's slowest item
    on_item: Callable[[int, Any], None] | None = None
    #: 0, TRACE_CHUNK or TRACE_ITEMS: time the chunk (or each item) for ``trace=`` (shipped with the task)
    trace: int = 0


@dataclasses.dataclass(slots=True)
class ChunkResult:
    """Outcomes of a chunk (a value or a :class:`Raised` per item) and what it cost.

    ``elapsed`` is wall time and ``cpu`` the executing thread's CPU time, both
    measured where the chunk ran; the runner uses them to size later chunks.
    """

    outcomes: list[Any]
    elapsed: float
    cpu: float
    #: how many outcomes are :class:`Raised` (0 lets the runner skip a scan)
    failures: int = 0
    #: bytes the outcomes took crossing a process boundary (0: they did not cross one)
    nbytes: int = 0
    #: what reading a lazy slice of the caller's input raised (the chunk stopped there)
    input_error: BaseException | None = None
    #: for a traced task: (pid, native thread id, thread name, start ns, end ns, item spans or None), see _trace
    trace: tuple[Any, ...] | None = None


class SharedCall(functools.partial):  # type: ignore[type-arg]
    """The user's function with the run's ``shared=`` object bound as its first argument.

    ``SharedCall(fn, table)(item)`` is ``fn(table, item)``: a ``functools.partial``
    (called at C speed), of its own type so that gearshift can tell the shared
    object from the function when it checks what must be pickled.
    """

    __slots__ = ()


def execute(task: Task) -> Any:
    """Run a task here: a :class:`ChunkResult`, or for a ``single`` task the value itself."""
    if not task.single:
        return run_chunk(task)
    if task.is_async:
        return _thread_runner().run(aexecute(task))
    return _call(task.fn, task.call, task.items[0])


async def aexecute(task: Task) -> Any:
    """The coroutine twin of :func:`execute`, for the running loop."""
    if not task.single:
        return await arun_chunk(task)
    return await _call(task.fn, task.call, task.items[0])


def unwrap(result: ChunkResult) -> Any:
    """The value of a one-item chunk, or raise what the item raised (remote traceback as cause)."""
    outcome = result.outcomes[0]
    if type(outcome) is Raised:
        exc = outcome.exception
        if outcome.tb is not None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(outcome.tb)
        raise exc
    return outcome


def _call(fn: Callable[..., Any], call: int, item: Any) -> Any:
    if call == CALL_ONE:
        return fn(item)
    if call == CALL_STAR:
        return fn(*item)
    return fn(*item[0], **item[1])


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` ends the whole run: a BaseException that is not an Exception.

    KeyboardInterrupt, SystemExit and the like are never retried nor turned into
    a :class:`~gearshift.Failure`: the run stops and the caller gets them.
    """
    return not isinstance(exc, Exception)


def _raised(fn: Callable[..., Any], exc: BaseException) -> Raised:
    if isinstance(exc, StopIteration):  # as PEP 479 has it for generators
        exc = RuntimeError(f"{_name(fn)} raised StopIteration")
    return Raised(exc)


def _trace_begin(task: Task) -> tuple[tuple[int, list[int] | None], Callable[..., Any]]:
    """For a traced task: its start time, and ``fn`` timing every call when items are traced one by one.

    ``time.monotonic_ns`` is CLOCK_MONOTONIC on Linux (and system-wide on macOS and
    Windows): worker processes and the parent read the same clock.
    """
    fn = task.fn
    if task.trace != TRACE_ITEMS:
        return (time.monotonic_ns(), None), fn
    spans: list[int] = []
    add, clock = spans.append, time.monotonic_ns

    def timed(*args: Any, **kwargs: Any) -> Any:
        add(clock())
        try:
            return fn(*args, **kwargs)
        finally:
            add(clock())

    return (clock(), spans), timed


def _trace_end(mark: tuple[int, list[int] | None], where: str = "") -> tuple[Any, ...]:
    """Where and when a traced chunk ran, carried back with its outcomes (``ChunkResult.trace``).

    ``where`` prefixes the thread's name (``loop:`` for items that ran at once on an event loop).
    """
    name = where + threading.current_thread().name
    return (os.getpid(), threading.get_native_id(), name, mark[0], time.monotonic_ns(), mark[1])


def run_chunk(task: Task, out: list[Any] | None = None) -> ChunkResult:
    """Call ``task.fn`` on every item, capturing each exception as a :class:`Raised`.

    Outcomes are appended to ``out`` when given (the caller keeps the ones that
    completed if Ctrl-C interrupts the chunk), otherwise to a new list.  A
    BaseException that is not an Exception (see :func:`is_fatal`) is captured
    too, and the chunk stops there.  When ``task.items`` is a lazy slice of the
    caller's input and reading it raises, the chunk stops and the input's
    exception is returned as ``input_error`` (it is no item's failure).
    """
    if task.is_async:
        return _run_async_here(task)
    fn, stop = task.fn, task.stop_on_error
    mark = None
    if task.trace:
        mark, fn = _trace_begin(task)
    failures = 0
    if out is None:
        out = []
    append = out.append
    input_error: Exception | None = None
    t0, c0 = time.perf_counter(), time.thread_time()
    # Nothing but the call per item (try blocks cost nothing until something raises, 3.11+).
    # The outer try catches only what the input's iterator raises: fn's errors stop inside.
    try:
        if task.call == CALL_ONE:
            for item in task.items:
                try:
                    append(fn(item))
                except BaseException as exc:
                    append(_raised(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
        elif task.call == CALL_STAR:
            for args in task.items:
                try:
                    append(fn(*args))
                except BaseException as exc:
                    append(_raised(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
        else:
            for args, kwargs in task.items:
                try:
                    append(fn(*args, **kwargs))
                except BaseException as exc:
                    append(_raised(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
    except Exception as exc:
        input_error = exc
    result = ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)
    if input_error is not None:
        result.input_error = input_error
    if mark is not None:
        result.trace = _trace_end(mark)
    return result


def run_chunk_each(task: Task, report: Callable[[int, Any], None]) -> ChunkResult:
    """Like :func:`run_chunk` for a plain function, but hand each outcome to ``report`` as it comes.

    ``report(k, None)`` is called before item ``k`` starts and ``report(k,
    outcome)`` after it ends, so a supervisor knows which item is running
    since when.  Used when a per-item timeout must be enforced from outside;
    the returned result holds no outcomes (they were reported).
    """
    fn, call, stop = task.fn, task.call, task.stop_on_error
    mark = None
    if task.trace:
        mark, fn = _trace_begin(task)
    failures = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for k, item in enumerate(task.items):
        report(k, None)
        fatal = False
        try:
            outcome = _call(fn, call, item)
        except BaseException as exc:
            outcome = _raised(fn, exc)
            failures += 1
            fatal = is_fatal(exc)
        report(k, outcome)
        if fatal or (stop and failures):
            break
    result = ChunkResult([], time.perf_counter() - t0, time.thread_time() - c0, failures)
    if mark is not None:
        result.trace = _trace_end(mark)
    return result


async def arun_chunk(task: Task, *, concurrent: bool = True) -> ChunkResult:
    """Await ``task.fn`` on every item on the running loop.

    ``concurrent``: all items at once (async mode, where the runner caps the
    items in flight at ``workers``); otherwise one after another, as on a
    thread or worker process, where ``workers`` counts the items running.
    """
    import asyncio

    t0, c0 = time.perf_counter(), time.thread_time()
    fn, call = task.fn, task.call

    timeout = task.timeout
    on_item = task.on_item
    t0n = time.monotonic_ns() if task.trace else 0
    # Concurrent items overlap: each one's (start, end) goes in its own place.
    spans = [0] * (2 * len(task.items)) if task.trace == TRACE_ITEMS else None

    async def one(k: int, item: Any) -> Any:
        if spans is not None:
            spans[2 * k] = time.monotonic_ns()
            outcome = await attempt(k, item)
            spans[2 * k + 1] = time.monotonic_ns()
        else:
            outcome = await attempt(k, item)
        if on_item is not None:
            on_item(k, outcome)
        return outcome

    async def attempt(k: int, item: Any) -> Any:
        try:
            if timeout is None:
                return await _call(fn, call, item)
            limit = asyncio.timeout(timeout)
            try:
                async with limit:
                    return await _call(fn, call, item)
            except TimeoutError:
                if limit.expired():
                    return Raised(timeout_error(task.start + k, timeout, "was cancelled"))
                raise
        except asyncio.CancelledError:
            raise  # the run cancelled this item: not the item's outcome
        except BaseException as exc:  # fatal ones too: they must not end the loop itself
            return _raised(fn, exc)

    items = task.items
    out: list[Any]
    if len(items) == 1:
        out = [await one(0, items[0])]
    elif concurrent:
        out = list(await asyncio.gather(*(one(k, item) for k, item in enumerate(items))))
    else:
        out = []
        for k, item in enumerate(items):
            outcome = await one(k, item)
            out.append(outcome)
            if type(outcome) is Raised and (task.stop_on_error or is_fatal(outcome.exception)):
                break
    failures = sum(1 for o in out if type(o) is Raised)
    result = ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)
    if task.trace:
        result.trace = _trace_end((t0n, spans), "loop:" if concurrent else "")
    return result


def _run_async_here(task: Task) -> ChunkResult:
    """Run an async chunk from synchronous code on this thread's own event loop.

    Each thread (and each worker process) keeps one loop for its lifetime, so
    connections pooled by the user's coroutines can survive between chunks.
    The items run one after another: ``workers`` counts the items running.
    """
    runner = _thread_runner()
    return runner.run(arun_chunk(task, concurrent=False))


def timeout_error(index: int | None, timeout: float, what: str) -> TaskTimeout:
    """The error for an item that ran past ``timeout``; ``what`` says what was done about it."""
    which = "an item" if index is None else f"item {index}"
    return TaskTimeout(f"{which} did not finish within timeout={timeout:g} s and {what}", index=index, timeout=timeout)


_runners = threading.local()


def _thread_runner() -> asyncio.Runner:
    import asyncio

    runner: asyncio.Runner | None = getattr(_runners, "runner", None)
    if runner is None:
        runner = asyncio.Runner()
        _runners.runner = runner
    return runner


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
        mark, fn = _trace_begin(task)
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
            result.trace = _trace_end(mark)
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
                exc = RuntimeError(f"{_name(fn)} raised StopIteration")
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
        result.trace = _trace_end(mark)
    return result
