"""Run a chunk of an ``async def`` function: on the running loop, or on this thread's own loop.

``arun_chunk`` awaits the items on the running loop, all at once (async mode)
or one after another (a thread or worker process, where ``workers`` counts
the items running), with ``timeout=`` applied to each item.  Each thread (and
each worker process) keeps one event loop for its lifetime, so connections
pooled by the user's coroutines can survive between chunks, and that loop is
closed when the thread ends or at interpreter exit (:class:`_ThreadLoop`).
asyncio is imported when a coroutine first runs, not with this module.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ._task import TRACE_ITEMS, ChunkResult, Raised, Task, call_item, is_fatal, raised_by, timeout_error, trace_end

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine
    from typing import TypeVar

    T = TypeVar("T")


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
    return _here().run(arun_chunk(task, concurrent=False))


def execute_here(task: Task) -> Any:
    """Run a ``single`` async task (``Executor.submit``) from synchronous code on this thread's own loop: its value."""
    return _here().run(aexecute(task))


def close_thread_loop() -> None:
    """Close this thread's event loop, if it has one: for a thread on its way out (the next run makes another)."""
    here: _ThreadLoop | None = getattr(_here_local, "loop", None)
    if here is not None:
        here.close()


# Why loops are closed here and not left to the garbage collector: an unclosed loop that becomes
# garbage (its thread ended, or the interpreter exits) is finalized together with its self-pipe
# socket, in no set order; when the socket goes first, BaseEventLoop.__del__ closes the loop,
# unregisters fd -1 and prints "Exception ignored ... ValueError: Invalid file descriptor: -1".
_here_local = threading.local()
_open: set[_ThreadLoop] = set()  # every loop not yet closed, whatever became of its thread
_open_lock = threading.Lock()
#: set at interpreter exit: from then on a loop is closed as soon as its run returns
_exiting = False


class _ThreadLoop:
    """A thread's event loop (an ``asyncio.Runner``, made on its first run), and who may close it.

    Its thread closes it on the way out (gearshift's pool threads do) or it is
    closed at interpreter exit; one whose thread ended otherwise is closed when
    another thread makes its loop.  ``lock`` is held while the loop runs
    (re-entrant: a nested run fails in ``Runner.run`` as before), so another
    thread closes the loop only when it is not running: a loop still running at
    exit is closed by its own thread once its run returns, or, its thread frozen
    by the exit, stays referenced by that thread's frames and is never finalized.
    """

    __slots__ = ("lock", "runner", "thread")

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.lock = threading.RLock()
        self.runner: asyncio.Runner | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            with self.lock:
                if self.runner is None:
                    self.runner = _open_runner(self)
                return self.runner.run(coro)
        finally:
            if _exiting:  # read after the lock is released: see _close_at_exit
                self.close()

    def close(self, wait: bool = True) -> None:
        """Close the loop, unless it is running (or, ``wait=False``, another thread holds ``lock``)."""
        if not self.lock.acquire(blocking=wait):
            return
        try:
            runner = self.runner
            if runner is None or runner.get_loop().is_running():  # (running: this thread, further up)
                return
            self.runner = None
            with _open_lock:
                _open.discard(self)
            try:
                runner.close()  # the loop is closed even when this raises
            except Exception:  # coroutines left pending, raising as they are cancelled: nobody takes it now
                pass
        finally:
            self.lock.release()


def _here() -> _ThreadLoop:
    here: _ThreadLoop | None = getattr(_here_local, "loop", None)
    if here is None:
        here = _here_local.loop = _ThreadLoop()
    return here


def _open_runner(here: _ThreadLoop) -> asyncio.Runner:
    """A new runner for ``here``'s thread; first, the loops of threads that ended without closing theirs are closed."""
    import asyncio

    with _open_lock:
        ended = [other for other in _open if not other.thread.is_alive()]
        _open.add(here)
    for other in ended:
        other.close(wait=False)
    return asyncio.Runner()


@atexit.register
def _close_at_exit() -> None:
    """Close every loop not running now; a running one is closed by its thread when its run returns.

    ``_exiting`` is set before any lock is tried, and a run reads it after
    releasing its lock: when the lock is found taken, the run will see it.
    """
    global _exiting
    _exiting = True
    with _open_lock:
        loops = list(_open)
    for here in loops:
        here.close(wait=False)


def _forget_in_child() -> None:
    # A loop copied by fork shares the parent's selector and self-pipe: the child's threads make
    # loops of their own, and the copies are left to the garbage collector, as any a fork copies.
    global _here_local, _open, _open_lock
    _here_local, _open, _open_lock = threading.local(), set(), threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)
