"""The decision logic, on synthetic profiles: every branch of decide() and plan_fixed()."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift._auto.clocks import parent_item_seconds
from gearshift._auto.costs import (
    ASYNC_START,
    PARENT_ITEM_SECONDS,
    TINY_JOB_SECONDS,
    UNKNOWN_LENGTH,
    Machine,
    estimates,
    typical,
)
from gearshift._auto.costs import serial_share as _serial_share
from gearshift._auto.decide import decide, processes_may_win
from gearshift._options import make_options
from gearshift._planner import plan_fixed
from gearshift._profile import Profile

MACHINE = Machine(cpus=2, process_pool_warm=True)


def prof(wall: float, cpu: float, **kw: object) -> Profile:
    """A profile of 8 identical items, small pickles unless told otherwise."""
    base: dict[str, object] = {
        "fn_bytes": 60,
        "fn_pickle_seconds": 20e-6,
        "item_bytes": 20,
        "item_pickle_seconds": 0.3e-6,
        "result_bytes": 20,
        "result_pickle_seconds": 0.3e-6,
    }
    base.update(kw)
    return Profile(is_async=False, wall=(wall,) * 8, cpu=(cpu,) * 8, **base)  # type: ignore[arg-type]


def test_plan_fixed_keeps_the_explicit_mode_and_workers() -> None:
    plan = plan_fixed(make_options(mode="thread", workers=7, chunksize=3), is_async=False)
    assert (plan.mode, plan.workers, plan.chunksize) == ("thread", 7, 3)
    assert "mode='thread' was asked for" in plan.reasons


@pytest.mark.parametrize(("is_async", "mode"), [(True, "async"), (False, "sync")])
def test_plan_fixed_auto_without_measurement(is_async: bool, mode: str) -> None:
    assert plan_fixed(make_options(), is_async=is_async).mode == mode


def test_cpu_bound_gil_held_goes_to_processes() -> None:
    p = prof(0.042, 0.041, threads=2, thread_scaling=1.0, threads_cpu=1.0)
    plan = decide(p, make_options(), MACHINE, 200)
    assert plan.mode == "process"
    assert plan.workers == 2
    assert plan.expected_speedup is not None
    assert plan.expected_speedup > 1.5
    text = str(plan)
    assert "41 ms of 42 ms" in text
    assert "GIL is held" in text
    assert "20 bytes" in text
    assert {a.mode for a in plan.alternatives} == {"sync", "thread", "process"}


def test_cpu_bound_without_thread_probe_assumes_the_gil_is_held() -> None:
    plan = decide(prof(0.01, 0.01), make_options(), MACHINE, 200)
    assert plan.mode == "process"
    thread = next(a for a in plan.alternatives if a.mode == "thread")
    assert thread.seconds == pytest.approx(200 * 0.01, rel=0.05)


@pytest.mark.parametrize(("wall", "cpu"), [(0.94e-6, 0.67e-6), (1.4e-6, 0.81e-6)])
def test_work_is_not_sent_to_threads_for_the_wall_time_its_cpu_does_not_cover(wall: float, cpu: float) -> None:
    # Profiles read under load (a fresh CI): 0.67 µs of CPU in 0.94 µs of wall (computing), 0.81
    # of 1.4 (mixed), of a function that does not pickle.  The rest is not waits threads could
    # overlap: threads were planned (1.4x, 1.7x) and ran trivial work out of order.
    p = prof(wall, cpu, unpicklable="TypeError: cannot pickle '_thread.lock' object")
    plan = decide(p, make_options(), MACHINE, 47_271)
    assert plan.mode == "sync"
    thread = next(a for a in plan.alternatives if a.mode == "thread")
    sync = next(a for a in plan.alternatives if a.mode == "sync")
    assert thread.seconds >= sync.seconds


@given(
    wall=st.floats(1e-7, 10.0),
    share=st.floats(0.3, 1.0),
    n=st.integers(1, 10**7),
    unpicklable=st.booleans(),
)
def test_unprobed_threads_never_beat_sync_on_work_that_does_not_wait(
    wall: float, share: float, n: int, unpicklable: bool
) -> None:
    # Without a thread probe's reading, work that computes or is mixed (by work_kind) gains
    # nothing from threads while the GIL is held, whatever wall time its CPU does not cover.
    p = prof(wall, wall * share, unpicklable="TypeError: no" if unpicklable else None)
    alternatives = estimates(p, make_options(), MACHINE, n)
    sync = next(a for a in alternatives if a.mode == "sync")
    thread = next(a for a in alternatives if a.mode == "thread")
    assert thread.seconds >= sync.seconds


def test_the_reasons_say_when_pickling_was_not_measured() -> None:
    # (auto measures it only when processes could be the plan were moving items free: gearshift._auto.measure)
    p = Profile(is_async=False, wall=(0.01,) * 8, cpu=(0.0001,) * 8)
    plan = decide(p, make_options(), MACHINE, 300)
    assert plan.mode == "thread"
    assert any(r.startswith("their pickling was not measured: processes could not be the plan") for r in plan.reasons)
    assert not any(
        "pickling was not measured" in r for r in decide(prof(0.01, 0.0001), make_options(), MACHINE, 300).reasons
    )


def test_gil_releasing_work_with_big_arguments_goes_to_threads() -> None:
    p = prof(0.013, 0.013, threads=2, thread_scaling=1.95, item_bytes=8_000_000, item_pickle_seconds=0.006)
    plan = decide(p, make_options(), MACHINE, 48)
    assert plan.mode == "thread"
    assert plan.workers == 2
    assert "GIL is released" in str(plan)


@pytest.mark.parametrize(
    ("gil_free", "may_win"),
    [
        (0.98, False),  # threads already use both CPUs: processes could only add the copying
        (0.2, True),  # the GIL is held: processes might win, so what moving costs must be measured
    ],
)
def test_processes_may_win_only_when_threads_fall_short(gil_free: float, may_win: bool) -> None:
    p = prof(0.013, 0.013, threads=2, thread_scaling=1.9, gil_free=gil_free, item_bytes=8_000_000)
    p = dataclasses.replace(p, item_pickle_seconds=None)
    assert processes_may_win(p, make_options(), MACHINE, 48) is may_win


def test_processes_never_win_unpicklable_or_async_work() -> None:
    unpicklable = prof(0.013, 0.013, unpicklable="fn does not pickle")
    assert not processes_may_win(unpicklable, make_options(), MACHINE, 48)
    coroutine = Profile(is_async=True, wall=(0.01,) * 3, cpu=(0.01,) * 3, loop_blocked=1.0)
    assert not processes_may_win(coroutine, make_options(), MACHINE, 48)


def test_unmeasured_pickling_of_big_buffers_is_said_and_leaves_processes_out() -> None:
    p = prof(0.013, 0.013, threads=2, thread_scaling=1.9, gil_free=0.98, item_bytes=8_000_000)
    plan = decide(dataclasses.replace(p, item_pickle_seconds=None), make_options(), MACHINE, 48)
    assert plan.mode == "thread"
    assert "items hold 8 MB buffers: even moving them for free, processes would not beat threads" in str(plan)
    assert {a.mode for a in plan.alternatives} == {"sync", "thread"}


def test_unpicklable_work_never_goes_to_processes() -> None:
    p = prof(0.04, 0.04, threads=2, thread_scaling=1.0, unpicklable="fn does not pickle")
    plan = decide(p, make_options(), MACHINE, 1000)
    assert plan.mode == "sync"
    assert "process" not in {a.mode for a in plan.alternatives}
    assert any("processes are out" in r for r in plan.reasons)


def test_waiting_work_goes_to_many_threads_capped_by_the_items() -> None:
    plan = decide(prof(0.05, 30e-6), make_options(), MACHINE, 400)
    assert plan.mode == "thread"
    assert plan.workers == 400
    assert plan.chunksize == 1
    assert plan.expected_speedup is not None
    assert plan.expected_speedup > 100


def test_waiting_work_threads_are_limited_by_the_serial_cpu() -> None:
    # 100 ms wait, 2 ms of GIL-held CPU per item: beyond ~50 threads the CPU is the bottleneck.
    plan = decide(prof(0.1, 0.002), make_options(), MACHINE, 10_000)
    assert plan.mode == "thread"
    assert 45 <= plan.workers <= 55


def test_the_user_cap_on_workers_is_kept() -> None:
    plan = decide(prof(0.05, 30e-6), make_options(workers=16), MACHINE, 400)
    assert plan.mode == "thread"
    assert plan.workers == 16
    assert "workers=16 was asked for" in plan.reasons


def test_the_user_chunksize_is_kept() -> None:
    plan = decide(prof(0.042, 0.041), make_options(chunksize=5), MACHINE, 200)
    assert plan.chunksize == 5
    assert "chunksize=5 was asked for" in plan.reasons


def test_tiny_jobs_stay_in_sync() -> None:
    plan = decide(prof(1e-6, 1e-6), make_options(), MACHINE, 100)
    assert plan.mode == "sync"
    assert TINY_JOB_SECONDS > 100 * 1e-6
    assert any("not worth starting anything" in r for r in plan.reasons)


def test_a_plan_for_nothing_says_so_where_a_report_quotes_it() -> None:
    # The input ended while auto measured: the plan made after that runs no item, and a run's report
    # (which quotes a plan's second-to-last reason) must not present it as the plan for the job.
    plan = decide(prof(0.01, 0.01), make_options(), MACHINE, 0)
    assert plan.reasons[-2].startswith("nothing was left for this plan")
    assert "for one item more" in plan.reasons[-1]
    assert not any("nothing was left" in r for r in decide(prof(0.01, 0.01), make_options(), MACHINE, 1).reasons)


def test_microsecond_work_stays_in_sync_even_when_long() -> None:
    plan = decide(prof(0.4e-6, 0.4e-6), make_options(), MACHINE, 2_000_000)
    assert plan.mode == "sync"


def test_small_gains_are_not_worth_the_risk() -> None:
    # Moving 4 MB results at 1 GB/s keeps processes within 10% of sync: within the model's error, so sync.
    p = prof(0.01, 0.01, result_bytes=4_000_000, result_pickle_seconds=0.0)
    plan = decide(p, make_options(), dataclasses.replace(MACHINE, pipe_bytes_per_second=1e9), 100)
    assert plan.mode == "sync"
    assert any("20%" in r for r in plan.reasons)


def test_a_cold_process_pool_is_charged_its_start() -> None:
    p = prof(0.01, 0.01, threads=2, thread_scaling=1.0)
    warm = decide(p, make_options(), MACHINE, 40)
    cold_machine = dataclasses.replace(MACHINE, process_pool_warm=False, process_start_seconds=0.3)
    cold = decide(p, make_options(), cold_machine, 40)
    assert warm.mode == "process"
    assert cold.mode == "sync"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fewer_items_than_workers_take_as_long_as_an_item_in_processes(n: int) -> None:
    # One 60 ms item is 60 ms on any number of workers: a pool of two does not halve it.
    p = prof(0.06, 0.06)
    process = next(a for a in estimates(p, make_options(), MACHINE, n) if a.mode == "process")
    assert process.workers == 2
    assert process.seconds >= 0.06 * n / min(n, 2)
    assert process.seconds < 0.06 * n / min(n, 2) + 0.001  # (and no more: the pool is warm, the pickles small)


def test_a_cold_start_costs_the_parallelism_missed_while_items_run_here() -> None:
    # Auto runs items on the calling thread while a cold pool starts: with 2 workers,
    # half of the start is lost, not all of it.
    p = prof(0.01, 0.01, threads=2, thread_scaling=1.0)
    cold_machine = dataclasses.replace(MACHINE, process_pool_warm=False, process_start_seconds=0.4)
    warm = next(a for a in decide(p, make_options(), MACHINE, 1000).alternatives if a.mode == "process")
    cold = next(a for a in decide(p, make_options(), cold_machine, 1000).alternatives if a.mode == "process")
    assert cold.seconds - warm.seconds == pytest.approx(0.2, rel=0.01)


def test_fresh_workers_pay_the_first_calls_imports_again() -> None:
    # The first item loaded modules (NumPy's import: 88 ms over its 3.5 ms of work): each worker of a
    # cold pool imports them again, which costs parallelism as the pool's start does; a warm pool's
    # workers are not charged (they may have run the function before).
    wall = (0.0915, *(0.0035,) * 7)
    p = dataclasses.replace(prof(0.0035, 0.0035, threads=2, thread_scaling=1.0), wall=wall, cpu=wall)
    loaded = dataclasses.replace(p, first_imports=120)
    assert p.import_seconds == 0.0
    assert loaded.import_seconds == pytest.approx(0.088)
    cold_machine = dataclasses.replace(MACHINE, process_pool_warm=False, process_start_seconds=0.06)

    def process_seconds(profile: Profile, machine: Machine) -> float:
        plan = decide(profile, make_options(), machine, 22)
        return next(a for a in plan.alternatives if a.mode == "process").seconds

    assert process_seconds(loaded, cold_machine) - process_seconds(p, cold_machine) == pytest.approx(0.044)
    assert process_seconds(loaded, MACHINE) == process_seconds(p, MACHINE)
    plan = decide(loaded, make_options(), cold_machine, 22)
    assert plan.mode != "process"
    assert "its first call loaded 120 modules: a fresh worker process pays 88 ms again" in plan.reasons


@pytest.mark.parametrize(
    ("wall", "mode"),
    [
        (1.1e-6, "process"),  # short-string md5: the work outweighs the per-item cost of a chunk
        (0.09e-6, "sync"),  # trivial arithmetic: nothing beats the plain loop
    ],
)
def test_microsecond_work_in_big_jobs(wall: float, mode: str) -> None:
    # Marginal pickling costs of a short string and a bool, in a chunk (as measured).
    p = prof(wall, wall, item_bytes=9, item_pickle_seconds=0.06e-6, result_bytes=1, result_pickle_seconds=0.01e-6)
    plan = decide(p, make_options(), MACHINE, 2_000_000)
    assert plan.mode == mode, str(plan)
    if mode == "process":
        assert plan.chunksize is not None
        assert plan.chunksize >= 10_000  # chunks of tens of milliseconds, not single items


@pytest.mark.parametrize(("parent", "mode"), [(0.14e-6, "process"), (0.3e-6, "sync")])
def test_the_parents_own_work_per_item_shares_the_cpus_with_the_workers(parent: float, mode: str) -> None:
    # Short-string md5 at 0.4 µs: two workers and the parent on 2 CPUs.  With the parent at
    # 0.14 µs per item, (0.4 + 0.14) / 2 is 0.7x sync; at 0.3 µs it is 0.9x: not worth it.
    p = prof(0.4e-6, 0.4e-6, item_bytes=9, item_pickle_seconds=0.01e-6, result_bytes=1, result_pickle_seconds=0.0)
    plan = decide(p, make_options(), dataclasses.replace(MACHINE, process_item_seconds=parent), 2_000_000)
    assert plan.mode == mode, str(plan)


def test_the_parents_work_per_item_is_measured_once_and_only_when_asked() -> None:
    measured = parent_item_seconds()
    assert 1e-9 < measured < 20e-6
    assert parent_item_seconds() == measured  # once per process
    assert Machine.current(calibrate=True).process_item_seconds == measured
    assert Machine.current().process_item_seconds == PARENT_ITEM_SECONDS


def test_huge_results_make_processes_lose() -> None:
    p = prof(0.005, 0.005, threads=2, thread_scaling=1.0, result_bytes=50_000_000, result_pickle_seconds=0.03)
    assert decide(p, make_options(), MACHINE, 1000).mode == "sync"


def test_unknown_length_is_assumed_long() -> None:
    plan = decide(prof(0.01, 0.01), make_options(), MACHINE, None)
    assert plan.mode == "process"
    assert any(f"{UNKNOWN_LENGTH} assumed" in r for r in plan.reasons)


def test_free_threaded_build_uses_the_measured_scaling() -> None:
    machine = dataclasses.replace(MACHINE, gil_enabled=False)
    p = prof(0.02, 0.02, threads=2, thread_scaling=1.9, gil_enabled=False, item_bytes=1_000_000,
             item_pickle_seconds=0.002)  # fmt: skip
    plan = decide(p, make_options(), machine, 500)
    assert plan.mode == "thread"
    assert "free-threaded" in str(plan)
    flat = dataclasses.replace(p, thread_scaling=1.0)
    assert "does not overlap" in str(decide(flat, make_options(), machine, 500))


def test_free_threaded_build_without_probe_lets_cpu_spread_over_threads() -> None:
    machine = dataclasses.replace(MACHINE, gil_enabled=False)
    plan = decide(prof(0.02, 0.02, unpicklable="x"), make_options(), machine, 500)
    assert plan.mode == "thread"


def test_async_function_without_measurement_starts_every_item_up_to_the_cap() -> None:
    # (a smaller start costs a round trip per doubling: benchmarks/results/async-start.json)
    p = Profile(is_async=True, wall=(), cpu=())
    plan = decide(p, make_options(), MACHINE, 3000)
    assert plan.mode == "async"
    assert plan.workers == 3000
    assert decide(p, make_options(), MACHINE, 10**6).workers == min(ASYNC_START, MACHINE.max_async)
    assert not any("estimated" in r for r in plan.reasons)  # nothing measured, nothing estimated
    assert decide(p, make_options(), MACHINE, 40).workers == 40
    capped = decide(p, make_options(workers=50), MACHINE, 3000)
    assert capped.workers == 50
    limited = decide(p, make_options(), dataclasses.replace(MACHINE, max_async=100), 3000)
    assert limited.workers == 100


def test_async_function_that_blocks_its_loop_goes_to_processes() -> None:
    p = dataclasses.replace(prof(0.04, 0.04), is_async=True, loop_blocked=0.95)
    plan = decide(p, make_options(), MACHINE, 500)
    assert plan.mode == "process"
    assert any("blocked its event loop 95%" in r for r in plan.reasons)


def test_async_function_that_waits_stays_async() -> None:
    p = dataclasses.replace(prof(0.5, 0.001), is_async=True, loop_blocked=0.002)
    assert decide(p, make_options(), MACHINE, 3000).mode == "async"


def test_warmup_is_reported() -> None:
    p = Profile(is_async=False, wall=(0.1, 0.01, 0.01, 0.01), cpu=(0.1, 0.01, 0.01, 0.01))
    assert any("warm-up" in r for r in decide(p, make_options(), MACHINE, 10).reasons)


@pytest.mark.parametrize(
    ("scaling", "threads", "share"), [(1.0, 2, 1.0), (2.0, 2, 0.0), (1.5, 2, 1 / 3), (None, 2, 1.0), (3.0, 4, 1 / 9)]
)
def test_serial_share_follows_amdahl(scaling: float | None, threads: int, share: float) -> None:
    p = Profile(is_async=False, wall=(1.0,), cpu=(1.0,), threads=threads, thread_scaling=scaling)
    assert _serial_share(p) == pytest.approx(share)


@pytest.mark.parametrize(("gil_free", "share"), [(0.05, 1.0), (0.5, 1.0), (0.95, 0.05), (1.0, 0.0)])
def test_serial_share_from_the_gil_probe(gil_free: float, share: float) -> None:
    p = Profile(is_async=False, wall=(1.0,), cpu=(1.0,), threads=2, thread_scaling=2.0, gil_free=gil_free)
    assert _serial_share(p) == pytest.approx(share)


@pytest.mark.parametrize(("scaling", "share"), [(0.5, 1.0), (1.0, 1.0), (1.5, 1 / 3), (1.9, 2 / 1.9 - 1)])
def test_a_free_gil_reading_is_checked_against_the_threads_throughput(scaling: float, share: float) -> None:
    # csv.DictReader over small files: each open/read lets go of the GIL for a moment, so the
    # ticker reads it free 94% of the time, while two threads run at 0.5-0.9x the speed of one.
    p = Profile(is_async=False, wall=(1.0,), cpu=(1.0,), threads=2, thread_scaling=scaling, gil_free=0.95)
    assert _serial_share(p) == pytest.approx(share)


def test_work_that_hands_the_gil_over_often_but_holds_it_is_not_sent_to_threads() -> None:
    # As measured on csv-files (issue 21): 280 us items, the GIL "free 94%", 2 threads at 0.8x.
    p = prof(280e-6, 280e-6, threads=2, thread_scaling=0.8, gil_free=0.94)
    plan = decide(p, make_options(), MACHINE, 400)
    assert plan.mode != "thread", str(plan)
    text = "\n".join(plan.reasons)
    assert "the GIL handed over at once 94% of the time" in text and "threads take turns" in text, text


def test_gil_probe_overrides_noisy_scaling() -> None:
    # Throughput said 1.9x (a lucky moment), the GIL probe says held: held wins.
    p = prof(0.04, 0.04, threads=2, thread_scaling=1.9, gil_free=0.2)
    assert decide(p, make_options(), MACHINE, 500).mode == "process"


def test_machine_current_reads_this_process() -> None:
    from gearshift._cpu import usable_cpus

    m = Machine.current()
    assert m.cpus == usable_cpus()
    assert m.max_async >= 64


@given(st.lists(st.floats(min_value=0, max_value=1e3, allow_nan=False), min_size=1, max_size=40))
def test_typical_is_the_median_without_the_warm_up(values: list[float]) -> None:
    # (costs.typical sorts instead of loading statistics; it must agree with it)
    import statistics

    assert typical(values) == statistics.median(values[1:] or values)
