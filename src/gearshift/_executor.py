"""``concurrent.futures`` executors over every gearshift mode.

:class:`Executor` is a real :class:`concurrent.futures.Executor`; ``submit``
goes straight to the backend, and ``map`` goes through the same runner as
:func:`gearshift.map`, so it is lazy, chunked and bounded in memory.
:class:`ThreadPoolExecutor` and :class:`ProcessPoolExecutor` take the standard
library's constructor arguments, so switching is a one-line import change.
"""

from __future__ import annotations

import concurrent.futures
import operator
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from . import _runner
from ._arguments import check_function, is_async_function
from ._backends import BACKENDS, backend_class
from ._backends._base import Aborts
from ._options import ExecutorMode, make_options
from ._planner import plan_fixed
from ._runner import Runner
from ._task import CALL_ARGS, CALL_STAR, Task

__all__ = ["Executor", "ProcessPoolExecutor", "ThreadPoolExecutor"]

P = ParamSpec("P")  # the arguments of a submitted call
R = TypeVar("R")  # its result


class Executor(concurrent.futures.Executor):
    """Run calls in ``mode`` (``"sync"``, ``"async"``, ``"thread"``, ``"process"``, ``"dask"`` or ``"ray"``).

    Workers start on first use and are reused until :meth:`shutdown`.
    ``initializer(*initargs)`` runs once in each worker thread or process.

    Leaving a ``with`` block because of Ctrl-C (``KeyboardInterrupt``) does not
    wait for the work like :meth:`shutdown` does: queued calls are cancelled,
    running ones get a short grace period, then worker processes still busy
    are killed (threads cannot be killed: their results are discarded and exit
    does not wait for them).  A second Ctrl-C ends the grace period at once.

    ``address=`` and ``client=`` say which cluster ``"dask"`` and ``"ray"`` use
    (as in :func:`gearshift.map`).
    """

    def __init__(
        self,
        mode: ExecutorMode = "process",
        workers: int | None = None,
        *,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        max_tasks_per_child: int | None = None,
        thread_name_prefix: str = "",
        address: str | None = None,
        client: Any = None,
    ) -> None:
        if mode not in BACKENDS:
            raise ValueError(
                f"Executor mode must be one of {', '.join(repr(m) for m in BACKENDS)}, got {mode!r} "
                "(an Executor cannot measure work it has not seen; use gearshift.map(mode='auto') for that)"
            )
        engine = make_options(mode=mode, workers=workers, address=address, client=client).engine_options
        if initializer is not None and not callable(initializer):
            raise TypeError(f"initializer must be a callable, got {type(initializer).__name__}")
        if max_tasks_per_child is not None:
            if mode != "process":
                raise ValueError("max_tasks_per_child applies only to mode='process'")
            if not isinstance(max_tasks_per_child, int) or max_tasks_per_child < 1:
                raise ValueError(f"max_tasks_per_child must be an int >= 1, got {max_tasks_per_child!r}")
        if initializer is not None and mode not in ("thread", "process"):
            raise ValueError(f"initializer applies to mode='thread' or 'process', not {mode!r}")
        self.mode = mode
        cls = backend_class(mode)
        options: dict[str, Any] = dict(engine)
        if mode in ("thread", "process"):
            options = {"initializer": initializer, "initargs": tuple(initargs)}
        if mode == "process":
            options["max_tasks_per_child"] = max_tasks_per_child
        if mode == "thread":
            options["thread_name_prefix"] = thread_name_prefix or f"gearshift-executor-{id(self):x}"
        self._backend = cls(workers, **options)  # type: ignore[call-arg]
        # The standard library's name for the worker count, which dask, asyncio and others read.
        self._max_workers: int = self._backend.workers
        self._lock = threading.Lock()
        self._closed = False
        self._futures: weakref.WeakSet[concurrent.futures.Future[Any]] = weakref.WeakSet()

    @property
    def workers(self) -> int:
        """How many workers this executor runs at most."""
        return self._backend.workers

    # As the standard library's, and an ``async def`` function's future holds what its coroutine returns.
    @overload
    def submit(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[R]: ...
    @overload
    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> concurrent.futures.Future[R]: ...
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Schedule ``fn(*args, **kwargs)`` and return its future (an ``async def`` function's is awaited)."""
        check_function(fn)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            task = Task(fn, [(args, kwargs)], CALL_ARGS, is_async_function(fn), single=True)
            future = self._backend.submit(task)
            self._futures.add(future)
            return future

    @overload
    def map(
        self,
        fn: Callable[..., Awaitable[R]],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[R]: ...
    @overload
    def map(
        self,
        fn: Callable[..., R],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[R]: ...
    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int | None = None,
        buffersize: int | None = None,
    ) -> Iterator[Any]:
        """Like the builtin ``map`` over ``iterables``, run on this executor's workers.

        Work starts at once; results come in order.  ``timeout`` bounds the whole
        iteration (``TimeoutError``), as in the standard library.  ``chunksize``
        defaults to an automatic size; ``buffersize`` is accepted for
        compatibility (the input is always read lazily, in a bounded window).
        """
        check_function(fn)
        if buffersize is not None and (not isinstance(buffersize, int) or buffersize < 1):
            raise ValueError("buffersize must be None or > 0")
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
        options = make_options(mode=self.mode, workers=self.workers, chunksize=chunksize)
        is_async = is_async_function(fn)
        deadline = None if timeout is None else time.monotonic() + timeout
        runner = Runner(
            self._backend, fn, options, plan_fixed(options, is_async=is_async),
            call=CALL_STAR, is_async=is_async, deadline=deadline,
        )  # fmt: skip
        hints = [operator.length_hint(it, 0) for it in iterables]
        runner.start(zip(*iterables), length=min(hints) if hints and all(hints) else None)
        return _results(runner)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Accept no more calls and free the workers once they finish, as the standard library's."""
        with self._lock:
            self._closed = True
        self._backend.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._interrupt()
            return False
        return super().__exit__(exc_type, exc_val, exc_tb)

    def _interrupt(self) -> None:
        """Ctrl-C: cancel what waits, give what runs ``_runner.GRACE`` seconds, then stop it."""
        with self._lock:
            self._closed = True
        self._backend.shutdown(wait=False, cancel_futures=True)
        running = [f for f in list(self._futures) if not f.cancel() and not f.done()]
        abort = getattr(self._backend, "abort", None)  # optional for engines that cancel on their own
        if abort is not None:
            abort(running, _runner.GRACE)
        try:
            self._backend.shutdown(wait=True)
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once
            if abort is not None:
                abort(running, 0.0)
            self._backend.shutdown(wait=True)


def _results(runner: Runner) -> Iterator[Any]:
    # Hand results over one by one without keeping a reference here (the
    # caller may want an object freed as soon as it drops it).
    for batch in runner.batches():
        batch.reverse()
        while batch:
            yield batch.pop()


class ThreadPoolExecutor(Executor, concurrent.futures.ThreadPoolExecutor):
    """Drop-in for :class:`concurrent.futures.ThreadPoolExecutor`, same arguments.

    A subclass of the standard library's class, so ``isinstance`` checks and
    ``loop.set_default_executor`` accept it (``asyncio.to_thread`` and
    ``run_in_executor(None, ...)`` then run on it); every method is gearshift's,
    and the standard library's own pool is never started.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        super().__init__(
            "thread", max_workers, initializer=initializer, initargs=initargs, thread_name_prefix=thread_name_prefix
        )


class ProcessPoolExecutor(Executor, concurrent.futures.ProcessPoolExecutor):
    """Drop-in for :class:`concurrent.futures.ProcessPoolExecutor`, same arguments.

    Workers are always fresh interpreters (like the ``"spawn"`` start method),
    which is safe in threaded programs; ``mp_context`` is accepted so existing
    code runs unchanged, but its start method is not used.  A subclass of the
    standard library's class (for ``isinstance`` checks) whose methods are all
    gearshift's; the standard library's own pool is never started.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        mp_context: Any = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_tasks_per_child: int | None = None,
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        super().__init__(
            "process", max_workers, initializer=initializer, initargs=initargs, max_tasks_per_child=max_tasks_per_child
        )

    # Python 3.14 added these two to the standard library's class; without them, the inherited
    # ones would reach for its pool, which never exists here.
    def terminate_workers(self) -> None:
        """Stop every worker now: queued calls are cancelled, running ones end with ``CancelledError``.

        The executor is shut down; submit to a new one afterwards.
        """
        with self._lock:
            self._closed = True
        self._backend.shutdown(wait=False, cancel_futures=True)
        running = [f for f in list(self._futures) if not f.cancel() and not f.done()]
        if isinstance(self._backend, Aborts):  # threads cannot be stopped: they finish unobserved
            self._backend.abort(running, 0.0)
        self._backend.shutdown(wait=True)

    def kill_workers(self) -> None:
        """Like :meth:`terminate_workers` (gearshift always kills the worker process)."""
        self.terminate_workers()
