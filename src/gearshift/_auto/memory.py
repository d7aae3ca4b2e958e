"""What auto remembers between runs in one process: the profile of each function it measured.

Most programs that call ``map`` more than once call it with the same
function, on items like the last ones.  Measuring again each time costs the
same every call, and the answer is the same (the suite's parse-files, 400
small JSON files, 35 ms of work: measuring and the thread probe took 16 ms of
each call, traced with ``gearshift.reporting()``; suite-warm-9.json read auto
at 1.78x the best fixed mode there, csv-files at 2.35x).

So a function's profile is remembered (:func:`remember`, by the function
object, weakly) once a run measured it fully, and the next run of it here
starts from that profile and says so in its plan's reasons.  It first
confirms it (:mod:`.recall`): a few items one at a time, about
:data:`CONFIRM_BUDGET` of work, must take what the profile says within
:data:`CONFIRM_FACTOR` and be the same kind of work (:func:`agrees`);
otherwise the run measures afresh and remembers that (a first run's figures
can be off: traced the same way, the first of four runs over those files read
454 µs per item, the next ones 130 µs).  Items longer than
:data:`CONFIRM_BELOW_SECONDS` (the lookahead's first look) are not confirmed:
measuring would run the first of them alone too.  Nor are functions seen
with native thread pools (a BLAS): an item run here uncapped probably leaves its
pool's threads busy beside the workers (with the confirming item, auto's later calls
of the suite's numpy-eigvalsh took 0.097 s against process mode's 0.069,
suite-warm-10b.json; without it, 0.062 against 0.067, traced).  The plan's drift watch
(:mod:`.replan`) still compares every chunk with the profile, and a re-plan
measures afresh.  A profile that left a mode out for want of a figure
(processes, whose pickling was not measured because they could not win then)
is not used once that mode could win: :func:`recall` is asked with the
decision's own test.  And a recalled plan that ran no faster than the profile
says sync would (:func:`delivered`) has its function forgotten: a decision that went
wrong is measured again next time, not repeated (on the suite's csv-files, one
of four traced runs read the GIL as free and planned threads, 0.12 s a call
against 0.06 for processes).

It also keeps the **rent** paid for want of a process pool: a run whose
plan was not processes only because the pool was cold adds what a warm pool
would have saved (:func:`~.decide.pay_for_pool`) to :func:`rent_paid`, and
the cost model charges a cold pool's start less that rent
(:func:`~.costs.cold_start`).  So a program calling ``map`` on jobs too short
to pay for a pool alone buys one once the runs before have lost as much as
its start costs, and keeps it warm for the calls to come (the deterministic
ski-rental rule, Karlin, Manasse, McGeoch and Owicki 1988: never more than
about twice the best cost; the lean start, :mod:`gearshift._lean`, loads auto
by the same rule).  Items under a floor pay no rent: the model's figures are
too far off there (see ``pay_for_pool``; docs/performance.md, "Tenth session").
"""

from __future__ import annotations

import threading
import weakref

from .._profile import Profile
from .._record import replace
from .costs import typical, work_kind

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = [
    "CONFIRM_BELOW_SECONDS",
    "CONFIRM_BUDGET",
    "CONFIRM_FACTOR",
    "DELIVERED_ITEMS",
    "agrees",
    "delivered",
    "forget",
    "pay_rent",
    "recall",
    "remember",
    "rent_paid",
    "settle",
]

#: the work a confirming sample runs one item at a time (set by hand: a tenth of the 20 ms under
#: which measuring stops, .sampler.NOT_WORTH_PROBING)
CONFIRM_BUDGET = 0.002
#: a confirming sample agrees when its typical item is within this factor of the profile's (set by
#: hand: chunk times of one function on a quiet host spread by less, a first run's misreading by more)
CONFIRM_FACTOR = 2.0
#: items longer than this are recalled unconfirmed (the lookahead's first look, .lookahead.WATCH_SECONDS)
CONFIRM_BELOW_SECONDS = 0.01

#: a plan's segment of fewer items says nothing of what the plan delivers (set by hand: a few
#: chunks for each of 2 workers)
DELIVERED_ITEMS = 16

_lock = threading.Lock()
_profiles: weakref.WeakKeyDictionary[Any, Profile] = weakref.WeakKeyDictionary()
#: seconds runs here lost for want of a warm process pool, since the last plan that started one
_rent = 0.0


def remember(fn: Callable[..., Any], profile: Profile) -> None:
    """Keep ``profile`` as what ``fn`` does (a function that cannot be weakly referenced is not remembered).

    Kept without its first item's imports, as a later run measured afresh would see it: they were
    this process's first run's (see :attr:`~gearshift.Profile.import_seconds`).
    """
    if not profile.wall or profile.is_async:
        return
    with _lock:
        try:
            _profiles[fn] = replace(profile, first_imports=0) if profile.first_imports else profile
        except TypeError:  # (no weak references to it: a builtin, a bound method of a class with slots...)
            pass


def recall(fn: Callable[..., Any], complete: Callable[[Profile], bool]) -> Profile | None:
    """What ``fn`` was measured to do by an earlier run here, if ``complete(profile)`` says it is enough now."""
    with _lock:
        try:
            profile = _profiles.get(fn)
        except TypeError:
            return None
    return profile if profile is not None and complete(profile) else None


def agrees(profile: Profile, w: float, c: float) -> bool:
    """Whether items of ``w`` wall and ``c`` CPU time each (a confirming sample) are the work ``profile`` describes."""
    if not profile.wall:
        return False
    then = typical(profile.wall)
    if w <= 0 or then <= 0:
        return w == then
    ratio = w / then
    near = 1 / CONFIRM_FACTOR <= ratio <= CONFIRM_FACTOR
    return near and work_kind(c, w) == work_kind(typical(profile.cpu), then)


def delivered(profile: Profile, mode: str, items: int, seconds: float) -> bool:
    """Whether a plan of ``mode`` that ran ``items`` in ``seconds`` did better than the profile says sync would.

    A plan that did not (threads taking turns on a GIL the probe read as
    free, say) is not one to repeat: its function's profile is forgotten and
    the next run measures afresh.  A sync plan, and a segment of fewer items
    than :data:`DELIVERED_ITEMS`, say nothing.
    """
    if mode == "sync" or items < DELIVERED_ITEMS or not profile.wall:
        return True
    return seconds / items < typical(profile.wall)


def forget(fn: Callable[..., Any] | None = None) -> None:
    """Forget ``fn``'s profile (None: every profile, and the rent paid)."""
    global _rent
    with _lock:
        if fn is None:
            _profiles.clear()
            _rent = 0.0
        else:
            try:
                _profiles.pop(fn, None)
            except TypeError:
                pass


def rent_paid() -> float:
    """Seconds lost so far for want of a warm process pool (see the module docstring)."""
    return _rent


def pay_rent(seconds: float) -> None:
    """Add ``seconds`` lost for want of a warm process pool."""
    global _rent
    with _lock:
        _rent = _rent + max(0.0, seconds)


def settle() -> None:
    """A process pool was bought: the rent starts again from nothing."""
    global _rent
    with _lock:
        _rent = 0.0
