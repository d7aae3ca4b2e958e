"""``mode="async"``: coroutines on one event loop, many waits in flight.

``async def`` functions run as tasks on the loop: the caller's own loop when
called through ``amap``/``aimap``, otherwise a loop this backend runs in a
background thread.  The runner caps the items in flight at ``workers``.
Plain functions cannot run on a loop without blocking it, so they go to a
thread pool of ``workers`` threads: this mode is threads underneath for them.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, ClassVar

from .._task import Task
from .._task_async import aexecute
from .._threads import ThreadPool


class Backend:
    name: ClassVar[str] = "async"
    prefetch: ClassVar[int] = 1
    target_chunk_seconds: ClassVar[float] = 0.002
    concurrent_items: ClassVar[bool] = True

    def __init__(self, workers: int | None = None, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.workers = workers or self.default_workers(True)
        self._loop = loop
        self._own_thread: threading.Thread | None = None
        self._offload: ThreadPool | None = None
        self._lock = threading.Lock()

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        # Waits are cheap on a loop; 100 matches common HTTP client connection limits.
        return 100 if is_async else 32

    def submit(self, task: Task) -> Future[Any]:
        if not task.is_async:
            return self._thread_pool().submit(task)
        return asyncio.run_coroutine_threadsafe(aexecute(task), self._event_loop())

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            with self._lock:
                if self._loop is None:
                    loop = asyncio.new_event_loop()
                    thread = threading.Thread(target=_serve, args=(loop,), name="gearshift-loop", daemon=True)
                    thread.start()
                    self._own_thread, self._loop = thread, loop
        return self._loop

    def _thread_pool(self) -> ThreadPool:
        if self._offload is None:
            with self._lock:
                if self._offload is None:
                    self._offload = ThreadPool(self.workers, "gearshift-offload")
        return self._offload

    def abort(self, futures: list[Future[Any]], grace: float) -> None:
        # Coroutines were cancelled with their futures; threads cannot be stopped.
        if self._offload is not None:
            self._offload.abort(futures)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._offload is not None:
            self._offload.shutdown(wait=wait, cancel_futures=cancel_futures)
        thread, loop = self._own_thread, self._loop
        if thread is not None and loop is not None:
            self._own_thread = None
            # Settle every task before the loop stops (a task dropped with its loop is lost
            # mid-await, and asyncio complains): cancelled ones, or, as concurrent.futures
            # does, waited for.  The loop thread closes the loop once it stops.
            settled = asyncio.run_coroutine_threadsafe(_settle(cancel_futures), loop)
            settled.add_done_callback(lambda _: loop.call_soon_threadsafe(loop.stop))
            if wait:
                thread.join()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The backend's own loop thread: run until stopped, then close the loop here."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


async def _settle(cancel: bool) -> None:
    """Cancel (or wait for) every other task on this loop, and wait until each has ended."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    if cancel:
        for task in tasks:
            task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
