"""Recording the segments of an auto run into its :class:`~gearshift._report.RunReport` as they run."""

from __future__ import annotations

import time

from .._report import RunReport, Segment

__all__ = ["Early", "Timed"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from .._runner import Runner
    from .chain import Chain


class Timed:
    """Records one :class:`Segment` in a report: items are counted from the gate's count of items read."""

    def __init__(self, report: RunReport, what: str, mode: str, workers: int, taken: int) -> None:
        self.report, self.what, self.mode, self.workers = report, what, mode, workers
        self.taken0, self.t0 = taken, time.perf_counter()

    def done(self, taken: int, *, items: int | None = None) -> None:
        n = taken - self.taken0 if items is None else items
        if n > 0:
            seconds = time.perf_counter() - self.t0
            self.report.segments.append(Segment(self.what, self.mode, self.workers, n, seconds))


class Early:
    """The lookahead's early items as one :class:`Segment`: from their start to their last result's return.

    Recorded when auto's first segment ends (where the early items belong in
    the run's order), with the time so far if some still run; made final by
    :meth:`final` once all their results are back.  It ran beside the first
    segment: its seconds overlap that segment's.
    """

    def __init__(
        self, report: RunReport, mode: str, workers: int, items: int, began: float, runner: Runner | Chain
    ) -> None:
        self.report, self.index = report, len(report.segments)
        self.mode, self.workers, self.items, self.began, self.runner = mode, workers, items, began, runner
        report.segments.append(self._segment())

    def final(self) -> None:
        self.report.segments[self.index] = self._segment()

    def _segment(self) -> Segment:
        end = self.runner.last_back if not self.runner.running and self.runner.last_back else time.perf_counter()
        return Segment("lookahead", self.mode, self.workers, self.items, max(0.0, end - self.began))
