"""The lean start's first item (see :mod:`gearshift._lean`): run on the calling thread, watched.

A helper thread waits :data:`WATCH_SECONDS` (auto's lookahead's first look).
If the item is still running then, the helper loads auto beside it and auto
takes the item over as its own first one (:meth:`gearshift._auto.AutoRun.adopt`):
the lookahead watches it from its start and starts the next items on threads
or processes.  An item seen loading modules at a look (its thread inside an
import) is looked at again a watch later, until a whole watch passed with no
import seen: its imports are no work another mode could spread (each worker would
pay them again), and loading auto beside them would only take turns with them
for the GIL; a first item that imports NumPy, then computes a few ms, ends
before auto loads, and the chunks after it decide (:func:`gearshift._lean.stays`).
An item whose thread is runnable but has not computed most of a look yet was
kept off the CPU by a busy machine: it is looked at again too (:func:`owed`).
Three things make a load as prompt as auto's own start:

* the load holds the interpreter's switch interval at :data:`LOAD_SWITCH_SECONDS`
  until the item ends (at 5 ms, each file the load read gave the GIL to an item
  that computes for a whole interval: 0.8-0.9 s to load);
* an item that computed through the first look has the first process pool's
  zygote boot meanwhile, from the helper, which then stays parked as its parent
  (a zygote dies with the thread that started it);
* before Python 3.13, :mod:`threading` takes the thread that first imports it
  for the main one, so the item's thread imports it, not the helper: asked
  (:meth:`gearshift._pause.Pause.ask`) only once the helper is to load auto,
  so that a first item over within the watch, as most are, does not pay its
  3 ms (the largest of the 10-13 ms a million trivial items took over a list
  comprehension, docs/performance.md).  Where the item's thread cannot be
  asked (not the main thread, or a program's own ``SIGURG`` handler), it
  imports it before the item starts.  One that is not asked in time (blocked
  in a system call that is restarted, or in C code) is not taken over: auto
  loads from the calling thread after it, as for a short item.
"""

from __future__ import annotations

import _thread
import sys
import time

from . import _importing, _sigmask
from ._pause import MAX_PAUSE_SECONDS, SLICE_SECONDS, Pause
from ._schedstat import runnable, runqueue_seconds

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    from ._auto.first import FirstItem
    from ._auto.lookahead import Lookahead
    from ._call import _Run

__all__ = ["FirstWatch", "owed"]

#: gearshift._auto.lookahead.WATCH_SECONDS: how long the first item runs before auto looks at it
WATCH_SECONDS = 0.01
#: COSTS["computes_above"]: a thread whose CPU time is this share of the wall computes
COMPUTES_SHARE = 0.7
#: the interpreter's switch interval while auto loads beside a first item that runs on (see FirstWatch._watch)
LOAD_SWITCH_SECONDS = 0.0001
#: gearshift._pools' shared pools name their threads so
POOL_THREAD_PREFIX = "gearshift-shared"


class FirstWatch:
    """Runs the first item on the calling thread while a helper thread watches it (see the module)."""

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
        #: held until the item's thread imported threading, when the helper must ask it to (see first)
        self._threading: Any = None
        self._ready = _thread.allocate_lock()  # held until the helper is done taking it over
        self._run: _Run | None = None
        self._first: FirstItem | None = None
        self._error: BaseException | None = None
        self._clocks = (0.0, 0.0, 0.0)
        self._queued0: float | None = None
        #: modules loaded when the item started, when auto began to load, and once it had loaded
        self._modules = [0, 0, 0]
        self._thread = (_thread.get_ident(), _thread.get_native_id(), _pool_thread())
        #: has the item wait while auto loads beside it (see _watch)
        self.pause = Pause()

    def first(self, star: bool) -> _Run | None:
        """Run the item; None when it ran here alone, else the auto run that took it over."""
        fn, item = self.fn, self.item
        self._running.acquire()
        self._ready.acquire()
        askable = self.pause.install()
        # Before 3.13, threading names the thread that first imports it the main thread: were it the
        # helper, loading auto, asyncio and the interpreter's exit would take the helper for it.  The
        # helper asks this thread to import it only if it is to load auto (3 ms in a fresh interpreter).
        if sys.version_info < (3, 13) and "threading" not in sys.modules:
            if askable:
                self._threading = _thread.allocate_lock()
                self._threading.acquire()
            else:
                import threading  # noqa: F401

        # (read before the helper starts, which reads them: the item's time includes the start, ~0.1 ms)
        self._queued0 = runqueue_seconds()
        self._clocks = t0, cpu0, _ = time.perf_counter(), time.thread_time(), time.process_time()
        self._modules[0] = len(sys.modules)
        _thread.start_new_thread(_sigmask.service(self._watch), ())
        try:
            self.result = fn(*item) if star else fn(item)
        except BaseException as exc:
            try:
                run = self._over_now()
            except BaseException:  # (auto failed to load, or Ctrl-C meanwhile: fn's exception is the news)
                run = None
            finally:
                self.pause.uninstall()
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
        finally:
            self.pause.uninstall()
        if run is not None:
            first = self._first
            assert first is not None
            assert run.auto is not None
            first.result, first.wall, first.cpu = self.result, self.wall, cpu
            start, loading, loaded = self._modules
            # (the modules auto loaded are not the item's; what it loaded meanwhile is not told apart)
            first.imports = (loading - start) + max(0, len(sys.modules) - loaded)
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
        ident, native, pool = self._thread
        thread_cpu0 = self._clocks[1]
        wait, was_importing = WATCH_SECONDS, False
        while not self._running.acquire(timeout=wait):
            # An item seen loading modules is looked at again later: its imports are not work another
            # mode could spread (each worker would pay them again), and auto's load would only take
            # turns with them for the GIL.  It is judged once a whole look passed with no import seen
            # (an import over between two looks, as short ones are, delays nothing).
            importing = _importing.importing(ident)
            if importing or was_importing:
                wait, was_importing = WATCH_SECONDS, importing
                continue
            cpu = _cpu_clock(ident)
            cpu = None if cpu is None else cpu - thread_cpu0
            # (its state is read only when it matters: a file read hands the GIL to a computing item for 5 ms)
            wait = owed(cpu, cpu is not None and cpu < COMPUTES_SHARE * WATCH_SECONDS and runnable(native))
            if not wait:
                break
        else:
            self._running.release()
            return
        if self._threading is not None and not self._threading_imported():
            return  # (the item ended first)
        with self._lock:
            if self._over:
                return
            self._taking = True
        self._modules[1] = len(sys.modules)  # (before anything is imported here)
        started, thread_cpu0, process_cpu0 = self._clocks
        loading_from, loading_cpu = time.perf_counter(), _cpu_clock(ident)
        # (an item that loaded modules so far computed for its imports: a worker would repeat them)
        imports = self._modules[1] - self._modules[0]
        imports += _importing.importing(ident)
        # An item that computed so far (its time queued for a CPU on a busy host counted in): the zygote
        # a first process pool forks its workers from boots now, on another CPU, while auto loads (as
        # auto's lookahead does at its first look).  Such an item, in Python, would take turns with the
        # load for the GIL: it waits instead (gearshift._pause) until auto has loaded and its lookahead's
        # first look, which starts the next items on processes, is over; asked before any file is read
        # here (each read hands the GIL to the item for a switch interval).
        busy = None if loading_cpu is None else loading_cpu - thread_cpu0
        enough = COMPUTES_SHARE * (loading_from - started)
        computes = not imports and busy is not None and busy >= enough
        loading_queued = None
        if not computes:  # (its time queued for a CPU counted in: a file read, so only when it matters)
            loading_queued = runqueue_seconds(native)
            if busy is not None and self._queued0 is not None and loading_queued is not None:
                computes = not imports and busy + loading_queued - self._queued0 >= enough
        paused = computes and self.pause.hold()
        if loading_queued is None:
            loading_queued = runqueue_seconds(native)
        # Loading auto reads files: each read lets the GIL go, and an item that computes keeps it a
        # whole switch interval (5 ms) each time it is asked for it back: hundreds of those took the
        # load 0.8-0.9 s beside a pure-Python item on a quiet 2-CPU host (0.19-0.2 s at 0.5 ms, 0.14 s
        # at LOAD_SWITCH_SECONDS; one run each), past the first look at which auto starts processes.
        # Held until the item ends (_over_now), so that starting those processes goes as fast (and for
        # an item on a thread other than the main one, which cannot be asked to wait).
        from . import _switch

        _switch.lower(LOAD_SWITCH_SECONDS)
        with self._lock:
            self._switch_held = True
        parks, lookahead = False, None
        try:
            if computes:
                from ._backends._zygote import start_for_auto

                parks = start_for_auto()
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
                imports_before_load=imports,
                paused=paused,
            )
            lookahead = run.auto.adopt(self._first, self.item)
            if paused and lookahead is not None:  # (its first look, at once, starts the next items)
                self._first_look(lookahead)
            self._modules[2] = len(sys.modules)
        except BaseException as exc:  # raised to the caller once the item is over (see _over_now)
            self._error = exc
        finally:
            self.pause.release()
            if paused and lookahead is not None:  # (the item runs again: its clocks go on from here)
                lookahead.resumed()
            if self._run is None:  # (taken over, the item keeps it short until it ends: see _over_now)
                self._release_switch()
            with self._lock:
                self._taken = True
                dropped = self._dropped
            self._ready.release()
            if dropped:
                self._let_go()
        if parks:  # a zygote dies with the thread that started it (and its workers with it): stay
            park = _thread.allocate_lock()
            park.acquire()
            park.acquire()  # (never released: this thread ends with the interpreter)

    def _threading_imported(self) -> bool:
        """Have the item's thread import threading (see :meth:`first`); False if the item ended first."""
        imported = self._threading
        while self.pause.ask(self._import_threading):  # (again each slice: see _import_threading)
            if imported.acquire(timeout=SLICE_SECONDS):
                return True
            if self._over:
                return False
        return False

    def _import_threading(self) -> None:
        """On the item's thread, in the pause's signal handler (the modules it loads are not the item's).

        Not inside an import (threading's own imports could meet a module half loaded there): the helper
        asks again a slice later.
        """
        if _importing.importing(_thread.get_ident()):
            return
        before = len(sys.modules)
        import threading  # noqa: F401

        self._modules[0] += len(sys.modules) - before
        self._threading.release()

    def _first_look(self, lookahead: Lookahead) -> None:
        """Wait (the item with this thread) for the lookahead's first look, unless the item is over first
        (a Ctrl-C in the item: the caller then waits for this thread, which must not wait on)."""
        deadline = time.perf_counter() + MAX_PAUSE_SECONDS
        while not lookahead.looked.wait(SLICE_SECONDS) and not self._over and time.perf_counter() < deadline:
            pass

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


def owed(cpu: float | None, runnable: bool | None) -> float:
    """How much longer the watch looks at a first item still running after a look, before it judges it.

    ``cpu``: the CPU time the item's thread has had since the item started;
    ``runnable``: whether the thread is running or waiting for a CPU now
    (:func:`gearshift._schedstat.runnable`).  A thread that sleeps or blocks
    (I/O, a lock) is judged by the wall: its waits are the item's.  A runnable
    one is judged once it computed :data:`COMPUTES_SHARE` of a look (a computing
    item on a free CPU has by the first look); until then the machine kept it
    off the CPU (other processes' turns on a busy host: even an ``x + 1`` can
    wait past a look between the helper's start and its own), and the wall says
    nothing of its work.  None (clocks this platform lacks): judged.
    """
    if not runnable or cpu is None:
        return 0.0
    return max(0.0, COMPUTES_SHARE * WATCH_SECONDS - cpu)


def _cpu_clock(ident: int) -> float | None:
    """Thread ``ident``'s CPU time, read from another thread (None where that cannot be done)."""
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (AttributeError, OSError):
        return None


def _pool_thread() -> bool:
    """Whether the calling thread is one of gearshift's shared pools' (such a run must not queue work on them)."""
    threading = sys.modules.get("threading")
    if threading is None:  # (no pool thread exists without it)
        return False
    return bool(threading.current_thread().name.startswith(POOL_THREAD_PREFIX))
