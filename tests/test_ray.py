"""What only mode="ray" does: worker deaths retried by Ray, forced stops, the Ray connection.

The shared behaviour is in test_contract.py, which runs against mode="ray" too.
These tests use the local Ray that mode="ray" starts (127.0.0.1, no dashboard).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

import gearshift
from helpers import Boom, fail_on_3

ray = pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


def log_and_maybe_die(arg: tuple[int, str, int, bool]) -> int:
    """Logs the run; item ``victim`` kills its worker process (once, or every time)."""
    x, folder, victim, every_time = arg
    with open(Path(folder) / "log", "a") as f:
        f.write(f"{x}\n")
    if x == victim:
        try:
            fd = os.open(Path(folder) / "died", os.O_CREAT | os.O_EXCL)
            os.close(fd)
            first = True
        except FileExistsError:
            first = False
        if first or every_time:
            os.kill(os.getpid(), signal.SIGKILL)
    return x


def logged_sleep(arg: tuple[int, str, float]) -> int:
    x, log, seconds = arg
    with open(log, "a") as f:
        f.write(f"{x}\n")
    time.sleep(seconds)
    return x


def _executions(log: Path) -> Counter[int]:
    return Counter(int(line) for line in log.read_text().split()) if log.exists() else Counter()


def test_dead_worker_is_retried_by_ray_and_nothing_else_runs_twice(tmp_path: Path) -> None:
    items = [(i, str(tmp_path), 5, False) for i in range(30)]
    assert gearshift.map(log_and_maybe_die, items, mode="ray", chunksize=1) == list(range(30))
    runs = _executions(tmp_path / "log")
    assert runs[5] == 2
    assert all(runs[i] == 1 for i in range(30) if i != 5)  # results live in Ray's object store, not the worker


@pytest.mark.slow
def test_item_that_always_kills_its_worker_fails_alone(tmp_path: Path) -> None:
    items = [(i, str(tmp_path), 2, True) for i in range(5)]
    results = gearshift.map(log_and_maybe_die, items, mode="ray", chunksize=1, errors="return")
    assert results[:2] == [0, 1] and results[3:] == [3, 4]
    failure = results[2]
    assert isinstance(failure, gearshift.Failure)
    assert isinstance(failure.exception, gearshift.WorkerCrashed)
    assert "item 2" in str(failure.exception)


def test_timeout_fails_the_slow_item_and_keeps_the_others() -> None:
    results = gearshift.map(time.sleep, [0, 3, 0, 0], mode="ray", timeout=0.5, errors="return")
    assert results[0] is None and results[2:] == [None, None]
    assert isinstance(results[1], gearshift.Failure)
    assert isinstance(results[1].exception, gearshift.TaskTimeout)


def test_breaking_out_of_imap_cancels_the_submitted_tasks(tmp_path: Path) -> None:
    log = tmp_path / "log"
    gearshift.map(abs, [1], mode="ray")  # Ray and its workers are up: the count below measures the work only
    items = [(i, str(log), 0.3) for i in range(100)]
    results = gearshift.imap(logged_sleep, items, mode="ray", chunksize=1)
    assert next(results) == 0
    results.close()  # type: ignore[attr-defined]
    started = len(_executions(log))
    time.sleep(1.5)  # uncancelled, 2 workers would start ~10 more items in this time
    assert len(_executions(log)) <= started + 2, "work went on after the iteration stopped"


def test_executor_submit_brings_the_remote_traceback() -> None:
    with gearshift.Executor("ray", workers=2) as ex:
        assert ex.submit(pow, 2, 5).result(timeout=60) == 32
        with pytest.raises(Boom) as info:
            ex.submit(fail_on_3, 3).result(timeout=60)
    assert isinstance(info.value.__cause__, gearshift.RemoteTraceback)
    assert "fail_on_3" in str(info.value.__cause__)


def test_another_address_while_ray_runs_is_refused() -> None:
    gearshift.map(abs, [1], mode="ray")  # the local Ray is up
    with pytest.raises(RuntimeError, match="already initialised"):
        gearshift.map(abs, [1], mode="ray", address="10.0.0.1:6379")


def test_missing_ray_names_the_extra() -> None:
    # Only Ray is hidden (None in sys.modules: `import ray` fails), wherever it is installed; gearshift's own
    # dependencies stay importable.
    src = str(Path(gearshift.__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.modules['ray'] = None; sys.path.insert(0, {src!r}); "
        "import gearshift; gearshift.map(abs, [1], mode='ray')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "MissingDependencyError" in out.stderr and "pip install gearshift[ray]" in out.stderr


def test_a_leftover_ray_current_cluster_file_does_not_hijack_the_local_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    # `ray start --head` records its address there; ray.init() alone would join it (even a dead one).
    root = tempfile.mkdtemp(prefix="gsray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    (Path(root) / "ray").mkdir()
    (Path(root) / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
    monkeypatch.setenv("RAY_TMPDIR", root)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    try:
        assert gearshift.map(abs, [-1, -2], mode="ray", workers=1) == [1, 2]
    finally:
        shutil.rmtree(root, ignore_errors=True)
