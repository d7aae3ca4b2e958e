"""``mode="thread"``: chunks run on a pool of threads sharing this process's memory.

Right for blocking I/O and for work that releases the GIL (hashlib on large
buffers, zlib, NumPy).  An ``async def`` function gets an event loop per thread,
and the items of a chunk run concurrently on it.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ClassVar

from .._cpu import usable_cpus
from .._task import Task, execute


class Backend:
    name: ClassVar[str] = "thread"
    prefetch: ClassVar[int] = 2
    target_chunk_seconds: ClassVar[float] = 0.005
    concurrent_items: ClassVar[bool] = False

    def __init__(
        self,
        workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        thread_name_prefix: str = "gearshift",
    ) -> None:
        self.workers = workers or self.default_workers(False)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            self.workers,
            thread_name_prefix=thread_name_prefix,
            initializer=initializer,
            initargs=initargs,
        )

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        # Threads are for waiting, so more of them than cores; the standard
        # library's own default, bounded by 32.
        return min(32, usable_cpus() + 4)

    def submit(self, task: Task) -> Future[Any]:
        return self._pool.submit(execute, task)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
