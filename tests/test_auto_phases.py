"""Auto's phases on made-up figures: the cost model's table, waiting vs computing, drift and re-plans, the report.

No decision here reads the host's clocks or machine (a fake Machine, made-up
profiles, and for whole runs a virtual clock in place of the runner's): these
hold whatever the host's speed or load.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gearshift
from gearshift._auto import AutoRun
from gearshift._auto.costs import COMPUTES_ABOVE, COSTS, WAITS_BELOW, Machine, work_kind
from gearshift._auto.decide import decide
from gearshift._auto.gate import Gate
from gearshift._auto.replan import (
    DRIFT_CHUNKS,
    DRIFT_FACTOR,
    HUGE_RESULT_BYTES,
    MAX_REPLANS,
    OVERRUN_FLOOR,
    Drift,
    Overrun,
    may_replan,
    overrun_after,
)
from gearshift._options import make_options
from gearshift._plan import Plan
from gearshift._profile import Profile
from gearshift._report import RunReport, Segment
from gearshift._task import CALL_ONE

MACHINE = Machine(cpus=2, process_pool_warm=True)


def test_every_constant_names_where_it_comes_from() -> None:
    for name, constant in COSTS.items():
        assert constant.what, name
        assert constant.source.startswith(("benchmarks/results/", "none:")), (name, constant.source)


@pytest.mark.parametrize(
    ("cpu", "wall", "kind"),
    [(0.0, 1.0, "waiting"), (0.29, 1.0, "waiting"), (0.3, 1.0, "mixed"), (0.69, 1.0, "mixed"), (0.7, 1.0, "computing"),
     (1.0, 1.0, "computing"), (0.0, 0.0, "computing")],
)  # fmt: skip
def test_one_definition_of_waiting_and_computing(cpu: float, wall: float, kind: str) -> None:
    assert work_kind(cpu, wall) == kind
    assert WAITS_BELOW < COMPUTES_ABOVE


def test_the_plans_sentence_uses_the_same_definition() -> None:
    for cpu, words in ((0.1, "mostly waiting"), (0.5, "mixed"), (0.9, "CPU-bound")):
        p = Profile(is_async=False, wall=(0.01,) * 4, cpu=(cpu * 0.01,) * 4, items=4)
        assert any(words in r for r in decide(p, make_options(), MACHINE, 100).reasons)


def test_drift_trips_after_consecutive_chunks_far_from_the_sample() -> None:
    seen: list[tuple[int, float]] = []
    drift = Drift(1e-3, 100, lambda items, elapsed, cpu, nbytes: seen.append((items, elapsed)))
    for _ in range(DRIFT_CHUNKS - 1):
        drift.observe(10, 10 * 1e-3 * DRIFT_FACTOR * 2, 0.0)
    drift.observe(10, 10e-3, 0.0)  # one chunk as expected breaks the streak
    assert not drift.tripped
    for _ in range(DRIFT_CHUNKS):
        drift.observe(10, 10 * 1e-3 / (DRIFT_FACTOR * 2), 0.0)  # far lighter counts too
    assert drift.tripped
    assert len(seen) == 2 * DRIFT_CHUNKS  # the limiter behind it saw every chunk


def test_drift_trips_on_huge_results() -> None:
    drift = Drift(1e-3, 100, None)
    for _ in range(DRIFT_CHUNKS):
        drift.observe(2, 2e-3, 0.0, nbytes=2 * (HUGE_RESULT_BYTES + 1))
    assert drift.tripped
    unmeasured = Drift(0.0, None, None)  # nothing measured: nothing to drift from
    for _ in range(DRIFT_CHUNKS):
        unmeasured.observe(1, 10.0, 0.0)
    assert not unmeasured.tripped


def test_re_plans_are_bounded() -> None:
    assert [may_replan(n) for n in range(MAX_REPLANS + 1)] == [True] * MAX_REPLANS + [False]


def test_the_report_counts_items_per_mode() -> None:
    report = RunReport()
    assert report.summary() == "ran nothing run"
    report.segments += [
        Segment("measuring", "sync", 1, 3, 0.01),
        Segment("lookahead", "thread", 5, 5, 0.02),
        Segment("plan", "thread", 16, 92, 0.5),
    ]
    report.plans.append(Plan("thread", 16, 1, ("per-item ...", "threads overlap the waiting", "estimated ...")))
    report.replans = 1
    assert report.items == 100
    assert report.by_mode() == {"sync": 3, "thread": 97}
    assert report.summary() == "ran 3 sync, 97 thread, 1 re-plan"
    text = str(report)
    assert "lookahead: 5 items, thread x5" in text
    assert "plan 1: thread x16 (threads overlap the waiting)" in text


class VirtualClock:
    """Stands in for the ``time`` module of ``gearshift._task_run`` (where every chunk is timed):
    the items advance it by their made-up cost, so every figure the run measures is made up."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def thread_time(self) -> float:
        return self.now  # (CPU as much as wall: the items compute)

    monotonic_ns = staticmethod(time.monotonic_ns)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr("gearshift._task_run.time", virtual)
    # Nor does the lookahead look at the first item: it reads the thread's real clocks.
    monkeypatch.setattr("gearshift._auto.measure.lookahead_for", lambda state: None)
    return virtual


@pytest.mark.parametrize("items", [list(range(10)), tuple(range(10)), range(10)], ids=["list", "tuple", "range"])
def test_gate_cut_ends_a_lent_slice_and_the_next_one_starts_where_it_stopped(items: Any) -> None:
    gate = Gate(iter(items), 10).open(lazy=True)
    chunk = iter(gate.lend(6))
    assert [next(chunk), next(chunk)] == [0, 1]  # (the runner's loop, two items in)
    number, items = gate.running()
    assert items == 6
    assert not gate.cut(number - 1)  # an earlier chunk: over already
    assert gate.cut(number)
    assert not gate.cut(number)  # (once)
    assert list(chunk) == []  # the loop's next step finds the end
    assert gate.settle(2) is True  # cut: the runner goes on
    assert gate.taken == 2 and gate.remaining == 8 and not gate.ended
    assert gate.running()[1] == 0 and not gate.cut(gate.chunks)  # settled: nothing to cut
    assert list(gate.lend(100)) == list(range(2, 10))  # in order, none lost or repeated
    assert gate.settle(8) is False and gate.ended


def test_gate_cut_of_an_iterator_read_before_resumes_from_its_own_position() -> None:
    for source in (iter(list(range(10))), iter(range(10))):
        next(source), next(source)  # (read by someone else before the gate)
        gate = Gate(source, 8).open(lazy=True)
        chunk = iter(gate.lend(5))
        assert next(chunk) == 2 and gate.cut(gate.chunks) and list(chunk) == []
        assert gate.settle(1) is True
        assert list(gate.lend(10)) == list(range(3, 10))


def test_gate_cut_after_the_slice_read_its_last_item_loses_nothing() -> None:
    gate = Gate(iter(list(range(6))), 6).open(lazy=True)
    chunk = iter(gate.lend(3))
    assert list(chunk) == [0, 1, 2]  # all read: the loop is on its last item when the cut comes
    assert gate.cut(gate.chunks)
    assert gate.settle(3) is True
    assert list(gate.lend(10)) == [3, 4, 5]


def test_only_lists_tuples_and_ranges_are_cut() -> None:
    gate = Gate((x for x in range(10)), None).open(lazy=True)
    assert gate.sequence is None
    chunk = iter(gate.lend(5))
    assert next(chunk) == 0
    assert gate.running()[1] == 0 and not gate.cut(gate.chunks)  # a generator: read as it comes, never cut
    assert list(chunk) == [1, 2, 3, 4] and gate.settle(5) is False
    assert Gate(iter(range(2**70, 2**70 + 3)), 3).sequence is None  # (a range past C long: not either)


def test_overrun_cuts_a_chunk_once_it_ran_drift_factor_times_its_expected_time() -> None:
    gate = Gate(iter(range(100_000)), 100_000).open(lazy=True)
    expected = 1e-6
    watch = Overrun(gate, expected)
    assert not watch.look(0.0)  # nothing lent yet
    chunk = iter(gate.lend(10_000))
    allowed = overrun_after(expected, 10_000)
    assert allowed == max(OVERRUN_FLOOR, DRIFT_FACTOR * expected * 10_000)
    assert not watch.look(5.0)  # first seen running: timed from here
    assert not watch.look(5.0 + allowed * 0.99)
    assert watch.look(5.0 + allowed)
    assert watch.cuts == 1 and list(chunk) == []
    # The cut chunk counts as drifted, even had every one of its items run: it ran past the factor.
    drift = Drift(expected, None, None)
    drift.observe(10_000, allowed * 1.01, 0.0)
    assert drift.streak == 1
    gate.settle(0)
    # A new chunk starts a new count; a chunk that ends in time is never cut.
    gate.lend(10)
    assert not watch.look(100.0)
    gate.settle(10)
    gate.lend(10)
    assert not watch.look(100.0 + 10 * OVERRUN_FLOOR)  # (a different chunk, first seen now)
    assert overrun_after(0.0, 10) == OVERRUN_FLOOR


def test_the_inline_runner_goes_on_after_a_cut_without_losing_or_repeating_an_item() -> None:
    from gearshift._backends._sync import Backend as SyncBackend
    from gearshift._runner import Runner

    gate = Gate(iter(range(1000)), 1000)
    calls: list[int] = []

    def fn(x: int) -> int:
        calls.append(x)
        if x in (10, 500):
            assert gate.cut(gate.chunks)  # as the watcher does, from here: the item in progress ends the chunk
        return 2 * x

    runner = Runner(SyncBackend(), fn, make_options(), Plan("sync", 1, 64, ("test",)))
    out: list[int] = []
    for batch in runner.batches(gate.open(lazy=True)):
        out.extend(batch)
    assert out == [2 * x for x in range(1000)] and calls == list(range(1000))
    assert gate.ended and gate.taken == 1000


def heavy_after(switch: int, clock: VirtualClock, cut: threading.Event) -> Callable[[int], int]:
    """1 µs items, then from ``switch`` on 300 µs ones (made up); item ``switch`` takes 10 s (made
    up too) and, in real time, does not return until its chunk was cut."""

    def work(x: int) -> int:
        if x < switch:
            clock.now += 1e-6
        elif x == switch:
            clock.now += 10.0
            assert cut.wait(30), "the sync plan's chunk was never cut"
        else:
            clock.now += 300e-6
        return x

    return work


def test_a_sync_plan_whose_items_turn_heavy_mid_chunk_is_cut_and_re_planned(
    clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every figure is made up (VirtualClock), so the plan and its chunks are the same on any
    # host; the one real wait is item 5000's, for the watcher thread that cuts its chunk.
    cut = threading.Event()
    real_cut = Gate.cut

    def cutting(self: Gate, chunk: int) -> bool:
        done = real_cut(self, chunk)
        if done:
            cut.set()
        return done

    monkeypatch.setattr(Gate, "cut", cutting)
    n, switch = 5040, 5000
    calls: list[int] = []
    work = heavy_after(switch, clock, cut)

    def fn(x: int) -> int:
        calls.append(x)
        return work(x)

    run = AutoRun(fn, make_options(), CALL_ONE, False)
    out = list(itertools.chain.from_iterable(run.batches(range(n))))
    assert out == list(range(n)) and calls == list(range(n))  # every item once, in order
    report = run.report
    assert report.plans[0].mode == "sync", str(report)
    assert report.replans == 1, str(report)
    assert [s.what for s in report.segments[:3]] == ["measuring", "plan", "measuring"], str(report)
    assert report.items == n, str(report)
    # The plan stopped a few items into the heavy ones: its chunk was cut at item 5000,
    # and the next chunks (sized from what the cut one took) drifted too.
    planned = report.segments[0].items + report.segments[1].items
    assert switch < planned < n, str(report)


def test_what_ran_is_reported_after_an_auto_map() -> None:
    run = AutoRun(abs, make_options(), CALL_ONE, False)
    assert list(itertools.chain.from_iterable(run.batches(range(-5, 5)))) == [abs(x) for x in range(-5, 5)]
    assert run.report.items == 10 and run.report.plans == []  # the input ended while measuring
    assert run.report.by_mode() == {"sync": 10}
    assert gearshift.map(abs, [-1]) == [1]


def test_the_progress_label_says_what_ran() -> None:
    from gearshift._call import _prepare

    items = list(range(-5, 5))
    run = _prepare(abs, items, CALL_ONE, None)
    assert [r for batch in run.batches(items) for r in batch] == [abs(x) for x in items]
    assert run.report is not None and run.report.by_mode() == {"sync": 10}
    assert run.describe() == "auto (measuring, ran 10 sync)"  # (`gearshift run`'s progress line shows it)
    fixed = _prepare(abs, [1], CALL_ONE, None, mode="sync")
    assert fixed.report is None and fixed.describe() == "sync x1"


def test_reporting_collects_what_each_auto_run_did() -> None:
    with gearshift.reporting() as reports:
        assert gearshift.map(abs, range(-5, 5)) == [abs(x) for x in range(-5, 5)]
        assert list(gearshift.imap(abs, [-1, -2])) == [1, 2]
        assert gearshift.map(abs, [-3], mode="sync") == [3]  # a fixed mode has nothing to report
    assert [r.items for r in reports] == [10, 2]
    assert all(isinstance(r, gearshift.RunReport) for r in reports)
    assert reports[0].summary() == "ran 10 sync"
    assert gearshift.map(abs, [-4]) == [4]
    assert len(reports) == 2  # outside the block, nothing is collected


def _slow_first(x: int) -> int:
    time.sleep(0.3 if x == 0 else 0.0)
    return -x


def test_a_report_says_when_the_lookahead_ran_every_item_and_the_plan_none() -> None:
    # The first item waits; the lookahead starts the other two beside it, and the input ends there:
    # the plan made next runs nothing, and the report's plan line must say so, not describe the job.
    with gearshift.reporting() as reports:
        assert gearshift.map(_slow_first, range(3)) == [0, -1, -2]
    (report,) = reports
    assert report.items == 3 and report.plans, str(report)
    assert "nothing was left for this plan" in report.lines()[-1], str(report)


async def _amap_in_reporting() -> list[gearshift.RunReport]:
    async def double(x: int) -> int:
        return 2 * x

    with gearshift.reporting() as reports:
        assert await gearshift.amap(double, range(5)) == [0, 2, 4, 6, 8]
    return reports


def test_reporting_sees_amap_runs_on_their_helper_thread() -> None:
    import asyncio

    reports = asyncio.run(_amap_in_reporting())
    assert len(reports) == 1 and reports[0].items == 5, [str(r) for r in reports]
    assert reports[0].by_mode() == {"async": 5}


def test_a_coroutine_that_blocks_its_loop_gets_processes_each_with_a_loop() -> None:
    from gearshift._auto.coroutines import LoopWatch

    # Made-up loop figures (the live reading depends on the machine's load): the plan that
    # follows them is what is tested, with the items run for real on both sides of the re-plan.
    real_verdict = LoopWatch.verdict

    def computing(self: LoopWatch) -> Profile | None:
        if self.completed < 8:
            return None
        return Profile(is_async=True, wall=(2e-3, 2e-3), cpu=(2e-3, 2e-3), items=8, loop_blocked=1.0)

    LoopWatch.verdict = computing  # type: ignore[method-assign]
    try:
        with gearshift.reporting() as reports:
            out = gearshift.map(_compute, range(3000))
    finally:
        LoopWatch.verdict = real_verdict  # type: ignore[method-assign]
    assert out == list(range(3000))
    report = reports[0]
    # (_compute is far lighter than the made-up 2 ms: the process plan may re-plan on drift, to processes again)
    modes = [p.mode for p in report.plans]
    assert modes[:2] == ["async", "process"] and set(modes[2:]) <= {"process"}, str(report)
    assert "each with its own event loop" in str(report.plans[-1])
    assert report.items == 3000 and set(report.by_mode()) == {"async", "process"}, str(report)


async def _compute(x: int) -> int:
    return x


@pytest.mark.parametrize(("blocked", "mode"), [(1.0, "process"), (0.05, "async")])
def test_coroutines_that_block_their_loop_are_planned_on_processes(blocked: float, mode: str) -> None:
    pickles = {"fn_bytes": 60, "item_bytes": 8, "item_pickle_seconds": 1e-6, "result_bytes": 8}
    p = Profile(is_async=True, wall=(0.02,) * 2, cpu=(0.02 * blocked,) * 2, items=8, loop_blocked=blocked,
                result_pickle_seconds=1e-6, **pickles)  # type: ignore[arg-type]  # fmt: skip
    plan = decide(p, make_options(), Machine(cpus=2, process_pool_warm=False), 1000)
    assert plan.mode == mode, str(plan)
    if mode == "process":
        assert plan.workers == 2 and "each with its own event loop" in str(plan)


@pytest.mark.parametrize("workers", [1, 2000])
def test_coroutines_that_block_their_loop_get_at_most_a_process_per_cpu(workers: int) -> None:
    """workers= of a coroutine function is its concurrency (2000 for I/O), never 2000 interpreters."""
    pickles = {"fn_bytes": 60, "item_bytes": 8, "item_pickle_seconds": 1e-6, "result_bytes": 8}
    p = Profile(is_async=True, wall=(0.02,) * 2, cpu=(0.02,) * 2, items=8, loop_blocked=1.0,
                result_pickle_seconds=1e-6, **pickles)  # type: ignore[arg-type]  # fmt: skip
    plan = decide(p, make_options(workers=workers), Machine(cpus=2, process_pool_warm=False), 100_000)
    processes = [a for a in plan.alternatives if a.mode == "process"]
    assert processes and all(a.workers == min(workers, 2) for a in processes), plan.alternatives


# -- run: items on the calling thread while a cold pool starts ------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fails", [False, True], ids=["to-the-end", "an-item-raises"])
def test_items_run_here_while_workers_start_hand_the_gil_over_promptly(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """The pool's manager starts workers in many short steps, each needing the GIL the calling
    thread's items hold: while they start, the switch interval is short; after, as it was.

    (Workers "ready" after five items, so the segment's length is the test's, not the host's.)
    """
    import sys

    from gearshift._auto.run import _while_starting
    from gearshift._auto.state import RunState
    from gearshift._backends._process import Backend
    from gearshift._switch import PROMPT_SECONDS

    seen: list[float] = []

    def fn(x: int) -> int:
        seen.append(sys.getswitchinterval())
        if fails and x == 3:
            raise ValueError("item 3")
        return 2 * x

    monkeypatch.setattr(Backend, "ready", lambda self: len(seen) >= 5)
    backend = Backend(1)
    state = RunState(fn, make_options(mode="auto"), CALL_ONE, False, Gate(iter(range(20)), 20))
    before = sys.getswitchinterval()
    out: list[int] = []
    try:
        with pytest.raises(ValueError, match="item 3") if fails else contextlib.nullcontext():
            for batch in _while_starting(state, backend, Profile(is_async=False, wall=(), cpu=())):
                out.extend(batch)
    finally:
        backend.shutdown()
    assert sys.getswitchinterval() == before
    assert seen and all(s == min(before, PROMPT_SECONDS) for s in seen)
    if not fails:  # (the gate looks at ready() between chunks: the chunk that made it ready ends first)
        assert len(out) >= 5 and out == [2 * x for x in range(len(out))]


@pytest.mark.timeout(60)
def test_workers_started_while_items_run_here_load_the_function_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calling thread may run every item before a worker is ready: the workers still load fn
    (importing its module), so the next run finds them ready to run it (see Backend.warm)."""
    import importlib
    import os
    import sys

    from gearshift._auto.run import _while_starting
    from gearshift._auto.state import RunState
    from gearshift._backends._process import Backend

    (tmp_path / "gs_while_starting_marks.py").write_text(
        "import os, pathlib\n"
        f"if os.getpid() != {os.getpid()}:\n"
        f"    (pathlib.Path({str(tmp_path)!r}) / f'mark-{{os.getpid()}}').touch()\n"
        "def fn(x):\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("gs_while_starting_marks")
    backend = Backend(2)
    state = RunState(module.fn, make_options(mode="auto"), CALL_ONE, False, Gate(iter(range(20)), 20))
    try:
        out = [r for batch in _while_starting(state, backend, Profile(is_async=False, wall=(), cpu=())) for r in batch]
        assert out == [2 * x for x in range(len(out))]
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("mark-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {int(p.name[5:]) for p in tmp_path.glob("mark-*")} == {w.proc.pid for w in backend._procs}
    finally:
        backend.shutdown()
        sys.modules.pop("gs_while_starting_marks", None)
