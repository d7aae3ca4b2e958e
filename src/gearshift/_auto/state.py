"""The one object an auto run's phases share: the input, what is in flight, the plans, the report."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from .._backends._base import Backend
from .._limiter import ConcurrencyLimiter
from .._options import Options
from .._plan import Plan
from .._profile import Profile
from .._record import Record, field, replace
from .._report import RunReport
from .._runner import ResultsObserver, Runner, Stopped
from .chain import Chain
from .costs import CALIBRATE_BELOW_SECONDS, Machine
from .first import FirstItem
from .gate import Gate
from .gil import ProbeTail
from .lookahead import Lookahead
from .report import Early
from .sampler import NOT_WORTH_PROBING

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RunState"]


class RunState(Record, eq=False):
    """Everything one ``mode="auto"`` run knows, read and written by measure, decide, run and re-plan."""

    fn: Callable[..., Any]
    options: Options
    call: int
    is_async: bool
    gate: Gate
    #: what map() collects into (the inline sync path appends to it), or None
    sink: list[Any] | None = None
    #: told about every item as it completes, with its index in the whole input
    on_results: ResultsObserver | None = None
    #: read once there is something to decide
    machine: Machine | None = None
    #: items started, results not yet handed out: the lookahead's early ones or the probe's last ones
    pending: Lookahead | ProbeTail | None = None
    #: the runner whose results are being handed out (stop() reaches it)
    runner: Runner | Chain | None = None
    #: steers the window of a waiting plan
    limiter: ConcurrencyLimiter | None = None
    #: connected to the configured cluster (mode="auto" with address=/client=), closed when the run ends
    cluster: Backend | None = None
    stopped: bool = False
    replans: int = 0
    #: coroutines that an async plan's loop watch found computing (see .coroutines.LoopWatch)
    loop_profile: Profile | None = None
    #: a few results of that plan, for its pickling measurements
    kept_results: list[Any] = field(default_factory=list)
    report: RunReport = field(default_factory=RunReport)
    #: the lookahead's segment in ``report``, made final once its items' results are all handed out
    early_segment: Early | None = None
    #: the first item, run by the lean start before auto loaded (see .first): measuring counts it first
    first: FirstItem | None = None
    #: the profile came from an earlier run of the function here, not from this run's items (see .memory)
    recalled: bool = False

    @property
    def plans(self) -> list[Plan]:
        return self.report.plans

    def rest_and_machine(self, per_item: float) -> float:
        """Sync seconds of the input left at ``per_item`` each (1,000 items when its length is unknown);
        reads the machine's facts once per run, calibrating the parent's share for items that cheap."""
        rest = (self.gate.remaining if self.gate.remaining is not None else 1000) * per_item
        self.machine = self.machine or Machine.current(
            process_workers=self.options.workers,
            calibrate=rest > NOT_WORTH_PROBING and per_item < CALIBRATE_BELOW_SECONDS,
        )
        return rest

    def machine_now(self, per_item: float) -> Machine:
        """The machine's facts for a plan made now: with the time until the items the lookahead
        started on processes are back, if it did (``per_item``: what each takes), see Machine.early_left."""
        assert self.machine is not None
        pending = self.pending
        if not isinstance(pending, Lookahead):
            return self.machine
        return replace(self.machine, early_left=pending.seconds_left(per_item))

    def shifted(self, offset: int) -> ResultsObserver | None:
        """``on_results`` for a runner that numbers its items from 0 but starts at input index ``offset``."""
        observe = self.on_results
        if observe is None or offset == 0:
            return observe

        def shifted(start: int, outcomes: list[Any], failed: int) -> None:
            observe(start + offset, outcomes, failed)

        return shifted

    def segment(
        self, batches: Iterator[list[Any]] | Generator[list[Any], None, Any]
    ) -> Generator[list[Any], None, Any]:
        """``batches``, unless the run was stopped; returns what the generator returns."""
        if self.stopped:
            raise Stopped
        return (yield from batches)

    def early(self, pending: Lookahead | ProbeTail | None) -> Iterator[list[Any]]:
        """The results of items started earlier (if any), in order: a lookahead's or the probe's last ones."""
        if pending is None:
            return
        try:
            self.runner = pending.runner
            try:
                yield from self.segment(pending.batches())
                if self.early_segment is not None and pending.runner is self.early_segment.runner:
                    self.early_segment.final()
            finally:
                self.runner = None
        finally:
            pending.close()
            self.pending = None
