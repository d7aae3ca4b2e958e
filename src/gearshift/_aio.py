"""The async front door: ``amap`` and ``aimap``.

They prepare and run the same run as :mod:`gearshift._api` on a helper thread
and pass results back to the caller's loop in batches, so the loop is never
blocked; in ``async`` mode coroutine functions run on the caller's own loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Unpack, overload

from . import _switch
from ._arguments import check_function, check_items, check_takes_shared
from ._options import ErrorPolicy, Options, RunOptions, make_options

if TYPE_CHECKING:  # asyncio is imported when an async entry point runs: `import gearshift` stays light
    import asyncio

    from ._api import R, Raise, S, T
    from ._call import _Run
    from ._errors import Failure

__all__ = ["aimap", "amap"]


# The same overloads as map's, in the same order (see gearshift._api).
@overload
async def amap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
async def amap(
    fn: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
async def amap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
async def amap(
    fn: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
async def amap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
async def amap(
    fn: Callable[[S, T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
async def amap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
async def amap(
    fn: Callable[[S, T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
async def amap(
    fn: Callable[..., Any],
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> list[Any]:
    """Await the results of :func:`map` from inside a running event loop, without blocking it.

    In ``async`` mode coroutine functions run on the caller's own loop; other
    modes (``auto`` included) run them on their workers or a loop of their own.
    Cancelling the awaiting task cancels the run.  When the run stops early
    (Ctrl-C, an input that raises), the results received ride on the exception
    as ``partial_results``, as with :func:`map`.
    """
    out: list[Any] = []
    try:
        async for r in _checked("gearshift.amap", fn, items, errors, shared, options):
            out.append(r)
    except BaseException as exc:
        extra = getattr(exc, "partial_results", None)
        if extra is not None:
            exc.partial_results = out + extra  # type: ignore[attr-defined]
        raise
    return out


@overload
def aimap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R]: ...
@overload
def aimap(
    fn: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R]: ...
@overload
def aimap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R | Failure]: ...
@overload
def aimap(
    fn: Callable[[T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R | Failure]: ...
@overload
def aimap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R]: ...
@overload
def aimap(
    fn: Callable[[S, T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R]: ...
@overload
def aimap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R | Failure]: ...
@overload
def aimap(
    fn: Callable[[S, T], R],
    items: Iterable[T] | AsyncIterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> AsyncIterator[R | Failure]: ...
def aimap(
    fn: Callable[..., Any],
    items: Iterable[Any] | AsyncIterable[Any],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> AsyncIterator[Any]:
    """The async iterator twin of :func:`imap`; ``items`` may also be an async iterable."""
    return _checked("gearshift.aimap", fn, items, errors, shared, options)


def _checked(
    entry: str, fn: Callable[..., Any], items: Any, errors: str, shared: Any, kw: RunOptions
) -> AsyncIterator[Any]:
    """Check every argument now (before the caller iterates) and return the run's async iterator."""
    check_function(fn)
    if not hasattr(items, "__aiter__"):
        check_items(items)
    options = make_options(entry, errors=errors, **kw)
    if shared is not None:
        check_takes_shared(fn, shared)
    return _aimap(fn, shared, items, options)


_END = object()
#: seconds a stopped aimap waits for its pump thread (see _aimap's finally)
_PUMP_WAIT = 0.1


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


async def _aimap(fn: Callable[..., Any], shared: Any, items: Any, options: Options) -> AsyncIterator[Any]:
    import asyncio

    loop = asyncio.get_running_loop()
    runs: list[_Run] = []  # the run, once the pump thread has made it
    made = threading.Lock()
    source: Iterable[Any] = _from_async(items, loop) if hasattr(items, "__aiter__") else items
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    room = threading.Semaphore(1)  # released when the consumer has taken every result of a batch
    finished = loop.create_future()
    stopping = False

    def post(message: Any) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(inbox.put_nowait, message)

    def pump() -> None:
        # Imported and made here, not on the caller's loop: a first run imports the runner (and
        # auto its package), a process pool may start; a loop must not wait for any (contract C7).
        from ._runner import Stopped

        try:
            from ._call import _Run, _with_shared
            from ._task import CALL_ONE

            run = _Run(_with_shared(fn, shared, options), options, CALL_ONE, loop)
            with made:
                runs.append(run)
                if stopping:
                    run.stop()
            batches = run.batches(source)
            while True:
                # The next batch is asked for only once the consumer is done with the last: the
                # runner's budget (buffer_bytes) then also covers the batch being consumed, as in imap.
                room.acquire()
                if stopping:
                    return
                batch = next(batches, None)
                if batch is None:
                    break
                post(batch)
            post(_END)
        except Stopped:
            pass
        except BaseException as exc:
            post(_Raised(exc))
        finally:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, finished)

    # This loop's thread must get the GIL promptly while the run's threads (the pump running
    # items inline, workers, offload threads) compute beside it: a short switch interval until
    # the run is over (contract C7; see gearshift._switch).
    _switch.lower()
    try:
        # In the caller's context: gearshift.reporting() and the like see the run.
        pumping = contextvars.copy_context().run
        threading.Thread(target=pumping, args=(pump,), name="gearshift-aimap", daemon=True).start()
    except BaseException:
        _switch.restore()
        raise
    try:
        while True:
            message = await inbox.get()
            if message is _END:
                return
            if type(message) is _Raised:
                raise message.exc
            for result in message:
                yield result
            room.release()
    finally:
        with made:
            stopping = True
            if runs:
                runs[0].stop()
        room.release()
        # A stopped runner ends at once (it aborts its running work, which never
        # blocks): this wait only lets the loop settle coroutines it cancelled.  A
        # chunk running inline on the pump thread (sync, auto's measuring) cannot
        # be stopped: do not wait for it, or Ctrl-C would come that much later.
        try:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(finished), _PUMP_WAIT)
        finally:
            _switch.restore()


def _resolve(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(None)


def _from_async(items: AsyncIterable[Any], loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """Read an async iterable from the runner's thread, one item at a time, on the caller's loop."""
    import asyncio

    iterator = aiter(items)
    while True:
        try:
            yield asyncio.run_coroutine_threadsafe(_next(iterator), loop).result()
        except StopAsyncIteration:
            return


async def _next(iterator: AsyncIterator[Any]) -> Any:
    return await anext(iterator)
