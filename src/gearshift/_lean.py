"""Auto's lean start: a script's first ``mode="auto"`` map runs its first items here, before auto loads.

Loading auto (the options, the runner, the backends, the measuring and the
cost model, with :mod:`typing`, :mod:`dataclasses` and :mod:`inspect`) takes
:data:`LOAD_SECONDS`, measured.  Most scripts call gearshift once, so a job
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
   a job never takes more than about twice its best time for want of auto), or
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

import _thread
import itertools
import sys
import time

from . import _quick
from ._schedstat import runqueue_seconds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    from ._auto.first import FirstItem
    from ._call import _Run

__all__ = ["collect", "stays"]

#: COSTS["load_auto_seconds"]: loading auto in a fresh interpreter, measured
LOAD_SECONDS = 0.045
#: COSTS["parent_item_seconds"] x COSTS["process_preference"] / COSTS["margin"]: items cheaper than this never
#: go to processes, whatever their number (the calling process alone would spend as long handing them over
#: as they take here, by auto's own cost model); nor to threads (too short to release the GIL usefully)
FLOOR_SECONDS = 0.12e-6 * 1.1 / 0.8
#: gearshift._auto.lookahead.WATCH_SECONDS: how long the first item runs before auto looks at it
WATCH_SECONDS = 0.01
#: COSTS["lean_chunk_seconds"], COSTS["max_chunk"]: work in a chunk between two checks, and items at most
CHUNK_SECONDS = 0.001
MAX_CHUNK = 65536
#: COSTS["computes_above"]: a thread whose CPU time is this share of the wall computes
COMPUTES_SHARE = 0.7
#: the interpreter's switch interval while auto loads beside a first item that runs on (see _Watch._watch)
LOAD_SWITCH_SECONDS = 0.0001
#: gearshift._address.ADDRESS_ENV: with one of these set, auto may run on a cluster (the general way)
CLUSTER_ENV = ("GEARSHIFT_DASK_ADDRESS", "GEARSHIFT_RAY_ADDRESS")
#: gearshift._pools' shared pools name their threads so
POOL_THREAD_PREFIX = "gearshift-shared"


def stays(spent: float, per_item: float, load: float | None = None, floor: float | None = None) -> bool:
    """Whether the next items run here too: ``spent`` seconds here so far, items of ``per_item`` seconds
    (``load``, ``floor``: :data:`LOAD_SECONDS`, :data:`FLOOR_SECONDS`)."""
    return spent < (LOAD_SECONDS if load is None else load) or per_item < (FLOOR_SECONDS if floor is None else floor)


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
        or not _quick.plain(fn)
        or _reporting()
        or any(name in _environ() for name in CLUSTER_ENV)
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
    watch = _Watch(entry, fn, options, source, length, first)
    run = watch.first(star)
    if run is not None:  # auto took the first item over: it runs the rest
        from ._call import collect_into

        return collect_into(run, out)
    out.append(watch.result)
    taken = _chunks(fn, items, source, out, star, watch.wall)
    if taken is None:
        return out
    from ._call import collect_into, prepare_auto

    run = prepare_auto(entry, fn, options)  # type: ignore[arg-type]
    assert run.auto is not None
    run.auto.begin(source, length, taken)
    return collect_into(run, out)


def _chunks(
    fn: Callable[..., Any], items: Any, source: Iterator[Any], out: list[Any], star: bool, spent: float
) -> int | None:
    """Run the items after the first (``source``'s, or ``items``' own slices) chunk by chunk, while :func:`stays`.

    Returns None once the input ended, else how many items were read: the
    caller has auto run the rest, from ``source`` (moved past them).
    """
    apply = itertools.starmap if star else map
    clock = time.perf_counter
    # A list, tuple or range is read in slices (a copy of pointers; a range's is a range): no user code
    # runs to read it, so nothing but fn can fail, and no item is copied into a chunk first.
    sequence = items if type(items) in (list, tuple, range) else None
    size, per_item, read = 1, spent, 1
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
            t0 = clock()
            out.extend(apply(fn, chunk))  # (a C loop: only fn can raise in it; extend keeps what completed)
            elapsed = clock() - t0
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
        if len(chunk) < size:
            return None
        spent += elapsed
        per_item, last = elapsed / size, per_item
        if not stays(spent, min(per_item, last)):  # (one chunk slowed by the machine is not enough)
            if sequence is not None:
                source.__setstate__(read)  # type: ignore[attr-defined]  # (list, tuple and range iterators have it)
            return read
        size = next_chunk(size, per_item)


class _Watch:
    """Runs the first item on the calling thread while a helper thread watches it (see the module's 1.)."""

    def __init__(
        self,
        entry: str,
        fn: Callable[..., Any],
        options: Mapping[str, object],
        source: Iterator[Any],
        length: int | None,
        item: Any,
    ) -> None:
        self.entry, self.fn, self.options = entry, fn, options
        self.source, self.length, self.item = source, length, item
        self.result: Any = None
        self.wall = 0.0
        self._lock = _thread.allocate_lock()  # guards the five flags below
        self._over = False  # the item is over: the helper takes nothing over
        self._taking = False  # the helper is taking it over (auto is loading)...
        self._taken = False  # ...and is done with that
        self._dropped = False  # the caller stopped waiting for it: whoever comes last lets go of the run
        self._switch_held = False  # the helper holds a short switch interval (see _watch)
        self._running = _thread.allocate_lock()  # held while the item runs
        self._ready = _thread.allocate_lock()  # held until the helper is done taking it over
        self._run: _Run | None = None
        self._first: FirstItem | None = None
        self._error: BaseException | None = None
        self._clocks = (0.0, 0.0, 0.0)
        self._queued0: float | None = None
        self._thread = (_thread.get_ident(), _thread.get_native_id(), _pool_thread())

    def first(self, star: bool) -> _Run | None:
        """Run the item; None when it ran here alone, else the auto run that took it over."""
        fn, item = self.fn, self.item
        self._running.acquire()
        self._ready.acquire()
        # Before 3.13, threading names the thread that first imports it the main thread: were it the
        # helper, loading auto, asyncio and the interpreter's exit would take the helper for it.
        if sys.version_info < (3, 13):
            import threading  # noqa: F401  (3 ms in a fresh interpreter; most programs have it already)

        # (read before the helper starts, which reads them: the item's time includes the start, ~0.1 ms)
        self._queued0 = runqueue_seconds()
        self._clocks = t0, cpu0, _ = time.perf_counter(), time.thread_time(), time.process_time()
        _thread.start_new_thread(self._watch, ())
        try:
            self.result = fn(*item) if star else fn(item)
        except BaseException as exc:
            try:
                run = self._over_now()
            except BaseException:  # (auto failed to load, or Ctrl-C meanwhile: fn's exception is the news)
                run = None
            if run is not None:
                run.auto.close()  # type: ignore[union-attr]
            if isinstance(exc, StopIteration):
                from ._task import fn_name

                raise RuntimeError(f"{fn_name(fn)} raised StopIteration") from None
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit...: no result completed
                exc.partial_results = []  # type: ignore[attr-defined]
            raise
        self.wall, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
        try:
            run = self._over_now()
        except BaseException as exc:  # the item's result is not lost with it
            exc.partial_results = [self.result]  # type: ignore[attr-defined]
            raise
        if run is not None:
            first = self._first
            assert first is not None
            assert run.auto is not None
            first.result, first.wall, first.cpu = self.result, self.wall, cpu
            run.auto.state.first = first
        return run

    def _over_now(self) -> _Run | None:
        """The item is over: the helper takes nothing over from now; what it took over, if it did."""
        with self._lock:
            self._over = True
            taking = self._taking
        self._running.release()
        if not taking:
            return None
        try:
            self._ready.acquire()
        except BaseException:  # Ctrl-C while auto loads
            with self._lock:
                self._dropped = True
                taken = self._taken
            if taken:
                self._let_go()
            raise
        self._release_switch()  # (the helper kept the switch interval short for the item's run)
        if self._error is not None:
            self._let_go()
            raise self._error
        return self._run

    def _watch(self) -> None:
        """The helper thread: past WATCH_SECONDS, load auto and have it take the item over."""
        if self._running.acquire(timeout=WATCH_SECONDS):
            self._running.release()
            return
        with self._lock:
            if self._over:
                return
            self._taking = True
        # Loading auto reads files: each read lets the GIL go, and an item that computes keeps it a
        # whole switch interval (5 ms) each time it is asked for it back: hundreds of those took the
        # load 0.8-0.9 s beside a pure-Python item on a quiet 2-CPU host (0.19-0.2 s at 0.5 ms, 0.14 s
        # at LOAD_SWITCH_SECONDS; one run each), past the first look at which auto starts processes.
        # Held until the item ends (_over_now), so that starting those processes goes as fast.
        from . import _switch

        _switch.lower(LOAD_SWITCH_SECONDS)
        with self._lock:
            self._switch_held = True
        started, thread_cpu0, process_cpu0 = self._clocks
        ident, native, pool = self._thread
        loading_from, loading_cpu, loading_queued = time.perf_counter(), _cpu_clock(ident), runqueue_seconds(native)
        # An item that computed so far (its time queued for a CPU on a busy host counted in): the zygote
        # a first process pool forks its workers from boots now, on another CPU, while auto loads (as
        # auto's lookahead does at its first look).
        busy = None if loading_cpu is None else loading_cpu - thread_cpu0
        if busy is not None and self._queued0 is not None and loading_queued is not None:
            busy += loading_queued - self._queued0
        computes = busy is not None and busy >= COMPUTES_SHARE * (loading_from - started)
        parks = False
        try:
            parks = computes and _boot_zygote()
            from ._auto.first import FirstItem
            from ._call import prepare_auto

            run = prepare_auto(self.entry, self.fn, self.options)  # type: ignore[arg-type]
            assert run.auto is not None
            self._run = run
            run.auto.begin(self.source, self.length, 1)
            self._first = FirstItem(
                ident,
                native,
                pool,
                started,
                thread_cpu0,
                process_cpu0,
                self._queued0,
                loading_from,
                loading_cpu,
                loading_queued,
            )
            run.auto.adopt(self._first, self.item)
        except BaseException as exc:  # raised to the caller once the item is over (see _over_now)
            self._error = exc
        finally:
            if self._run is None:  # (taken over, the item keeps it short until it ends: see _over_now)
                self._release_switch()
            with self._lock:
                self._taken = True
                dropped = self._dropped
            self._ready.release()
            if dropped:
                self._let_go()
        if parks:  # a zygote dies with the thread that started it (and its workers with it): stay
            _thread.allocate_lock().acquire()
            _thread.allocate_lock().acquire()

    def _let_go(self) -> None:
        self._release_switch()
        run, self._run = self._run, None
        if run is not None and run.auto is not None:
            run.auto.close()

    def _release_switch(self) -> None:
        """Give back the short switch interval the helper took to load auto (once, whoever comes first)."""
        with self._lock:
            held, self._switch_held = self._switch_held, False
        if held:
            from . import _switch

            _switch.restore(LOAD_SWITCH_SECONDS)


def _cpu_clock(ident: int) -> float | None:
    """Thread ``ident``'s CPU time, read from another thread (None where that cannot be done)."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError):
        return None


def _boot_zygote() -> bool:
    """Start the zygote the first process pool takes (unless one is coming or processes are out of the
    question); True if it was started here: this thread must then live as long as the interpreter."""
    if "gearshift._backends._process" in sys.modules:
        return False  # (a process pool started before: it has its zygote, or the next one takes its own)
    from ._cpu import usable_cpus

    if usable_cpus() < 2:
        return False
    from ._backends._zygote import start_early

    return start_early(lifelong=True)


def _pool_thread() -> bool:
    """Whether the calling thread is one of gearshift's shared pools' (such a run must not queue work on them)."""
    threading = sys.modules.get("threading")
    if threading is None:  # (no pool thread exists without it)
        return False
    return bool(threading.current_thread().name.startswith(POOL_THREAD_PREFIX))


def _reporting() -> bool:
    """Whether ``gearshift.reporting()`` collects what runs do here (a lean start would leave its run out)."""
    report = sys.modules.get("gearshift._report")
    return report is not None and report.collector() is not None


def _environ() -> Mapping[str, str]:
    import os  # (loaded at interpreter start: a dictionary lookup)

    return os.environ
