"""Measure: run the first items (keeping their results) until the plan can be made; return the Profile.

The phase, in order (each step through an ordinary runner over the gate, so
the results are kept, in order, under the caller's error policy):

1. the first items one at a time on the calling thread (:mod:`.sampler`); if
   the first one waits, the next ones start on threads meanwhile (:mod:`.lookahead`);
2. the pickle costs (:mod:`.pickling`), unless the items hold big buffers:
   then after step 3, and only if processes could still win;
3. for work that computes, a few items on threads at once (:mod:`.gil`); its
   last items may still run when the plan is made (``state.pending``).

Coroutine functions are not measured here: they start on an event loop at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import Any

from .._errors import Failure
from .._profile import Profile
from .._trace import note
from .costs import CALIBRATE_BELOW_SECONDS, Machine, typical
from .decide import processes_may_win
from .gate import PICKLE_SAMPLE
from .gil import probe_threads, probe_threads_count, wants_thread_probe
from .lookahead import LOOKAHEAD_ITEMS, Lookahead
from .pickling import measure_deferred, measure_pickling
from .report import Timed
from .sampler import Sampler, run_sequential
from .state import RunState

__all__ = ["NOT_WORTH_PROBING", "measure"]

#: sync time of the rest below which nothing more is measured: it runs in sync
NOT_WORTH_PROBING = 0.02


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
        return dataclasses.replace(
            sampler.build(),
            wall=loop.wall,
            cpu=loop.cpu,
            items=loop.items,
            loop_blocked=loop.loop_blocked,
            preempted=loop.preempted,
        )
    gate, options = state.gate, state.options
    # Big buffers' pickling waits until the thread probe says whether it matters.
    sampler = Sampler(False, defer_buffers=options.cluster is None)
    kept: list[Any] = []  # a few results, to measure their pickling
    gate.kept = []
    lookahead = _lookahead(state) if state.replans == 0 else None
    timed = Timed(state.report, "measuring", "sync", 1, gate.taken)
    note(options, "sampling: items one at a time, measured")
    for batch in state.segment(
        run_sequential(
            state.fn,
            gate,
            options,
            state.call,
            sampler,
            on_results=state.shifted(gate.taken),
            until=lookahead.has_started if lookahead is not None else None,
            before_first=lookahead.arm if lookahead is not None else None,
            after_first=lookahead.disarm if lookahead is not None else None,
        )
    ):
        if len(kept) < PICKLE_SAMPLE:
            kept.extend(r for r in batch[:PICKLE_SAMPLE] if not isinstance(r, Failure))
        yield batch
    early = 0
    if lookahead is not None:
        lookahead.disarm()  # done already after the first item, unless no item ran
        early = lookahead.count
        if not early:  # (its batches() raise if its start failed, so it is kept then)
            lookahead.close()
            state.pending = None
    timed.done(gate.taken, items=gate.taken - timed.taken0 - early)
    if early:
        Timed(state.report, "lookahead", "thread", early, 0).done(early)
    if gate.ended:
        yield from state.early(state.pending)
        return None
    per_item = typical(sampler.wall) if sampler.wall else 0.0
    rest = (gate.remaining if gate.remaining is not None else 1000) * per_item
    state.machine = state.machine or Machine.current(
        process_workers=options.workers,
        calibrate=rest > NOT_WORTH_PROBING and per_item < CALIBRATE_BELOW_SECONDS,
    )
    if rest > NOT_WORTH_PROBING:
        # Items with big buffers are probed whatever pickling costs: it is measured
        # once the probe is under way, not while every core waits for it.
        pickle_later = sampler.second_look_on_threads
        if not pickle_later:
            measure_pickling(sampler, state.fn, gate.kept, kept)
        if pickle_later or wants_thread_probe(sampler):
            yield from state.early(state.pending)
            threads = probe_threads_count(state.machine.cpus)
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
                yield from state.early(state.pending)
                return None
    profile = sampler.build()
    if sampler.deferred_items is not None and processes_may_win(profile, options, state.machine, gate.remaining):
        measure_deferred(sampler)
        profile = sampler.build()
    return profile


def _lookahead(state: RunState) -> Lookahead | None:
    """What watches the first item (armed right before it runs): if it waits, the next ones
    start on threads (see :mod:`.lookahead`).  None where nothing may start early."""
    options, gate = state.options, state.gate
    if options.cluster is not None:
        return None
    items = LOOKAHEAD_ITEMS
    if options.workers is not None:
        items = min(items, options.workers - 1)  # the first item counts against the cap too
    if gate.remaining is not None:
        items = min(items, gate.remaining - 1)
    if items < 1:
        return None
    lookahead = Lookahead(state.fn, gate, options, state.call, items, state.shifted)
    state.pending = lookahead
    return lookahead
