"""``mode="auto"``: measure on the first items, keep their results, run the rest under the chosen plan.

A run is a sequence of *segments*, each one ordinary :class:`Runner` reading
the shared input through a :class:`~gearshift._probe.Gate`:

1. the first items one at a time (sync), measured; if the first one waits
   (I/O), the next ones start on threads meanwhile (see :mod:`gearshift._lookahead`);
2. for work that computes, a few items on threads at once (the GIL probe);
   its last items are still running when the plan is made (a :class:`~gearshift._probe.ProbeTail`);
3. the rest under the plan :func:`~gearshift._planner.decide` returns; its
   window is steered by a :class:`~gearshift._limiter.ConcurrencyLimiter` when
   the work waits (threads, async).  With a dask or Ray cluster configured,
   the plan may send the rest there (see :mod:`gearshift._cluster`).

Each segment's results are handed out before the next segment's, so nothing
is lost, repeated or reordered; a plan on threads starts its items while the
items started before it (the lookahead's, the probe's last ones) finish.  If
items in segment 3 drift far from the sample (100x heavier or lighter per
item, or results coming back from worker processes 100x bigger and over
64 KiB each), the gate closes, the segment drains, and the run goes back to
step 1 on the next items (a few times at most).
Coroutine functions skip the sampling: they start on an event loop at once
(at most ``UNSIZED_COROUTINES`` before a result's size is known, for the
read-ahead budget) and the limiter finds the concurrency.  That loop is a
private one on its own thread, never the caller's (from ``amap``/``aimap``): auto cannot know
beforehand whether a coroutine computes, and one that does would stall the
caller's loop for as long as it computes.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from ._backends import backend_class
from ._backends._base import Backend
from ._cluster import connect
from ._errors import Failure
from ._limiter import ConcurrencyLimiter
from ._lookahead import LOOKAHEAD_ITEMS, Lookahead
from ._options import Options
from ._plan import Plan
from ._planner import CALIBRATE_BELOW_SECONDS, Machine, decide, processes_may_win
from ._pools import create_backend, shared_backend
from ._probe import (
    PICKLE_SAMPLE,
    Gate,
    ProbeTail,
    Sampler,
    _typical,
    probe_threads,
    probe_threads_count,
    run_sequential,
    wants_thread_probe,
)
from ._profile import Profile
from ._runner import ResultsObserver, Runner, Stopped
from ._trace import note

__all__ = ["AutoRun"]

#: per-item cost this many times the sample's (either way) means the work changed
DRIFT_FACTOR = 100.0
#: results this many bytes per item (and DRIFT_FACTOR times the sample's) change the plan too:
#: moving them between processes now costs more than a small computation
HUGE_RESULT_BYTES = 64 * 1024
#: consecutive drifted chunks before re-planning (one odd item is not a trend)
DRIFT_CHUNKS = 3
#: re-plans allowed per run
MAX_REPLANS = 3
#: sync time of the rest below which nothing more is measured: it runs in sync
NOT_WORTH_PROBING = 0.02
#: coroutines started before any result's size is known (auto's starting window is a guess made
#: without measuring: 1,000 results of 100 KB at once would overrun the 64 MiB read-ahead budget)
UNSIZED_COROUTINES = 512


class _Drift:
    """Observer that trips when chunks cost far more (or less) per item than the sample said,
    or when their results, sent back from worker processes, grew huge."""

    def __init__(
        self, expected: float, expected_bytes: int | None, then: Callable[[int, float, float, int], None] | None
    ) -> None:
        self.expected = expected
        self.huge = max(HUGE_RESULT_BYTES, DRIFT_FACTOR * (expected_bytes or 0))
        self.then = then
        self.streak = 0
        self.tripped = False

    def observe(self, items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if self.then is not None:
            self.then(items, elapsed, cpu, nbytes)
        if self.expected <= 0 or items <= 0:
            return
        ratio = (elapsed / items) / self.expected
        drifted = ratio > DRIFT_FACTOR or ratio < 1 / DRIFT_FACTOR or nbytes / items > self.huge
        self.streak = self.streak + 1 if drifted else 0
        if self.streak >= DRIFT_CHUNKS:
            self.tripped = True


class AutoRun:
    """One ``mode="auto"`` run; :meth:`batches` yields lists of results in input order."""

    def __init__(
        self,
        fn: Callable[..., Any],
        options: Options,
        call: int,
        is_async: bool,
    ) -> None:
        self.fn, self.options, self.call, self.is_async = fn, options, call, is_async
        #: every plan followed, in order (more than one after drift)
        self.plans: list[Plan] = []
        self.limiter: ConcurrencyLimiter | None = None
        self._runner: Runner | None = None
        #: connected to the configured cluster (mode="auto" with address=/client=), closed when the run ends
        self._cluster: Backend | None = None
        self._stopped = False
        self._sink: list[Any] | None = None  # map() collects into it (see batches)
        self._pending: Lookahead | ProbeTail | None = None  # items started, results not yet handed out
        #: told about every item as it completes, with its index in the whole input (see ``ResultsObserver``)
        self.on_results: ResultsObserver | None = None

    @property
    def plan(self) -> Plan | None:
        return self.plans[-1] if self.plans else None

    def stop(self) -> None:
        self._stopped = True
        if self._runner is not None:
            self._runner.stop()

    def batches(self, items: Iterable[Any], sink: list[Any] | None = None) -> Iterator[list[Any]]:
        """The results in batches; with a ``sink``, a sync plan appends to it instead (see Runner.batches)."""
        self._sink = sink
        length = len(items) if hasattr(items, "__len__") else (operator.length_hint(items, 0) or None)  # type: ignore[arg-type]
        gate = Gate(iter(items), length)
        try:
            yield from self._batches(gate)
            if gate.error is not None:
                # The input raised: every item read before it was run and handed out; now its own error.
                gate.error.partial_results = []  # type: ignore[attr-defined]  # the caller's results
                raise gate.error
        finally:
            if self._pending is not None:
                self._pending.close()
                self._pending = None
            if self._cluster is not None:
                self._cluster.shutdown(wait=False, cancel_futures=True)
                self._cluster = None

    def _batches(self, gate: Gate) -> Iterator[list[Any]]:
        machine: Machine | None = None  # read once there is something to decide
        replans = 0
        early: Lookahead | None = None  # items started while the first one waited, not yet handed out
        while not gate.ended:
            if self.is_async:
                profile = Profile(is_async=True, wall=(), cpu=())
            else:
                # Big buffers' pickling waits until the thread probe says whether it matters.
                sampler = Sampler(False, defer_buffers=self.options.cluster is None)
                kept: list[Any] = []  # a few results, to measure their pickling
                gate.kept = []
                lookahead = self._lookahead(gate) if replans == 0 else None
                note(self.options, "sampling: items one at a time, measured")
                for batch in self._segment(
                    run_sequential(
                        self.fn,
                        gate,
                        self.options,
                        self.call,
                        sampler,
                        on_results=self._shifted(gate.taken),
                        until=lookahead.has_started if lookahead is not None else None,
                        before_first=lookahead.arm if lookahead is not None else None,
                        after_first=lookahead.disarm if lookahead is not None else None,
                    )
                ):
                    if len(kept) < PICKLE_SAMPLE:
                        kept.extend(r for r in batch[:PICKLE_SAMPLE] if not isinstance(r, Failure))
                    yield batch
                if lookahead is not None:
                    lookahead.disarm()  # done already after the first item, unless no item ran
                    early = lookahead if lookahead.count else None  # (its batches() raise if its start failed)
                if gate.ended:
                    yield from self._early(early)
                    return
                typical = _typical(sampler.wall) if sampler.wall else 0.0
                rest = (gate.remaining if gate.remaining is not None else 1000) * typical
                machine = machine or Machine.current(
                    process_workers=self.options.workers,
                    calibrate=rest > NOT_WORTH_PROBING and typical < CALIBRATE_BELOW_SECONDS,
                )
                if rest > NOT_WORTH_PROBING:
                    # Items with big buffers are probed whatever pickling costs: it is measured
                    # once the probe is under way, not while every core waits for it.
                    pickle_later = sampler.second_look_on_threads
                    if not pickle_later:
                        sampler.measure_pickling(self.fn, gate.kept, kept)
                    if pickle_later or wants_thread_probe(sampler):
                        yield from self._early(early)
                        early = None
                        note(self.options, "probe: a few items on threads at once")
                        probe = probe_threads(
                            self.fn,
                            gate,
                            self.options,
                            self.call,
                            sampler,
                            probe_threads_count(machine.cpus),
                            on_results=self._shifted(gate.taken),
                            handoff=True,
                        )
                        tail = yield from self._segment(probe)
                        if tail is not None:
                            self._pending = early = tail
                        if pickle_later:
                            sampler.measure_pickling(self.fn, gate.kept, kept)
                        if gate.ended:
                            yield from self._early(early)
                            return
                profile = sampler.build()
                if sampler.deferred_items is not None and processes_may_win(
                    profile, self.options, machine, gate.remaining
                ):
                    sampler.measure_deferred()
                    profile = sampler.build()
            machine = machine or Machine.current(process_workers=self.options.workers)
            cluster = None
            if self.options.cluster is not None:
                cluster, self._cluster = connect(self.options, profile, gate.remaining, machine, self._cluster)
            plan = decide(profile, self.options, machine, gate.remaining, cluster)
            self.plans.append(plan)
            note(self.options, "plan", mode=plan.mode, workers=plan.workers, reasons=list(plan.reasons))
            drift = yield from self._main(plan, profile, gate, machine, watch=replans < MAX_REPLANS, early=early)
            early = None
            if not drift:
                return
            note(self.options, "drift", replans=replans + 1)
            replans += 1

    def _lookahead(self, gate: Gate) -> Lookahead | None:
        """What watches the first item (armed right before it runs): if it waits, the next ones
        start on threads (see :mod:`gearshift._lookahead`).  None where nothing may start early."""
        if self.options.cluster is not None:
            return None
        items = LOOKAHEAD_ITEMS
        if self.options.workers is not None:
            items = min(items, self.options.workers - 1)  # the first item counts against the cap too
        if gate.remaining is not None:
            items = min(items, gate.remaining - 1)
        if items < 1:
            return None
        lookahead = Lookahead(self.fn, gate, self.options, self.call, items, self._shifted)
        self._pending = lookahead
        return lookahead

    def _early(self, pending: Lookahead | ProbeTail | None) -> Iterator[list[Any]]:
        """The results of items started earlier (if any), in order: a lookahead's or the probe's last ones."""
        if pending is None:
            return
        try:
            self._runner = pending.runner
            try:
                yield from self._segment(pending.batches())
            finally:
                self._runner = None
        finally:
            pending.close()
            self._pending = None

    def _shifted(self, offset: int) -> ResultsObserver | None:
        """``on_results`` for a segment whose runner numbers its items from 0 but starts at input index ``offset``."""
        observe = self.on_results
        if observe is None:
            return None
        if offset == 0:
            return observe

        def shifted(start: int, outcomes: list[Any], failed: int) -> None:
            observe(start + offset, outcomes, failed)

        return shifted

    def _segment(
        self, batches: Iterator[list[Any]] | Generator[list[Any], None, Any]
    ) -> Generator[list[Any], None, Any]:
        """``batches``, unless the run was stopped; returns what the generator returns."""
        if self._stopped:
            raise Stopped
        return (yield from batches)

    def _main(
        self,
        plan: Plan,
        profile: Profile,
        gate: Gate,
        machine: Machine,
        *,
        watch: bool,
        early: Lookahead | ProbeTail | None,
    ) -> Generator[list[Any], None, bool]:
        """Run the rest under ``plan``; returns True when it stopped early because the work drifted.

        ``early`` holds items started before the plan: while the first one
        waited, or the thread probe's last ones.  Their results come first.  A
        plan on threads starts its own items before they are all back (for the
        lookahead's, only a waiting plan: the same pool, no gap between the
        two); any other plan starts once they are.
        """
        mode, options = plan.mode, self.options
        waiting = mode == "async" or (mode == "thread" and plan.workers > machine.cpus)
        overlap = mode == "thread" and (waiting or isinstance(early, ProbeTail))
        if early is not None and not overlap:
            yield from self._early(early)
            early = None
        limiter: ConcurrencyLimiter | None = None
        workers, window = plan.workers, None
        if waiting:
            cap = options.workers or (machine.max_async if mode == "async" else machine.max_threads)
            start = plan.workers
            if isinstance(early, Lookahead):
                # That many are in flight already, and the limiter trims a window that is too
                # big; one estimated from a single item (whose call may have paid for imports)
                # can be far too small, and the end of a short job has no time to grow it.
                start = max(start, min(early.count, cap))
            limiter = ConcurrencyLimiter(start=start, cap=cap)
            workers, window = cap, start
            self.limiter = limiter
        backend, owned = self._backend(mode, workers)
        try:
            yield from self._while_starting(backend, gate)
        except BaseException:
            if owned:
                backend.shutdown(wait=False, cancel_futures=True)
            raise
        watcher = None
        if watch and profile.wall:
            watcher = _Drift(profile.median_wall, profile.result_bytes, limiter.observe if limiter else None)
        observer = watcher.observe if watcher is not None else (limiter.observe if limiter else None)
        run_plan, per_item = plan, None
        if mode == "process" and options.chunksize is None and profile.wall:
            # Chunks sized as the run goes (guided: big while much input remains, small at
            # the end), starting from the measured time per item rather than from 1.
            run_plan, per_item = dataclasses.replace(plan, chunksize=None), profile.median_wall
        runner = Runner(
            backend,
            self.fn,
            options,
            run_plan,
            per_item=per_item,
            unsized=UNSIZED_COROUTINES if mode == "async" else None,
            call=self.call,
            is_async=self.is_async,
            window=window,
            observer=observer,
            on_results=self._shifted(gate.taken),
            first_index=gate.taken,
        )
        if limiter is not None:
            limiter.attach(runner)
        self._runner = runner
        try:
            if self._stopped:
                raise Stopped
            stop = (lambda: watcher.tripped) if watcher is not None else None
            if early is None:
                yield from runner.batches(gate.open(stop=stop, lazy=True), self._sink)
            else:
                try:
                    runner.start(gate.open(stop=stop))
                except Exception:
                    # (the input raised, say): the items started before come first, then the error
                    yield from self._early(early)
                    raise
                try:
                    yield from self._early(early)
                except BaseException:
                    runner.cancel()
                    raise
                self._runner = runner
                yield from runner.batches()
        finally:
            self._runner = None
            if owned:
                backend.shutdown(wait=False, cancel_futures=True)
        return watcher is not None and watcher.tripped

    def _while_starting(self, backend: Backend, gate: Gate) -> Iterator[list[Any]]:
        """Run items on this thread while a cold process pool starts: the start then costs nothing.

        Worker interpreters take a few hundred milliseconds to start; the
        calling thread would only wait for them, so it keeps working through
        the input, in growing chunks, until every worker has said it is ready.
        """
        warm: Callable[[], None] | None = getattr(backend, "warm", None)
        ready: Callable[[], bool] | None = getattr(backend, "ready", None)
        if warm is None or ready is None or ready():
            return
        warm()
        from ._backends._sync import Backend as SyncBackend

        plan = Plan("sync", 1, None, ("running items here while the worker processes start",))
        observe = self._shifted(gate.taken)
        runner = Runner(
            SyncBackend(), self.fn, self.options, plan, call=self.call, on_results=observe, first_index=gate.taken
        )
        yield from self._segment(runner.batches(gate.open(stop=ready, lazy=True)))

    def _backend(self, mode: str, workers: int) -> tuple[Backend, bool]:
        if mode == self.options.cluster and self._cluster is not None:
            self._cluster.workers = workers  # the plan's count: the cluster's own, or workers=
            return self._cluster, False
        if mode == "sync":
            return backend_class("sync")(), False
        shared = shared_backend(mode, workers)
        if shared is not None:
            return shared, False
        return create_backend(mode, workers), True
