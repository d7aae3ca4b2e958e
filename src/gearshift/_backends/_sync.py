"""``mode="sync"``: run each chunk right here, in the calling thread.

The baseline every other mode must beat.  ``submit`` does the work before it
returns, so the runner's window never holds more than one chunk.

With ``timeout=`` a chunk of a plain function runs on a helper thread while the
caller waits for it (``_watch.py``), so a late item can be abandoned and the
run goes on; coroutine functions are cancelled by their own loop instead.
"""

from __future__ import annotations

from .._task import Task
from .._task_run import execute
from ._base import done_future

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any, ClassVar

    from .._threads import ThreadPool


class Backend:
    name: ClassVar[str] = "sync"
    prefetch: ClassVar[int] = 1
    target_chunk_seconds: ClassVar[float] = 0.01
    concurrent_items: ClassVar[bool] = False

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1
        self._timed: ThreadPool | None = None

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        return 1

    def submit(self, task: Task) -> Future[Any]:
        if task.timeout is not None and not task.is_async and not task.single:
            from concurrent.futures import wait  # only with timeout=: a plain sync run loads no thread machinery

            if self._timed is None:
                from .._threads import ThreadPool

                self._timed = ThreadPool(1, "gearshift-sync-timed")
            future = self._timed.submit(task)
            try:
                wait([future])  # wait here: sync runs one chunk at a time
            except BaseException:  # Ctrl-C: the helper thread's result is no longer wanted
                self._timed.abort([future])
                raise
            return future
        return done_future(execute(task))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._timed is not None:
            self._timed.shutdown(wait=False)

    def abort(self, futures: list[Future[Any]], grace: float) -> None:
        pass  # nothing runs once submit has returned
