"""What an auto run did, not only what it planned: every segment that ran, with its items and time.

A :class:`RunReport` lists the segments in the order they ran (measuring one
at a time, the lookahead's early items on threads, the GIL probe, items run
here while worker processes started, each plan's own), the plans followed
(more than one after a re-plan) and how many re-plans there were.  It is
built as the run goes, so a report read mid-run says what happened so far.
"""

from __future__ import annotations

import dataclasses
import time

from .._plan import Plan
from .._profile import fmt_seconds

__all__ = ["RunReport", "Segment"]


@dataclasses.dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of the run: ``items`` read from the input, run ``mode`` on ``workers`` for ``seconds``."""

    what: str  # "measuring", "lookahead", "thread probe", "while workers start", "plan"
    mode: str
    workers: int
    items: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.what}: {self.items} items, {self.mode} x{self.workers}, {fmt_seconds(self.seconds)}"


@dataclasses.dataclass(slots=True)
class RunReport:
    """What a ``mode="auto"`` run executed: its segments, plans and re-plans (see the module docstring)."""

    segments: list[Segment] = dataclasses.field(default_factory=list)
    plans: list[Plan] = dataclasses.field(default_factory=list)
    replans: int = 0

    @property
    def items(self) -> int:
        """Items read so far, over every segment."""
        return sum(s.items for s in self.segments)

    @property
    def seconds(self) -> float:
        """Time spent in the segments so far (the caller's time between results included)."""
        return sum(s.seconds for s in self.segments)

    def by_mode(self) -> dict[str, int]:
        """Items per mode, in the order the modes first ran."""
        out: dict[str, int] = {}
        for s in self.segments:
            out[s.mode] = out.get(s.mode, 0) + s.items
        return out

    def summary(self) -> str:
        """One line: items per mode, and the re-plans (for progress lines and tables)."""
        modes = ", ".join(f"{n} {mode}" for mode, n in self.by_mode().items() if n) or "nothing run"
        replans = f", {self.replans} re-plan{'s' if self.replans != 1 else ''}" if self.replans else ""
        return f"ran {modes}{replans}"

    def lines(self) -> list[str]:
        """Every segment, then each plan's mode and first reasons."""
        out = [str(s) for s in self.segments]
        for i, plan in enumerate(self.plans):
            out.append(
                f"plan {i + 1}: {plan.mode} x{plan.workers}"
                + (f" ({plan.reasons[-2]})" if len(plan.reasons) > 1 else "")
            )
        return out

    def __str__(self) -> str:
        return "\n".join([f"auto {self.summary()}:", *(f"  - {line}" for line in self.lines())])


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
