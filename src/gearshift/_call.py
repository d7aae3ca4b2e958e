"""One prepared call of an entry point: its options checked, its plan, backend and runner, and its results.

The entry points of :mod:`gearshift._api` say what each call takes and returns;
this module does the work behind them, apart so that a script's first
``mode="sync"`` map, which takes :mod:`gearshift._quick` when nothing else is
asked, never loads it (nor the runner, the planner and the backends it loads).
Nothing here depends on the mode: each call checks its arguments, asks the
planner for a :class:`~gearshift.Plan`, picks a backend for it and hands both
to one :class:`~gearshift._runner.Runner` (for ``mode="auto"``, to the
measuring driver).  The async entry points run that runner on a helper thread
and pass results back to the caller's loop in batches, so the loop is never
blocked.
"""

from __future__ import annotations

import contextlib
import operator
import sys
from collections.abc import Callable, Iterable, Iterator

from ._acquire import acquire_backend, check_shippable
from ._arguments import check_function, check_items, check_shared, check_takes_shared, is_async_function
from ._backends import prepare, unprepare
from ._backends._base import Backend
from ._options import Options, make_options
from ._plan import Plan
from ._planner import plan_fixed
from ._runner import ResultsObserver, Runner
from ._task import CALL_ONE, CALL_STAR, SharedCall
from ._trace import Recorder

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:  # asyncio is imported when an async entry point runs: `import gearshift` stays light
    import asyncio
    from typing import Any

    from ._auto import AutoRun, RunReport  # imported for mode="auto" only
    from ._options import RunOptions


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

    def collect(self, items: Iterable[Any] | None, sink: list[Any]) -> None:
        """Append every result to ``sink``: run on this thread (sync), straight into it, not copied from batches.

        ``items`` None: an auto run's input, given to it already (``AutoRun.begin``).
        """
        with self._observed(items) as on_results:
            if self.auto is not None:
                self.auto.on_results = on_results
                batches = self.auto.batches(items, sink)
            else:
                assert items is not None
                self.runner.on_results = on_results
                batches = self.runner.batches(items, sink)
            for batch in batches:
                sink.extend(batch)  # empty on the inline path

    @contextlib.contextmanager
    def _observed(self, items: Iterable[Any] | None) -> Iterator[ResultsObserver | None]:
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


#: how each public entry point calls fn with an item
_CALLS = {"gearshift.map": CALL_ONE, "gearshift.imap": CALL_ONE, "gearshift.starmap": CALL_STAR}


def _prepare_checked(entry: str, fn: Callable[..., Any], items: Any, errors: str, shared: Any, kw: RunOptions) -> _Run:
    """The public entry points' :func:`_prepare`: an unknown keyword is named as given to ``entry``."""
    check_function(fn)
    check_items(items)
    return _prepare_run(fn, make_options(entry, errors=errors, **kw), _CALLS[entry], None, shared)


def collect(entry: str, fn: Callable[..., Any], items: Any, errors: str, shared: Any, kw: RunOptions) -> list[Any]:
    """``map`` and ``starmap`` (named by ``entry``): every result, as a list (see :func:`_collect`)."""
    return _collect(_prepare_entry(entry, fn, items, errors, shared, kw), items)


def iterate(entry: str, fn: Callable[..., Any], items: Any, errors: str, shared: Any, kw: RunOptions) -> Iterator[Any]:
    """``imap``: the results one by one, as they arrive."""
    return _flatten(_prepare_entry(entry, fn, items, errors, shared, kw).batches(items))


def _prepare_entry(entry: str, fn: Callable[..., Any], items: Any, errors: str, shared: Any, kw: RunOptions) -> _Run:
    """:func:`_prepare_checked`, letting go of a zygote the entry point started early if the call is refused."""
    try:
        return _prepare_checked(entry, fn, items, errors, shared, kw)
    except BaseException:
        unprepare(str(kw.get("mode")))
        raise


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


def prepare_auto(entry: str, fn: Callable[..., Any], kw: RunOptions) -> _Run:
    """A ``mode="auto"`` run of ``map`` or ``starmap`` (``entry``) for :mod:`gearshift._lean`, which
    hands it the input later (``run.auto.begin``) and collects it with :func:`collect_into`."""
    return _prepare_checked(entry, fn, (), "raise", None, kw)


def collect_into(run: _Run, out: list[Any]) -> list[Any]:
    """A run prepared by :func:`prepare_auto`: its results appended to ``out`` (the lean start's so far)."""
    return _collect(run, None, out)


def _collect(run: _Run, items: Iterable[Any] | None, out: list[Any] | None = None) -> list[Any]:
    """All results as a list; when the run stops early, the ones that completed ride on the exception.

    That is on Ctrl-C (and on a KeyboardInterrupt, SystemExit... raised by fn)
    and when the input raises: the runner marks such an exception with the
    ``partial_results`` it did not hand out, added here to those it did.
    ``items`` None: an auto run's input, given to it already; ``out``: results
    before it, which the run's go after.
    """
    if out is None:
        out = []
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
