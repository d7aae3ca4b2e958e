"""Run: the rest of the input under the plan, after the items started before it; report drift.

A plan on threads starts its own items while the items started before it
(the lookahead's, the thread probe's last ones) finish; any other plan starts
once they are out.  A waiting plan (async, or more threads than CPUs) has its
window steered by a :class:`~gearshift._limiter.ConcurrencyLimiter`.  A cold
process pool starts while the calling thread keeps running items (see
:func:`_while_starting`).  A :class:`~.replan.Drift` watches the chunks (a sync
plan's, run here, are also cut when one overruns: see :mod:`.replan`); when
it trips, the gate closes, the segment drains and :func:`run` returns True.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from .. import _switch
from .._acquire import acquire_backend
from .._backends._base import Backend, StartsWorkers
from .._limiter import ConcurrencyLimiter
from .._plan import Plan
from .._profile import Profile
from .._record import replace
from .._runner import Runner, Stopped
from .coroutines import WATCH_WINDOW, LoopWatch
from .gate import PICKLE_SAMPLE
from .gil import ProbeTail
from .lookahead import WATCH_SECONDS, Lookahead
from .replan import Drift, may_replan, unwatch_overrun, watch_overrun
from .report import Timed
from .state import RunState

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UNSIZED_COROUTINES", "run"]

Observer = Callable[[int, float, float, int], None]

#: coroutines started before any result's size is known (auto's starting window is a guess made
#: without measuring: 1,000 results of 100 KB at once would overrun the 64 MiB read-ahead budget).
#: Only for a consumer that may let results go (imap, aimap): map and starmap keep every one of
#: them in the list they return anyway, and on 2,000 GETs answered after 1 s the cap cost a round
#: trip (2.57 s against 1.60 s for all at once: benchmarks/results/cold-suite-7.json)
UNSIZED_COROUTINES = 512


def run(state: RunState, plan: Plan, profile: Profile) -> Generator[list[Any], None, bool]:
    """Yield the results of the rest under ``plan``; return True when it stopped early because the work drifted."""
    assert state.machine is not None
    mode, options, machine, gate = plan.mode, state.options, state.machine, state.gate
    early = state.pending
    waiting = mode == "async" or (mode == "thread" and plan.workers > machine.cpus)
    overlap = mode == "thread" and (waiting or isinstance(early, ProbeTail))
    if isinstance(early, Lookahead) and early.mode == "process":
        # Items started on processes while the first one computed: a process plan keeps them
        # in flight on the same pool and starts its own beside them; any other lets the pool go.
        overlap = mode == "process"
        if not overlap:
            early.drop_pool()
    if early is not None and not overlap:
        yield from state.early(early)
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
        state.limiter = limiter
    backend, owned = _backend(state, mode, workers)
    try:
        if early is None:  # (items started before hand out their results first: none may run here before them)
            yield from _while_starting(state, backend, profile)
    except BaseException:
        if owned:
            backend.shutdown(wait=False, cancel_futures=True)
        raise
    timed = Timed(state.report, "plan", mode, plan.workers, gate.taken)
    drift = None
    if may_replan(state.replans) and profile.wall:
        drift = Drift(profile.median_wall, profile.result_bytes, limiter.observe if limiter else None)
    observer: Observer | None = drift.observe if drift is not None else (limiter.observe if limiter else None)
    fn: Callable[..., Any] = state.fn
    watch: LoopWatch | None = None
    if mode == "async" and state.is_async and state.loop_profile is None and may_replan(state.replans):
        # Does the plan's loop compute?  Then processes, each with a loop, would do better.
        fn = watch = LoopWatch(state.fn)
        observer = _watching(state, watch, observer)
        if window is not None:
            window = min(window, WATCH_WINDOW)  # (the limiter takes over once the loop is seen awaiting)
    run_plan, per_item = plan, None
    if mode == "process" and options.chunksize is None and profile.wall:
        # Chunks sized as the run goes (guided: big while much input remains, small at
        # the end), starting from the measured time per item rather than from 1.
        run_plan, per_item = replace(plan, chunksize=None), profile.median_wall
    runner = Runner(
        backend,
        fn,
        options,
        run_plan,
        per_item=per_item,
        unsized=UNSIZED_COROUTINES if mode == "async" and state.sink is None else None,
        call=state.call,
        is_async=state.is_async,
        window=window,
        observer=observer,
        on_results=state.shifted(gate.taken),
        first_index=gate.taken,
    )
    if limiter is not None and watch is None:
        limiter.attach(runner)
    elif limiter is not None and watch is not None:
        watch.on_awaits = _handing_over(limiter, runner)
    state.runner = runner
    try:
        if state.stopped:
            raise Stopped
        stop = None
        if drift is not None:
            stop = lambda: drift.tripped  # noqa: E731
        elif watch is not None:
            stop = lambda: state.loop_profile is not None  # noqa: E731
        if watch is not None:
            for batch in runner.batches(gate.open(stop=stop)):
                if len(state.kept_results) < PICKLE_SAMPLE:
                    state.kept_results.extend(batch[: PICKLE_SAMPLE - len(state.kept_results)])
                yield batch
        elif early is None and drift is not None and gate.sequence is not None and runner.runs_inline():
            # A sync plan over a list, tuple or range: its chunks run here, one that overruns is cut (see .replan).
            overrun = watch_overrun(gate, drift.expected)
            try:
                yield from runner.batches(gate.open(stop=stop, lazy=True), state.sink)
            finally:
                unwatch_overrun(overrun)
        elif early is None:
            yield from runner.batches(gate.open(stop=stop, lazy=True), state.sink)
        else:
            try:
                runner.start(gate.open(stop=stop))
            except Exception:
                # (the input raised, say): the items started before come first, then the error
                yield from state.early(early)
                raise
            try:
                yield from state.early(early)
            except BaseException:
                runner.cancel()
                raise
            state.runner = runner
            yield from runner.batches()
    finally:
        if watch is not None:
            watch.close()
        timed.done(gate.taken)
        state.runner = None
        if owned:
            backend.shutdown(wait=False, cancel_futures=True)
    return (drift is not None and drift.tripped) or (watch is not None and state.loop_profile is not None)


def _watching(state: RunState, watch: LoopWatch, then: Observer | None) -> Observer:
    """An observer that hands each chunk on to ``then`` once the loop is seen awaiting (the
    limiter's readings at WATCH_WINDOW in flight would say nothing of its own window) and, once
    the loop is seen computing, keeps the coroutines' profile in ``state`` (the run then stops
    taking items and re-plans)."""

    booted = [False]

    def observe(items: int, elapsed: float, cpu: float, nbytes: int = 0) -> None:
        if then is not None and watch.awaits:
            then(items, elapsed, cpu, nbytes)
        if state.loop_profile is None:
            state.loop_profile = watch.verdict()
        if not booted[0] and watch.completed:
            booted[0] = True
            if _computed_long(watch):
                _boot_zygote()

    return observe


def _computed_long(watch: LoopWatch) -> bool:
    """Whether the coroutines that completed computed, in their steps on the loop, for as long as the
    lookahead first looks at a plain item (the sign a plain first item gives for booting the zygote
    early).  CPU time: a crowded machine stretches their wall time, not that."""
    return watch.done_cpu / watch.completed >= WATCH_SECONDS


def _boot_zygote() -> None:
    """Boot a script's first pool's zygote on another CPU now (the main thread only: see ``start_early``).

    Coroutines that compute are re-planned on processes once the loop watch has judged them
    (:data:`.coroutines.LOOP_WATCH_SECONDS` after the first completed); coro-cpu's workers then
    took 55 ms to start, its zygote's boot among it, while nothing ran here (traced).
    """
    from .._backends._zygote import start_for_auto

    start_for_auto(lifelong=False)


def _handing_over(limiter: ConcurrencyLimiter, runner: Runner) -> Callable[[], None]:
    """Once the watched loop is seen awaiting: the limiter steers the window, starting now."""

    def hand_over() -> None:
        limiter.attach(runner)
        runner.nudge()  # (nothing may complete for a while: coroutines that await long)

    return hand_over


def _while_starting(state: RunState, backend: Backend, profile: Profile) -> Iterator[list[Any]]:
    """Run items on this thread while a cold process pool starts: the start then costs nothing.

    Worker interpreters take a few hundred milliseconds to start; the
    calling thread would only wait for them, so it keeps working through
    the input, in growing chunks, until every worker has said it is ready.
    It is one more worker meanwhile: native pools measured capped (see
    ``measure.native_step``) are capped here too, as the workers' are.
    """
    if state.is_async or not isinstance(backend, StartsWorkers) or backend.ready():
        # Coroutines wait for the workers: they are planned on processes because they compute, and
        # computing here would hold the GIL the pool's start needs (pools that start in 0.2 s were seen taking 1 s).
        return
    backend.warm(state.fn)  # (each worker loads fn, so a run that ends before they start leaves them ready)
    from .._backends._sync import Backend as SyncBackend

    gate = state.gate
    plan = Plan("sync", 1, None, ("running items here while the worker processes start",))
    runner = Runner(
        SyncBackend(),
        state.fn,
        state.options,
        plan,
        call=state.call,
        on_results=state.shifted(gate.taken),
        first_index=gate.taken,
    )
    timed = Timed(state.report, "while workers start", "sync", 1, gate.taken)
    cap = profile.native.capped_threads if profile.native is not None else None
    if cap is not None:
        from .._threads import _cap

        _cap.enter(cap)
    # The pool's manager thread starts the workers in dozens of short steps, each needing the GIL
    # this thread's items hold: handed over promptly (see gearshift._switch), not after 5 ms.
    _switch.lower()
    try:
        yield from state.segment(runner.batches(gate.open(stop=backend.ready, lazy=True)))
    finally:
        _switch.restore()
        timed.done(gate.taken)
        if cap is not None:
            _cap.leave()


def _backend(state: RunState, mode: str, workers: int) -> tuple[Backend, bool]:
    """The plan's backend (the connected cluster's, if the plan goes there), and whether the run owns it."""
    if mode == state.options.cluster and state.cluster is not None:
        state.cluster.workers = workers  # the plan's count: the cluster's own, or workers=
        return state.cluster, False
    if mode == "process":
        # A script's first pool: its zygote boots on another CPU while the backend loads here
        # (13-36 ms of imports, traced on cpu-loop), not after.
        _boot_zygote()
    return acquire_backend(mode, workers)
