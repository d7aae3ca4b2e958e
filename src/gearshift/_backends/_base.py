"""The contract between the runner and the backends.

A backend executes chunks and nothing else: it does not order results, retry,
choose chunk sizes or apply the error policy; the runner does all of that once
for every backend.  The contract (:class:`Backend`) is one method that matters
(``submit``), one to clean up (``shutdown``) and the facts the runner reads.
What only some backends can do is a small protocol of its own, checked with
``isinstance``: :class:`Aborts` (stop running chunks), :class:`CachesFunctions`
(forget a run's function), :class:`StartsWorkers` (start workers ahead of the
work, say when they are ready), :class:`ClusterBackend` (a dask or Ray cluster's
address and size).  The runner and ``mode="auto"`` use nothing else.
"""

from __future__ import annotations

from .._task import Task

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future
    from typing import Any, ClassVar, Protocol, runtime_checkable
else:  # the same checks, without loading typing (see gearshift._protocols)
    from .._protocols import Protocol, runtime_checkable


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


@runtime_checkable
class Aborts(Protocol):
    """A backend that can stop chunks already running (processes: kill and replace the worker)."""

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


@runtime_checkable
class CachesFunctions(Protocol):
    """A backend that keeps a run's function where its workers are (processes: pickled once per worker)."""

    def forget(self, fn_id: int) -> None:
        """The run whose tasks carried ``fn_id`` is over: free what was kept for it."""
        ...


@runtime_checkable
class StartsWorkers(Protocol):
    """A backend whose workers take a while to start (processes): start them ahead, ask when they are ready."""

    def warm(self, fn: Callable[..., Any] | None = None) -> None:
        """Start every worker now, without waiting for any (and have each load ``fn`` once it has started)."""
        ...

    def ready(self) -> bool:
        """Whether every worker has started and can take work at once."""
        ...


@runtime_checkable
class ClusterBackend(Protocol):
    """A backend on a dask or Ray cluster: where it is and how many workers it offers."""

    workers: int

    @property
    def address(self) -> str: ...

    def cluster_workers(self) -> int:
        """How many workers the cluster offers (dask: its worker threads, Ray: its CPUs)."""
        ...

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None: ...


def done_future(result: Any = None, exception: BaseException | None = None) -> Future[Any]:
    """A future that is already resolved (for backends that run inline)."""
    from concurrent.futures import Future  # here: a sync run on the inline path never needs one

    fut: Future[Any] = Future()
    if exception is not None:
        fut.set_exception(exception)
    else:
        fut.set_result(result)
    return fut
