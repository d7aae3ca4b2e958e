"""The front door: ``map``, ``imap``, ``starmap``, ``amap``, ``aimap``.

Nothing here depends on the mode.  Each call checks its arguments, asks the
planner for a :class:`~gearshift.Plan`, picks a backend for it and hands both
to one :class:`~gearshift._runner.Runner`.  The async entry points run that
runner on a helper thread and pass results back to the caller's loop in
batches, so the loop is never blocked.
"""

from __future__ import annotations

import contextlib
import operator
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar, TypeVarTuple, Unpack, overload

from ._acquire import acquire_backend, check_shippable
from ._backends import prepare, unprepare
from ._backends._base import Backend
from ._errors import Failure
from ._options import (
    ErrorPolicy,
    Options,
    RunOptions,
    check_function,
    check_items,
    check_shared,
    check_takes_shared,
    is_async_function,
    make_options,
)
from ._plan import Plan
from ._planner import plan_fixed
from ._runner import ResultsObserver, Runner
from ._task import CALL_ONE, CALL_STAR, SharedCall
from ._trace import Recorder

if TYPE_CHECKING:  # asyncio is imported when an async entry point runs: `import gearshift` stays light
    import asyncio

    from ._auto import AutoRun, RunReport  # imported for mode="auto" only

__all__ = ["imap", "map", "starmap"]

T = TypeVar("T")  # an item
R = TypeVar("R")  # a result
S = TypeVar("S")  # the shared object
Ts = TypeVarTuple("Ts")  # the arguments in a starmap item
Raise = Literal["raise"]


class _Run:
    """One prepared run: the runner (or, for ``mode="auto"``, the measuring driver) and its backend.

    ``on_results`` is told about every item as it completes (see ``ResultsObserver``);
    ``progress=True`` adds a progress bar on a terminal.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        options: Options,
        call: int,
        loop: asyncio.AbstractEventLoop | None,
        on_results: ResultsObserver | None = None,
    ):
        self.options = options
        self.on_results = on_results
        is_async = is_async_function(fn)
        self.auto: AutoRun | None = None
        self.owned = False
        if options.mode == "auto":
            from ._auto import AutoRun

            self.auto = AutoRun(fn, options, call, is_async)  # never on the caller's loop (see _auto)
            return
        prepare(options.mode)  # a first process pool's zygote boots while its backend loads
        try:
            self.plan: Plan = plan_fixed(options, is_async=is_async)
            # From amap/aimap, coroutines run on the caller's own loop.
            self.backend: Backend
            self.backend, self.owned = acquire_backend(
                self.plan.mode, self.plan.workers, options.engine, loop=loop, fn=fn
            )
        except BaseException:
            unprepare(options.mode)
            raise
        self.runner = Runner(self.backend, fn, options, self.plan, call=call, is_async=is_async)

    def batches(self, items: Iterable[Any]) -> Iterator[list[Any]]:
        with self._observed(items) as on_results:
            if self.auto is not None:
                self.auto.on_results = on_results
                yield from self.auto.batches(items)
            else:
                self.runner.on_results = on_results
                yield from self.runner.batches(items)

    def collect(self, items: Iterable[Any], sink: list[Any]) -> None:
        """Append every result to ``sink``: run on this thread (sync), straight into it, not copied from batches."""
        with self._observed(items) as on_results:
            if self.auto is not None:
                self.auto.on_results = on_results
                batches = self.auto.batches(items, sink)
            else:
                self.runner.on_results = on_results
                batches = self.runner.batches(items, sink)
            for batch in batches:
                sink.extend(batch)  # empty on the inline path

    @contextlib.contextmanager
    def _observed(self, items: Iterable[Any]) -> Iterator[ResultsObserver | None]:
        """The run's results observer (the caller's and a progress bar's); closes both ends of the run."""
        progress = None
        if self.options.progress:
            from ._progress import Progress, choose_style

            style = choose_style(sys.stderr, when_not_a_terminal="none")
            if style != "none":
                total = operator.length_hint(items, -1)
                progress = Progress(total=None if total < 0 else total, label=self.describe, style=style)
        trace, ended = self.options.trace, None
        if isinstance(trace, Recorder):
            trace.open()
        try:
            yield _combine(self.on_results, progress)
        except BaseException as exc:
            ended = exc
            raise
        finally:
            if progress is not None:
                progress.close()
            if self.owned:
                self.backend.shutdown(wait=False, cancel_futures=True)
            if isinstance(trace, Recorder):
                trace.close(ended)  # trace=PATH is written when the run ends, however it ends

    @property
    def current_plan(self) -> Plan | None:
        """The plan being followed (for ``auto``: None until the first items were measured)."""
        return self.auto.plan if self.auto is not None else self.plan

    @property
    def report(self) -> RunReport | None:
        """For ``auto``: what ran so far (segments, plans, re-plans); None for a fixed mode."""
        return self.auto.report if self.auto is not None else None

    def describe(self) -> str:
        """``mode xWORKERS`` of the plan being followed (for auto, and what ran), for progress displays."""
        plan = self.current_plan
        if self.auto is not None:
            ran = self.auto.report.summary()
            return f"auto (measuring, {ran})" if plan is None else f"auto: {plan.mode} x{plan.workers} ({ran})"
        assert plan is not None
        return f"{plan.mode} x{plan.workers}"

    def stop(self) -> None:
        """Ask the run to stop, from any thread."""
        if self.auto is not None:
            self.auto.stop()
        else:
            self.runner.stop()


def _combine(*observers: ResultsObserver | None) -> ResultsObserver | None:
    present = [o for o in observers if o is not None]
    if len(present) <= 1:
        return present[0] if present else None

    def both(start: int, outcomes: list[Any], failed: int) -> None:
        for observer in present:
            observer(start, outcomes, failed)

    return both


def _prepare(
    fn: Callable[..., Any],
    items: Any,
    call: int,
    loop: asyncio.AbstractEventLoop | None,
    shared: Any = None,
    **kw: Any,
) -> _Run:
    """A run of ``fn`` over ``items`` with the options ``kw``, every argument checked (for the CLI's commands)."""
    check_function(fn)
    check_items(items)
    return _prepare_run(fn, make_options(**kw), call, loop, shared)


def _prepare_checked(
    entry: str, fn: Callable[..., Any], items: Any, call: int, errors: str, shared: Any, kw: RunOptions
) -> _Run:
    """The public entry points' :func:`_prepare`: an unknown keyword is named as given to ``entry``."""
    check_function(fn)
    check_items(items)
    return _prepare_run(fn, make_options(entry, errors=errors, **kw), call, None, shared)


def _prepare_run(
    fn: Callable[..., Any], options: Options, call: int, loop: asyncio.AbstractEventLoop | None, shared: Any
) -> _Run:
    if shared is not None and call == CALL_ONE:
        check_takes_shared(fn, shared)
    return _Run(_with_shared(fn, shared, options), options, call, loop)


def _with_shared(fn: Callable[..., Any], shared: Any, options: Options) -> Callable[..., Any]:
    """``fn`` with ``shared`` bound as its first argument (``fn`` itself when there is none).

    The binding travels with the function, and a process backend ships a
    run's function once per worker: so does the shared object.
    """
    if shared is None:
        return fn
    check_shared(shared, options.mode)
    if options.mode == "process":
        check_shippable(shared, "shared object")  # refuse it now, naming it, rather than item by item later
    return SharedCall(fn, shared)


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
    run = _prepare_checked("gearshift.map", fn, items, CALL_ONE, errors, shared, options)
    return _collect(run, items)


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
    run = _prepare_checked("gearshift.imap", fn, items, CALL_ONE, errors, shared, options)
    return _flatten(run.batches(items))


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
    run = _prepare_checked("gearshift.starmap", fn, items, CALL_STAR, errors, shared, options)
    return _collect(run, items)


def _collect(run: _Run, items: Iterable[Any]) -> list[Any]:
    """All results as a list; when the run stops early, the ones that completed ride on the exception.

    That is on Ctrl-C (and on a KeyboardInterrupt, SystemExit... raised by fn)
    and when the input raises: the runner marks such an exception with the
    ``partial_results`` it did not hand out, added here to those it did.
    """
    out: list[Any] = []
    try:
        run.collect(items, out)
    except BaseException as exc:
        # Ordered: a prefix of the full result list; unordered: completion order.  The
        # inline path puts the interrupted chunk's completed results in ``out`` already.
        extra = getattr(exc, "partial_results", None)
        if extra is None and isinstance(exc, KeyboardInterrupt):
            extra = []
        if extra is not None:
            exc.partial_results = out if extra is out else out + extra  # type: ignore[attr-defined]
        raise
    return out


def _flatten(batches: Iterator[list[Any]]) -> Iterator[Any]:
    # One by one, keeping no reference to what was handed out.
    for batch in batches:
        batch.reverse()
        while batch:
            yield batch.pop()
