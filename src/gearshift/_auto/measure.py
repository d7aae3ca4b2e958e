"""Measure: run the first items (keeping their results) until the plan can be made; return the Profile.

The phase, in order (each step through an ordinary runner over the gate, so
the results are kept, in order, under the caller's error policy):

1. the first items one at a time on the calling thread (:mod:`.sampler`); if
   the first one waits, the next ones start on threads meanwhile (:mod:`.lookahead`),
   if it computes long enough, on worker processes (:mod:`.early`);
2. the pickle costs (:mod:`.pickling`), if processes could win were they
   free; when the items hold big buffers, after step 3, and only if
   processes could still win;
3. for work that computes, a few items on threads at once (:mod:`.gil`); its
   last items may still run when the plan is made (``state.pending``).

Between 1 and 2, work that kept native threads busy beside the calling
thread (a BLAS, an OpenMP runtime) has its pools recorded and a few items run
with them capped to one thread each, the size a worker gets
(:func:`native_step`): the cost model prices thread and process plans with it.

Coroutine functions are not measured here: they start on an event loop at once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator, Iterable, Iterator

from .._cpu import usable_cpus
from .._errors import Failure
from .._native import NativePool, NativeUse, native_pools, thread_share
from .._options import Options
from .._profile import Profile
from .._record import replace
from .._runner import ResultsObserver
from .._trace import note
from .clocks import CpuClocks, cpu_clocks, threads_used
from .costs import (
    NATIVE_CAPPED_ITEMS,
    NATIVE_CAPPING_PAID,
    NATIVE_THREADS_SEEN,
    typical,
    work_kind,
)
from .decide import processes_may_win
from .gate import PICKLE_SAMPLE, Gate
from .gil import may_probe, probe_threads, probe_threads_count, wants_thread_probe
from .lookahead import LOOKAHEAD_ITEMS, Lookahead
from .memory import remember
from .pickling import measure_deferred, measure_pickling
from .recall import recall_confirmed
from .report import Early, Timed
from .sampler import NOT_WORTH_PROBING, Sampler, run_sequential
from .state import RunState
from .ticker import tick_beside

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NOT_WORTH_PROBING", "Clocked", "lookahead_for", "measure", "native_step"]


def measure(state: RunState) -> Generator[list[Any], None, Profile | None]:
    """Yield the measured items' results; return what was measured (None: the input ended meanwhile)."""
    if state.is_async:
        # Coroutines start on a loop at once (their awaits overlap there); if that loop was
        # seen computing (see .run), its figures, with the pickle costs, are the profile.
        if state.loop_profile is None:
            return Profile(is_async=True, wall=(), cpu=())
        sampler = Sampler(True)
        measure_pickling(sampler, state.fn, state.gate.kept, state.kept_results)
        loop = state.loop_profile
        return replace(
            sampler.build(),
            wall=loop.wall,
            cpu=loop.cpu,
            items=loop.items,
            loop_blocked=loop.loop_blocked,
            preempted=loop.preempted,
        )
    gate, options = state.gate, state.options
    state.recalled = False
    if state.first is None and state.replans == 0 and options.cluster is None:
        recalled = yield from recall_confirmed(state)  # measured by an earlier run here (see .recall)
        if recalled is not None or gate.ended:
            return recalled
    # Big buffers' pickling waits until the thread probe says whether it matters.
    sampler = Clocked(False, defer_buffers=options.cluster is None)
    kept: list[Any] = []  # a few results, to measure their pickling
    first, state.first = state.first, None
    lookahead: Lookahead | None
    if first is None:
        gate.kept = []
        lookahead = lookahead_for(state) if state.replans == 0 else None
        timed = Timed(state.report, "measuring", "sync", 1, gate.taken)
    else:  # (the lean start ran the first item; its lookahead, if any, was armed from that item's start)
        lookahead = state.pending if isinstance(state.pending, Lookahead) else None
        timed = Timed(state.report, "measuring", "sync", 1, 0)  # (the input's first item: the lookahead's came after)
        timed.t0 = first.started
        if state.on_results is not None:
            state.on_results(0, [first.result], 0)
    note(options, "sampling: items one at a time, measured")
    # (One-at-a-time sampling once also ended after a first item that seemed to keep native threads
    # busy; another busy thread in the process reads the same, so it ended runs of plain functions too
    # and changed their flow: it goes on as for any function, and native_step looks after it.)
    until = lookahead.has_started if lookahead is not None else None
    seen = _seen_before(state.fn)
    sequential = run_sequential(
        state.fn,
        gate,
        options,
        state.call,
        sampler,
        on_results=state.shifted(gate.taken),
        until=until,
        before_first=lookahead.arm if lookahead is not None else None,
        after_first=lookahead.disarm if lookahead is not None else None,
        first=first,
    )
    if seen is not None:  # measured capped already: its items are measured capped from the first
        sequential = _capped_to(seen.capped_threads or 1, sequential)
    stop_ticker = tick_beside(sampler, usable_cpus())
    # (threads kept busy are read over the items sampled here; the lean start's first item, if it ran,
    # is left out: the helper thread that loaded auto beside it used CPU of its own meanwhile)
    clocks, taken0 = cpu_clocks(), gate.taken
    try:
        for batch in state.segment(sequential):
            if len(kept) < PICKLE_SAMPLE:
                kept.extend(r for r in batch[:PICKLE_SAMPLE] if not isinstance(r, Failure))
            yield batch
        used = threads_used(clocks)  # (before the ticker, a Python thread, ends: its CPU is left out)
    finally:
        stop_ticker()
    if first is not None and gate.taken == taken0:  # (the first item alone: it is all there is to go by)
        used = threads_used(CpuClocks(first.process_cpu0, first.thread_cpu0, {}))
    early = 0
    if lookahead is not None:
        lookahead.disarm()  # done already after the first item, unless no item ran
        early = lookahead.count
        if not early:  # (its batches() raise if its start failed, so it is kept then)
            lookahead.close()
            state.pending = None
    timed.done(gate.taken, items=gate.taken - timed.taken0 - early)
    if early and lookahead is not None and lookahead.runner is not None:  # (no runner: its start failed, raised next)
        state.early_segment = Early(
            state.report, lookahead.mode, lookahead.workers, early, lookahead.began, lookahead.runner
        )
    if gate.ended:
        yield from state.early(state.pending)
        return None
    per_item = typical(sampler.wall) if sampler.wall else 0.0
    rest = state.rest_and_machine(per_item)
    assert state.machine is not None
    native = None
    if seen is not None and sampler.wall:
        native = _seen_again(seen, typical(sampler.wall), typical(sampler.cpu))
    elif (
        rest > NOT_WORTH_PROBING
        and not early
        and sampler.wall
        and work_kind(typical(sampler.cpu), per_item) != "waiting"
    ):
        capping = Timed(state.report, "measuring, native pools capped", "sync", 1, gate.taken)
        step = native_step(
            state.fn,
            gate,
            options,
            state.call,
            sampler,
            used,
            state.machine.cpus,
            pools=native_pools,
            shifted=state.shifted,
        )
        native = yield from state.segment(step)
        capping.done(gate.taken)
        if native is not None and _capping_paid(native):
            _remember(state.fn, native)
        if gate.ended:
            return None
    if rest > NOT_WORTH_PROBING:
        # Items with big buffers are probed whatever pickling costs: it is measured
        # once the probe is under way, not while every core waits for it.
        pickle_later = sampler.second_look_on_threads
        # Not when even items moved for free would not make processes the plan (work that
        # waits, on a few CPUs): the pickling costs would be measured for nothing, and
        # cloudpickle and what it loads cost a script about 10 ms.
        if not pickle_later:
            free = replace(sampler.build(), native=native)
            if processes_may_win(free, options, state.machine_now(per_item), gate.remaining):
                measure_pickling(sampler, state.fn, gate.kept, kept)
        # workers= caps the probe too (contract C6); one thread would tell nothing about threads
        threads = probe_threads_count(state.machine.cpus)
        if options.workers is not None:
            threads = min(threads, options.workers)
        on_processes = early > 0 and lookahead is not None and lookahead.mode == "process"
        if threads < 2 or not may_probe(gate.remaining, threads, sampler, early_processes=on_processes):
            if pickle_later:
                measure_pickling(sampler, state.fn, gate.kept, kept)
        elif pickle_later or wants_thread_probe(sampler):
            yield from state.early(state.pending)
            probing = Timed(state.report, "thread probe", "thread", threads, gate.taken)
            note(options, "probe: a few items on threads at once")
            probe = probe_threads(
                state.fn,
                gate,
                options,
                state.call,
                sampler,
                threads,
                on_results=state.shifted(gate.taken),
                handoff=True,
            )
            state.pending = yield from state.segment(probe)
            probing.done(gate.taken)
            if pickle_later:
                measure_pickling(sampler, state.fn, gate.kept, kept)
            if gate.ended:
                # The probe took the input's last items, every step measured: the next runs of fn here
                # start from it (a short input was otherwise measured, and probed, on every call, and no
                # plan was ever made to pay the rent that buys a pool; see .memory).
                remember(state.fn, replace(sampler.build(), native=native))
                yield from state.early(state.pending)
                return None
    profile = replace(sampler.build(), native=native)
    machine = state.machine_now(profile.median_wall)
    if sampler.deferred_items is not None and processes_may_win(profile, options, machine, gate.remaining):
        measure_deferred(sampler)
        profile = replace(sampler.build(), native=native)
    if rest > NOT_WORTH_PROBING:  # (every step ran: what the next runs of fn here start from)
        remember(state.fn, profile)
    return profile


def native_step(
    fn: Callable[..., Any],
    gate: Gate,
    options: Options,
    call: int,
    sampler: Sampler,
    used: float,
    cpus: int,
    *,
    pools: Callable[[], Iterable[NativePool]] = native_pools,
    shifted: Callable[[int], ResultsObserver | None] | None = None,
) -> Generator[list[Any], None, NativeUse | None]:
    """Between measuring and the probe: what the items did with native thread pools, or None.

    Only items that kept ``used`` threads busy (:func:`threads_used`, from
    :data:`~.costs.COSTS` ``native_threads_seen``) are looked at, so work
    without native threads does not pay for the look (threadpoolctl's import
    alone takes tens of milliseconds).  When the pools are bigger than a
    worker's share with one worker per CPU, the next few items run with them
    capped to it (their results yielded, in order): what a capped worker takes
    per item is measured, not guessed.  ``pools`` lists the loaded pools (a
    test passes made-up ones); ``shifted(offset)`` tells the run's observer
    about the items of a runner that starts at input index ``offset``.
    """
    if used < NATIVE_THREADS_SEEN:
        return None
    found = tuple(pools())
    if not found or not sampler.wall:
        return None  # threads of the function's own: the thread probe and the cost model see them as CPU
    raw = sampler.raw if isinstance(sampler, Clocked) and sampler.raw else sampler.wall
    native = NativeUse(found, used, typical(raw))
    share = thread_share(cpus, cpus)
    left = gate.remaining
    if native.threads <= share or (left is not None and left <= NATIVE_CAPPED_ITEMS):
        return native
    from .._threads import _cap  # the one process-wide cap, set from one control thread

    note(options, "sampling: items with their native pools capped", pools=[str(p) for p in found], threads=share)
    capped = Sampler(False)
    _cap.enter(share)
    try:
        yield from run_sequential(
            fn,
            gate,
            options,
            call,
            capped,
            limit=NATIVE_CAPPED_ITEMS,
            max_items=NATIVE_CAPPED_ITEMS,
            on_results=shifted(gate.taken) if shifted is not None else None,
        )
    finally:
        _cap.leave()
    sampler.items += capped.items
    if not capped.wall:
        return native
    # One thread's wait for a CPU is another program's doing: left out, as for any item.
    native = replace(native, capped_threads=share, capped_wall=typical(capped.wall), capped_cpu=typical(capped.cpu))
    if len(raw) > 1 or gate.ended:
        return native
    # The one uncapped item so far was the first: it may have paid for imports (NumPy's, its
    # pools' start), so one more, warm, prices sync (30-250 ms on a busy 2-CPU host, 3 ms quiet).
    again = Clocked(False)
    observe = shifted(gate.taken) if shifted is not None else None
    yield from run_sequential(fn, gate, options, call, again, limit=1, max_items=1, on_results=observe)
    sampler.items += again.items
    return replace(native, wall=again.raw[0]) if again.raw else native


#: what auto saw functions (by their code) do with native pools in this process, once measured capped
_seen: weakref.WeakKeyDictionary[Any, NativeUse] = weakref.WeakKeyDictionary()


def _remember(fn: Callable[..., Any], native: NativeUse) -> None:
    code = getattr(fn, "__code__", None)
    if code is not None:
        _seen[code] = native


def _capping_paid(native: NativeUse) -> bool:
    """Whether capping the pools made the items clearly faster: only then are the next runs measured capped.

    Another busy thread in the process can read as the item's own native threads
    (:func:`threads_used`); its capped items then take what uncapped ones did, and
    nothing is remembered, so one misreading does not stay with the function.
    """
    if native.capped_threads is None or native.capped_wall is None:
        return False
    return native.capped_wall * NATIVE_CAPPING_PAID <= native.wall


def _seen_before(fn: Callable[..., Any]) -> NativeUse | None:
    """What an earlier run here saw ``fn`` do with native pools, once it had items measured capped.

    Its next runs measure their items capped from the first one: an item
    with its pools uncapped is what sync would do, known already, and on a
    busy 2-CPU host it took 30-470 ms against 6 ms capped.
    """
    code = getattr(fn, "__code__", None)
    seen = _seen.get(code) if code is not None else None
    return seen if seen is not None and seen.capped_threads is not None else None


def _seen_again(seen: NativeUse, capped_wall: float, capped_cpu: float) -> NativeUse:
    """What was seen before, for items that took ``capped_wall`` capped now: the uncapped time in proportion."""
    scale = capped_wall / seen.capped_wall if seen.capped_wall else 1.0  # (other items may be bigger or smaller)
    return replace(seen, wall=seen.wall * scale, capped_wall=capped_wall, capped_cpu=capped_cpu)


def _capped_to(threads: int, batches: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """``batches`` run with the native pools capped to ``threads`` (lifted when they end or are dropped)."""
    from .._threads import _cap

    _cap.enter(threads)
    try:
        yield from batches
    finally:
        _cap.leave()


class Clocked(Sampler):
    """A :class:`Sampler` that also keeps each chunk's wall time per item as it was (see :class:`NativeUse`)."""

    def __init__(self, is_async: bool, *, defer_buffers: bool = False) -> None:
        super().__init__(is_async, defer_buffers=defer_buffers)
        self.raw: list[float] = []

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        self.raw.append(elapsed / max(1, items))
        super().observe(items, elapsed, cpu, nbytes)


def lookahead_for(state: RunState, *, first_taken: bool = False) -> Lookahead | None:
    """What watches the first item (armed right before it runs): if it waits, the next ones
    start on threads (see :mod:`.lookahead`).  None where nothing may start early.

    ``first_taken``: the first item was read from the gate already (the lean start's).
    """
    options, gate = state.options, state.gate
    if options.cluster is not None:
        return None
    items = LOOKAHEAD_ITEMS
    if options.workers is not None:
        items = min(items, options.workers - 1)  # the first item counts against the cap too
    if gate.remaining is not None:
        items = min(items, gate.remaining - (0 if first_taken else 1))
    if items < 1:
        return None
    # (coroutines are not measured: they never get here)
    lookahead = Lookahead(state.fn, gate, options, state.call, items, state.shifted, processes=True)
    state.pending = lookahead
    return lookahead
