"""The GIL ticker: a thread that wakes every millisecond and times how long it waits for the GIL.

A thread coming back from a timed wait needs the GIL to go on; how long that
takes says whether the work beside it holds the GIL.  Used by the thread probe
(:mod:`.gil`, next to the probed threads) and beside the items auto measures
one at a time (:func:`tick_beside`).  The reading (:class:`GilReading`) is kept
apart from the clocks, so that it can be tested with made-up waits.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from .clocks import gil_enabled, runqueue_seconds
from .sampler import Sampler

__all__ = ["GilReading", "GilTicker", "tick_beside"]


class GilReading:
    """What the GIL ticker's waits say, kept apart from its clocks so that it can be tested with made-up waits.

    A thread coming back from a timed wait needs the GIL to go on.  When the
    probed work holds it, that takes about the switch interval (5 ms: the
    waiter must ask the holder to drop it); when the work releases it, almost
    nothing.  :meth:`add` takes one tick's wait beyond its timer and says
    whether the looking may stop (after :data:`SETTLE_TICKS` ticks averaging
    under :data:`SETTLED_WAIT` switch intervals, the GIL is plainly free);
    :meth:`gil_free` is the share of the time the GIL was free, less the share
    the ticker spent waiting for a CPU (load does not pass for the GIL).

    A long wait proves the GIL held; a short one does not prove it free.  Work
    that lets go of the GIL for a moment every few hundred microseconds (each
    ``open``, ``read``, ``close``: ``csv.DictReader`` over small files) hands it
    to the ticker at once although it holds it nearly all the time: it read
    "free 91-100%" while two threads got through its items at 0.5-0.9x the
    speed of one.  So :func:`~.costs.serial_share` checks a free reading
    against the probe's throughput.
    """

    TICK = 0.001
    #: ticks after which waits averaging under SETTLED_WAIT switch intervals end the looking
    SETTLE_TICKS = 24
    SETTLED_WAIT = 0.05
    #: ticks after which waits averaging over HELD_WAIT switch intervals prove it held (tick_beside)
    HELD_TICKS = 3
    HELD_WAIT = 0.5

    def __init__(self, switch_interval: float) -> None:
        self.switch_interval = switch_interval
        self.waits: list[float] = []
        self._total = 0.0

    def add(self, wait: float) -> bool:
        """One tick waited ``wait`` seconds past its timer; True once the looking may stop."""
        self.waits.append(wait)
        self._total += wait
        n = len(self.waits)
        return n >= self.SETTLE_TICKS and self._total < self.SETTLED_WAIT * self.switch_interval * n

    def held(self) -> bool:
        """Whether the waits so far prove the GIL held (:data:`HELD_TICKS` of them, long on average)."""
        n = len(self.waits)
        return n >= self.HELD_TICKS and self._total >= self.HELD_WAIT * self.switch_interval * n

    def gil_free(self, queued_share: float) -> float | None:
        """Share of the time the GIL was free (None: too few ticks to say)."""
        if len(self.waits) < 2:
            return None
        # Each tick lasts TICK plus its wait; the CPU-queue share of that is not the GIL's.
        mean_wait = sum(self.waits) / len(self.waits)
        mean_wait = max(0.0, mean_wait - queued_share * (self.TICK + mean_wait))
        held = mean_wait / self.switch_interval
        return min(1.0, max(0.0, 1.0 - held))


class GilTicker(threading.Thread):
    """Wakes up every millisecond next to the work: how long until it gets the GIL?

    The ticker holds the GIL only for microseconds, so it barely disturbs what
    it measures; but each wake-up takes a core from the work for a moment, so
    it stops once its :class:`GilReading` says the GIL is plainly free (and,
    with ``stop_when_held``, once it says it is held: each wait then forced a
    hand-over of the GIL).
    """

    def __init__(self, busy: Callable[[], bool], *, stop_when_held: bool = False) -> None:
        super().__init__(name="gearshift-gil-probe", daemon=True)
        self._busy = busy
        self._stop_when_held = stop_when_held
        self._finished = threading.Event()  # set by finish(): the last wait ends at once
        self.reading = GilReading(sys.getswitchinterval())
        self.queued_share = 0.0

    def run(self) -> None:
        # The run queue is read only at both ends: reading it is a system call, and every
        # system call gives the GIL up and waits to get it back, which is what is measured.
        q0, start = runqueue_seconds(), time.perf_counter()
        tick = self.reading.TICK
        while True:
            t0 = time.perf_counter()
            busy = self._busy()
            if self._finished.wait(tick):
                break
            if busy and self.reading.add(max(0.0, time.perf_counter() - t0 - tick)):
                break
            if self._stop_when_held and self.reading.held():
                break
        q1, end = runqueue_seconds(), time.perf_counter()
        if q0 is not None and q1 is not None and end > start:
            self.queued_share = (q1 - q0) / (end - start)

    def finish(self) -> float | None:
        """Share of the time the GIL was free (None: too few ticks to say)."""
        self._finished.set()
        self.join()
        return self.reading.gil_free(self.queued_share)


def tick_beside(sampler: Sampler, cpus: int) -> Callable[[], None]:
    """Start a GIL ticker beside the items run one at a time; the function returned stops it.

    Stopping it records its reading in ``sampler.gil_free_alone`` for
    :func:`.gil.wants_thread_probe`: computing work that pickles cheaply goes to
    processes unprobed (held, the probe would run items at one thread's speed
    while the pool could start), and work that releases the GIL then paid a
    pool's start and set-up that threads need not (zlib over a per-process
    buffer: 1.27x thread mode, cold, ``cold-suite-11.json``).  Each wait is a
    forced hand-over of the GIL, so the ticker stops once they prove it held
    (:meth:`GilReading.held`).  Nothing starts without a GIL or on one CPU.
    """
    if not gil_enabled() or cpus < 2:
        return lambda: None
    ticker = GilTicker(lambda: True, stop_when_held=True)
    ticker.start()

    def stop() -> None:
        sampler.gil_free_alone = ticker.finish()

    return stop
