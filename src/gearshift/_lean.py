"""Auto's lean start: a script's first ``mode="auto"`` map runs its first items here, before auto loads.

Loading auto (the options, the runner, the backends, the measuring and the
cost model) and its first plan's fixed costs take about :data:`LOAD_SECONDS`.
Most scripts call gearshift once, so a job
whose work is short or trivially cheap would pay that for nothing: the answer
for it is sync, and a list comprehension would have been done sooner.  So
``map``/``starmap`` in auto mode, with nothing else asked and auto not loaded
yet, start here, on the calling thread, importing nothing:

1. **The first item, watched.**  A helper thread waits :data:`WATCH_SECONDS`
   (auto's lookahead's first look).  If the item is still running then, the
   helper loads auto beside it, and auto takes the item over as its own first
   one (:meth:`gearshift._auto.AutoRun.adopt`): the lookahead watches it from
   its start and starts the next items on threads or processes, as if auto had
   started it; the calling thread hands over to auto once the item is over.
2. **Then chunks, timed.**  The next items run in chunks of about
   :data:`CHUNK_SECONDS` of work (at most :data:`MAX_CHUNK` items), each timed
   as a whole.  After each, :func:`stays` decides: the items stay here while
   the time spent here is under :data:`LOAD_SECONDS` (loading auto would cost
   more than all the work so far: buy only once renting has cost as much, so
   a job never takes more than about twice its best time for want of auto;
   counted over every call of the process, :data:`_rented`, but for items
   under the floor below: a program that calls ``map`` often on short jobs
   loads auto once they have cost that, whatever the bound below says), or
   while an item costs less than :data:`FLOOR_SECONDS` (no other mode can run an
   item faster than the calling process alone spends handing it over, by auto's
   cost model; the lower of the last two chunks' figures, so that one chunk the
   machine slowed does not count).  Otherwise auto is loaded and runs the rest, from the next item
   (:func:`gearshift._call.prepare_auto`), measuring it afresh.

The outcomes are auto's as docs/semantics.md states them (its harness runs
auto over this path too): results equal the builtin ``map``'s; fn's exception
is raised as it is (a ``StopIteration`` as a ``RuntimeError`` naming fn), the
input's and any BaseException (Ctrl-C) carry the completed results as their
``partial_results``.  Between two checks, a chunk's items run unwatched, as in
auto's own one-at-a-time sampling.

The figures are copies of auto's cost table (:data:`gearshift._auto.costs.COSTS`,
whose entries name where each was measured; tests/test_lean.py checks the
copies): this module must not import it.
"""

from __future__ import annotations

import itertools
import os
import sys
import time

from . import _quick
from ._fn_kind import plain
from ._lean_first import COMPUTES_SHARE, FirstWatch
from ._schedstat import runqueue_seconds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any


__all__ = ["collect", "stays"]

#: COSTS["load_auto_seconds"]: what buying auto costs (loading it, then its first plan's fixed costs)
LOAD_SECONDS = 0.045
#: COSTS["parent_item_seconds"] x COSTS["process_preference"] / COSTS["margin"]: items cheaper than this never
#: go to processes, whatever their number (the calling process alone would spend as long handing them over
#: as they take here, by auto's own cost model); nor to threads (too short to release the GIL usefully)
FLOOR_SECONDS = 0.12e-6 * 1.1 / 0.8
#: COSTS["process_start_seconds"]: a script's first process pool's start
POOL_START_SECONDS = 0.061
#: COSTS["lean_chunk_seconds"], COSTS["max_chunk"]: work in a chunk between two checks, and items at most
CHUNK_SECONDS = 0.001
MAX_CHUNK = 65536
#: gearshift._address.ADDRESS_ENV: with one of these set, auto may run on a cluster (the general way)
CLUSTER_ENV = ("GEARSHIFT_DASK_ADDRESS", "GEARSHIFT_RAY_ADDRESS")

#: seconds the lean start has run items in this process, over all its calls so far (what was rented)
_rented = 0.0


def stays(
    spent: float,
    per_item: float,
    load: float | None = None,
    floor: float | None = None,
    *,
    rest: int | None = None,
    cpus: int = 1,
    busy: float = 0.0,
) -> bool:
    """Whether the next items run here too: ``spent`` seconds here so far, items of ``per_item`` seconds
    (``load``, ``floor``: :data:`LOAD_SECONDS`, :data:`FLOOR_SECONDS`).

    With ``rest`` items left (a known length), they also stay when loading auto cannot pay, however well
    it then ran them: when what another mode could save on them, net of its start (:func:`saving`), is at most
    the load.  The items kept ``busy`` CPUs busy here (this process's CPU time over the wall time: the calling
    thread's, and any other thread's beside it, a native pool's included).
    """
    load = LOAD_SECONDS if load is None else load
    if spent < load or per_item < (FLOOR_SECONDS if floor is None else floor):
        return True
    if rest is None:
        return False
    return saving(rest * per_item, busy, cpus) <= load


def saving(seconds: float, busy: float, cpus: int) -> float:
    """What running ``seconds`` of work (which kept ``busy`` CPUs busy here) another way could save at best, net
    of that way's start.

    Threads overlap the time the items did not compute (``1 - busy`` of it; their computing shares the GIL),
    for a start of next to nothing.  Processes spread all of it over the ``cpus`` (:func:`spread`), for a
    pool's start (:data:`POOL_START_SECONDS`).  Work that waits (``busy`` near 0) could all run at once;
    computing work saves only past a pool's start; a native pool that keeps every CPU busy leaves nothing.
    Computing with the GIL let go (zlib, hashlib on big buffers) could be spread by threads without a pool,
    but nothing here tells it from Python's own computing (auto's GIL probe does, once loaded): the common
    case is taken, so such a job stays when its rest could save at most a pool's start more than the load.
    """
    threads = seconds * max(0.0, 1.0 - busy)
    return max(threads, spread(seconds, busy, cpus) - POOL_START_SECONDS)


def spread(seconds: float, busy: float, cpus: int) -> float:
    """What spreading ``seconds`` of work (which kept ``busy`` CPUs busy) over ``cpus`` CPUs could save at best:
    that CPU time still takes ``busy / cpus`` of its time, so ``seconds x (1 - busy / cpus)``."""
    return seconds * max(0.0, 1.0 - busy / max(1, cpus))


def boots_zygote(per_item: float, rest: int | None, cpus: int, computing: bool, busy: float = 1.0) -> bool:
    """Whether loading auto for these items should have the first pool's zygote boot meanwhile.

    For items that compute on the calling thread (``computing``), on two CPUs
    or more, whose ``rest`` (a known length) would take long enough here that
    spreading it over the CPUs (:func:`spread`, ``busy`` as for :func:`stays`)
    saves more than a pool's start (:data:`POOL_START_SECONDS`): auto then
    plans processes unless the GIL turns out free, and the zygote's boot
    (tens of ms on another CPU) would otherwise come after its plan.  A first
    item past the watch boots it already (``_lean_first``); this is the
    other way auto gets loaded.
    """
    if not computing or cpus < 2 or rest is None:
        return False
    return spread(rest * per_item, busy, cpus) >= POOL_START_SECONDS


def next_chunk(size: int, per_item: float) -> int:
    """The next chunk's size after one of ``size`` items that took ``per_item`` each: twice as many,
    within :data:`CHUNK_SECONDS` of work and :data:`MAX_CHUNK` items."""
    fits = int(CHUNK_SECONDS / per_item) if per_item > 0 else MAX_CHUNK
    return max(1, min(2 * size, fits, MAX_CHUNK))


def auto_loaded() -> bool:
    """Whether auto is loaded already (then the lean start has nothing to save: calls go the general way)."""
    return "gearshift._auto" in sys.modules


def collect(
    entry: str,
    fn: Callable[..., Any],
    items: Any,
    errors: str,
    shared: Any,
    options: Mapping[str, object],
    *,
    star: bool,
) -> list[Any] | None:
    """Every result of an auto ``map``/``starmap`` (``entry``), or None when the call is not one for here."""
    if (
        errors != "raise"
        or shared is not None
        or not _quick.asks_nothing(options, "auto")
        or auto_loaded()
        or not plain(fn)
        or _reporting()
        or any(name in os.environ for name in CLUSTER_ENV)
    ):
        return None
    try:
        source = iter(items)
    except TypeError:
        return None  # the general path says what is wrong with items
    length = len(items) if hasattr(items, "__len__") else None
    if length is None and hasattr(items, "__length_hint__"):
        import operator

        length = operator.length_hint(items, 0) or None
    out: list[Any] = []
    try:
        first = next(source)
    except StopIteration:
        return out
    except BaseException as exc:  # the input's (C9), or Ctrl-C
        exc.partial_results = out  # type: ignore[attr-defined]
        raise
    watch = FirstWatch(entry, fn, options, source, length, first)
    run = watch.first(star)
    if run is not None:  # auto took the first item over: it runs the rest
        from ._call import collect_into

        return collect_into(run, out)
    out.append(watch.result)
    # Earlier calls that rented as much as loading auto costs: this process calls map again and again,
    # and auto, once loaded, serves the calls to come (this one's rest need not repay the load alone).
    bounded = length if _rented < LOAD_SECONDS else None
    _rent(watch.wall)
    taken = _chunks(fn, items, source, out, star, watch.wall, bounded)
    if taken is None:
        return out
    from ._call import collect_into, prepare_auto

    if type(items) in (list, tuple, range):  # (the chunks read it in slices: on from where they ended)
        from ._gated import resumed

        source = resumed(items, taken)

    run = prepare_auto(entry, fn, options)  # type: ignore[arg-type]
    assert run.auto is not None
    run.auto.begin(source, length, taken)
    return collect_into(run, out)


def _chunks(
    fn: Callable[..., Any],
    items: Any,
    source: Iterator[Any],
    out: list[Any],
    star: bool,
    first_wall: float,
    length: int | None,
) -> int | None:
    """Run the items after the first (``source``'s, or ``items``' own slices) chunk by chunk, while :func:`stays`.

    Returns None once the input ended, else how many items were read: the
    caller has auto run the rest, from ``source`` (moved past them; a list,
    tuple or range is read in slices, not from ``source``: see :func:`gearshift._gated.resumed`).
    """
    apply = itertools.starmap if star else map
    clock, cpu_clock, process_clock = time.perf_counter, time.thread_time, time.process_time
    cpus = 0  # (read once the rest bound is asked: it reads the cgroup's quota)
    # A list, tuple or range is read in slices (a copy of pointers; a range's is a range): no user code
    # runs to read it, so nothing but fn can fail, and no item is copied into a chunk first.
    sequence = items if type(items) in (list, tuple, range) else None
    size, per_item, read = 1, first_wall, 1
    queued0 = runqueue_seconds()  # (read again only after a chunk that did not compute through its wall)
    while True:
        error = None
        if sequence is not None:
            chunk = sequence[read : read + size]
        else:
            chunk = []
            try:
                chunk.extend(itertools.islice(source, size))  # (extend keeps the items read before an error)
            except BaseException as exc:  # the input's: the items read before it run first (C9)
                error = exc
        read += len(chunk)
        before = len(out)
        try:
            t0, cpu0, all0 = clock(), cpu_clock(), process_clock()
            out.extend(apply(fn, chunk))  # (a C loop: only fn can raise in it; extend keeps what completed)
            elapsed, cpu, busy = clock() - t0, cpu_clock() - cpu0, process_clock() - all0
        except BaseException as exc:  # fn's Exception is raised as it is (C2)
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit...: from fn, or Ctrl-C (C8, C10)
                exc.partial_results = out  # type: ignore[attr-defined]
            raise
        if len(out) - before < len(chunk):  # fn raised StopIteration: map ended there, silently
            from ._task import fn_name

            raise RuntimeError(f"{fn_name(fn)} raised StopIteration")
        if error is not None:
            error.partial_results = out  # type: ignore[attr-defined]
            raise error
        if cpu < COMPUTES_SHARE * elapsed and queued0 is not None:
            # Kept off the CPU by a busy machine, or waiting: the time it waited for a CPU is not the
            # items' (counted as theirs, chunks of x + 1 read as over the floor and rented a load).
            queued = runqueue_seconds()
            if queued is not None:
                elapsed -= min(elapsed - cpu, max(0.0, queued - queued0))
                queued0 = queued
        per_item, last = elapsed / max(1, len(chunk)), per_item
        if per_item >= FLOOR_SECONDS:  # (time no other mode could have saved is not rent)
            _rent(elapsed)
        if len(chunk) < size:
            return None
        rest = None if length is None else length - read
        computing = cpu >= COMPUTES_SHARE * elapsed
        busy /= max(elapsed, 1e-9)  # (CPUs kept busy: the calling thread's and any native pool's beside it)
        if rest is not None and not cpus and _rented >= LOAD_SECONDS:
            from ._cpu import usable_cpus

            cpus = usable_cpus()
        # (the lower of the last two chunks' figures: one chunk slowed by the machine is not enough)
        if not stays(_rented, min(per_item, last), rest=rest, cpus=cpus, busy=busy):
            if boots_zygote(min(per_item, last), rest, cpus, computing, busy):
                from ._backends._zygote import start_early

                start_early()  # (the main thread only: a zygote dies with the thread that started it)
            return read
        size = next_chunk(size, per_item)


def _rent(seconds: float) -> None:
    global _rented
    _rented += seconds


def _reporting() -> bool:
    """Whether ``gearshift.reporting()`` collects what runs do here (a lean start would leave its run out)."""
    report = sys.modules.get("gearshift._report")
    return report is not None and report.collector() is not None
