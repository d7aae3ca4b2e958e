"""Run a chunk of a plain function on this thread: ``run_chunk`` (every backend's hot loop) and its twins.

``run_chunk`` runs every chunk of sync and thread mode, of async functions
handed to a thread or worker (on that thread's own loop, ``_task_async``) and
of the engines' workers; ``run_chunk_each`` reports each item as it starts
and ends, for a supervisor that enforces per-item timeouts; ``execute`` runs a
task whatever its kind.  Worker processes record outcomes as they come with
``_task_recorded`` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._task import CALL_ONE, CALL_STAR, ChunkResult, Task, call_item, is_fatal, raised_by, trace_begin, trace_end

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: ``_task_async``'s ``run_async_here`` and ``execute_here``, imported on the first async task: a sync
#: run never loads that module, and an async one imports it once (an import statement per chunk: ~1 us)
_async: tuple[Callable[[Task], ChunkResult], Callable[[Task], Any]] | None = None


def _async_runners() -> tuple[Callable[[Task], ChunkResult], Callable[[Task], Any]]:
    global _async
    if _async is None:
        from ._task_async import execute_here, run_async_here

        _async = (run_async_here, execute_here)
    return _async


def close_thread_loop() -> None:
    """Close the event loop this thread ran coroutines on, if it did: for a thread on its way out."""
    if _async is not None:  # (no coroutine ran in this process: no loop, and asyncio stays unloaded)
        from ._task_async import close_thread_loop

        close_thread_loop()


def execute(task: Task) -> Any:
    """Run a task here: a :class:`ChunkResult`, or for a ``single`` task the value itself."""
    if not task.single:
        return run_chunk(task)
    if task.is_async:
        return (_async or _async_runners())[1](task)
    return call_item(task.fn, task.call, task.items[0])


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
        return (_async or _async_runners())[0](task)
    fn, stop = task.fn, task.stop_on_error
    mark = None
    if task.trace:
        mark, fn = trace_begin(task)
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
                    append(raised_by(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
        elif task.call == CALL_STAR:
            for args in task.items:
                try:
                    append(fn(*args))
                except BaseException as exc:
                    append(raised_by(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
        else:
            for args, kwargs in task.items:
                try:
                    append(fn(*args, **kwargs))
                except BaseException as exc:
                    append(raised_by(fn, exc))
                    failures += 1
                    if stop or is_fatal(exc):
                        break
    except Exception as exc:
        input_error = exc
    result = ChunkResult(out, time.perf_counter() - t0, time.thread_time() - c0, failures)
    if input_error is not None:
        result.input_error = input_error
    if mark is not None:
        result.trace = trace_end(mark)
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
        mark, fn = trace_begin(task)
    failures = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for k, item in enumerate(task.items):
        report(k, None)
        fatal = False
        try:
            outcome = call_item(fn, call, item)
        except BaseException as exc:
            outcome = raised_by(fn, exc)
            failures += 1
            fatal = is_fatal(exc)
        report(k, outcome)
        if fatal or (stop and failures):
            break
    result = ChunkResult([], time.perf_counter() - t0, time.thread_time() - c0, failures)
    if mark is not None:
        result.trace = trace_end(mark)
    return result
