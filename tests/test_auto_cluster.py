"""mode="auto" with a dask cluster configured, on a real LocalCluster (processes on 127.0.0.1).

Heavy work goes to the cluster, cheap work stays here (and never connects);
either way every result comes back once, in order.  The decision itself is
tested on synthetic profiles in test_planner_cluster.py.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gearshift
from gearshift._auto import AutoRun
from gearshift._cli import main
from gearshift._options import make_options
from gearshift._task import CALL_ONE

distributed = pytest.importorskip("distributed", reason="dask is not installed: pip install gearshift[dask]")

pytestmark = pytest.mark.timeout(180)

#: worker threads of the test cluster: more than this 2-CPU machine, so the rule can prefer it
THREADS = 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=THREADS // 2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    ) as c:
        yield c


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEARSHIFT_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("GEARSHIFT_RAY_ADDRESS", raising=False)


def burn(x: int) -> tuple[int, int]:
    """0.2 s of CPU holding the GIL (CPU time, so a busy machine slows it but does not shrink it)."""
    end = time.thread_time() + 0.2
    while time.thread_time() < end:
        pass
    return x * x, os.getpid()


def cheap(x: int) -> tuple[int, int]:
    """About 1 ms of CPU: far below dask's break-even."""
    end = time.thread_time() + 0.001
    while time.thread_time() < end:
        pass
    return x * x, os.getpid()


def auto_run(fn: Any, items: Any, **kw: Any) -> tuple[list[Any], AutoRun]:
    run = AutoRun(fn, make_options(**kw), CALL_ONE, False)
    return list(itertools.chain.from_iterable(run.batches(items))), run


def worker_pids(cluster: distributed.LocalCluster) -> set[int]:
    with distributed.Client(cluster, set_as_default=False) as c:
        return set(c.run(os.getpid).values())


@pytest.mark.slow
@pytest.mark.usefixtures("no_env")
def test_heavy_work_goes_to_the_cluster(cluster: distributed.LocalCluster) -> None:
    address = cluster.scheduler_address
    out, run = auto_run(burn, range(30), address=address)
    assert [x for x, _ in out] == [x * x for x in range(30)]  # all, once each, in order
    plan = run.plan
    assert plan is not None and plan.mode == "dask", str(plan)
    assert plan.workers == THREADS  # from the cluster itself
    assert f"a dask cluster at {address} pays (break-even 19.5 ms/item); dask, {THREADS} workers" in str(plan)
    pids = [pid for _, pid in out]
    here = os.getpid()
    assert pids[0] == here  # the first items were measured here ...
    remote = {pid for pid in pids if pid != here}
    assert remote and remote <= worker_pids(cluster)  # ... the rest ran on the cluster's workers
    assert pids[-1] in remote
    assert run.state.cluster is None  # the connection was closed with the run


@pytest.mark.usefixtures("no_env")
def test_cheap_work_stays_here_without_connecting(cluster: distributed.LocalCluster) -> None:
    address = cluster.scheduler_address
    before = set(cluster.scheduler.clients)
    connected: list[Any] = []
    run = AutoRun(cheap, make_options(address=address), CALL_ONE, False)
    out = []
    for batch in run.batches(range(400)):
        out.extend(batch)
        connected.append(set(cluster.scheduler.clients) - before)
    assert [x for x, _ in out] == [x * x for x in range(400)]
    assert not {pid for _, pid in out} & worker_pids(cluster)
    assert run.plan is not None and run.plan.mode not in ("dask", "ray"), str(run.plan)
    assert f"a dask cluster at {address} does not pay (break-even 19.5 ms/item)" in str(run.plan)
    assert not any(connected), f"clients connected for cheap work: {connected}"


@pytest.mark.usefixtures("no_env")
def test_a_client_is_named_by_its_scheduler(cluster: distributed.LocalCluster) -> None:
    with distributed.Client(cluster, set_as_default=False) as client:
        out, run = auto_run(cheap, range(300), client=client)
        assert client.status == "running"  # the caller's, never closed here
    assert [x for x, _ in out] == [x * x for x in range(300)]
    assert f"a dask cluster at {cluster.scheduler_address} does not pay" in str(run.plan)


def test_the_environment_configures_the_cluster(
    cluster: distributed.LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEARSHIFT_RAY_ADDRESS", raising=False)
    monkeypatch.setenv("GEARSHIFT_DASK_ADDRESS", cluster.scheduler_address)
    results, run = auto_run(cheap, range(300))
    assert [x for x, _ in results] == [x * x for x in range(300)]
    assert not {pid for _, pid in results} & worker_pids(cluster)
    assert f"a dask cluster at {cluster.scheduler_address} does not pay" in str(run.plan)


@pytest.mark.usefixtures("no_env")
def test_advise_asks_the_cluster_and_says_so(cluster: distributed.LocalCluster) -> None:
    address = cluster.scheduler_address
    heavy = gearshift.advise(burn, _Long(range(20), 1000), address=address)
    assert heavy.mode == "dask" and heavy.workers == THREADS, str(heavy)
    assert f"a dask cluster at {address} pays" in str(heavy)
    light = gearshift.advise(cheap, _Long(range(200), 1000), address=address)
    assert light.mode != "dask" and "does not pay" in str(light)


@pytest.mark.usefixtures("no_env")
def test_cli_advise_takes_the_address(
    cluster: distributed.LocalCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "jobs_cluster.py").write_text(
        "import time\n\ndef burn(x):\n    end = time.thread_time() + 0.2\n"
        "    while time.thread_time() < end:\n        pass\n    return x\n"
    )
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(500)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    address = cluster.scheduler_address
    assert main(["advise", "jobs_cluster:burn", "--input", "in.jsonl", "--sample", "8", "--address", address]) == 0
    text = capsys.readouterr().out
    assert "Plan: mode=dask" in text and f"a dask cluster at {address} pays" in text
    assert "mode='dask', address=" in text  # `gearshift run` has no cluster option: how to run it


@pytest.mark.usefixtures("no_env")
def test_cli_advise_refuses_an_address_without_its_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.jsonl").write_text("1\n")
    assert main(["advise", "json:dumps", "--input", str(tmp_path / "in.jsonl"), "--address", "host:8786"]) == 2
    assert "--address: with mode='auto', address= must say which engine" in capsys.readouterr().err


class _Long:
    """A short sample that says the whole input is ``length`` items long."""

    def __init__(self, items: Any, length: int) -> None:
        self.items, self.length = list(items), length

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def __length_hint__(self) -> int:
        return self.length
