"""Auto's memory between runs (gearshift._auto.memory, .recall): profiles recalled and confirmed on a few items."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable

import pytest

import gearshift
from gearshift._auto import memory, recall
from gearshift._auto.costs import CALIBRATE_BELOW_SECONDS, Machine, cold_start
from gearshift._auto.decide import decide, pay_for_pool
from gearshift._options import make_options
from gearshift._profile import Profile, fmt_seconds
from gearshift._record import replace

COLD = Machine(cpus=2, process_pool_warm=False, process_start_seconds=0.06)


def prof(wall: float, cpu: float, *, pickles: bool = True) -> Profile:
    sizes: dict[str, object] = (
        {"item_bytes": 20, "item_pickle_seconds": 0.3e-6, "result_bytes": 20, "result_pickle_seconds": 0.3e-6}
        if pickles
        else {}
    )
    return Profile(is_async=False, wall=(wall,) * 8, cpu=(cpu,) * 8, **sizes)  # type: ignore[arg-type]


# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "cpu", "agree"),
    [
        (100e-6, 100e-6, True),
        (190e-6, 190e-6, True),  # within CONFIRM_FACTOR either way
        (55e-6, 55e-6, True),
        (210e-6, 210e-6, False),  # heavier than the factor allows
        (45e-6, 45e-6, False),
        (100e-6, 5e-6, False),  # as long, but now it waits: another kind of work
    ],
)
def test_a_confirming_sample_agrees_within_the_factor_and_the_kind_of_work(
    wall: float, cpu: float, agree: bool
) -> None:
    assert memory.agrees(prof(100e-6, 100e-6), wall, cpu) is agree


@pytest.mark.parametrize(
    ("mode", "items", "seconds", "kept"),
    [
        ("process", 400, 0.02, True),  # 50 µs an item against sync's 100: delivered
        ("thread", 400, 0.05, False),  # 125 µs: no faster than sync
        ("sync", 400, 1.0, True),  # a sync plan says nothing of itself
        ("thread", memory.DELIVERED_ITEMS - 1, 1.0, True),  # too few items to say
    ],
)
def test_a_plan_is_kept_only_if_it_ran_faster_than_sync(mode: str, items: int, seconds: float, kept: bool) -> None:
    assert memory.delivered(prof(100e-6, 100e-6), mode, items, seconds) is kept


def test_a_profile_without_timings_never_agrees() -> None:
    assert not memory.agrees(Profile(is_async=False, wall=(), cpu=()), 1e-3, 1e-3)


def test_a_cold_pools_start_is_charged_less_the_rent_paid_never_below_nothing() -> None:
    assert cold_start(COLD, 2) == pytest.approx(0.03)
    assert cold_start(replace(COLD, process_start_paid=0.01), 2) == pytest.approx(0.02)
    assert cold_start(replace(COLD, process_start_paid=1.0), 2) == 0.0
    assert cold_start(replace(COLD, process_pool_warm=True), 2) == 0.0


def test_rent_accrues_while_a_warm_pool_would_have_won_and_buys_the_pool_once_it_covers_the_start() -> None:
    # 400 items of 100 µs: sync 40 ms; two warm processes about half; a cold start costs 30 ms of parallelism.
    p, options = prof(100e-6, 100e-6), make_options()
    first = decide(p, options, COLD, 400)
    assert first.mode == "sync"  # the cold start eats the saving
    said = pay_for_pool(first, p, options, COLD, 400)
    paid = memory.rent_paid()
    assert 0.01 < paid < 0.04  # what a warm pool would have saved on this run
    # (the plan says why it is not processes: what a warm pool would take, and the rent so far against its start)
    assert said is not None and said.startswith("a warm process pool would take ")
    assert f"({fmt_seconds(paid)} lost for want of it so far, of {fmt_seconds(cold_start(COLD, 2))})" in said
    calls, sentences = 1, [said]
    while True:
        machine = replace(COLD, process_start_paid=memory.rent_paid())
        plan = decide(p, options, machine, 400)
        sentences.append(pay_for_pool(plan, p, options, machine, 400))
        calls += 1
        if plan.mode == "process":
            break
        assert calls < 10
    assert sentences[-1] is None  # (bought: nothing rented)
    assert all(str(said).startswith("a warm process pool would take ") for said in sentences[:-1])
    assert memory.rent_paid() == 0.0  # bought: settled
    # Ski rental: bought once the rent paid, with this run's saving, covers the start.
    assert (calls - 1) * paid >= cold_start(COLD, 2) - paid


def test_rent_that_covers_the_start_says_a_later_run_starts_the_pool() -> None:
    # Processes were not weighed (no pickling measured), so the plan stays sync although the rent covers the start.
    p, options = prof(100e-6, 100e-6, pickles=False), make_options()
    memory.pay_rent(0.05)
    machine = replace(COLD, process_start_paid=memory.rent_paid())
    plan = decide(p, options, machine, 400)
    assert plan.mode == "sync"
    said = pay_for_pool(plan, p, options, machine, 400)
    assert said is not None and said.endswith(
        f"over its start ({fmt_seconds(cold_start(COLD, 2))}): a later run here starts one"
    )


def test_no_rent_on_a_plan_for_nothing() -> None:
    # The lookahead read the input to its end while the first item ran: the plan made after it runs
    # nothing, so nothing is lost for want of a pool (and a process plan buys none).
    p, options = prof(0.06, 0.003), make_options()
    for plan_mode in ("sync", "process"):
        memory.pay_rent(0.01)
        plan = replace(decide(p, options, COLD, 0), mode=plan_mode)
        assert pay_for_pool(plan, p, options, COLD, 0) is None
        assert memory.rent_paid() == pytest.approx(0.01)  # (nothing paid, nothing settled)
        memory.settle()


def test_no_rent_where_processes_would_not_win_even_warm() -> None:
    p = prof(1e-6, 1e-6)  # far too cheap to ship
    plan = decide(p, make_options(), COLD, 1000)
    assert pay_for_pool(plan, p, make_options(), COLD, 1000) is None
    assert memory.rent_paid() == 0.0


def test_no_rent_on_items_under_the_floor_where_the_figures_are_off() -> None:
    # Items just under the floor, so many that a warm pool would win by the model: no rent all the same.
    p = prof(0.9 * CALIBRATE_BELOW_SECONDS, 0.9 * CALIBRATE_BELOW_SECONDS)
    plan = decide(p, make_options(), COLD, 3000)
    warm = decide(p, make_options(), replace(COLD, process_pool_warm=True), 3000)
    assert plan.mode == "sync" and warm.mode == "process"
    pay_for_pool(plan, p, make_options(), COLD, 3000)
    assert memory.rent_paid() == 0.0
    at_floor = prof(CALIBRATE_BELOW_SECONDS, CALIBRATE_BELOW_SECONDS)
    pay_for_pool(decide(at_floor, make_options(), COLD, 3000), at_floor, make_options(), COLD, 3000)
    assert memory.rent_paid() > 0


def test_rent_is_counted_with_free_pickling_when_it_was_not_measured() -> None:
    p = prof(1e-4, 1e-4, pickles=False)
    plan = decide(p, make_options(), COLD, 400)
    assert plan.mode == "sync"
    pay_for_pool(plan, p, make_options(), COLD, 400)
    assert memory.rent_paid() > 0


def test_forgetting_everything_forgets_the_rent_too() -> None:
    memory.pay_rent(0.02)
    memory.forget()
    assert memory.rent_paid() == 0.0


def test_a_profile_is_remembered_without_its_first_runs_imports() -> None:
    # The first item loaded modules and took 50 ms against 5: a later run measured afresh would not see that.
    first = Profile(is_async=False, wall=(0.05, 0.005, 0.005), cpu=(0.05, 0.005, 0.005), first_imports=40)
    assert first.import_seconds == pytest.approx(0.045)
    memory.remember(abs, first)  # (builtins cannot be weakly referenced: nothing kept)
    memory.remember(spin, first)
    kept = memory.recall(spin, lambda p: True)
    assert kept is not None and kept.import_seconds == 0.0 and kept.wall == first.wall


def test_the_machine_auto_reads_carries_the_rent_paid() -> None:
    memory.pay_rent(0.02)
    assert Machine.current().process_start_paid == pytest.approx(0.02)


def test_each_plan_auto_makes_pays_the_rent_until_one_buys_the_pool() -> None:
    from gearshift._auto import _decide
    from gearshift._auto.gate import Gate
    from gearshift._auto.state import RunState
    from gearshift._task import CALL_ONE

    p, plans = prof(100e-6, 100e-6), []
    state = RunState(abs, make_options(mode="auto"), CALL_ONE, False, Gate(iter(range(400)), 400))
    for _ in range(10):
        state.machine = replace(COLD, process_start_paid=memory.rent_paid())  # (as Machine.current reads it)
        plans.append(_decide(state, p))
        if plans[-1].mode == "process":
            break
    assert plans[0].mode == "sync" and plans[-1].mode == "process"
    assert memory.rent_paid() == 0.0
    # A plan that paid rent says so, second to last (what a run's report quotes beside its plan)...
    assert plans[0].reasons[-2].startswith("a warm process pool would take ")
    assert plans[0].reasons[-1].startswith("estimated ")
    assert not any("warm process pool" in reason for reason in plans[-1].reasons)  # (...and the buyer does not)


# -- through gearshift.map ---------------------------------------------------------------------------


def spin(n: int) -> int:
    """About ``n`` x 1 µs of computing."""
    total = 0
    for i in range(n * 20):
        total += i
    return total


def heavy_after(n: int) -> int:
    return spin(n)


def _runs(fn: object, items: Iterable[int]) -> tuple[list[int], gearshift.RunReport]:
    with gearshift.reporting() as reports:
        out = gearshift.map(fn, items, mode="auto")  # type: ignore[call-overload]
    return out, reports[0]


@pytest.mark.timeout(120)
def test_a_second_run_of_a_function_confirms_its_profile_instead_of_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [100] * 3000  # about 60 µs each, 0.2 s in sync: measured fully the first time
    first, report = _runs(spin, items)
    assert first == list(map(spin, items))
    whats = [s.what for s in report.segments]
    assert "measuring" in whats and "confirming" not in whats
    remembered = memory.recall(spin, lambda p: True)
    assert remembered is not None
    # (whether a sample agrees is memory.agrees's, tested above: here, on a host of any load, it does)
    monkeypatch.setattr(recall, "agrees", lambda profile, w, c: profile is remembered)
    again, report = _runs(spin, items)
    assert again == list(map(spin, items))
    whats = [s.what for s in report.segments]
    assert whats[0] == "confirming" and "measuring" not in whats and "thread probe" not in whats
    assert report.plans[0].reasons[0].startswith("measured by an earlier run of the function here")
    assert report.plans[0].profile is remembered
    assert report.items == len(items)


_LOCK = threading.Lock()


def locked_spin(n: int) -> int:
    """spin, holding a module lock: the closure over it does not pickle, so work that computes is probed on threads."""
    with _LOCK:
        pass
    return spin(n)


@pytest.mark.timeout(120)
def test_a_run_whose_thread_probe_took_the_last_items_is_remembered() -> None:
    fn = functools.partial(locked_spin)  # (a partial: pickled by value, with the module's lock: unpicklable)
    fn.lock = _LOCK  # type: ignore[attr-defined]
    items = [5000] * 16  # about 5 ms each: after the first ones, the probe takes every item left...
    out, report = _runs(fn, (x for x in items))  # ...of an input of no known length (else it is not made)
    assert out == list(map(spin, items))
    whats = [s.what for s in report.segments]
    assert whats[-1] == "thread probe" and report.plans == []  # the input ended in the probe
    assert memory.recall(fn, lambda p: True) is not None


@pytest.mark.timeout(120)
def test_a_run_whose_rest_a_thread_probe_would_take_plans_it_and_is_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gearshift._auto.measure.tick_beside", lambda *a: lambda: None)  # (no GIL reading)
    fn = functools.partial(locked_spin)
    fn.lock = _LOCK  # type: ignore[attr-defined]
    items = [5000] * 16  # a known length: a probe of every item left would be a blind plan on threads
    out, report = _runs(fn, items)
    assert out == list(map(spin, items))
    assert "thread probe" not in [s.what for s in report.segments] and len(report.plans) == 1, report
    assert memory.recall(fn, lambda p: True) is not None


@pytest.mark.timeout(120)
def test_items_far_from_the_remembered_profile_are_measured_afresh() -> None:
    _runs(heavy_after, [100] * 3000)  # ~60 µs items remembered
    assert memory.recall(heavy_after, lambda p: True) is not None
    items = [2000] * 60  # 20x heavier: the confirming sample disagrees
    out, report = _runs(heavy_after, items)
    assert out == list(map(heavy_after, items))
    whats = [s.what for s in report.segments]
    assert whats[0] == "confirming"
    assert "measuring" in whats
    assert not report.plans[0].reasons[0].startswith("measured by an earlier run")
    remembered = memory.recall(heavy_after, lambda p: True)
    assert remembered is not None and remembered.median_wall > 5 * 60e-6  # the new figures are remembered


@pytest.mark.timeout(120)
def test_functions_that_cannot_be_weakly_referenced_are_measured_every_time() -> None:
    items = list(range(-20_000, 20_000))
    assert gearshift.map(abs, items, mode="auto") == list(map(abs, items))
    assert memory.recall(abs, lambda p: True) is None


def test_forget_one_function_keeps_the_others() -> None:
    p = prof(1e-4, 1e-4)
    memory.remember(spin, p)
    memory.remember(heavy_after, p)
    memory.forget(spin)
    assert memory.recall(spin, lambda _: True) is None
    assert memory.recall(heavy_after, lambda _: True) is p
    assert memory.recall(heavy_after, lambda _: False) is None  # not complete for this run: not used


def test_a_profile_is_remembered_by_the_function_object_and_let_go_with_it() -> None:
    def local(x: int) -> int:
        return x

    memory.remember(local, prof(1e-4, 1e-4))
    assert memory.recall(local, lambda _: True) is not None
    del local
    time.sleep(0)
    assert len(memory._profiles) == 0


@pytest.mark.timeout(120)
def test_a_function_with_native_pools_is_recalled_without_confirming_items_here() -> None:
    # An item run here uncapped would keep its native pool's threads busy beside the workers: with the
    # confirming item, auto's later calls of numpy-eigvalsh took 0.097 s against process mode's 0.069
    # (benchmarks/results/suite-warm-10b.json); without it, 0.062 against 0.067 (traced).
    from gearshift._native import NativePool, NativeUse

    pool = NativePool(api="blas", library="openblas", threads=2, version="0.3", path="libopenblas.so")
    native = NativeUse((pool,), threads_used=1.9, wall=3e-4, capped_threads=1, capped_wall=2e-4, capped_cpu=2e-4)
    memory.remember(spin, replace(prof(2e-4, 2e-4), native=native))
    items = [100] * 200
    out, report = _runs(spin, items)
    assert out == list(map(spin, items))
    whats = [s.what for s in report.segments]
    assert "confirming" not in whats and "measuring" not in whats
    assert report.plans[0].reasons[0].startswith("measured by an earlier run of the function here")


@pytest.mark.timeout(120)
def test_a_recalled_plan_that_ran_no_faster_than_sync_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    # Remembered as short waits (20 µs, that threads or processes overlap), the items compute about 180 µs
    # each: on up to 8 CPUs, slower than sync would have been by the profile, so fn is measured afresh next
    # time.  (Within the drift watch's 100x even on a loaded host: no re-plan measures it meanwhile.)
    memory.remember(spin, prof(20e-6, 0.5e-6))
    monkeypatch.setattr(recall, "agrees", lambda profile, w, c: True)
    items = [300] * 2000
    out, report = _runs(spin, items)
    assert out == list(map(spin, items))
    assert report.plans[0].mode in ("thread", "process")  # (waiting work: either overlaps it, by the model)
    assert report.plans[0].reasons[0].startswith("measured by an earlier run of the function here")
    assert memory.recall(spin, lambda p: True) is None
