"""Start the next items on threads while auto's first item is still waiting.

``mode="auto"`` measures its first item alone, on the calling thread.  When
that item waits (a 100 ms HTTP request, a sleep), the whole of its latency is
time in which nothing else runs: on a job of 400 such requests it is a fifth
of the run.  A :class:`Lookahead` has the calling thread looked at while the
first item runs, by one watcher thread shared by the whole process.  If the
calling thread spent an interval (:data:`WATCH_SECONDS`, then twice as long
each time) mostly off a CPU and not queued for one (waiting, by the one
definition: :func:`~.costs.work_kind`), the item waits, and waiting overlaps on
threads whatever the plan: the watcher starts the next items on a waiting plan's thread pool through
a :class:`~gearshift._runner.Runner` (timeouts, retries, error policy and order hold), timed alone.

Work that computes has its next items started on worker processes instead,
once the first item has computed long enough (:mod:`.early`): one per CPU
that the first item leaves idle, on the process pool a process plan uses, and
as many again each time those are back while it still runs (:mod:`.chain`).

Only the first item is watched.  The watcher needs the GIL to look, so each
look at a thread that computes takes the GIL from it, which to the measuring
looks like the item went to sleep (its sign of time the machine took away from
waiting).  Once the first item is over, :meth:`Lookahead.disarm` takes the
pending look back and waits for the watcher to sleep again, so the items
measured next are not disturbed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

from .. import _importing, _sigmask, _switch
from .._acquire import acquire_backend
from .._options import Options
from .._plan import Plan
from .._pools import may_share
from .._record import replace
from .._runner import ResultsObserver, Runner
from .chain import Chain
from .clocks import cpu_clock, runqueue_seconds
from .costs import Machine, work_kind
from .early import (
    boot_zygote,
    busy,
    moved_on,
    next_look,
    process_items,
    shippable,
    start_processes,
    without_the_load,
)
from .first import FirstItem
from .gate import Gate
from .watcher import _watcher

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Lookahead"]

#: how long the first item runs before the watcher looks at it (shorter items end first)...
WATCH_SECONDS = 0.01
#: ...and then again after twice as long each time, up to this
MAX_WATCH_SECONDS = 0.1
#: items started early at most (the plan's limiter takes over from the next segment)
LOOKAHEAD_ITEMS = 256


class Lookahead:
    """Watches the calling thread during the first item; may start the next items on threads.

    Use: :meth:`arm` right before the first item runs, :meth:`disarm` once the
    one-at-a-time segment has ended, then, if :attr:`runner` is set, hand out
    :meth:`batches` (the early items' results, in order) before anything else.
    :meth:`close` in a ``finally``.  The looking is done by the process's one
    :class:`_Watcher` thread: arming costs no thread start.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        gate: Gate,
        options: Options,
        call: int,
        items: int,
        on_results: Callable[[int], ResultsObserver | None],
        *,
        processes: bool = False,
    ) -> None:
        self.fn, self.gate, self.options, self.call = fn, gate, options, call
        self.items = items
        #: whether items may start on processes if the first one computes (see :mod:`.early`)
        self.processes = processes
        #: where the early items run, once :attr:`started`: "thread" or "process"
        self.mode = "thread"
        self._pool_created = False  # the early items' process pool is the shared one, started here
        self._drop_pool = False  # ...and the plan does not use it: shut it down at close()
        #: items started early, on how many workers at once, from when (set once :attr:`started`), and
        #: when the last of them started (more start on processes: see _start_more)
        self.count, self.workers, self.began, self._last_start = 0, 0, 0.0, 0.0
        self._on_results = on_results
        self.started = False
        #: the runners of the early items, once started (processes: one more each time all were back)
        self.runner: Chain | None = None
        self._backend: Any = None
        self._lock = threading.Lock()
        self._armed = False
        self._ready = threading.Event()  # set once a start is complete (runner or error)
        self.looked = threading.Event()  # set once a look is over (the lean start's first item waits for one)
        self._error: BaseException | None = None
        self._late_error: BaseException | None = None  # (a start after the first: raised after their results)
        self._shareable = True
        # what the watcher reads: the calling thread's clocks, at the start of the current interval
        self._clock = self._native = self._ident = 0
        self._interval = WATCH_SECONDS
        self._t0 = self._cpu0 = 0.0
        self._queued0: float | None = None
        self._since: tuple[float, float, float | None] = (0.0, 0.0, None)  # the same, at the first item's start
        self._started = 0.0  # when the first item started
        #: modules loaded at the last look (the first item loading more is importing, not yet working),
        #: and whether an adopted item had loaded some before the lookahead was armed
        self._modules = 0
        self._importing = False
        self._prompt = self._paused = False  # a short switch interval held (see _prompt_handovers); see arm
        self._held: tuple[float, float, float | None] | None = None  # the clocks at arm, while held (see resumed)
        self._rebased = 0  # times resumed() moved the clocks on (a look under way then keeps them)

    def arm(self, adopted: FirstItem | None = None) -> bool:
        """Start watching the calling thread (False where its CPU time cannot be read from another).

        ``adopted``: watch another thread instead, whose first item started
        before this lookahead existed (the lean start's, see :mod:`gearshift._lean`);
        the first interval counts from that item's start.
        """
        clock = cpu_clock(threading.get_ident() if adopted is None else adopted.ident)
        if clock is None or self.items < 1:
            return False
        self._clock, self._native = clock, threading.get_native_id() if adopted is None else adopted.native_id
        self._ident = threading.get_ident() if adopted is None else adopted.ident
        # From a thread of a shared pool, the run must not queue work on that pool (see shared_backend).
        self._shareable = may_share() if adopted is None else not adopted.pool_thread
        self._armed = True
        # The clocks at the start, read here, so that the first interval starts with the item.
        now, cpu, queued = time.perf_counter(), time.clock_gettime(clock), runqueue_seconds(self._native)
        start = (now, cpu, queued) if adopted is None else (adopted.started, adopted.thread_cpu0, adopted.queued0)
        self._t0, self._cpu0, self._queued0 = start
        # (an adopted item computes by its run before auto's load and since; one that waited meanwhile for
        # the load, gearshift._pause, is not judged waiting by that)
        self._since = start if adopted is None else without_the_load(adopted, now, cpu, queued)
        self._started, self._paused = self._t0, adopted is not None and adopted.paused
        self._held = (now, cpu, queued) if self._paused else None
        self._modules, self._importing = len(sys.modules), adopted is not None and adopted.imports_before_load > 0
        # (an adopted item has run a while already: the first look is at once)
        _watcher().watch(self, self._interval if adopted is None else 0.0)
        return True

    def resumed(self) -> None:
        """The adopted item's wait (:mod:`gearshift._pause`) is over: it runs again from now.

        The wait's tail since :meth:`arm` (the first look, then the lean start's helper letting go) is
        left out of its clocks, as auto's load is (:func:`.early.without_the_load`): an item held while
        it computed is judged on its run.  Counted in, it can read as waiting for the look after (all
        the next items on threads: one coarse run in about 250 traced took 7.6 s against 3.1), and it
        dilutes the share that starts processes.
        """
        held, self._held = self._held, None
        if held is None or not self._armed:
            return
        now = time.perf_counter(), time.clock_gettime(self._clock), runqueue_seconds(self._native)
        self._since = moved_on(self._since, held, now)
        self._t0, self._cpu0, self._queued0 = now
        self._rebased += 1

    @property
    def armed(self) -> bool:
        """Whether items may still be started early (between :meth:`arm` and :meth:`disarm`)."""
        return self._armed

    def has_started(self) -> bool:
        """Whether items were started early (the first segment then takes no more)."""
        return self.started

    def disarm(self) -> None:
        """The first item is over: start nothing from now on, and look no more.

        Once this returns, :attr:`runner` is final and the watcher is asleep
        (unless other runs keep it busy).  It is waited for only if it started
        items (it may be handing them to their runner).  Calling it again is harmless.
        """
        with self._lock:
            was_armed, self._armed = self._armed, False
            started = self.started
            prompt, self._prompt = self._prompt, False
        if was_armed:
            _watcher().forget(self)
        if started:
            self._ready.wait()
        if prompt:
            _switch.restore()

    def batches(self) -> Iterator[list[Any]]:
        """The early items' results, in input order (only after :meth:`disarm`)."""
        if self._error is not None:
            raise self._error
        assert self.runner is not None, "batches() of a lookahead that started nothing"
        yield from self.runner.batches()
        if self._late_error is not None:  # (a later start failed: its items are lost with the run)
            raise self._late_error

    def close(self) -> None:
        """Stop watching; drop early work nobody collected (a run stopped by Ctrl-C or an error).

        Its items are aborted, not waited for: exit must not wait for a thread
        whose result nobody will read (see :mod:`gearshift._threads`).
        """
        self.disarm()
        if self.runner is not None:
            self.runner.cancel()  # harmless once its batches were handed out (nothing left in flight)
        if self._backend is not None:
            self._backend.shutdown(wait=False, cancel_futures=True)
            self._backend = None
        if self._drop_pool and self._pool_created and self.runner is not None:
            from .._pools import discard_shared

            discard_shared(self.runner.backend)
            self._pool_created = False

    def seconds_left(self, per_item: float) -> float:
        """How long until the items started on processes are back, if each takes ``per_item`` (0: none out)."""
        if self.mode != "process" or self.runner is None or self.runner.returned >= self.count:
            return 0.0
        return max(0.0, self._last_start + per_item - time.perf_counter())

    def drop_pool(self) -> None:
        """The plan does not run on processes: :meth:`close` shuts down the early items' pool (unless warm before)."""
        self._drop_pool = True

    # -- on the watcher thread -------------------------------------------------------

    def look(self) -> float | None:
        """Read the calling thread's clocks; start the next items if it waits.  Returns the next look's delay."""
        if not self._armed:
            return None
        if self.started:  # while the first item runs, keep the CPUs it leaves busy (threads start once)
            if self.mode != "process":
                return None
            took = self._start_more()  # (the next look: about when those it started are back)
            self._interval = min(max(took, WATCH_SECONDS), MAX_WATCH_SECONDS) if took else self._interval
            return self._interval
        rebased = self._rebased
        now, cpu, queued = time.perf_counter(), time.clock_gettime(self._clock), runqueue_seconds(self._native)
        # An item loading modules is not judged: its clocks tell of its imports, which a worker
        # process would pay again, not of its work (numpy's import was taken for 50 ms of computing).
        importing = self._importing or len(sys.modules) != self._modules or _importing.importing(self._ident)
        if importing:  # (its work starts after its imports: judged from there)
            self._importing, self._since, self._started = False, (now, cpu, queued), now
        kind = work_kind(busy(cpu, queued, self._cpu0, self._queued0), now - self._t0)
        if not importing and not self._paused and kind == "waiting":
            self._start("thread")
            return None
        # It computed (or connected...): judged again next look, unless the other CPUs should take the next items.
        t_first, cpu_first, queued_first = self._since
        ran = now - self._started
        if not importing and self.processes:
            if start_processes(busy(cpu, queued, cpu_first, queued_first), now - t_first, ran=ran):
                if self._start_processes():
                    return self._interval  # (to start more once they are back: see _start_more)
            elif self._interval == WATCH_SECONDS:  # (the first look: it computes so far)
                self._prompt_handovers()
                boot_zygote()
                ran = time.perf_counter() - self._started  # (that took a while: importing what starts it)
        self._interval = min(2 * self._interval, MAX_WATCH_SECONDS)
        if rebased == self._rebased:  # (else resumed() read the clocks since: those are the later ones)
            self._t0, self._cpu0, self._queued0 = now, cpu, queued
        self._paused = False
        self._modules = len(sys.modules)  # (after what this look imported itself)
        return next_look(self._interval, ran) if self.processes else self._interval

    def _prompt_handovers(self) -> None:
        """Until :meth:`disarm`, have a thread that computes hand the GIL over within
        :data:`~gearshift._switch.PROMPT_SECONDS` rather than the interpreter's 5 ms.

        Starting processes from here (and the pool's manager thread, dispatching) releases
        and takes the GIL back dozens of times; each time, the first item's thread kept it
        for a whole switch interval: the zygote's start alone took 50-300 ms on a quiet
        2-CPU host, often past the first item's end.  Only threads that ask for the GIL
        are affected, and only while the first item runs.
        """
        with self._lock:
            if self._armed and not self._prompt:
                self._prompt = True
                _switch.lower()

    def _start_processes(self) -> bool:
        """Start the next items on processes, if the function and the first item pickle (else never)."""
        from .._cpu import usable_cpus

        self.processes = False  # (asked once)
        count = process_items(self.items, usable_cpus())
        first = self.gate.kept[:1]
        if count < 1 or not first:
            return False
        self._prompt_handovers()
        boot_zygote()  # (booting on another CPU while the backend loads here)
        if not shippable(self.fn, first[0]):
            return False
        self.items = count
        self._start("process")
        return True

    def _start_more(self) -> float | None:
        """The items started on processes are all back and the first item still runs: as many again.

        A worker left idle until the first item ends is a CPU lost (see :mod:`.chain`).  Returns how
        long the ones back took (None: some are still out).
        """
        chain = self.runner
        if chain is None or chain.returned < self.count:
            return None
        took = chain.last_back - self._last_start
        if self.count >= LOOKAHEAD_ITEMS:
            return took
        try:
            with self._lock, self.gate.lock, _sigmask.users_code():
                if not self._armed or self.gate.ended:
                    return took
                self._ready.clear()  # (disarm() waits for this start)
                offset, self._last_start = self.gate.taken, time.perf_counter()
                items = self.gate.take_locked(min(self.items, LOOKAHEAD_ITEMS - self.count))
                self.count += len(items)
            if items:
                chain.add(self._runner(items, offset, "process"))
        except BaseException as exc:  # raised to the caller after the earlier items' results
            self._late_error = exc
        finally:
            self._ready.set()
        return took

    def _start(self, mode: str) -> None:
        try:
            with self._lock, self.gate.lock, _sigmask.users_code():  # (reading the input runs the user's code)
                if not self._armed or self.gate.ended:
                    return
                self.started = True  # from here the first segment takes nothing more (see AutoRun)
                self.mode = mode
                offset, self.began = self.gate.taken, time.perf_counter()
                self._last_start = self.began
                items = self.gate.take_locked(self.items)  # (an input that raises: see Gate)
                self.count = len(items)
            if items:
                self.runner = Chain(self._runner(items, offset, mode))
        except BaseException as exc:  # raised to the caller by batches(): the items are not dropped silently
            self._error = exc
        finally:
            self._ready.set()  # disarm() waits for it once started

    def _runner(self, items: list[Any], offset: int, mode: str) -> Runner:
        # The pool a waiting plan (or a process plan) runs on: warm from earlier runs, and
        # still warm for the plan that follows.
        if mode == "thread":
            pool = self.options.workers or Machine.current().max_threads
            why = "the first item waits: the next ones start on threads"
        else:
            from .._pools import is_warm

            pool = self.options.workers or Machine.current().cpus  # (what decide gives a process plan)
            why = "the first item computes: the next ones start on processes"
        self.workers = max(self.workers, min(len(items), pool))
        if self.runner is not None:  # (a later start: on the first one's pool)
            backend = self.runner.backend
        else:
            self._pool_created = mode == "process" and not is_warm("process", pool)
            backend, owned = acquire_backend(mode, pool, share=self._shareable)
            if owned:
                self._backend = backend
                self._pool_created = False
        options = replace(self.options, chunksize=self.options.chunksize or 1)
        plan = Plan(mode, len(items), options.chunksize, (why,))
        runner = Runner(
            backend,
            self.fn,
            options,
            plan,
            call=self.call,
            window=len(items),
            on_results=self._on_results(offset),
            first_index=offset,
        )
        runner.start(items)
        return runner
