"""mode="auto" end to end: measured items keep their results, nothing runs twice, order holds."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import gearshift
from gearshift import Failure
from gearshift._auto import AutoRun
from gearshift._auto.gil import THREAD_PROBE_MAX_ROUNDS, probe_threads_count
from gearshift._cpu import usable_cpus
from gearshift._options import make_options
from gearshift._task import CALL_ONE
from helpers import Recorder

pytestmark = pytest.mark.alone  # auto's lookahead and plans are read from live timings


def square(x: int) -> int:
    return x * x


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i % 7
    return total


def nap(x: int) -> int:
    time.sleep(0.01)
    return x


def auto_run(fn: Any, items: Any, **kw: Any) -> tuple[list[Any], AutoRun]:
    run = AutoRun(fn, make_options(**kw), CALL_ONE, asyncio.iscoroutinefunction(fn))
    return list(itertools.chain.from_iterable(run.batches(items))), run


def test_tiny_jobs_run_in_sync_without_planning() -> None:
    rec = Recorder(square)
    out, run = auto_run(rec, range(10))
    assert out == [x * x for x in range(10)]
    assert rec.calls == list(range(10))  # in order, on this thread, once each
    assert run.plans == []  # the input ended while measuring: nothing else was started


def test_trivial_work_stays_sync_and_keeps_order() -> None:
    rec = Recorder(square)
    out, run = auto_run(rec, range(50_000))
    assert out == [x * x for x in range(50_000)]
    assert rec.calls == list(range(50_000))
    assert run.plan is not None
    assert run.plan.mode == "sync"


def test_the_sync_rest_reads_its_input_without_copying_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._auto.gate import Gate

    lent: list[str] = []
    lend = Gate.lend

    def spy(self: Gate, size: int) -> Any:
        items = lend(self, size)
        lent.append(type(items).__name__)
        return items

    monkeypatch.setattr(Gate, "lend", spy)
    out, run = auto_run(square, (x for x in range(200_000)))
    assert out == [x * x for x in range(200_000)]
    assert run.plan is not None and run.plan.mode == "sync"
    assert lent[0] == "list"  # measuring: a lookahead thread may take items too
    assert lent[-1] == "islice"  # the rest: lazy slices of the input (see Gate.lend), no list per chunk


def test_waiting_work_goes_to_threads_and_no_item_runs_twice() -> None:
    rec = Recorder(nap)
    out, run = auto_run(rec, range(300))
    assert out == list(range(300))
    assert sorted(rec.calls) == list(range(300))
    assert run.plan is not None
    assert run.plan.mode == "thread"
    # 10 ms of waiting: several times more items in flight than any CPU count here.  Counted
    # in the function, not read off the plan: the plan's first size follows the measured CPU
    # share, which a noisy host inflates (CI runners read 0.9 and 3.7 ms of CPU per sleep:
    # 12 and 4 threads), while the lookahead and the limiter overlap the waiting regardless.
    assert rec.peak >= 8
    assert run.limiter is not None


def nap_then_compute(x: int) -> int:
    """20 ms of waiting, then about a millisecond holding the GIL: a fetch, then its parsing."""
    time.sleep(0.02)
    end = time.thread_time() + 0.001
    while time.thread_time() < end:
        pass
    return x


def test_the_plan_keeps_at_least_the_concurrency_the_lookahead_started() -> None:
    from gearshift._auto.lookahead import LOOKAHEAD_ITEMS

    # The first item waits until the lookahead has started the next ones: whatever the
    # machine's load, the lookahead starts (it was left to timing, and failed under load).
    started = threading.Event()

    def first_waits_for_the_lookahead(x: int) -> int:
        if x == 0:
            assert started.wait(30), "the lookahead never started the next items"
        else:
            started.set()
            time.sleep(0.02)
        return nap_then_compute(x) if x == 0 else x

    out, run = auto_run(first_waits_for_the_lookahead, range(800))
    assert out == list(range(800))
    assert run.plan is not None and run.plan.mode == "thread", str(run.plan)
    assert run.state.pending is None
    assert [s.items for s in run.report.segments if s.what == "lookahead"] == [LOOKAHEAD_ITEMS]
    # The estimate from the first item alone (a wait over 1 ms of GIL) is tens in flight;
    # the lookahead had 256 going already: the limiter starts from those.
    assert run.limiter is not None and run.limiter.history, "no interval was measured"
    assert run.limiter.history[0][0] >= LOOKAHEAD_ITEMS


def test_generators_of_unknown_length() -> None:
    rec = Recorder(nap)
    out = gearshift.map(rec, (i for i in range(120)))
    assert out == list(range(120))
    assert sorted(rec.calls) == list(range(120))


def test_explicit_workers_cap_the_concurrency() -> None:
    out, run = auto_run(nap, range(100), workers=4)
    assert out == list(range(100))
    assert run.plan is not None
    assert run.plan.workers <= 4
    assert run.limiter is not None
    assert run.limiter.cap == 4


def test_explicit_chunksize_is_kept() -> None:
    out, run = auto_run(nap, range(100), chunksize=3)
    assert out == list(range(100))
    assert run.plan is not None
    assert run.plan.chunksize == 3


@pytest.mark.slow
def test_cpu_bound_work_goes_to_processes() -> None:
    items = [30_000] * 1000
    out, run = auto_run(spin, items)
    assert out == [spin(30_000)] * 1000
    assert run.plan is not None
    assert run.plan.mode == "process", str(run.plan)


def test_errors_return_in_place_also_while_measuring() -> None:
    def f(x: int) -> int:
        if x % 10 == 3:
            raise ValueError(x)
        return x

    out = gearshift.map(f, range(100), errors="return")
    for x, r in zip(range(100), out):
        if x % 10 == 3:
            assert isinstance(r, Failure)
            assert r.index == x
        else:
            assert r == x


def test_errors_raise_after_the_results_before_it() -> None:
    seen: list[int] = []

    def f(x: int) -> int:
        if x == 5:
            raise KeyError(x)
        return x

    def consume() -> None:
        for r in gearshift.imap(f, range(100)):
            seen.append(r)

    with pytest.raises(KeyError):
        consume()
    assert seen == [0, 1, 2, 3, 4]


def test_retries_while_measuring() -> None:
    failed: set[int] = set()

    def flaky(x: int) -> int:
        if x not in failed:
            failed.add(x)
            raise OSError("once")
        return x

    assert gearshift.map(flaky, range(20), retries=1) == list(range(20))


def test_unordered_results_are_all_there() -> None:
    assert sorted(gearshift.map(nap, range(80), ordered=False)) == list(range(80))


def test_imap_is_lazy_on_endless_input() -> None:
    out = []
    for r in gearshift.imap(square, itertools.count()):
        out.append(r)
        if len(out) == 5000:
            break
    assert out == [x * x for x in range(5000)]


class Drifting:
    """Microseconds per item for the first ``switch`` items, then 2 ms of waiting each."""

    def __init__(self, switch: int) -> None:
        self.switch = switch
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, x: int) -> int:
        with self.lock:
            self.calls.append(x)
        if x >= self.switch:
            time.sleep(0.002)
        return x + 1


@pytest.mark.slow
def test_drift_changes_the_plan_without_losing_repeating_or_reordering() -> None:
    fn = Drifting(3000)
    out, run = auto_run(fn, range(6000))
    assert out == [x + 1 for x in range(6000)]
    assert sorted(fn.calls) == list(range(6000))
    assert len(run.plans) >= 2, [p.mode for p in run.plans]
    assert run.plans[0].mode == "sync"
    assert run.plans[-1].mode == "thread"


async def anap(x: int) -> int:
    await asyncio.sleep(0.01)
    return x


def test_async_functions_run_on_a_loop_with_adaptive_window() -> None:
    out, run = auto_run(anap, range(500))
    assert out == list(range(500))
    assert run.plan is not None
    assert run.plan.mode == "async"
    assert run.limiter is not None


def test_amap_and_aimap_auto() -> None:
    async def main() -> tuple[list[int], list[int], list[int]]:
        a = await gearshift.amap(anap, range(200))
        b = await gearshift.amap(square, range(300))
        c = []
        async for r in gearshift.aimap(nap, range(1000)):
            c.append(r)
            if len(c) == 30:
                break
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a == list(range(200))
    assert b == [x * x for x in range(300)]
    assert c == list(range(30))


def test_map_auto_is_the_default() -> None:
    assert gearshift.map(square, range(1000)) == [x * x for x in range(1000)]
    assert gearshift.starmap(pow, [(2, 3), (3, 2)] * 100) == [8, 9] * 100


def _gen() -> Iterator[int]:
    yield from range(5)
    raise RuntimeError("the input broke")


def test_a_failing_input_propagates() -> None:
    with pytest.raises(RuntimeError, match="the input broke"):
        gearshift.map(square, _gen())


def _pid_and_spin(n: int) -> tuple[int, int]:
    import os

    return os.getpid(), spin(n)


@pytest.mark.slow
def test_a_cold_process_pool_starts_while_items_run_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # Worker interpreters take a while to start; auto keeps running items on the
    # calling thread meanwhile instead of waiting, then hands the rest to the pool.
    import os

    from gearshift._pools import shutdown_shared

    # (no native pools: this test process has NumPy's loaded by others, and in a CI run another thread's
    # CPU beside the measured items, 1.3 threads busy, was taken for theirs, and a noisy capped sample
    # priced processes out; docs/performance.md, "Fifteenth session")
    monkeypatch.setattr("gearshift._auto.measure.native_pools", lambda: ())

    shutdown_shared()  # every pool cold
    items = [40_000] * 600
    out, run = auto_run(_pid_and_spin, items)
    assert [r for _, r in out] == [spin(40_000)] * 600
    assert run.plan is not None
    assert run.plan.mode == "process", str(run.plan)
    assert run.plan.profile is not None
    here = [i for i, (pid, _) in enumerate(out) if pid == os.getpid()]
    measured = run.plan.profile.items
    # The measured items ran here, then more while the pool started, all before any worker's.
    assert len(here) > measured
    assert here == list(range(len(here)))
    assert len(here) < len(items)


def spin_then_grow(x: int) -> bytes:
    spin(40_000)
    return bytes(2**20) if x >= 200 else b"x"


@pytest.mark.slow
def test_results_that_grow_huge_change_the_plan() -> None:
    # Small results at first (processes pay), then 1 MiB each: moving them now costs
    # more than the work, so the run measures again; nothing is lost or reordered.
    out, run = auto_run(spin_then_grow, range(600))
    assert [len(r) for r in out] == [1] * 200 + [2**20] * 400
    assert run.plans[0].mode == "process", str(run.plans[0])
    assert len(run.plans) >= 2, [p.mode for p in run.plans]
    second = run.plans[1].profile
    assert second is not None
    assert second.result_bytes is not None
    assert second.result_bytes >= 2**20


@pytest.mark.timeout(60)
def test_failure_indices_count_from_the_whole_input_in_every_segment() -> None:
    def fn(x: int) -> int:
        if x in (5, 3000, 9999):
            raise ValueError(f"bad {x}")
        return x

    out = gearshift.map(fn, range(10_000), mode="auto", errors="return")
    failures = [(i, r.index) for i, r in enumerate(out) if isinstance(r, Failure)]
    assert failures == [(5, 5), (3000, 3000), (9999, 9999)]


#: 2 MiB each (copying one costs milliseconds); more than the longest thread probe takes, so
#: a plan is left to follow it whatever this machine's speed
BUFFERS = [bytes([i]) * (2 << 20) for i in range(THREAD_PROBE_MAX_ROUNDS * probe_threads_count(usable_cpus()) + 8)]


def sha(data: bytes) -> str:
    """hashlib releases the GIL on big buffers: threads use every CPU, without copying."""
    digest = hashlib.sha256()
    for _ in range(4):
        digest.update(data)
    return digest.hexdigest()


def spin_over(data: bytes) -> int:
    """Holds the GIL for a few milliseconds, and its argument is a big buffer (2 MiB: 2 ms to copy at
    pipe speed, well over a tenth of the work, so probed on threads on any host; with 300,000 turns,
    20-24 ms an item, the copy sat at the tenth and the test failed 1 run in 6 on Python 3.12)."""
    return spin(SPIN_OVER) + len(data)


SPIN_OVER = 50_000


@pytest.fixture
def gil_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GIL probe reads the GIL free and the threads scaling, whatever the machine's load (the
    work here releases it: what is tested is what auto does with those readings, not the readings,
    see test_probe).  Both: with two busy programs beside it, the probe's live throughput read
    0.3-0.5x (the threads waited for CPUs), which alone made the plan sync."""
    from gearshift._auto.gil import ThreadProbe
    from gearshift._auto.ticker import GilReading

    monkeypatch.setattr(GilReading, "gil_free", lambda self, queued_share: 1.0)
    finish = ThreadProbe.finish

    def scaling(self: ThreadProbe) -> None:
        finish(self)
        self.sampler.thread_scaling = float(self.threads)

    monkeypatch.setattr(ThreadProbe, "finish", scaling)
    # Nor does the lookahead start items early: on a crowded machine it may take a first item
    # that computes but waits for a CPU for one that waits, and leave nothing to plan for.
    monkeypatch.setattr("gearshift._auto.measure.lookahead_for", lambda state: None)


@pytest.mark.usefixtures("gil_free")
def test_big_buffers_to_gil_releasing_work_go_to_threads_unpickled() -> None:
    items = BUFFERS * 3  # (the probe may take 32 items and more: enough are left to plan for)
    out, run = auto_run(sha, items)
    assert out == [sha(b) for b in items]
    assert run.plan is not None and run.plan.profile is not None, "the measuring took every item"
    assert run.plan.mode == "thread", str(run.plan)
    profile = run.plan.profile
    # Pickling the buffers was never worth measuring: processes could not have won.
    assert profile.item_pickle_seconds is None and profile.item_bytes == 2 << 20, profile
    assert "processes would not beat threads, so their pickling was not measured" in str(run.plan)
    assert len(profile.wall) == 2  # the first item alone, the second look taken on the probe


def sha_long(data: bytes) -> str:
    """:func:`sha` four times over: about 20 ms, the GIL released."""
    digest = hashlib.sha256()
    for _ in range(16):
        digest.update(data)
    return digest.hexdigest()


@pytest.mark.usefixtures("gil_free")
def test_a_thread_plan_starts_while_the_probe_finishes_its_last_items() -> None:
    """The probe hands its last running items over: no core idles between probe and plan."""
    spans: list[tuple[str, float, float]] = []

    def work(data: bytes) -> str:
        t0 = time.perf_counter()
        out = sha_long(data)
        spans.append((threading.current_thread().name, t0, time.perf_counter()))
        return out

    out, run = auto_run(work, BUFFERS)
    assert out == [sha_long(b) for b in BUFFERS]  # every item once, in order, across the handover
    assert run.plan is not None and run.plan.mode == "thread", str(run.plan)
    probe_end = max(end for name, _, end in spans if name.startswith("gearshift-probe"))
    plan_start = min(start for name, start, _ in spans if name.startswith("gearshift-shared"))
    assert plan_start < probe_end


@pytest.mark.slow
def test_big_buffers_to_gil_holding_work_have_their_pickling_measured() -> None:
    items = BUFFERS[:32] * 6  # enough for processes to be worth a pool start, if moving the buffers is cheap
    out, run = auto_run(spin_over, items)
    spun = spin(SPIN_OVER)
    assert out == [spun + len(b) for b in items]
    assert run.plan is not None and run.plan.profile is not None, "the measuring took every item"
    profile = run.plan.profile
    assert profile.unpicklable is None and profile.threads >= 2, profile  # it was probed on threads
    assert profile.item_pickle_seconds is not None, profile  # processes may win: what moving costs counts


def test_the_thread_probe_keeps_to_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Contract C6 (workers= caps what runs at once) holds for auto's thread probe too: the
    # harness saw 2 items at once under workers=1 once the sampling ended after one item.
    # The probe is wanted whatever the items measured (with two busy programs beside it, the
    # first item read as waiting: the lookahead took the items and nothing was probed), and
    # the lookahead is off: what is tested is the cap on the probe, not the reading.
    monkeypatch.setattr("gearshift._auto.measure.wants_thread_probe", lambda sampler, **kw: True)
    monkeypatch.setattr("gearshift._auto.measure.lookahead_for", lambda state: None)
    guard, unpicklable = threading.Lock(), threading.Lock()
    active, peak = [0], [0]

    def computes(x: int) -> int:
        assert unpicklable is not None  # closes over a lock: processes cannot run it, threads are probed
        with guard:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        time.sleep(0.0001)  # lets go of the GIL inside the item: overlapping items would show
        with guard:
            active[0] -= 1
        return x

    with gearshift.reporting() as reports:
        assert gearshift.map(computes, range(300), mode="auto", workers=1) == list(range(300))
    assert [s for s in reports[0].segments if s.workers > 1] == [], reports[0]  # what ran, as auto reports it
    assert peak[0] == 1, reports[0]  # and as the function saw it
    # Without the cap the same work is probed on threads (so the check above can fail).
    peak[0] = 0
    with gearshift.reporting() as reports:
        assert gearshift.map(computes, range(300), mode="auto") == list(range(300))
    assert any(s.what == "thread probe" for s in reports[0].segments), reports[0]


_SQUEEZED = bytes(range(256)) * 4096  # 1 MiB: each item hashes its slice over and over, the GIL released


def squeeze(offset: int) -> str:
    """Cheap to pickle (an int) and computing with the GIL released: zlib-small-args' shape."""
    digest = hashlib.sha256()
    for _ in range(8):
        digest.update(_SQUEEZED[offset : offset + (512 << 10)])
    return digest.hexdigest()


@pytest.mark.usefixtures("gil_free")
def test_cheap_to_pickle_work_that_frees_the_gil_is_probed_and_goes_to_threads() -> None:
    """Once processes went without a probe for any work that pickles cheaply: a pool's start and
    per-process set-up for work threads spread as well (the GIL ticker beside the measured items
    reads it free; the fixture makes the readings the machine's load cannot blur)."""
    items = [i % 8 * 4096 for i in range(64)]
    out, run = auto_run(squeeze, items)
    assert out == [squeeze(i) for i in items]
    assert run.plan is not None and run.plan.profile is not None, "the measuring took every item"
    assert run.plan.profile.threads >= 2, run.plan.profile  # probed on threads
    assert run.plan.mode == "thread", str(run.plan)


def test_cheap_to_pickle_work_that_holds_the_gil_is_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._auto.ticker import GilReading

    monkeypatch.setattr(GilReading, "gil_free", lambda self, queued_share: 0.05)
    monkeypatch.setattr("gearshift._auto.measure.lookahead_for", lambda state: None)
    items = [40_000] * 200  # (enough that processes may win: their pickling is measured, cheap)
    out, run = auto_run(spin, items)
    assert out == [spin(n) for n in items]
    assert run.plan is not None and run.plan.profile is not None, "the measuring took every item"
    assert run.plan.profile.threads == 0, run.plan.profile  # not probed: the pool could start meanwhile
