"""A function measured by an earlier run here: its profile recalled and confirmed, not measured again.

The measuring phase's first step (:func:`recall_confirmed`) when
:mod:`.memory` holds a profile of the run's function that has every figure
this run's plan needs (:func:`complete`): a few items one at a time, their
results handed out, must agree with it (:func:`.memory.agrees`).  Then the
profile is the run's; otherwise measuring goes on as for a function never seen.
"""

from __future__ import annotations

import math
from collections.abc import Generator

from .._profile import Profile
from .._trace import note
from .costs import typical
from .decide import processes_may_win
from .memory import CONFIRM_BELOW_SECONDS, CONFIRM_BUDGET, agrees, recall
from .report import Timed
from .sampler import Sampler, run_sequential
from .state import RunState

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["complete", "recall_confirmed"]


def recall_confirmed(state: RunState) -> Generator[list[Any], None, Profile | None]:
    """Yield the confirming items' results; return the remembered profile if they agree with it, else None."""
    profile = recall(state.fn, lambda profile: complete(state, profile))
    if profile is None:
        return None
    confirmed = yield from _confirm(state, profile)
    if not confirmed or state.gate.ended:
        return None
    state.recalled = True
    note(state.options, "profile: remembered from an earlier run of the function")
    return profile


def _confirm(state: RunState, profile: Profile) -> Generator[list[Any], None, bool]:
    """Run a few items one at a time, yielding their results: do they take what ``profile`` says?

    Items too long for a few to fit in the budget, and functions seen with native thread pools, are
    not run here (see :mod:`.memory`).
    """
    per_item = typical(profile.wall)
    if per_item >= CONFIRM_BELOW_SECONDS or profile.native is not None:
        return True
    gate = state.gate
    timed = Timed(state.report, "confirming", "sync", 1, gate.taken)
    sample = Sampler(False)
    confirm = run_sequential(
        state.fn,
        gate,
        state.options,
        state.call,
        sample,
        budget=CONFIRM_BUDGET,
        # (one item of a function run here before has paid for its imports: the budget's worth is enough)
        max_items=max(1, math.ceil(CONFIRM_BUDGET / per_item)) if per_item > 0 else None,
        on_results=state.shifted(gate.taken),
    )
    yield from state.segment(confirm)
    timed.done(gate.taken)
    if not sample.wall:
        return False
    # Per item over the chunks after the first (the first item alone may pay for a warm-up), as the
    # chunks' typical figure is in the profile, but weighed by their items: the small chunks of a
    # short sample carry the runner's per-chunk costs.
    later = sample.measured - 1
    if later < 1:
        return agrees(profile, sample.wall[0], sample.cpu[0])
    return agrees(profile, (sample.spent - sample.wall[0]) / later, (sample.cpu_spent - sample.cpu[0]) / later)


def complete(state: RunState, profile: Profile) -> bool:
    """Whether a remembered ``profile`` has every figure the plan for this run's items needs.

    Processes are left out of a plan whose pickling was not measured (they
    could not win then); if they could win now (more items, or a pool warm
    now), the work is measured again, pickling included.
    """
    state.rest_and_machine(typical(profile.wall))
    assert state.machine is not None
    if profile.ipc_seconds is not None or profile.unpicklable is not None:
        return True
    return not processes_may_win(profile, state.options, state.machine, state.gate.remaining)
