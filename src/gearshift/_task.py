"""The unit of work that backends execute, and what comes back: one chunk of items, one function.

A :class:`Task` goes to a backend; a :class:`ChunkResult` (a value or a
:class:`Raised` per item) comes back.  This module holds those values and what
the chunk runners share: the calling conventions (``call_item``), how a
failure is captured (``raised_by``, ``is_fatal``, ``timeout_error``) and the
trace stamps (``trace_begin``, ``trace_end``).  The runners themselves are
``_task_run`` (plain functions on this thread), ``_task_async`` (coroutines)
and ``_task_recorded`` (in a worker process, each outcome recorded as it
comes): the only places where the user's function is called, so every backend
goes through them and calling conventions and error capture are written once.

Imported inside worker processes and by every backend, it stays small and
imports nothing heavy.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Sequence

from ._errors import RemoteTraceback, TaskTimeout
from ._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

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


class Task(Record, slots=True):
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


class ChunkResult(Record, slots=True):
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


def unwrap(result: ChunkResult) -> Any:
    """The value of a one-item chunk, or raise what the item raised (remote traceback as cause)."""
    outcome = result.outcomes[0]
    if type(outcome) is Raised:
        exc = outcome.exception
        if outcome.tb is not None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(outcome.tb)
        raise exc
    return outcome


def call_item(fn: Callable[..., Any], call: int, item: Any) -> Any:
    """``fn`` called on one item by the calling convention ``call`` (the chunk loops inline it)."""
    if call == CALL_ONE:
        return fn(item)
    if call == CALL_STAR:
        return fn(*item)
    return fn(*item[0], **item[1])


def fn_name(fn: Callable[..., Any]) -> str:
    """The function's name, for error messages."""
    return getattr(fn, "__qualname__", None) or repr(fn)


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` ends the whole run: a BaseException that is not an Exception.

    KeyboardInterrupt, SystemExit and the like are never retried nor turned into
    a :class:`~gearshift.Failure`: the run stops and the caller gets them.
    """
    return not isinstance(exc, Exception)


def raised_by(fn: Callable[..., Any], exc: BaseException) -> Raised:
    """The outcome of an item whose call of ``fn`` raised ``exc``."""
    if isinstance(exc, StopIteration):  # as PEP 479 has it for generators
        exc = RuntimeError(f"{fn_name(fn)} raised StopIteration")
    return Raised(exc)


def timeout_error(index: int | None, timeout: float, what: str) -> TaskTimeout:
    """The error for an item that ran past ``timeout``; ``what`` says what was done about it."""
    which = "an item" if index is None else f"item {index}"
    return TaskTimeout(f"{which} did not finish within timeout={timeout:g} s and {what}", index=index, timeout=timeout)


def trace_begin(task: Task) -> tuple[tuple[int, list[int] | None], Callable[..., Any]]:
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


def trace_end(mark: tuple[int, list[int] | None], where: str = "") -> tuple[Any, ...]:
    """Where and when a traced chunk ran, carried back with its outcomes (``ChunkResult.trace``).

    ``where`` prefixes the thread's name (``loop:`` for items that ran at once on an event loop).
    """
    name = where + threading.current_thread().name
    return (os.getpid(), threading.get_native_id(), name, mark[0], time.monotonic_ns(), mark[1])
