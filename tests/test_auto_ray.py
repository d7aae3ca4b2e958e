"""mode="auto" with a Ray cluster configured, on a real local Ray (8 CPUs on 127.0.0.1).

The Ray side of test_auto_cluster.py.  The Ray is started in this process,
as ``ray start --head`` would leave one on a machine, and named the ways a
user names it: ``address="auto"`` or ``GEARSHIFT_RAY_ADDRESS``.  Run with
``python -m pytest -m ray`` (Ray also binds a non-loopback address, so CI
leaves it out).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import gearshift
from gearshift._options import make_options
from test_auto_cluster import _Long, auto_run, burn, cheap

ray = pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

#: CPUs of the test Ray: more than this 2-CPU machine, so the rule can prefer it
CPUS = 8


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    """A local Ray for the module; its GCS address (host:port, what ``ray start`` prints)."""
    if ray.is_initialized():  # another module's local Ray: this one needs 8 CPUs
        ray.shutdown()
    ray.init(
        num_cpus=CPUS,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level=logging.WARNING,
        job_config=ray.job_config.JobConfig(code_search_path=[p for p in sys.path if p]),
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEARSHIFT_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("GEARSHIFT_RAY_ADDRESS", raising=False)


def is_ray_worker(pid: int) -> bool:
    """Whether ``pid`` is a Ray worker process (Ray titles them ``ray::...``; Linux /proc)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::")
    except FileNotFoundError:
        return False


@pytest.mark.usefixtures("no_env")
def test_ray_client_address_without_ray_client_says_what_to_install() -> None:
    # Runs before the module's Ray is up: a Ray already running would refuse any other address first.
    pytest.importorskip("ray.util.client")
    if ray.is_initialized():
        pytest.skip("a Ray from another module is still up")
    try:
        import grpc  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("ray[client] is installed: ray:// would try to connect")
    with pytest.raises(ValueError, match=r"pip install ray\[client\]"):
        gearshift.advise(burn, _Long(range(20), 1000), address="ray://127.0.0.1:10001")


@pytest.mark.slow
@pytest.mark.usefixtures("no_env")
def test_heavy_work_goes_to_ray_with_its_cpu_count(gcs: str) -> None:
    out, run = auto_run(burn, range(30), address="auto")
    assert [x for x, _ in out] == [x * x for x in range(30)]  # all, once each, in order
    plan = run.plan
    assert plan is not None and plan.mode == "ray", str(plan)
    assert plan.workers == CPUS  # ray.cluster_resources(), not this machine's 2 CPUs
    assert f"a ray cluster at {gcs} pays (break-even 9.31 ms/item); ray, {CPUS} workers" in str(plan)
    pids = [pid for _, pid in out]
    assert pids[0] == os.getpid()  # the first items were measured here ...
    remote = set(pids) - {os.getpid()}
    assert remote and all(is_ray_worker(pid) for pid in remote)  # ... the rest ran on Ray's workers
    assert pids[-1] in remote
    assert run.state.cluster is None  # the backend was let go with the run ...
    assert ray.is_initialized()  # ... without shutting down a Ray it did not start


@pytest.mark.usefixtures("no_env")
def test_cheap_work_stays_here(gcs: str) -> None:
    out, run = auto_run(cheap, range(400), address="auto")
    assert [x for x, _ in out] == [x * x for x in range(400)]
    assert not any(is_ray_worker(pid) for _, pid in out)
    assert run.plan is not None and run.plan.mode not in ("dask", "ray"), str(run.plan)
    # never connected, so the plan names the address as it was written
    assert "a ray cluster at auto does not pay (break-even 9.31 ms/item)" in str(run.plan)


def test_the_environment_takes_ray_host_port(gcs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEARSHIFT_DASK_ADDRESS", raising=False)
    monkeypatch.setenv("GEARSHIFT_RAY_ADDRESS", gcs)
    assert make_options().cluster == "ray"
    heavy = gearshift.advise(burn, _Long(range(20), 1000))
    assert heavy.mode == "ray" and heavy.workers == CPUS, str(heavy)
    assert f"a ray cluster at {gcs} pays" in str(heavy)


@pytest.mark.usefixtures("no_env")
def test_advise_asks_ray_and_says_so(gcs: str) -> None:
    heavy = gearshift.advise(burn, _Long(range(20), 1000), address="auto")
    assert heavy.mode == "ray" and heavy.workers == CPUS, str(heavy)
    assert f"a ray cluster at {gcs} pays (break-even 9.31 ms/item); ray, {CPUS} workers" in str(heavy)
    light = gearshift.advise(cheap, _Long(range(200), 1000), address="auto")
    assert light.mode != "ray" and "a ray cluster at auto does not pay (break-even 9.31 ms/item)" in str(light)
