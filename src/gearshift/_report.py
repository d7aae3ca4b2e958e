"""What an auto run did, not only what it planned: every segment that ran, with its items and time.

``with gearshift.reporting() as reports:`` collects the :class:`RunReport` of
every ``mode="auto"`` run started inside the block (in this thread or task:
a context variable), whatever the entry point (``map`` returns a list, so this
is how its caller gets one).

A :class:`RunReport` lists the segments in the order they ran (measuring one
at a time, the lookahead's early items on threads, the GIL probe, items run
here while worker processes started, each plan's own), the plans followed
(more than one after a re-plan) and how many re-plans there were.  It is
built as the run goes, so a report read mid-run says what happened so far.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from ._plan import Plan
from ._profile import fmt_seconds
from ._record import Record, field

__all__ = ["RunReport", "Segment", "collector", "reporting"]


class Segment(Record, frozen=True, slots=True):
    """One stretch of the run: ``items`` read from the input, run ``mode`` on ``workers`` for ``seconds``."""

    what: str  # "measuring", "lookahead", "thread probe", "while workers start", "plan"
    mode: str
    workers: int
    items: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.what}: {self.items} items, {self.mode} x{self.workers}, {fmt_seconds(self.seconds)}"


class RunReport(Record, slots=True):
    """What a ``mode="auto"`` run executed: its segments, plans and re-plans (see the module docstring)."""

    segments: list[Segment] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    replans: int = 0

    @property
    def items(self) -> int:
        """Items read so far, over every segment."""
        return sum(s.items for s in self.segments)

    @property
    def seconds(self) -> float:
        """The segments' seconds added up (the caller's time between results included; the lookahead's
        early items ran beside the first segment, so their time is counted in both)."""
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


_reports: contextvars.ContextVar[list[RunReport] | None] = contextvars.ContextVar("gearshift_reports", default=None)


@contextlib.contextmanager
def reporting() -> Iterator[list[RunReport]]:
    """Collect what every ``mode="auto"`` run started in the block executed.

    Yields a list that receives one :class:`RunReport` per auto run as it
    starts; each report fills in as its run goes (segments, plans, re-plans)::

        with gearshift.reporting() as reports:
            gearshift.map(fn, items)
        print(reports[0])  # e.g. "auto ran 1 sync, 255 thread: ..."
    """
    reports: list[RunReport] = []
    token = _reports.set(reports)
    try:
        yield reports
    finally:
        _reports.reset(token)


def collector() -> list[RunReport] | None:
    """The list :func:`reporting` collects into here, if any (read when a run is created)."""
    return _reports.get()
