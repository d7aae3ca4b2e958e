"""The unit of work that backends execute: one chunk of items, one function.

This module is imported inside worker processes, so it stays small and imports
nothing heavy.  ``run_chunk`` and ``arun_chunk`` are the only places where the
user's function is called; every backend goes through them, so calling
conventions and error capture are written once.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import RemoteTraceback, TaskTimeout

if TYPE_CHECKING:
    import asyncio

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


def run_chunk(task: Task, out: list[Any] | None = None) -> ChunkResult:
    """Call ``task.fn`` on every item, capturing each exception as a :class:`Raised`.

    Outcomes are appended to ``out`` when given (the caller keeps the ones that
    completed if Ctrl-C interrupts the chunk), otherwise to a new list.
    """
    if task.is_async:
        return _run_async_here(task)
    fn, stop = task.fn, task.stop_on_error
    failures = 0
    if out is None:
        out = []
    append = out.append
    t0, c0 = time.perf_counter(), time.thread_time()
    # The common conventions loop here with nothing but the call per item: CPython runs a
    # Python function called from Python code without a C frame in between, which beats
    # map() feeding list.extend.  When an item raises, the loop records it and goes on from
    # the shared iterator, just past the item.
    if task.call == CALL_ONE or task.call == CALL_STAR:
        rest = iter(task.items)
        while True:
            try:
                if task.call == CALL_ONE:
                    for item in rest:
                        append(fn(item))
                else:
                    for args in rest:
                        append(fn(*args))
            except Exception as exc:
                if isinstance(exc, StopIteration):  # as PEP 479 has it for generators
                    exc = RuntimeError(f"{_name(fn)} raised StopIteration")
                append(Raised(exc))
                failures += 1
                if stop:
                    break
                continue
            break
    else:
        for args, kwargs in task.items:
            try:
                append(fn(*args, **kwargs))
            except Exception as exc:
                append(Raised(exc))
                failures += 1
                if stop:
                    break
    return ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)


def run_chunk_each(task: Task, report: Callable[[int, Any], None]) -> ChunkResult:
    """Like :func:`run_chunk` for a plain function, but hand each outcome to ``report`` as it comes.

    ``report(k, None)`` is called before item ``k`` starts and ``report(k,
    outcome)`` after it ends, so a supervisor knows which item is running
    since when.  Used when a per-item timeout must be enforced from outside;
    the returned result holds no outcomes (they were reported).
    """
    fn, call, stop = task.fn, task.call, task.stop_on_error
    failures = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for k, item in enumerate(task.items):
        report(k, None)
        try:
            outcome = _call(fn, call, item)
        except Exception as exc:
            outcome = Raised(exc)
            failures += 1
        report(k, outcome)
        if stop and failures:
            break
    return ChunkResult([], time.perf_counter() - t0, time.thread_time() - c0, failures)


async def arun_chunk(task: Task) -> ChunkResult:
    """Await ``task.fn`` on every item concurrently on the running loop."""
    import asyncio

    t0, c0 = time.perf_counter(), time.thread_time()
    fn, call = task.fn, task.call

    timeout = task.timeout
    on_item = task.on_item

    async def one(k: int, item: Any) -> Any:
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
        except Exception as exc:
            return Raised(exc)

    items = task.items
    if len(items) == 1:
        out = [await one(0, items[0])]
    else:
        out = list(await asyncio.gather(*(one(k, item) for k, item in enumerate(items))))
    failures = sum(1 for o in out if type(o) is Raised)
    return ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)


def _run_async_here(task: Task) -> ChunkResult:
    """Run an async chunk from synchronous code on this thread's own event loop.

    Each thread (and each worker process) keeps one loop for its lifetime, so
    connections pooled by the user's coroutines can survive between chunks.
    """
    runner = _thread_runner()
    return runner.run(arun_chunk(task))


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
