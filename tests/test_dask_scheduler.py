"""A gearshift executor as dask's local scheduler: ``dask.config.set(scheduler=...)`` and ``compute(scheduler=...)``.

dask runs a collection's graph on any ``concurrent.futures.Executor`` and sizes its submissions
from ``executor._max_workers``; these tests check the results and that the worker count is used.
"""

from __future__ import annotations

import os
import threading
from functools import partial

import pytest

import gearshift

dask = pytest.importorskip("dask", reason="dask is not installed: pip install gearshift[dask]")
dask_bag = pytest.importorskip("dask.bag", reason="dask.bag is not installed: pip install gearshift[dask]")

BARRIER_SECONDS = 30


def _square(x: int) -> int:
    return x * x


def _meet(barrier: threading.Barrier, x: int) -> int:
    barrier.wait(BARRIER_SECONDS)  # raises BrokenBarrierError unless every party runs at once
    return x


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_config_set_scheduler_runs_a_bag(mode: str) -> None:
    with gearshift.Executor(mode, 2) as executor, dask.config.set(scheduler=executor):
        bag = dask_bag.from_sequence(range(40), npartitions=8).map(_square)
        assert bag.sum().compute() == sum(x * x for x in range(40))
        assert sorted(bag.compute()) == [x * x for x in range(40)]


@pytest.mark.parametrize("executor_class", [gearshift.ThreadPoolExecutor, gearshift.ProcessPoolExecutor])
def test_compute_scheduler_runs_delayed(executor_class: type[gearshift.Executor]) -> None:
    with executor_class(2) as executor:
        parts = [dask.delayed(_square)(i) for i in range(10)]
        total = dask.delayed(sum)(parts)
        assert total.compute(scheduler=executor) == sum(i * i for i in range(10))
        (pids,) = dask.compute([dask.delayed(os.getpid)() for _ in range(4)], scheduler=executor)
    if executor_class is gearshift.ProcessPoolExecutor:
        assert os.getpid() not in pids


def test_compute_scheduler_runs_an_array() -> None:
    np = pytest.importorskip("numpy")
    da = pytest.importorskip("dask.array")
    x = np.arange(10_000, dtype=np.float64).reshape(100, 100)
    with gearshift.ProcessPoolExecutor(2) as executor:
        result = (da.from_array(x, chunks=(25, 25)) ** 2).sum(axis=0).compute(scheduler=executor)
    np.testing.assert_array_equal(result, (x**2).sum(axis=0))


def test_dask_reads_the_worker_count() -> None:
    from dask.base import get_scheduler

    with gearshift.Executor("thread", 5) as executor:
        scheduler = get_scheduler(scheduler=executor)
        assert isinstance(scheduler, partial)
        assert scheduler.args[1] == 5  # local.get_async(submit, num_workers)


def test_every_worker_is_used_at_once() -> None:
    # 6 tasks that each wait for all 6: they finish only if dask keeps 6 in flight, which it does
    # only when it reads 6 from executor._max_workers (it would use the CPU count otherwise).
    workers = 6
    barrier = threading.Barrier(workers)
    with gearshift.Executor("thread", workers) as executor:
        tasks = [dask.delayed(_meet)(barrier, i) for i in range(workers)]
        assert list(dask.compute(*tasks, scheduler=executor)) == list(range(workers))
