"""The planner's cluster rule and decide() with a configured cluster (pure decision logic: no cluster needed)."""

from __future__ import annotations

import pytest

from gearshift._auto.cluster_costs import Cluster, cluster_may_pay, cluster_seconds, cluster_worthwhile
from gearshift._auto.costs import CLUSTER_MARGIN, CLUSTER_SECONDS_PER_BYTE, CLUSTER_TASK_SECONDS, Machine
from gearshift._auto.decide import decide
from gearshift._options import make_options
from gearshift._profile import Profile

ENGINES = sorted(CLUSTER_TASK_SECONDS)


def test_constants_are_measured_not_placeholders() -> None:
    assert ENGINES == ["dask", "ray"]
    for engine in ENGINES:
        assert 1e-5 < CLUSTER_TASK_SECONDS[engine] < 1.0, "from benchmarks/results/cluster.json"
        assert 0 < CLUSTER_SECONDS_PER_BYTE[engine] < 1e-6


@pytest.mark.parametrize("engine", ENGINES)
def test_no_bigger_than_local_never_worth_it(engine: str) -> None:
    for workers in (1, 2, 8):
        assert not cluster_worthwhile(10.0, 100, items=10_000, local_workers=8, cluster_workers=workers, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_heavy_items_on_a_much_bigger_cluster_are_worth_it(engine: str) -> None:
    assert cluster_worthwhile(1.0, 1_000, items=1_000, local_workers=2, cluster_workers=64, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_tiny_job_stays_local(engine: str) -> None:
    # 20 items of 1 ms: 10 ms of work locally; a round trip or two costs about as much.
    assert not cluster_worthwhile(1e-3, 100, items=20, local_workers=2, cluster_workers=64, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_payload_too_big_for_the_work_stays_local(engine: str) -> None:
    # 1 ms of work per item but 50 MB to ship: the network is the bottleneck.
    assert not cluster_worthwhile(1e-3, 50e6, items=1_000, local_workers=2, cluster_workers=64, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_starting_a_cluster_needs_a_job_long_enough_to_pay_for_it(engine: str) -> None:
    args = {"items": 100, "local_workers": 2, "cluster_workers": 4, "engine": engine}
    assert cluster_worthwhile(0.1, 100, **args)  # 5 s locally
    assert not cluster_worthwhile(0.1, 100, startup_seconds=10.0, **args)


@pytest.mark.parametrize("engine", ENGINES)
def test_more_work_per_item_never_turns_yes_into_no(engine: str) -> None:
    sizes = [10.0**e for e in range(-6, 2)]
    for payload in (0, 1e3, 1e6):
        answers = [
            cluster_worthwhile(t, payload, items=10_000, local_workers=2, cluster_workers=16, engine=engine)
            for t in sizes
        ]
        assert answers == sorted(answers), f"payload={payload}: {answers}"


def test_prediction_adds_work_round_trips_and_transfer() -> None:
    t = CLUSTER_TASK_SECONDS["dask"]
    b = CLUSTER_SECONDS_PER_BYTE["dask"]
    # 1 s items run one per chunk: 10 tasks; 10 s of work over 5 workers.
    got = cluster_seconds(1.0, 1000, items=10, cluster_workers=5, engine="dask", startup_seconds=3.0)
    assert got == pytest.approx(2.0 + 10 * t + 10 * 1000 * b + 3.0)
    # 1 ms items are batched ~100 to a chunk: 1000 items make 10 tasks, not 1000.
    batched = cluster_seconds(1e-3, 0, items=1000, cluster_workers=1, engine="dask")
    assert batched == pytest.approx(1.0 + 10 * t)


def test_margin_is_a_real_margin() -> None:
    assert 0 < CLUSTER_MARGIN < 1


def test_a_saving_within_the_estimates_error_stays_local() -> None:
    # 12 items of 0.2 s: 1.2 s on 2 local processes, ~0.4 s predicted on 6 remote workers:
    # a third of the time, but 0.8 s saved is less than CLUSTER_MIN_SAVING_SECONDS.
    args = {"items": 12, "local_workers": 2, "cluster_workers": 6, "engine": "ray"}
    assert cluster_seconds(0.2, 100, items=12, cluster_workers=6, engine="ray") < 0.5
    assert not cluster_worthwhile(0.2, 100, **args)
    assert cluster_worthwhile(2.0, 100, **args)  # 12 s locally, ~4 s there: worth it


# -- decide() with a configured cluster (synthetic profiles) ------------------------------

MACHINE = Machine(cpus=2, process_pool_warm=True)
AT = "tcp://10.0.0.1:8786"


def prof(wall: float, cpu: float, *, payload: int = 2000, **kw: object) -> Profile:
    """A profile of 8 identical items whose item and result pickle to ``payload`` bytes together."""
    base: dict[str, object] = {
        "fn_bytes": 60,
        "fn_pickle_seconds": 20e-6,
        "item_bytes": payload // 2,
        "item_pickle_seconds": 1e-6,
        "result_bytes": payload - payload // 2,
        "result_pickle_seconds": 1e-6,
    }
    base.update(kw)
    return Profile(is_async=False, wall=(wall,) * 8, cpu=(cpu,) * 8, **base)  # type: ignore[arg-type]


HEAVY = prof(0.25, 0.25, threads=2, thread_scaling=1.0, gil_free=0.0)


def test_heavy_work_goes_to_a_bigger_cluster_and_the_reasons_cite_the_rule() -> None:
    plan = decide(HEAVY, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=16))
    assert (plan.mode, plan.workers, plan.chunksize) == ("dask", 16, None)
    text = str(plan)
    assert (
        f"per-item 250 ms, 2 kB payload: a dask cluster at {AT} pays (break-even 19.5 ms/item); dask, 16 workers"
        in text
    )
    assert plan.expected_speedup is not None and plan.expected_speedup > 5
    assert {a.mode for a in plan.alternatives} == {"sync", "thread", "process", "dask"}
    dask = next(a for a in plan.alternatives if a.mode == "dask")
    assert dask.seconds == pytest.approx(cluster_seconds(0.25, 2000, items=100, cluster_workers=16))


def test_ray_cites_its_own_break_even() -> None:
    plan = decide(HEAVY, make_options(address="ray://head:10001"), MACHINE, 100, Cluster("ray", "head:6379", 16))
    assert plan.mode == "ray"
    assert "a ray cluster at head:6379 pays (break-even 9.31 ms/item); ray, 16 workers" in str(plan)


def test_items_lighter_than_the_break_even_stay_local_however_many() -> None:
    p = prof(0.005, 0.005)
    plan = decide(p, make_options(address=AT), MACHINE, 100_000, Cluster("dask", AT, workers=64))
    assert plan.mode == "process"
    assert f"per-item 5 ms, 2 kB payload: a dask cluster at {AT} does not pay (break-even 19.5 ms/item)" in str(plan)
    assert "dask" not in {a.mode for a in plan.alternatives}


def test_a_short_job_stays_local_and_the_cluster_is_not_even_asked() -> None:
    # 6 items of 250 ms: 0.75 s on 2 CPUs here; no cluster can save 1 s of that.
    assert not cluster_may_pay(0.25, items=6, local_workers=2)
    plan = decide(HEAVY, make_options(address=AT), MACHINE, 6, Cluster("dask", AT))
    assert plan.mode == "process"
    assert "6 items are about 750 ms on 2 CPUs here, and it must save 1 s" in str(plan)


def test_may_pay_needs_heavy_items_and_a_long_enough_job() -> None:
    assert cluster_may_pay(0.25, items=100, local_workers=2)
    assert not cluster_may_pay(0.01, items=1_000_000, local_workers=2)  # below dask's break-even
    assert cluster_may_pay(0.01, items=1_000_000, local_workers=2, engine="ray")  # above ray's


def test_a_cluster_no_bigger_than_this_machine_stays_local() -> None:
    plan = decide(HEAVY, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=2))
    assert plan.mode == "process"
    assert f"a dask cluster at {AT} (2 workers) does not pay: estimated" in str(plan)


def test_waiting_work_stays_on_local_threads() -> None:
    # 300 ms of sleep per item: 100 threads here beat 16 remote workers.
    p = prof(0.3, 0.0003)
    plan = decide(p, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=16))
    assert plan.mode == "thread"
    assert "(16 workers) does not pay" in str(plan)


def test_a_payload_too_big_for_the_network_stays_local() -> None:
    p = prof(0.05, 0.05, payload=50_000_000, threads=2, thread_scaling=1.0, gil_free=0.0)
    plan = decide(p, make_options(address=AT), MACHINE, 1000, Cluster("dask", AT, workers=64))
    assert plan.mode != "dask"
    assert "50 MB payload" in str(plan) and "does not pay" in str(plan)


def test_a_cluster_without_workers_stays_local() -> None:
    plan = decide(HEAVY, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=0))
    assert plan.mode == "process"
    assert f"a dask cluster at {AT} has no workers" in str(plan)


def test_an_unasked_cluster_is_not_chosen_blindly() -> None:
    plan = decide(HEAVY, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=None))
    assert plan.mode == "process"
    assert "its size is unknown" in str(plan)


def test_workers_caps_the_cluster_too() -> None:
    plan = decide(HEAVY, make_options(address=AT, workers=8), MACHINE, 100, Cluster("dask", AT, workers=64))
    assert (plan.mode, plan.workers) == ("dask", 8)


def test_unpicklable_work_and_coroutines_stay_here() -> None:
    p = prof(0.25, 0.25, unpicklable="fn does not pickle")
    plan = decide(p, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=16))
    assert plan.mode == "sync" and "does not pickle: it stays here" in str(plan)
    coro = Profile(is_async=True, wall=(), cpu=())
    plan = decide(coro, make_options(address=AT), MACHINE, 100, Cluster("dask", AT, workers=16))
    assert plan.mode == "async" and "coroutine functions stay" in str(plan)


def test_no_cluster_no_cluster_sentence() -> None:
    plan = decide(HEAVY, make_options(), MACHINE, 100)
    assert plan.mode == "process"
    assert not any("cluster" in r for r in plan.reasons)
