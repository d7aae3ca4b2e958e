"""``mode="thread"``: chunks run on a pool of threads sharing this process's memory.

Right for blocking I/O and for work that releases the GIL (hashlib on large
buffers, zlib, NumPy).  An ``async def`` function gets an event loop per thread,
and the items of a chunk run concurrently on it.

Threads cannot be stopped.  With ``timeout=``, chunks run watched
(``_watch.py``): a late item is reported as timed out, its result discarded,
and a new thread replaces the stuck one so the rest still finishes.

Native thread pools (BLAS, OpenMP: NumPy's linear algebra) run beside the
pool's threads, and six threads each calling a two-thread OpenBLAS on two CPUs
oversubscribe them: while chunks run, the process's native pools are
capped to the threads' share of the CPUs (see ``_threads.NativeCap``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

from .._cpu import usable_cpus
from .._native import thread_share
from .._task import Task
from .._threads import ThreadPool

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any, ClassVar


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
        share = thread_share(self.workers, usable_cpus())
        self._pool = ThreadPool(self.workers, thread_name_prefix, initializer, initargs, native_share=share)

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        # Threads are for waiting, so more of them than cores; the standard
        # library's own default, bounded by 32.
        return min(32, usable_cpus() + 4)

    def submit(self, task: Task) -> Future[Any]:
        return self._pool.submit(task)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def abort(self, futures: list[Future[Any]], grace: float) -> None:
        # A running thread cannot be stopped: its (short) chunk finishes and is
        # discarded, and interpreter exit does not wait for it.
        self._pool.abort(futures)
