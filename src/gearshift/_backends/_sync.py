"""``mode="sync"``: run each chunk right here, in the calling thread.

The baseline every other mode must beat.  ``submit`` does the work before it
returns, so the runner's window never holds more than one chunk.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, ClassVar

from .._task import Task, execute
from ._base import done_future


class Backend:
    name: ClassVar[str] = "sync"
    prefetch: ClassVar[int] = 1
    target_chunk_seconds: ClassVar[float] = 0.002
    concurrent_items: ClassVar[bool] = False

    def __init__(self, workers: int = 1) -> None:
        self.workers = 1

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        return 1

    def submit(self, task: Task) -> Future[Any]:
        return done_future(execute(task))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass
