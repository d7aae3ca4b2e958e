"""The decision for one run, with the reasons behind it."""

from __future__ import annotations

from ._record import Record, field

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from ._profile import Profile


class Alternative(Record, frozen=True, slots=True):
    """One mode the planner weighed: its settings and the estimated time for the remaining items."""

    mode: str
    workers: int
    chunksize: int | None
    seconds: float
    note: str = ""


class Plan(Record, frozen=True, slots=True):
    """How a run will execute: which mode, how many workers, what chunk size, and why.

    ``chunksize=None`` means the runner sizes chunks itself from measured item
    times.  ``expected_speedup`` is the predicted speed-up over ``sync`` (None
    when nothing was measured).  ``reasons`` are short sentences citing what
    was measured or what the caller asked for.  ``profile`` is what was
    measured (None for explicit modes) and ``alternatives`` the modes weighed,
    with their estimated times (the chosen one included).
    """

    mode: str
    workers: int
    chunksize: int | None = None
    reasons: tuple[str, ...] = ()
    expected_speedup: float | None = None
    profile: Profile | None = field(default=None, repr=False, compare=False)
    alternatives: tuple[Alternative, ...] = field(default=(), repr=False, compare=False)

    def __str__(self) -> str:
        chunks = "automatic" if self.chunksize is None else str(self.chunksize)
        lines = [f"Plan: mode={self.mode}, workers={self.workers}, chunksize={chunks}"]
        if self.expected_speedup is not None:
            lines[0] += f", expected speed-up over sync {self.expected_speedup:.2f}x"
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)
