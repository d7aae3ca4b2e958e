"""The first item of a run that the lean start (:mod:`gearshift._lean`) began before auto loaded.

A script's first ``mode="auto"`` call runs its first item on the calling
thread before any of this package is imported; if that item is still running
when the lookahead would first look at it, auto is loaded beside it and takes
it over: the lookahead watches the calling thread from the item's start
(:meth:`.lookahead.Lookahead.arm`), and the measuring phase counts the item as
its first one-at-a-time sample once it is over (:func:`.sampler.run_sequential`).
"""

from __future__ import annotations

from .._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FirstItem"]


class FirstItem(Record, eq=False):
    """The calling thread's clocks when the item started; its result and times once it is over."""

    #: the calling thread, which runs the item: its ident, native id, and whether it is a shared pool's
    ident: int
    native_id: int
    pool_thread: bool
    #: ``time.perf_counter()``, ``time.thread_time()`` and ``time.process_time()`` when it started, and
    #: its time queued for a CPU then (``gearshift._schedstat``; None where it cannot be read)
    started: float
    thread_cpu0: float
    process_cpu0: float
    queued0: float | None = None
    #: the same clocks (wall, the thread's CPU, queued) when auto began to load beside the item (the CPU
    #: clock None where another thread cannot read it): the load took the GIL from the item meanwhile
    loading_from: float = 0.0
    loading_cpu: float | None = None
    loading_queued: float | None = None
    result: Any = None
    #: wall and CPU seconds it took (set once it is over)
    wall: float = 0.0
    cpu: float = 0.0
    #: modules it loaded before auto began to load beside it (its first look judges nothing while it
    #: imports), and in all, outside auto's load (set once it is over): see Profile.first_imports
    imports_before_load: int = 0
    imports: int = 0
    #: whether it was asked to wait while auto loaded (:mod:`gearshift._pause`): its clocks stood still
    paused: bool = False
