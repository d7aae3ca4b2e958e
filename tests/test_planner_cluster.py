"""The planner's cluster rule (pure decision logic: no cluster needed)."""

from __future__ import annotations

import pytest

from gearshift._planner import (
    CLUSTER_MARGIN,
    CLUSTER_SECONDS_PER_BYTE,
    CLUSTER_TASK_SECONDS,
    cluster_seconds,
    cluster_worthwhile,
)

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
