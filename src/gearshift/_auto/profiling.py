"""The public ``profile`` and ``advise``: measure a function the way ``mode="auto"`` does, and say what it would do.

Their results are thrown away; ``map(..., mode="auto")`` measures and keeps them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

from .._arguments import check_function, check_items, is_async_function
from .._errors import Failure
from .._options import make_options
from .._plan import Plan
from .._profile import Profile
from .._record import replace
from .._task import CALL_ONE
from .clocks import cpu_clocks, threads_used
from .coroutines import measure_async
from .costs import CALIBRATE_BELOW_SECONDS, Machine, typical, work_kind
from .decide import decide
from .gate import PICKLE_SAMPLE, Gate
from .gil import THREAD_PROBE_MAX_ROUNDS, probe_threads, probe_threads_count, wants_thread_probe
from .measure import Clocked, native_step
from .pickling import measure_pickling
from .sampler import PROFILE_BUDGET, SEQUENTIAL_MAX, run_sequential

__all__ = ["advise", "profile"]

T = TypeVar("T")


def profile(fn: Callable[..., Any], items: Iterable[Any], *, sample: int | None = None) -> Profile:
    """Run ``fn`` on a small sample of ``items`` and return what was measured.

    ``sample`` caps the items run (default: as many as fit in a short time
    budget, at most 32).  Items are run one at a time first, then, for work
    that computes, several at once on threads; exceptions raised by ``fn``
    are counted, not raised.  The results are thrown away: use ``map(...,
    mode="auto")`` to measure and keep them.
    """
    check_function(fn)
    check_items(items)
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise ValueError(f"sample must be an int >= 1 or None (None picks a size), got {sample!r}")
    is_async = is_async_function(fn)
    sampler = Clocked(is_async)
    native = None
    limit = sample or SEQUENTIAL_MAX
    source = iter(items)
    results: list[Any] = []
    kept: list[Any]
    if is_async:
        kept = []

        def taking() -> Iterator[Any]:
            for item in source:
                if len(kept) < PICKLE_SAMPLE:
                    kept.append(item)
                yield item

        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no loop here, measure on a fresh one
            measure_async(fn, taking(), sampler, limit, budget=1.0)
        else:  # called from a coroutine: this loop must not block, so measure on a helper thread
            helper = threading.Thread(target=measure_async, args=(fn, taking(), sampler, limit, 1.0))
            helper.start()
            helper.join()
    else:
        options = make_options(errors="return")
        gate = Gate(source, None)
        cpus = Machine.current().cpus
        threads = probe_threads_count(cpus)
        known = sample or (len(items) if hasattr(items, "__len__") else None)  # type: ignore[arg-type]
        # Leave items for the thread probe: up to its longest, at most half of what there is.
        probe_items = min(threads * THREAD_PROBE_MAX_ROUNDS, (known or 0) // 2)
        seq_limit = max(1, min(limit, known - probe_items)) if known else limit
        sequential = run_sequential(
            fn, gate, options, CALL_ONE, sampler, limit=seq_limit, budget=PROFILE_BUDGET, max_items=known and seq_limit
        )
        clocks = cpu_clocks()
        for batch in sequential:
            results.extend(batch)
        used = threads_used(clocks)
        if sampler.wall and work_kind(typical(sampler.cpu), typical(sampler.wall)) != "waiting":
            step = native_step(fn, gate, options, CALL_ONE, sampler, used, cpus)
            native = yield_into(step, results)
        if wants_thread_probe(sampler, always=True) and (sample is None or gate.taken < sample):
            left = None if sample is None else sample - gate.taken
            for batch in probe_threads(fn, gate, options, CALL_ONE, sampler, threads, left):
                results.extend(batch)
        sampler.failures = sum(1 for r in results if isinstance(r, Failure))
        results = [r for r in results if not isinstance(r, Failure)]
        kept = gate.kept
    measure_pickling(sampler, fn, kept, results)
    return replace(sampler.build(), native=native)


def yield_into(step: Generator[list[Any], None, T], results: list[Any]) -> T:
    """Run ``step`` to its end, its results appended to ``results``; return what it returns."""
    while True:
        try:
            results.extend(next(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


def advise(fn: Callable[..., Any], items: Iterable[Any], **map_options: Any) -> Plan:
    """Measure ``fn`` on the first few ``items`` and return the plan ``map(..., mode="auto")`` would follow.

    ``map_options`` are :func:`gearshift.map`'s keyword arguments; explicit
    ``mode``, ``workers`` and ``chunksize`` are kept as given.  The items
    measured are run (and their results discarded).  With a cluster
    configured (``address=``, ``client=`` or the environment), it is asked for
    its size when the work could pay for it, and the plan says whether it does.
    """
    from operator import length_hint

    options = make_options(**map_options)
    if options.mode != "auto":
        from .._planner import plan_fixed

        return plan_fixed(options, is_async=is_async_function(fn))
    length = length_hint(items, 0) or None
    measured = profile(fn, items)
    cheap = bool(measured.wall) and measured.median_wall < CALIBRATE_BELOW_SECONDS
    machine = Machine.current(process_workers=options.workers, calibrate=cheap)
    if options.cluster is None:
        return decide(measured, options, machine, length)
    from .cluster import connect

    cluster, backend = connect(options, measured, length, machine)
    if backend is not None:
        backend.shutdown()
    return decide(measured, options, machine, length, cluster)
