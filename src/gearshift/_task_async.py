"""Run a chunk of an ``async def`` function: on the running loop, or on this thread's own loop.

``arun_chunk`` awaits the items on the running loop, all at once (async mode)
or one after another (a thread or worker process, where ``workers`` counts
the items running), with ``timeout=`` applied to each item.  Each thread (and
each worker process) keeps one event loop for its lifetime, so connections
pooled by the user's coroutines can survive between chunks.  asyncio is
imported when a coroutine first runs, not with this module.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ._task import TRACE_ITEMS, ChunkResult, Raised, Task, call_item, is_fatal, raised_by, timeout_error, trace_end

if TYPE_CHECKING:
    import asyncio


async def aexecute(task: Task) -> Any:
    """The coroutine twin of :func:`gearshift._task_run.execute`, for the running loop."""
    if not task.single:
        return await arun_chunk(task)
    return await call_item(task.fn, task.call, task.items[0])


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
                return await call_item(fn, call, item)
            limit = asyncio.timeout(timeout)
            try:
                async with limit:
                    return await call_item(fn, call, item)
            except TimeoutError:
                if limit.expired():
                    return Raised(timeout_error(task.start + k, timeout, "was cancelled"))
                raise
        except asyncio.CancelledError:
            raise  # the run cancelled this item: not the item's outcome
        except BaseException as exc:  # fatal ones too: they must not end the loop itself
            return raised_by(fn, exc)

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
        result.trace = trace_end((t0n, spans), "loop:" if concurrent else "")
    return result


def run_async_here(task: Task) -> ChunkResult:
    """Run an async chunk from synchronous code on this thread's own event loop.

    Each thread (and each worker process) keeps one loop for its lifetime, so
    connections pooled by the user's coroutines can survive between chunks.
    The items run one after another: ``workers`` counts the items running.
    """
    runner = thread_runner()
    return runner.run(arun_chunk(task, concurrent=False))


def execute_here(task: Task) -> Any:
    """Run a ``single`` async task (``Executor.submit``) from synchronous code on this thread's own loop: its value."""
    return thread_runner().run(aexecute(task))


_runners = threading.local()


def thread_runner() -> asyncio.Runner:
    """This thread's event loop (an ``asyncio.Runner``), made on first use and kept for the thread's life."""
    import asyncio

    runner: asyncio.Runner | None = getattr(_runners, "runner", None)
    if runner is None:
        runner = asyncio.Runner()
        _runners.runner = runner
    return runner
