"""Recording the segments of an auto run into its :class:`~gearshift._report.RunReport` as they run."""

from __future__ import annotations

import time

from .._report import RunReport, Segment

__all__ = ["Timed"]


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
