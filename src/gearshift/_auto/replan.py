"""Re-plan: notice that the work changed under the plan (drift) and say when to measure again.

:class:`Drift` watches every chunk the plan's runner completes (as its
``observer``): chunks costing 100x more (or less) per item than the sample
said, or results from worker processes grown 100x and over 64 KiB each, for
:data:`DRIFT_CHUNKS` chunks in a row, trip it; the driver then closes the
gate, lets the segment drain and measures again, at most :data:`MAX_REPLANS`
times.  It reads no clock: the runner hands it each chunk's figures, so tests
feed it made-up ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .state import RunState

__all__ = ["DRIFT_CHUNKS", "DRIFT_FACTOR", "HUGE_RESULT_BYTES", "MAX_REPLANS", "Drift", "may_replan", "replan"]

#: per-item cost this many times the sample's (either way) means the work changed
DRIFT_FACTOR = 100.0
#: results this many bytes per item (and DRIFT_FACTOR times the sample's) change the plan too:
#: moving them between processes now costs more than a small computation
HUGE_RESULT_BYTES = 64 * 1024
#: consecutive drifted chunks before re-planning (one odd item is not a trend)
DRIFT_CHUNKS = 3
#: re-plans allowed per run
MAX_REPLANS = 3


class Drift:
    """Observer that trips when chunks cost far more (or less) per item than the sample said,
    or when their results, sent back from worker processes, grew huge."""

    def __init__(
        self, expected: float, expected_bytes: int | None, then: Callable[[int, float, float, int], None] | None
    ) -> None:
        self.expected = expected
        self.huge = max(HUGE_RESULT_BYTES, DRIFT_FACTOR * (expected_bytes or 0))
        self.then = then
        self.streak = 0
        self.tripped = False

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if self.then is not None:
            self.then(items, elapsed, cpu, nbytes)
        if self.expected <= 0 or items <= 0:
            return
        ratio = (elapsed / items) / self.expected
        drifted = ratio > DRIFT_FACTOR or ratio < 1 / DRIFT_FACTOR or nbytes / items > self.huge
        self.streak = self.streak + 1 if drifted else 0
        if self.streak >= DRIFT_CHUNKS:
            self.tripped = True


def replan(state: RunState, drifted: bool) -> bool:
    """Phase 4: whether to measure again, after a run phase that stopped because the work drifted
    (or, for coroutines, its loop computed), while items are left; counts the re-plan."""
    if not drifted or state.gate.remaining == 0:
        return False
    state.replans += 1
    state.report.replans = state.replans
    return True


def may_replan(replans: int) -> bool:
    """Whether a run that re-planned ``replans`` times may still watch for drift."""
    return replans < MAX_REPLANS
