"""The contract between the runner and the backends.

A backend executes chunks and nothing else: it does not order results, retry,
choose chunk sizes or apply the error policy; the runner does all of that once
for every backend.  The contract is one method that matters (``submit``), one to
clean up (``shutdown``) and three class-level facts the runner reads.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, ClassVar, Protocol, runtime_checkable

from .._task import Task


@runtime_checkable
class Backend(Protocol):
    """Executes chunks of work somewhere: this thread, a loop, threads, processes, a cluster."""

    #: the ``mode=`` name that selects this backend
    name: ClassVar[str]
    #: chunks kept in flight per worker; 2 hides the round trip between chunks
    prefetch: ClassVar[int]
    #: wall time an automatically sized chunk should take, in seconds
    target_chunk_seconds: ClassVar[float]
    #: True when a chunk's items run concurrently (async): ``workers`` then caps
    #: the items in flight rather than the chunks
    concurrent_items: ClassVar[bool]

    #: how many chunks (or, with ``concurrent_items``, items) run at once
    workers: int

    @classmethod
    def default_workers(cls, is_async: bool) -> int:
        """The worker count to use when the caller passes ``workers=None``."""
        ...

    def submit(self, task: Task) -> Future[Any]:
        """Start ``task``; the future resolves to its outcomes.

        Per-item exceptions are outcomes, not future exceptions.  The future
        fails as a whole only when the chunk could not run to the end (a
        worker crash, a timeout, an unpicklable result); the runner then splits
        the chunk to find the item at fault.  ``submit`` itself may raise
        :class:`~gearshift.UnpicklableError` for work that cannot be shipped.
        """
        ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Release the workers; with ``cancel_futures`` drop the chunks not yet started."""
        ...

    def abort(self, futures: list[Future[Any]], grace: float) -> None:
        """Stop these running chunks if this backend can, after ``grace`` seconds.

        The runner calls it when a run ends early, for chunks whose futures
        could not be cancelled because they already run.  Backends that can stop
        work (processes: the worker is killed and replaced) do so once ``grace``
        has passed without the chunk finishing, and resolve its future with
        :class:`~concurrent.futures.CancelledError`; the others leave it to finish.
        Must not block.
        """
        ...


# Optional member, looked up with getattr by the runner:
#   forget(fn_id: int) -> None: the run whose tasks carried ``fn_id`` is over;
#   a backend that caches functions per run (processes) frees that one now.


def done_future(result: Any = None, exception: BaseException | None = None) -> Future[Any]:
    """A future that is already resolved (for backends that run inline)."""
    fut: Future[Any] = Future()
    if exception is not None:
        fut.set_exception(exception)
    else:
        fut.set_result(result)
    return fut
