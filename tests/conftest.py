"""Shared fixtures: the behaviour suite runs once per execution mode; a real Redis server for the stores."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from gearshift._backends import BACKENDS

# The tests that send a real Ctrl-C (test_interrupt.py, test_auto_interrupt.py, test_cli_run.py,
# test_dask.py...) need SIGINT's usual disposition here and in the interpreters they start: a shell
# without job control starts a background job with SIGINT ignored, an exec keeps it ignored, and
# Python then installs no KeyboardInterrupt handler. A terminal's disposition is restored.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Hypothesis profiles for the contract harness (tests/test_semantics*.py, docs/semantics.md).
# "ci": derandomized (the same examples every run), fits the CI budget; "deep": random, at
# least 30 minutes: GEARSHIFT_HYPOTHESIS_PROFILE=deep pytest tests/test_semantics.py
# -p no:cacheprovider --hypothesis-seed=N --hypothesis-show-statistics
# (the harness scales each test's own example count by the profile: see semantics_model.budget).
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_SLOW_OK)  # fmt: skip
settings.register_profile("deep", deadline=None, database=None, print_blob=True, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("GEARSHIFT_HYPOTHESIS_PROFILE", "ci"))

#: modes the contract suite runs against; GEARSHIFT_TEST_MODES narrows or extends it
MODES = [m for m in os.environ.get("GEARSHIFT_TEST_MODES", ",".join(BACKENDS)).split(",") if m]


@pytest.fixture(params=[pytest.param(m, marks=pytest.mark.ray) if m == "ray" else m for m in MODES])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under pytest-xdist, a test marked ``alone`` runs while no other test of the session runs.

    Every test holds a lock on one file of the session, shared; an ``alone`` test holds it
    exclusive.  A second lock, the turnstile, keeps the other process from taking the shared
    lock test after test while an ``alone`` test waits (flock has no queue).  Taken outside
    pytest-timeout's clock (this wrapper runs first), so the wait does not count against a
    test's timeout.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:  # one process: nothing runs beside it
        yield
        return
    folder = tempfile.gettempdir()
    turnstile = os.open(os.path.join(folder, f"gearshift-tests-{run}.turnstile"), os.O_RDWR | os.O_CREAT, 0o600)
    lock = os.open(os.path.join(folder, f"gearshift-tests-{run}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if item.get_closest_marker("alone"):
            fcntl.flock(lock, fcntl.LOCK_EX)  # holding the turnstile: no new test starts meanwhile
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        yield
    finally:
        os.close(turnstile)
        os.close(lock)  # releases the lock


@pytest.fixture(scope="module", autouse=True)
def _cold_pools_per_module() -> Iterator[None]:
    """Shut the warm shared pools down after each test module.

    A warm dask ``LocalCluster`` keeps its scheduler's and nannies' event loop
    busy in this process; left running, it would take the GIL and the CPU from
    every later test that measures timing.
    """
    yield
    from gearshift._pools import shutdown_shared

    shutdown_shared()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` on 127.0.0.1 and a free port, for this session; its ``redis://`` URL.

    Skipped (with the install command) when the binary is missing; ``.ci/run`` installs it.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install -y redis-server)")
    pytest.importorskip("redis", reason="the redis package is not installed: pip install gearshift[redis]")
    import redis

    folder = tmp_path_factory.mktemp("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:  # poll until it answers: the server needs a moment to listen
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port} (exit code {proc.poll()})") from None
                time.sleep(0.02)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A store URL on the session's server with a key of its own for this test."""
    return f"{redis_server}?key=test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _auto_forgets_native_functions() -> Iterator[None]:
    """Each test starts with auto's per-process memory of functions seen with native pools empty."""
    yield
    measure = sys.modules.get("gearshift._auto.measure")
    if measure is not None:
        measure._seen.clear()
    memory = sys.modules.get("gearshift._auto.memory")
    if memory is not None:  # (and its profiles of functions)
        memory.forget()


@pytest.fixture
def lean(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Auto calls start in the lean start as in a fresh interpreter; the runs auto takes over are collected."""
    from gearshift import _call, _lean

    monkeypatch.setattr(_lean, "auto_loaded", lambda: False)
    monkeypatch.setattr(_lean, "_rented", 0.0)  # (nothing rented by the tests before)
    runs: list[object] = []
    prepare_auto = _call.prepare_auto

    def spy(*args: object) -> object:
        run = prepare_auto(*args)
        runs.append(run)
        return run

    monkeypatch.setattr(_call, "prepare_auto", spy)
    return runs
