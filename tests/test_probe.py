"""profile() and advise() on real small workloads: they classify the work correctly.

Timing on a shared machine is noisy, so the classifications allow wide margins:
GIL-held work must not look like it scales, waiting must look like waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from typing import Any

import pytest

import gearshift
from gearshift import Profile
from gearshift._auto.costs import work_kind
from gearshift._auto.gate import Gate
from gearshift._auto.gil import (
    ProbeTail,
    ThreadProbe,
    may_probe,
    probe_rounds,
    probe_threads,
    thread_scaling,
    wants_thread_probe,
)
from gearshift._auto.pickling import measure_deferred, measure_pickling
from gearshift._auto.sampler import Sampler
from gearshift._options import make_options
from gearshift._task import CALL_ONE

pytestmark = pytest.mark.alone  # the probe measures live timings

BUFFER = bytes(range(256)) * 16384  # 4 MiB: hashlib releases the GIL on it


def spin(n: int) -> int:
    """Pure Python: holds the GIL."""
    total = 0
    for i in range(n):
        total += i % 7
    return total


def digest(i: int) -> str:
    """sha256 of 4 MiB: the GIL is released while hashing."""
    return hashlib.sha256(BUFFER).hexdigest()[:8] + str(i)


def nap(x: int) -> int:
    time.sleep(0.02)
    return x


async def anap(x: int) -> int:
    await asyncio.sleep(0.01)
    return x


async def aspin(n: int) -> int:
    return spin(n)


def test_cpu_bound_work_is_probed_on_threads() -> None:
    # What the probe reads depends on the machine's load (timing belongs to benchmarks/planner.py);
    # that it runs, and what auto decides from a reading, do not (test_planner, and the next test).
    p = gearshift.profile(spin, [100_000] * 40)
    assert isinstance(p, Profile)
    assert not p.is_async
    assert p.thread_scaling is not None and p.threads >= 2
    # The GIL ticker needs two ticks to read anything: on a loaded machine the probe may end first
    # (None: "too few ticks to say", GilReading's unit tests cover the reading itself).
    assert p.gil_free is None or 0.0 <= p.gil_free <= 1.0


def test_a_gil_held_reading_sends_cpu_bound_work_to_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._auto.ticker import GilReading

    monkeypatch.setattr(GilReading, "gil_free", lambda self, queued_share: 0.1)
    plan = gearshift.advise(spin, [100_000] * 2000)
    assert plan.mode == "process", str(plan)
    assert plan.profile is not None
    assert any("GIL is held" in r for r in plan.reasons)


def test_gil_releasing_work_is_probed_on_threads() -> None:
    p = gearshift.profile(digest, range(60))
    assert p.gil_free is not None  # (its value depends on free cores: see test_the_gil_reading_*)
    assert p.thread_scaling is not None


def test_blocking_io_is_waiting_and_goes_to_many_threads() -> None:
    p = gearshift.profile(nap, range(6))
    assert p.cpu_share < 0.2
    assert p.median_wait > 0.015
    assert p.thread_scaling is None  # waiting always overlaps: not probed
    plan = gearshift.advise(nap, range(400))
    assert plan.mode == "thread", str(plan)
    assert plan.workers >= 100, str(plan)
    assert plan.expected_speedup is not None
    assert plan.expected_speedup > 20


def test_async_waiting_does_not_block_the_loop() -> None:
    p = gearshift.profile(anap, range(4))
    assert p.is_async
    assert p.loop_blocked is not None
    assert p.loop_blocked < 0.3
    assert gearshift.advise(anap, range(1000)).mode == "async"


def test_async_cpu_blocks_the_loop() -> None:
    # Not waiting, by the one definition the planner uses (work_kind: a share of 0.3 or more), which
    # is what sends such coroutines to processes. A reading is not held to more: with four busy loops
    # on two CPUs beside the suite it read 0.579 (a loaded CI, 2026-12-06), where 0.6 was asked.
    p = gearshift.profile(aspin, [200_000] * 4)
    assert p.loop_blocked is not None
    assert work_kind(p.loop_blocked, 1.0) != "waiting"


def test_sample_caps_the_items_run() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def f(x: int) -> int:
        with lock:
            calls.append(x)
        return spin(20_000)

    p = gearshift.profile(f, range(1000), sample=5)
    assert sorted(calls) == [0, 1, 2, 3, 4]
    assert p.items >= 1


def test_unpicklable_function_is_reported() -> None:
    lock = threading.Lock()

    def f(x: int) -> int:
        with lock:
            return spin(x)

    p = gearshift.profile(f, [50_000] * 8)
    assert p.unpicklable is not None
    assert "pickle" in p.unpicklable
    assert gearshift.advise(f, [50_000] * 1000).mode != "process"


def test_failures_are_counted_not_raised() -> None:
    def f(x: int) -> int:
        raise ValueError(x)

    p = gearshift.profile(f, range(10))
    assert p.items >= 1
    assert p.failures == p.items


def test_pickled_sizes_are_measured() -> None:
    p = gearshift.profile(len, [bytes([i]) * 100_000 for i in range(4)])
    assert p.item_bytes is not None
    assert 100_000 <= p.item_bytes < 101_000
    assert p.result_bytes is not None
    assert p.result_bytes < 32


def test_advise_keeps_explicit_options() -> None:
    plan = gearshift.advise(nap, range(400), workers=8)
    assert plan.workers == 8
    fixed = gearshift.advise(nap, range(10), mode="process", workers=3)
    assert (fixed.mode, fixed.workers) == ("process", 3)


def test_bad_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="sample must be"):
        gearshift.profile(nap, range(3), sample=0)


def test_profile_from_inside_a_running_loop() -> None:
    async def main() -> Profile:
        return gearshift.profile(anap, range(3))

    p = asyncio.run(main())
    assert p.is_async
    assert p.items == 3


def test_pickling_cost_is_the_marginal_cost_of_one_more_value() -> None:
    # The process backend pickles whole chunks: a dumps() call's fixed cost is not per item.
    import pickle

    from gearshift._auto.pickling import pickle_cost as _pickle_cost

    words = [f"w{i:05d}" for i in range(32)]
    size, seconds = _pickle_cost(words)
    assert size < len(pickle.dumps(words[:1]))  # the list's header is not counted per word
    assert 0 < size <= 12
    one = min(_timed(lambda: pickle.dumps(words[:1])) for _ in range(5))
    assert seconds < one


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


@pytest.fixture
def crowded(monkeypatch: pytest.MonkeyPatch):
    """Twice as many busy processes as CPUs: a measured thread gets a CPU a third of the time.

    And the kernel's run-queue figures are hidden, as on a kernel without them or
    a virtual machine whose host takes the CPU (the time is then in neither the
    thread's CPU nor its run-queue wait): only the thread's own sleeps can tell.
    """
    import subprocess
    import sys

    from gearshift._auto.costs import Machine

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * Machine.current().cpus)]
    monkeypatch.setattr("gearshift._auto.sampler.runqueue_seconds", lambda: None)
    time.sleep(0.2)  # the hogs are running
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_computing_looks_computing_on_a_crowded_machine(crowded: None) -> None:
    p = gearshift.profile(spin, [100_000] * 20)
    assert p.cpu_share > 0.8, p
    assert p.preempted > 0  # the time taken away was seen, and left out


def test_waiting_still_looks_waiting_on_a_crowded_machine(crowded: None) -> None:
    p = gearshift.profile(nap, range(6))
    assert p.cpu_share < 0.2, p
    assert gearshift.advise(nap, range(1000)).mode in ("thread", "async")


def test_a_computing_coroutine_blocks_its_loop_on_a_crowded_machine(crowded: None) -> None:
    p = gearshift.profile(aspin, [200_000] * 4)
    assert p.loop_blocked is not None
    # What the decision turns on: never read as waiting (the cost model then weighs processes with
    # their own loops).  On a quiet machine it reads near 1; with other work beside the crowding
    # (CI's docs and deep runs) it read 0.53, the heartbeat's correction for the run queue being
    # approximate: how close to 1 it reads is a benchmark's matter, not this test's.
    assert work_kind(p.loop_blocked, 1.0) != "waiting", p


def test_an_awaiting_coroutine_frees_its_loop_on_a_crowded_machine(crowded: None) -> None:
    p = gearshift.profile(anap, range(4))
    assert p.loop_blocked is not None
    assert p.loop_blocked < 0.3, p


def _sampled(wall: float, cpu: float) -> Sampler:
    """A sampler that measured three items of ``wall`` seconds, ``cpu`` of them on a CPU, cheap to pickle."""
    sampler = Sampler(False)
    sampler.wall, sampler.cpu = [wall] * 3, [cpu] * 3
    sampler.pickles = {"item": (8, 1e-6), "result": (8, 1e-6)}
    return sampler


@pytest.mark.parametrize(
    ("cpu", "probed"),
    [
        (0.2, False),  # mostly waiting: it overlaps on threads, nothing to find out
        (0.55, True),  # mixed: is the rest waiting, or a host that took the CPU away?
        (0.69, True),
        (0.95, False),  # computing and cheap to pickle: processes, whatever threads would do
    ],
)
def test_cheap_to_pickle_work_is_probed_on_threads_only_when_mixed(cpu: float, probed: bool) -> None:
    assert wants_thread_probe(_sampled(0.003, cpu * 0.003)) is probed


@pytest.mark.parametrize(
    ("alone", "probed"),
    [
        (None, False),  # no reading (one CPU, a free-threaded build answers earlier): as before
        (0.1, False),  # the ticker waited whole switch intervals: held, processes without a probe
        (0.69, False),
        (0.7, True),  # it got the GIL at once: threads may spread the work with no pool to start
        (1.0, True),
    ],
)
def test_computing_work_that_left_the_gil_free_while_measured_is_probed(alone: float | None, probed: bool) -> None:
    sampler = _sampled(0.003, 0.95 * 0.003)
    sampler.gil_free_alone = alone
    assert wants_thread_probe(sampler) is probed


def test_the_ticker_beside_the_items_records_its_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._auto import ticker as gil

    if not gil.gil_enabled():
        pytest.skip("a free-threaded build: nothing to read")
    monkeypatch.setattr(gil.GilReading, "gil_free", lambda self, queued_share: 0.93)
    sampler = Sampler(False)
    stop = gil.tick_beside(sampler, cpus=2)
    time.sleep(0.01)  # (the reading is made up: how many ticks came does not matter)
    stop()
    assert sampler.gil_free_alone == 0.93
    assert not [t for t in threading.enumerate() if t.name == "gearshift-gil-probe"]  # stopped and joined
    quiet = Sampler(False)
    gil.tick_beside(quiet, cpus=1)()  # one CPU: no probe to decide, no ticker
    assert quiet.gil_free_alone is None


def test_buffer_bytes_counts_buffers_and_starmap_arguments() -> None:
    from array import array

    from gearshift._auto.pickling import buffer_bytes

    assert buffer_bytes(b"x" * 1000) == 1000
    assert buffer_bytes(bytearray(10)) == 10
    assert buffer_bytes(memoryview(b"abcd")[1:]) == 3
    assert buffer_bytes(array("d", [0.0] * 4)) == 32
    assert buffer_bytes((b"ab", 7, bytearray(3))) == 5  # starmap arguments: top-level elements
    assert buffer_bytes("a string is not a buffer") == 0
    assert buffer_bytes({"a": b"nested"}) == 0
    assert buffer_bytes(12) == 0


BIG = bytes(2 << 20)  # 2 MiB: over DEFER_PICKLE_BYTES, 2 ms to copy at pipe speed
BIG2 = bytes([1]) * (2 << 20)  # another (pickle writes the same object once)


def _one_item(wall: float, *, defer: bool) -> Sampler:
    """A sampler that measured one computing item of ``wall`` seconds holding BIG."""
    sampler = Sampler(False, defer_buffers=defer)
    sampler.wall, sampler.cpu = [wall], [wall]
    sampler.spent, sampler.measured = wall, 1
    sampler.first_buffer_bytes = len(BIG)
    return sampler


@pytest.mark.parametrize(
    ("wall", "defer", "deferred"),
    [
        (0.012, True, True),  # copying 2 MiB is 2 ms, over a tenth of the item: left for later
        (0.012, False, False),  # profile() and cluster runs measure everything at once
        (0.5, True, False),  # the copy is lost in the work: measured now, as usual
    ],
)
def test_big_buffers_pickling_waits_until_it_matters(wall: float, defer: bool, deferred: bool) -> None:
    sampler = _one_item(wall, defer=defer)
    measure_pickling(sampler, len, [BIG, BIG2], [7, 8])
    assert (sampler.deferred_items is not None) is deferred
    p = sampler.build()
    assert p.result_bytes is not None and p.result_bytes < 32
    assert p.item_bytes is not None and p.item_bytes >= len(BIG)
    assert (p.item_pickle_seconds is None) is deferred
    if deferred:
        assert "2.1 MB buffers (their pickling not measured)" in str(p)
        assert wants_thread_probe(sampler)  # the probe is what tells whether it matters
        measure_deferred(sampler)
        measured = sampler.build()
        assert measured.item_pickle_seconds is not None and measured.item_pickle_seconds > 0
        assert sampler.deferred_items is None


def test_one_item_that_seemed_to_wait_gets_a_second_look() -> None:
    """The watcher's looks at the first item pass for sleeps: a stolen computation would read as waiting."""
    from gearshift._auto.sampler import SEQUENTIAL_BUDGET

    sampler = Sampler(False)
    sampler.wall, sampler.cpu = [0.02], [0.006]
    sampler.spent, sampler.measured = 0.02, 1
    assert not sampler.enough(budget=SEQUENTIAL_BUDGET)
    sampler.wall.append(0.02)
    sampler.cpu.append(0.019)  # unwatched, it computed all along
    sampler.spent, sampler.measured = 0.04, 2
    assert sampler.enough(budget=SEQUENTIAL_BUDGET)
    assert sampler.build().cpu_share > 0.9


def test_a_first_item_that_loaded_modules_gets_a_second_look_however_long_it_took() -> None:
    from gearshift._auto.sampler import SECOND_LOOK_SECONDS, SEQUENTIAL_BUDGET

    for imports, trusted in ((0, True), (37, False)):
        sampler = Sampler(False)
        sampler.wall, sampler.cpu = [2 * SECOND_LOOK_SECONDS], [2 * SECOND_LOOK_SECONDS]
        sampler.spent, sampler.measured, sampler.first_imports = 2 * SECOND_LOOK_SECONDS, 1, imports
        assert sampler.enough(budget=SEQUENTIAL_BUDGET) is trusted
    sampler.wall.append(0.003)
    sampler.cpu.append(0.003)
    sampler.spent, sampler.measured = sampler.spent + 0.003, 2
    assert sampler.enough(budget=SEQUENTIAL_BUDGET)
    measured = sampler.build()
    assert measured.first_imports == 37
    assert measured.import_seconds == pytest.approx(2 * SECOND_LOOK_SECONDS - 0.003)


@pytest.mark.parametrize("wall", [0.006, 0.012])  # under the one-at-a-time budget, and over it
def test_the_second_look_at_an_item_with_big_buffers_is_taken_on_the_thread_probe(wall: float) -> None:
    from gearshift._auto.sampler import SEQUENTIAL_BUDGET

    alone = _one_item(wall, defer=False)
    assert not alone.enough(budget=SEQUENTIAL_BUDGET)  # a second item alone, then
    assert not alone.second_look_on_threads
    waited = _one_item(wall, defer=True)
    waited.cpu = [wall / 4]
    assert not waited.enough(budget=SEQUENTIAL_BUDGET)  # one item that seemed to wait is not trusted alone
    assert not waited.second_look_on_threads
    sampler = _one_item(wall, defer=True)
    assert sampler.enough(budget=SEQUENTIAL_BUDGET)
    assert sampler.second_look_on_threads
    # The probe's calls took 10 ms of CPU each: that is the second look, not the first call's 12 ms.
    sampler.cpu = [0.006]
    sampler.wall = [0.012]  # the first item waited half its time: so will the others
    probe = ThreadProbe(sampler)
    probe.cpu.extend([0.010, 0.011, 0.009, 0.010])
    probe.start(2)
    probe.observe(4, 0.04, 0.04)
    probe.finish()
    assert sampler.cpu == [0.006, pytest.approx(0.010)]
    assert sampler.wall == [0.012, pytest.approx(0.020)]
    assert sampler.build().median_wall == pytest.approx(0.020)


def test_a_lazy_gate_lends_slices_of_its_source_and_counts_what_was_read() -> None:

    gate = Gate(iter(range(10)), 10).open(lazy=True)
    lent = gate.lend(4)
    assert not isinstance(lent, list)  # no list built: the runner reads the source itself
    assert list(lent) == [0, 1, 2, 3]
    gate.settle(4)
    assert (gate.taken, gate.remaining, gate.ended) == (4, 6, False)
    assert list(gate.lend(100)) == [4, 5, 6, 7, 8, 9]
    gate.settle(6)
    assert gate.ended and gate.taken == 10
    assert list(gate.lend(3)) == []


def test_a_gate_lends_lists_unless_lazy_and_keeps_its_limit_and_stop() -> None:

    gate = Gate(iter(range(10)), 10).open(limit=3)
    first = gate.lend(5)
    assert first == [0, 1, 2] and gate.taken == 3  # another thread may take items: counted at once
    gate.settle(3)
    assert gate.taken == 3  # not twice
    assert gate.lend(5) == []
    gate.open(limit=2, lazy=True)
    assert list(gate.lend(5)) == [3, 4]
    gate.settle(2)
    stopped = [False]
    gate.open(stop=lambda: stopped[0], lazy=True)
    stopped[0] = True
    assert list(gate.lend(5)) == []
    assert gate.taken == 5 and not gate.ended


def _sampler_for_probe(per_item: float) -> Sampler:
    """A sampler that measured one computing item of ``per_item`` seconds: ready for the thread probe."""
    sampler = Sampler(False)
    sampler.wall, sampler.cpu = [per_item], [per_item]
    sampler.spent, sampler.measured = per_item, 1
    return sampler


def _drive(probe: Any) -> tuple[list[Any], Any]:
    """Every batch a probe generator yields, and what it returns."""
    out: list[Any] = []
    while True:
        try:
            out.extend(next(probe))
        except StopIteration as end:
            return out, end.value


def _slow_triple(x: int) -> int:
    time.sleep(0.02)
    return x * 3


def test_a_probe_with_handoff_returns_its_last_running_items_as_a_tail() -> None:
    gate = Gate(iter(range(100)), 100)
    probe = probe_threads(_slow_triple, gate, make_options(), CALL_ONE, _sampler_for_probe(0.02), 2, handoff=True)
    out, tail = _drive(probe)
    assert isinstance(tail, ProbeTail)
    assert tail.runner is not None and tail.runner.running > 0  # handed over while items still ran
    taken = gate.taken
    assert 0 < len(out) < taken < 100  # the probe stopped taking: the rest is the plan's
    try:
        for batch in tail.batches():
            out.extend(batch)
    finally:
        tail.close()
    assert out == [x * 3 for x in range(taken)]  # every probed item once, in order


def test_a_probe_without_handoff_drains_and_a_closed_tail_waits_for_nothing() -> None:
    gate = Gate(iter(range(100)), 100)
    out, tail = _drive(probe_threads(_slow_triple, gate, make_options(), CALL_ONE, _sampler_for_probe(0.02), 2))
    assert tail is None
    assert out == [x * 3 for x in range(gate.taken)]  # all of the probe's items, at its end
    gate = Gate(iter(range(100)), 100)
    probe = probe_threads(_slower, gate, make_options(), CALL_ONE, _sampler_for_probe(0.3), 2, handoff=True)
    _, tail = _drive(probe)
    assert isinstance(tail, ProbeTail)
    t0 = time.perf_counter()
    tail.close()  # a run that stopped: what still runs is dropped, not waited for
    tail.close()  # and closing twice is harmless
    assert time.perf_counter() - t0 < 0.2  # the items still running take 0.3 s


def _slower(x: int) -> int:
    time.sleep(0.3)
    return x


def test_the_gil_reading_stops_the_looking_once_the_gil_is_plainly_free() -> None:
    # Made-up waits, no clock: a free GIL lets every tick go on within microseconds.
    from gearshift._auto.ticker import GilReading

    reading = GilReading(switch_interval=0.005)
    stops = [reading.add(20e-6) for _ in range(GilReading.SETTLE_TICKS)]
    assert stops == [False] * (GilReading.SETTLE_TICKS - 1) + [True]  # every look costs the work a core
    free = reading.gil_free(queued_share=0.0)
    assert free is not None and free > 0.99


def test_the_gil_reading_keeps_looking_while_the_gil_is_held() -> None:
    from gearshift._auto.ticker import GilReading

    reading = GilReading(switch_interval=0.005)
    assert not any(reading.add(0.005) for _ in range(4 * GilReading.SETTLE_TICKS))  # a switch interval each
    assert reading.gil_free(queued_share=0.0) == pytest.approx(0.0)
    # Time the ticker spent queued for a CPU is the machine's, not the GIL's: half of each
    # 6 ms tick (1 ms timer + 5 ms wait) leaves 2 ms of the wait to the GIL, 0.4 switch intervals.
    assert reading.gil_free(queued_share=0.5) == pytest.approx(0.6)
    assert GilReading(0.005).gil_free(0.0) is None  # too few ticks to say


@pytest.mark.parametrize(
    ("waits", "held"),
    [
        ([0.005, 0.005], False),  # two long waits are not yet proof
        ([0.005, 0.005, 0.005], True),  # three are: the ticker beside the items may stop
        ([0.005, 20e-6, 0.005], True),  # long on average (a hand-over now and then comes early)
        ([20e-6, 20e-6, 0.004], False),
        ([20e-6] * 30, False),  # free: never held
    ],
)
def test_the_gil_reading_proves_the_gil_held_in_a_few_ticks(waits: list[float], held: bool) -> None:
    from gearshift._auto.ticker import GilReading

    reading = GilReading(switch_interval=0.005)
    for wait in waits:
        reading.add(wait)
    assert reading.held() is held


def test_the_gil_ticker_stops_when_told_and_reads_its_waits() -> None:
    # Live, only what holds under any load: when it ends by itself is GilReading's to say (tested
    # above on made-up waits); on a crowded machine late ticks may keep it looking until told.
    from gearshift._auto.ticker import GilTicker

    ticker = GilTicker(lambda: True)  # nothing here holds the GIL
    ticker.start()
    time.sleep(0.05)  # (some ticks: not a synchronisation, finish() works with none)
    free = ticker.finish()
    assert not ticker.is_alive()
    assert all(w >= 0 for w in ticker.reading.waits)
    assert free is None or 0.0 <= free <= 1.0


def test_the_ticker_beside_held_work_stops_by_itself() -> None:
    """Each of its waits is a forced hand-over of the GIL: once held is proven, it looks no more."""
    from gearshift._auto.ticker import GilReading, GilTicker

    ticker = GilTicker(lambda: True, stop_when_held=True)
    ticker.start()
    deadline = time.perf_counter() + 5.0
    total = 0
    while ticker.is_alive() and time.perf_counter() < deadline:
        for i in range(20_000):  # pure Python: the GIL held but at each hand-over
            total += i % 7
    assert not ticker.is_alive(), "the ticker kept looking at work that holds the GIL"
    assert len(ticker.reading.waits) >= GilReading.HELD_TICKS
    free = ticker.finish()
    assert free is not None and free < 0.7


@pytest.mark.parametrize(
    ("items", "per_item", "seconds", "cores", "calls", "computing", "expected"),
    [
        # csv parsing, its one-at-a-time items slowed beside auto's load: 2.2x "measured", 1.05 cores busy
        pytest.param(32, 775e-6, 0.01127, 1.05, 32 * 350e-6, True, 1.05, id="held-work-read-fast"),
        # zlib releases the GIL: 1.9x on 2 threads that kept 2 cores busy
        pytest.param(10, 0.0195, 0.1026, 2.0, 10 * 0.0195, True, 1.9, id="gil-free"),
        # NumPy's BLAS threads computed beside the calls (the process used over 1.5x their CPU): not bounded
        pytest.param(20, 0.0105, 0.0918, 2.0, 20 * 0.003, True, 2.29, id="native-pools"),
        # work that waits part of its time overlaps its waits without a core: not bounded
        pytest.param(32, 775e-6, 0.01127, 1.05, 32 * 350e-6, False, 2.2, id="mixed"),
    ],
)
def test_threads_that_compute_scale_no_further_than_the_cores_they_kept_busy(
    items: int, per_item: float, seconds: float, cores: float, calls: float, computing: bool, expected: float
) -> None:
    got = thread_scaling(items, per_item, seconds, cores * seconds, calls, computing=computing)
    assert got == pytest.approx(expected, rel=0.01)


def test_held_work_read_fast_beside_the_load_is_planned_on_one_thread_not_threads() -> None:
    # The csv-files run that went to threads (issue 21): 2 threads at "2.2x", the GIL free 95% of the
    # ticker's time (short reads hand it over), its items slowed beside auto's load while measured.
    from gearshift._auto.costs import Machine
    from gearshift._auto.decide import decide
    from gearshift._options import make_options
    from gearshift._profile import Profile

    def profile(scaling: float) -> Profile:
        return Profile(
            is_async=False, wall=(775e-6,) * 4, cpu=(576e-6,) * 4, threads=2, thread_scaling=scaling,
            threads_cpu=1.05, gil_free=0.95, fn_bytes=60, fn_pickle_seconds=20e-6, item_bytes=42,
            item_pickle_seconds=1e-6, result_bytes=5, result_pickle_seconds=0.3e-6,
        )  # fmt: skip

    machine = Machine(cpus=2)
    assert decide(profile(2.2), make_options(), machine, 352).mode == "thread"  # (what it did)
    bounded = thread_scaling(32, 775e-6, 0.01127, 1.05 * 0.01127, 32 * 350e-6, computing=True)
    assert decide(profile(bounded), make_options(), machine, 352).mode != "thread"


def test_a_probe_that_would_run_blind_is_not_made() -> None:
    coarse = _sampled(1.5, 1.5)  # (items of 1.5 s: the fewest rounds, 2 per thread)
    assert probe_rounds(coarse) == 2
    assert not may_probe(1, 2, coarse)  # the coarse benchmark's last job: probed alone, after the early ones
    assert not may_probe(4, 2, coarse)  # (all four would be the probe's)
    assert may_probe(5, 2, coarse)
    assert may_probe(None, 2, coarse)  # (a length unknown: more may come)
    fine = _sampled(0.001, 0.001)  # 80 ms of probe: 16 rounds at most
    assert not may_probe(32, 2, fine)
    assert may_probe(33, 2, fine)
    # the GIL seen free beside the items: the probe taking the rest is the plan that reading supports
    fine.gil_free_alone = 0.98
    assert may_probe(11, 2, fine)
    fine.gil_free_alone = 0.5  # (held part of the time: as unread)
    assert not may_probe(11, 2, fine)
    # items out on processes already (the first item judged computing): the probe would wait for them
    assert not may_probe(None, 2, fine, early_processes=True)
    assert not may_probe(1000, 2, fine, early_processes=True)
    fine.gil_free_alone = 0.98
    assert may_probe(1000, 2, fine, early_processes=True)


def _unpicklable_work() -> Any:
    guard = threading.Lock()  # (a lock among what it closes over: processes cannot run it, threads are probed)

    def computes(x: int) -> tuple[int, str]:
        with guard:
            pass
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass
        return x, threading.current_thread().name

    return computes


@pytest.mark.parametrize(("items", "probed"), [(30, False), (300, True)])
def test_auto_probes_threads_only_with_items_left_after_the_probe(
    monkeypatch: pytest.MonkeyPatch, items: int, probed: bool
) -> None:
    # The probe is wanted whatever the items measured, and the lookahead is off: what is tested is
    # whether a probe that would take all that is left is made (2 ms items: 16 rounds of 2 threads, 32
    # items; 30 in all are worth measuring, past NOT_WORTH_PROBING's 20 ms, but not probing).
    monkeypatch.setattr("gearshift._auto.measure.wants_thread_probe", lambda sampler, **kw: True)
    monkeypatch.setattr("gearshift._auto.measure.lookahead_for", lambda state: None)
    monkeypatch.setattr("gearshift._auto.measure.tick_beside", lambda *a: lambda: None)  # (no GIL reading)
    with gearshift.reporting() as reports:
        out = gearshift.map(_unpicklable_work(), range(items), mode="auto")
    assert [x for x, _ in out] == list(range(items))
    assert any(s.what == "thread probe" for s in reports[0].segments) is probed, reports[0]
    assert any(name.startswith("gearshift-probe") for _, name in out) is probed
