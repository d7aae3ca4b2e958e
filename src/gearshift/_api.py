"""The front door: ``map``, ``imap`` and ``starmap``, typed for every way they can be called.

Each entry point hands its call to :mod:`gearshift._call`, which checks the
arguments, plans, picks a backend and runs; a ``mode="sync"`` ``map`` or
``starmap`` with nothing else asked takes :mod:`gearshift._quick` instead, and
one in auto mode starts in :mod:`gearshift._lean` while auto is not loaded.

This module loads neither, nor :mod:`typing`, until a call needs them: a
script's first sync map pays for what it uses (issue 21's cold target, within
15 ms of a bare interpreter: ``benchmarks/cold.py --cases sync``), and
:mod:`typing` alone, with the ``re`` and ``enum`` it loads, takes about 10 ms
of that on a 2-CPU host.  The overloads are for type checkers; at run time
each is replaced by the implementation that follows it, as with
:func:`typing.overload` (which would also keep them for
:func:`typing.get_overloads`; nothing in gearshift asks).
"""

from __future__ import annotations

from . import _lean, _quick

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (type checkers read it by name)
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Iterator
    from typing import Any, Literal, TypeVar, TypeVarTuple, Unpack, overload

    from ._errors import Failure
    from ._options import ErrorPolicy, RunOptions

    T = TypeVar("T")  # an item
    R = TypeVar("R")  # a result
    S = TypeVar("S")  # the shared object
    Ts = TypeVarTuple("Ts")  # the arguments in a starmap item
    Raise = Literal["raise"]
else:

    def overload(fn):  # typing.overload's run-time effect, without importing typing
        return fn


__all__ = ["imap", "map", "starmap"]


# The entry points' overloads, in the order a type checker tries them: without shared=, then with it
# (fn then takes the shared object first); errors="raise" (the default: results only), then any policy
# (a Failure may stand in a result); within each, an async def fn (its results are what its coroutines
# return) before a plain one, which would match it too, with R the coroutine.  The implementation's
# signature below is what runs; the options themselves are RunOptions (gearshift._options).
@overload
def map(  # noqa: A001
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[T], R], items: Iterable[T], *, errors: Raise = ..., shared: None = ..., **options: Unpack[RunOptions]
) -> list[R]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[T], R], items: Iterable[T], *, errors: ErrorPolicy, shared: None = ..., **options: Unpack[RunOptions]
) -> list[R | Failure]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[S, T], R], items: Iterable[T], *, errors: Raise = ..., shared: S, **options: Unpack[RunOptions]
) -> list[R]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
def map(  # noqa: A001
    fn: Callable[[S, T], R], items: Iterable[T], *, errors: ErrorPolicy, shared: S, **options: Unpack[RunOptions]
) -> list[R | Failure]: ...
def map(  # noqa: A001 - the name is the point
    fn: Callable[..., Any],
    items: Iterable[Any],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> list[Any]:
    """Call ``fn`` on every item and return the results as a list.

    ``fn`` may be a plain function or an ``async def`` function, in every mode.
    ``mode`` is ``"auto"``, ``"sync"``, ``"async"``, ``"thread"`` or
    ``"process"``; ``workers`` and ``chunksize`` default to good values for the
    mode.  ``ordered=False`` returns results in completion order.  With
    ``errors="raise"`` the first failing item's exception is raised (the rest of
    the work is cancelled); with ``errors="return"`` a :class:`~gearshift.Failure`
    takes its place.  ``retries`` re-runs a failed item up to that many times.
    ``mode="dask"`` and ``mode="ray"`` run on a cluster: ``address=`` names an
    existing one (default: ``GEARSHIFT_DASK_ADDRESS`` / ``GEARSHIFT_RAY_ADDRESS``,
    else a local cluster of worker processes); ``client=`` takes a
    ``distributed.Client`` of your own.

    ``shared=obj`` hands read-only data every item needs (a lookup table, a
    model) to the workers once instead of with every item: ``fn`` is then
    called as ``fn(obj, item)``, like ``functools.partial(fn, obj)``.  Threads,
    coroutines and ``sync`` get the object itself (no copy: do not mutate it);
    each worker process unpickles it once per call.  ``None`` means no shared
    object.  Not available with ``mode="dask"``/``"ray"`` (the error says what
    to do instead).

    ``timeout`` fails an item that runs longer (:class:`~gearshift.TaskTimeout`);
    ``retry_on`` limits ``retries`` to those exception types; ``progress=True``
    shows a progress bar on a terminal.

    ``buffer_bytes`` bounds the results completed but not yet handed out
    (default 64 MiB): past it, no more input is read until the caller takes
    results (one chunk always runs).  Sizes are measured for process results
    and estimated elsewhere (``sys.getsizeof`` of a chunk's first result).
    """
    done = _quick.collect(fn, items, errors, shared, options, star=False)
    if done is None:
        done = _lean.collect("gearshift.map", fn, items, errors, shared, options, star=False)
    if done is not None:
        return done
    _quick.start_early(options)
    from ._call import collect

    return collect("gearshift.map", fn, items, errors, shared, options)


@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> Iterator[R]: ...
@overload
def imap(
    fn: Callable[[T], R], items: Iterable[T], *, errors: Raise = ..., shared: None = ..., **options: Unpack[RunOptions]
) -> Iterator[R]: ...
@overload
def imap(
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> Iterator[R | Failure]: ...
@overload
def imap(
    fn: Callable[[T], R], items: Iterable[T], *, errors: ErrorPolicy, shared: None = ..., **options: Unpack[RunOptions]
) -> Iterator[R | Failure]: ...
@overload
def imap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> Iterator[R]: ...
@overload
def imap(
    fn: Callable[[S, T], R], items: Iterable[T], *, errors: Raise = ..., shared: S, **options: Unpack[RunOptions]
) -> Iterator[R]: ...
@overload
def imap(
    fn: Callable[[S, T], Awaitable[R]],
    items: Iterable[T],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> Iterator[R | Failure]: ...
@overload
def imap(
    fn: Callable[[S, T], R], items: Iterable[T], *, errors: ErrorPolicy, shared: S, **options: Unpack[RunOptions]
) -> Iterator[R | Failure]: ...
def imap(
    fn: Callable[..., Any],
    items: Iterable[Any],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> Iterator[Any]:
    """Like :func:`map`, but lazy: results are yielded as they arrive.

    ``items`` is consumed only as fast as the workers need it, so endless
    generators work, and memory stays bounded by a small multiple of
    ``workers x chunksize`` items and by ``buffer_bytes`` of results.
    Stopping the iteration (``break``, ``close()``) cancels the outstanding work.
    """
    _quick.start_early(options)
    from ._call import iterate

    return iterate("gearshift.imap", fn, items, errors, shared, options)


@overload
def starmap(
    fn: Callable[[*Ts], Awaitable[R]],
    items: Iterable[tuple[*Ts]],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def starmap(
    fn: Callable[[*Ts], R],
    items: Iterable[tuple[*Ts]],
    *,
    errors: Raise = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def starmap(
    fn: Callable[[*Ts], Awaitable[R]],
    items: Iterable[tuple[*Ts]],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
def starmap(
    fn: Callable[[*Ts], R],
    items: Iterable[tuple[*Ts]],
    *,
    errors: ErrorPolicy,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
def starmap(
    fn: Callable[[S, *Ts], Awaitable[R]],
    items: Iterable[tuple[*Ts]],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def starmap(
    fn: Callable[[S, *Ts], R],
    items: Iterable[tuple[*Ts]],
    *,
    errors: Raise = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R]: ...
@overload
def starmap(
    fn: Callable[[S, *Ts], Awaitable[R]],
    items: Iterable[tuple[*Ts]],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
@overload
def starmap(
    fn: Callable[[S, *Ts], R],
    items: Iterable[tuple[*Ts]],
    *,
    errors: ErrorPolicy,
    shared: S,
    **options: Unpack[RunOptions],
) -> list[R | Failure]: ...
def starmap(
    fn: Callable[..., Any],
    items: Iterable[Iterable[Any]],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> list[Any]:
    """Like :func:`map`, but each item is a tuple of arguments: ``fn(*item)`` (``fn(shared, *item)``)."""
    done = _quick.collect(fn, items, errors, shared, options, star=True)
    if done is None:
        done = _lean.collect("gearshift.starmap", fn, items, errors, shared, options, star=True)
    if done is not None:
        return done
    _quick.start_early(options)
    from ._call import collect

    return collect("gearshift.starmap", fn, items, errors, shared, options)
