"""Start the next items on worker processes while auto's first item is still computing.

``mode="auto"`` measures its first item alone, on the calling thread.  When
that item computes for seconds, every other CPU idles meanwhile: on 4 jobs of
1.5 s on 2 CPUs, a third of the run.  The :class:`~.lookahead.Lookahead`'s
watcher asks :func:`start_processes` at each look; once the first item has
computed past :data:`EARLY_PROCESSES_AFTER` (about a cold pool's start: an
item that has computed that long is taken to last about as long again), the
next :func:`process_items` items start on the process pool a process plan
would use (the shared one, so the plan finds it warm with those items in
flight), one per CPU the first item leaves idle.  Only when the function and
the first item pickle (:func:`shippable`): otherwise nothing starts early,
as before.

These are pure functions of measured figures, tested with made-up ones; the
lookahead does the starting.
"""

from __future__ import annotations

from collections.abc import Callable

from .costs import COSTS, work_kind
from .first import FirstItem

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

    #: a thread's clocks at one moment: wall (perf_counter), its CPU time, its time queued for a CPU (or None)
    Clocks = tuple[float, float, float | None]

__all__ = [
    "EARLY_PROCESSES_AFTER",
    "boot_zygote",
    "busy",
    "moved_on",
    "next_look",
    "process_items",
    "shippable",
    "start_processes",
    "without_the_load",
]

#: the first item must have computed this long before items start on processes (see COSTS)
EARLY_PROCESSES_AFTER = COSTS["early_processes_after"].value


def process_items(items: int, cpus: int) -> int:
    """How many of the ``items`` the lookahead may start (capped by ``workers=`` and the input's
    length already) go to processes: one per CPU the first item leaves idle (0: none)."""
    return max(0, min(items, cpus - 1))


def start_processes(
    busy: float, elapsed: float, after: float = EARLY_PROCESSES_AFTER, ran: float | None = None
) -> bool:
    """Whether a first item that kept its thread ``busy`` (CPU seconds, and time queued for a CPU)
    over ``elapsed`` seconds so far computes, and has run for at least ``after`` seconds (``ran``:
    how long it ran in all, when its clocks cover less of it; the lean start's item, for one)."""
    return (elapsed if ran is None else ran) >= after and work_kind(busy, elapsed) == "computing"


def next_look(interval: float, elapsed: float, after: float = EARLY_PROCESSES_AFTER) -> float:
    """The delay to the next look at a first item that computes: ``interval`` (the watcher's
    backing off), but no later than the moment it reaches ``after`` seconds."""
    left = after - elapsed
    return min(interval, left) if left > 0 else interval


def shippable(fn: Callable[..., Any], item: Any) -> bool:
    """Whether ``fn`` and ``item`` pickle for worker processes (what a process plan checks first)."""
    from .._acquire import check_shippable

    try:
        # (with shared=, fn holds the shared object: checked without copying its buffers)
        check_shippable(fn, "function")
        check_shippable(item, "item")
    except Exception:  # UnpicklableError, or whatever a __reduce__ raised
        return False
    return True


def without_the_load(
    first: FirstItem, now: float, cpu: float, queued: float | None
) -> tuple[float, float, float | None]:
    """The clocks at an adopted item's start (wall, CPU, queued), moved on by the time auto took to load
    beside it, which ended at ``now``, ``cpu``, ``queued``.

    The load took the GIL from the item about half the time, or had it wait
    throughout (:mod:`gearshift._pause`): whether the item waits or computes is
    judged on its run before the load and since (as if the load had not
    happened), not on a share that the load halved or stopped.
    """
    start = (first.started, first.thread_cpu0, first.queued0)
    if first.loading_cpu is None:
        return start
    return moved_on(start, (first.loading_from, first.loading_cpu, first.loading_queued), (now, cpu, queued))


def moved_on(start: Clocks, since: Clocks, now: Clocks) -> Clocks:
    """``start`` (wall, CPU, queued clocks) moved on by what the clocks read from ``since`` to ``now``: a
    stretch the item did not run for itself (auto's load beside it, or a wait it was held in) is left out."""
    queued = None
    if start[2] is not None and since[2] is not None and now[2] is not None:
        queued = start[2] + (now[2] - since[2])
    return start[0] + (now[0] - since[0]), start[1] + (now[1] - since[1]), queued


def busy(cpu: float, queued: float | None, cpu0: float, queued0: float | None) -> float:
    """The calling thread's CPU time since ``cpu0``, with its time queued for a CPU (a busy host's doing)."""
    busy = cpu - cpu0
    if queued is not None and queued0 is not None:
        busy += queued - queued0
    return busy


def boot_zygote() -> None:
    """Have the zygote a first process pool forks its workers from boot now, on another CPU, while the
    first item computes on: if the next items go to processes (see above), it is ready sooner.

    Started by the watcher thread, which lives as long as the interpreter (a zygote dies with
    the thread that started it); a zygote no pool takes exits with the interpreter.
    """
    from .._backends._zygote import start_for_auto

    start_for_auto()
