"""Adaptive concurrency for waiting work: find how many items in flight pay off, by measuring.

The limiter watches every completed chunk (through the runner's observer hook)
and adjusts the runner's ``window`` once per measurement interval:

- throughput rose by more than 10% since the last change: grow (double while
  still in the first climb, then by an eighth), up to the cap;
- latency climbed past twice the best seen while throughput did not rise:
  the other side is saturated, so shrink by 30% (multiplicative decrease);
- otherwise hold.

An interval ends after about one typical latency and a few dozen completed
items, so one slow response does not steer it and a big window still gets
feedback every round trip.  The starting window comes
from the planner's estimate; the limiter corrects it from what the run shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ._profile import median

__all__ = ["ConcurrencyLimiter"]

#: an interval needs at most this many completed items (fewer for small windows)
MIN_INTERVAL_ITEMS = 32


TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Protocol

    class _HasWindow(Protocol):
        window: int


class ConcurrencyLimiter:
    """Adjusts ``target.window`` between ``floor`` and ``cap`` from measured throughput and latency."""

    def __init__(self, start: int, cap: int, *, floor: int = 1, clock: Callable[[], float] | None = None) -> None:
        self.cap = max(1, cap)
        self.floor = max(1, min(floor, self.cap))
        self.window = max(self.floor, min(start, self.cap))
        self.target: _HasWindow | None = None
        self._clock = clock or time.perf_counter
        self._climbing = True
        self._best_latency = float("inf")
        self._best_throughput = 0.0
        self._last_throughput = 0.0
        self._items = 0
        self._latencies: list[float] = []
        self._start: float | None = None
        #: (window, throughput, latency) at the end of each interval, for reports and tests
        self.history: list[tuple[int, float, float]] = []

    def attach(self, target: _HasWindow) -> None:
        """Drive ``target.window`` (a runner) from now on."""
        self.target = target
        target.window = self.window

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        """The runner's observer: one chunk of ``items`` finished after ``elapsed`` seconds."""
        now = self._clock()
        if self._start is None:
            self._start = now - elapsed
        self._items += items
        self._latencies.append(elapsed / max(1, items))
        span = now - self._start
        typical = median(self._latencies)
        # An interval: about one typical latency and enough items to count, so a big
        # window still gets feedback every round trip, not every `window` completions.
        if self._items < min(max(4, self.window // 2), MIN_INTERVAL_ITEMS) or span < typical:
            return
        self.update(self._items / span if span > 0 else 0.0, typical)
        self._items = 0
        self._latencies.clear()
        self._start = now

    def update(self, throughput: float, latency: float) -> int:
        """One interval's measurement: adjust and return the new window."""
        self.history.append((self.window, throughput, latency))
        self._best_latency = min(self._best_latency, latency)
        # The first interval has nothing to compare with: it counts as rising (slow start).
        rising = throughput > 1.1 * self._last_throughput
        if latency > 2 * self._best_latency and throughput <= 1.05 * self._best_throughput:
            self.window = max(self.floor, int(self.window * 0.7))
            self._climbing = False
        elif rising and self.window < self.cap:
            step = self.window if self._climbing else max(1, self.window // 8)
            self.window = min(self.cap, self.window + step)
        elif not rising:
            self._climbing = False
        self._best_throughput = max(self._best_throughput, throughput)
        self._last_throughput = throughput
        if self.target is not None:
            self.target.window = self.window
        return self.window
