"""``mode="auto"``: measure -> decide -> run -> re-plan, over one :class:`RunState`.

Read top to bottom, the phases are the functions :meth:`AutoRun._phases`
calls in turn, each in a module of its own:

1. **measure** (:mod:`.measure`): the first items one at a time, timed
   (:mod:`.sampler`, :mod:`.clocks`); if the first one waits, the next ones
   start on threads meanwhile (:mod:`.lookahead`); for work that computes, a
   few items on threads at once (:mod:`.gil`); pickle costs (:mod:`.pickling`).
   Coroutine functions skip it: they start on an event loop at once.
2. **decide** (:mod:`.decide`): a pure function of the measured
   :class:`~gearshift.Profile`, the options and the machine, by the cost
   model of :mod:`.costs` (one table of constants, each with its source);
   with a dask or Ray cluster configured, :mod:`.cluster` asks it for its size.
3. **run** (:mod:`.run`): the rest under the plan, after the items started
   before it; a waiting plan's window is steered by a concurrency limiter.
4. **re-plan** (:mod:`.replan`): when the work drifts far from the sample, the
   run stops taking items, drains, and goes back to 1 (a few times at most).

Every step is an ordinary :class:`~gearshift._runner.Runner` reading the
shared input through a :class:`~.gate.Gate`, and each step's results are
handed out before the next step's: nothing is lost, repeated or reordered.
What ran is recorded as it runs in a :class:`~.report.RunReport`
(:attr:`AutoRun.report`).  Coroutines run on a private loop thread, never the
caller's: auto cannot know beforehand whether a coroutine computes.  This
package is imported only for ``mode="auto"`` (and ``profile``/``advise``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator

from .._limiter import ConcurrencyLimiter
from .._options import Options
from .._plan import Plan
from .._profile import Profile
from .._record import replace
from .._report import RunReport, collector
from .._runner import ResultsObserver
from .._trace import note
from . import decide, measure, memory, replan, run
from .cluster import connect
from .costs import Machine
from .first import FirstItem
from .gate import Gate
from .state import RunState

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

    from .lookahead import Lookahead

__all__ = ["AutoRun", "RunReport"]


class AutoRun:
    """One ``mode="auto"`` run; :meth:`batches` yields lists of results in input order."""

    def __init__(self, fn: Callable[..., Any], options: Options, call: int, is_async: bool) -> None:
        self.fn, self.options, self.call, self.is_async = fn, options, call, is_async
        self.state = RunState(fn, options, call, is_async, Gate(iter(()), 0))
        collecting = collector()  # (gearshift.reporting(): the caller asked for what runs do)
        if collecting is not None:
            collecting.append(self.state.report)
        #: told about every item as it completes, with its index in the whole input (see ``ResultsObserver``)
        self.on_results: ResultsObserver | None = None

    @property
    def plans(self) -> list[Plan]:
        """Every plan followed, in order (more than one after drift)."""
        return self.state.plans

    @property
    def plan(self) -> Plan | None:
        return self.plans[-1] if self.plans else None

    @property
    def report(self) -> RunReport:
        """What ran so far: segments, plans, re-plans."""
        return self.state.report

    @property
    def limiter(self) -> ConcurrencyLimiter | None:
        return self.state.limiter

    def stop(self) -> None:
        self.state.stopped = True
        if self.state.runner is not None:
            self.state.runner.stop()

    def begin(self, source: Iterator[Any], length: int | None, taken: int = 0) -> None:
        """Read the input from ``source``, ``length`` items in all (None: unknown), ``taken`` of which
        were read from it before (by the lean start: see :mod:`gearshift._lean`)."""
        self.state.gate = Gate(source, length, taken)

    def adopt(self, first: FirstItem, item: Any) -> Lookahead | None:
        """Take over the lean start's first ``item``, still running on the thread ``first`` names (after
        :meth:`begin`): the lookahead watches it from its start (returned, once armed); :meth:`batches`
        then counts it as measured once the state's ``first`` holds its result."""
        state = self.state
        state.gate.kept = [item]
        lookahead = measure.lookahead_for(state, first_taken=True)
        if lookahead is not None and not lookahead.arm(first):
            lookahead.close()
            state.pending = lookahead = None
        return lookahead

    def close(self) -> None:
        """Let go of what was started and not handed out (the lookahead's items of :meth:`adopt`)."""
        state = self.state
        if state.pending is not None:
            state.pending.close()
            state.pending = None

    def batches(self, items: Iterable[Any] | None, sink: list[Any] | None = None) -> Iterator[list[Any]]:
        """The results in batches; with a ``sink``, a sync plan appends to it instead (see Runner.batches).

        ``items`` None: the input given to :meth:`begin`.
        """
        if items is not None:
            length = len(items) if hasattr(items, "__len__") else (operator.length_hint(items, 0) or None)  # type: ignore[arg-type]
            self.begin(iter(items), length)
        state = self.state
        state.sink, state.on_results = sink, self.on_results
        try:
            yield from self._phases(state)
            if state.gate.error is not None:
                # The input raised: every item read before it was run and handed out; now its own error.
                state.gate.error.partial_results = []  # type: ignore[attr-defined]  # the caller's results
                raise state.gate.error
        finally:
            if state.pending is not None:
                state.pending.close()
                state.pending = None
            if state.cluster is not None:
                state.cluster.shutdown(wait=False, cancel_futures=True)
                state.cluster = None

    def _phases(self, state: RunState) -> Iterator[list[Any]]:
        """measure -> decide -> run -> re-plan, until the input ends."""
        # (An adopted first item's run may find the input read to its end by the lookahead already.)
        while state.first is not None or not state.gate.ended:
            profile = yield from measure.measure(state)
            if profile is None:
                return  # the input ended while measuring: everything ran
            plan = _decide(state, profile)
            note(state.options, "plan", mode=plan.mode, workers=plan.workers, reasons=list(plan.reasons))
            drifted = yield from run.run(state, plan, profile)
            _judge(state, plan, profile)
            if drifted:
                note(state.options, "drift", replans=state.replans + 1)
            if not replan.replan(state, drifted):
                return


def _judge(state: RunState, plan: Plan, profile: Profile) -> None:
    """A recalled plan that ran no faster than sync would have is not repeated: fn is forgotten (:mod:`.memory`).

    Only a recalled plan is judged: a plan made from fresh figures often starts its pool
    (its workers' first chunks pay for their imports), and it is judged when it is repeated.
    """
    if not state.recalled:
        return
    ran = state.report.segments[-1] if state.report.segments else None
    if ran is not None and ran.what == "plan" and not memory.delivered(profile, plan.mode, ran.items, ran.seconds):
        note(state.options, "memory: the plan ran no faster than sync; the function is measured afresh next time")
        memory.forget(state.fn)


def _decide(state: RunState, profile: Profile) -> Plan:
    """Phase 2: the plan for what is left (the cluster, if one is configured, asked for its size first)."""
    options = state.options
    state.machine = state.machine or Machine.current(process_workers=options.workers)
    cluster = None
    if options.cluster is not None:
        cluster, state.cluster = connect(options, profile, state.gate.remaining, state.machine, state.cluster)
    machine = state.machine_now(profile.median_wall)  # (what the lookahead started holds the order meanwhile)
    plan = decide.decide(profile, options, machine, state.gate.remaining, cluster)
    rent = decide.pay_for_pool(plan, profile, options, machine, state.gate.remaining)
    if rent is not None:  # (beside the sentence that says which mode is fastest: the report quotes it)
        plan = replace(plan, reasons=(*plan.reasons[:-1], rent, *plan.reasons[-1:]))
    if state.recalled:
        seen = f"measured by an earlier run of the function here ({profile.items} items): not measured again"
        plan = replace(plan, reasons=(seen, *plan.reasons))
    state.plans.append(plan)
    return plan
