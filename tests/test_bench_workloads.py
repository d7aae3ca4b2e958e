"""The shared benchmark workloads give the right results, and the local servers answer and stop."""

from __future__ import annotations

import asyncio
import http.client
import json
import pickle
import socket
import urllib.parse
from collections.abc import Iterator

import pytest

from gearshift._bench import WORKLOADS, Workload, get
from gearshift._bench.servers import aio_server, http_server, raise_fd_limit
from gearshift._bench.workloads import TARGET_INDICES, ahttp_get, http_get, md5_matches, word_at

# Small enough for a unit test, big enough to cover each check's interesting cases.
TINY_SCALE = {"md5-fine": 800, "md5-coarse": 1, "hash-big-args": 2, "http-async-10k": 50}


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with http_server(delay=0.0) as url:
        yield url


@pytest.fixture(scope="module")
def aio_url() -> Iterator[str]:
    pytest.importorskip("aiohttp")
    with aio_server(delay=0.0) as url:
        yield url


def _items(workload: Workload, request: pytest.FixtureRequest) -> list[object]:
    url = None
    if workload.server == "http":
        url = request.getfixturevalue("http_url")
    elif workload.server == "aio":
        url = request.getfixturevalue("aio_url")
    items = workload.items(TINY_SCALE.get(workload.name, 4), url)
    if url is not None:  # no waiting in unit tests
        items = [i.replace(f"delay={i.split('delay=')[1].split('&')[0]}", "delay=0") for i in items]
    return items


async def _gather(workload: Workload, items: list[object]) -> list[object]:
    return list(await asyncio.gather(*(workload.fn(i) for i in items)))


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workload_runs_in_sync_mode_with_expected_results(name: str, request: pytest.FixtureRequest) -> None:
    workload = get(name)
    items = _items(workload, request)
    assert items
    if workload.is_async:
        results = asyncio.run(_gather(workload, items))
    else:
        results = [workload.fn(item) for item in items]
    workload.check(items, results)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workload_check_rejects_wrong_results(name: str, request: pytest.FixtureRequest) -> None:
    workload = get(name)
    items = _items(workload, request)
    if workload.is_async:
        results = asyncio.run(_gather(workload, items))
    else:
        results = [workload.fn(item) for item in items]
    results[-1] = ("wrong",)
    with pytest.raises(AssertionError):
        workload.check(items, results)


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_workload_function_pickles_by_reference(name: str) -> None:
    fn = get(name).fn
    assert pickle.loads(pickle.dumps(fn)) is fn
    assert len(pickle.dumps(fn)) < 200


def test_workloads_are_deterministic(request: pytest.FixtureRequest) -> None:
    for workload in WORKLOADS.values():
        if workload.server is None:
            assert workload.items(3) == workload.items(3), workload.name


def test_md5_targets_are_found_where_expected() -> None:
    assert word_at(0) == "aaaaa"
    assert word_at(27) == "aaabb"
    assert [md5_matches(word_at(i)) for i in TARGET_INDICES] == [True] * len(TARGET_INDICES)
    assert not md5_matches(word_at(8))


def test_unknown_workload_lists_the_names() -> None:
    with pytest.raises(KeyError, match="md5-fine"):
        get("nope")


def test_server_workload_needs_a_url() -> None:
    with pytest.raises(ValueError, match="needs the URL"):
        get("http-blocking").items(3)


def test_http_server_answers_with_payload_and_404(http_url: str) -> None:
    parts = urllib.parse.urlsplit(http_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/item/5?delay=0&records=3")
    response = conn.getresponse()
    data = json.loads(response.read())
    assert response.status == 200
    assert data["id"] == 5
    assert len(data["records"]) == 3
    conn.close()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/nothing")
    assert conn.getresponse().status == 404
    conn.close()


def test_http_server_applies_the_delay() -> None:
    import time

    with http_server(delay=0.2) as url:
        t0 = time.perf_counter()
        assert http_get(f"{url}/item/1") == 1
        assert time.perf_counter() - t0 >= 0.2


def test_aio_server_holds_many_concurrent_connections() -> None:
    pytest.importorskip("aiohttp")
    import time

    raise_fd_limit()
    with aio_server(delay=0.5) as url:

        async def many() -> list[int]:
            return list(await asyncio.gather(*(ahttp_get(f"{url}/item/{i}") for i in range(500))))

        t0 = time.perf_counter()
        assert asyncio.run(many()) == list(range(500))
        # 500 requests of 0.5 s each overlap: far less than 500 * 0.5 s.
        assert time.perf_counter() - t0 < 10


def test_servers_stop_when_the_context_exits() -> None:
    for serve in (http_server, aio_server):
        with serve(delay=0.0) as url:  # type: ignore[operator]
            port = urllib.parse.urlsplit(url).port
            assert http_get(f"{url}/item/2") == 2
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)


def test_raise_fd_limit_reports_the_soft_limit() -> None:
    import resource

    assert raise_fd_limit() == resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@pytest.mark.parametrize("module", sorted({w.fn.__module__ for w in WORKLOADS.values()}))
def test_a_job_module_loads_only_what_its_jobs_need(module: str) -> None:
    """A worker unpickles a job by importing its module: as a user's function would, that loads the
    job's own needs, not the registry, the servers, or (for jobs that fetch nothing) an HTTP client.
    (The registry's imports cost each cold worker about 38 ms, which every suite timing paid.)"""
    import subprocess
    import sys

    script = f"import sys, json\nimport {module}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"gearshift._bench.workloads", "gearshift._bench.workloads_more", "gearshift._bench.servers"}
    if not module.endswith("jobs_net"):
        assert "http.client" not in loaded
