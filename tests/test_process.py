"""What only the process backend does: real worker processes, pickling, reuse, no __main__ re-import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import gearshift
from gearshift._task import CALL_ONE, Task
from helpers import getpid


def test_work_runs_in_other_processes() -> None:
    pids = set(gearshift.map(getpid, range(40), mode="process", workers=2, chunksize=1))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_map_reuses_warm_workers_across_calls() -> None:
    first = set(gearshift.map(getpid, range(20), mode="process", workers=2, chunksize=1))
    second = set(gearshift.map(getpid, range(20), mode="process", workers=2, chunksize=1))
    assert first & second, "the second call should run on the workers the first one started"


def test_executor_reuses_its_workers() -> None:
    with gearshift.ProcessPoolExecutor(max_workers=1) as ex:
        pids = {ex.submit(getpid, None).result(timeout=30) for _ in range(5)}
    assert len(pids) == 1


def test_max_tasks_per_child_replaces_workers() -> None:
    with gearshift.ProcessPoolExecutor(max_workers=1, max_tasks_per_child=2) as ex:
        pids = [ex.submit(getpid, None).result(timeout=30) for _ in range(6)]
    assert len(set(pids)) == 3


def test_initializer_runs_in_each_worker(tmp_path: Path) -> None:
    with gearshift.ProcessPoolExecutor(max_workers=2, initializer=_touch, initargs=(str(tmp_path),)) as ex:
        pids = set(ex.map(getpid, range(50)))
    assert {int(p.name) for p in tmp_path.iterdir()} >= pids


def _touch(folder: str) -> None:
    Path(folder, str(os.getpid())).touch()


def test_works_from_a_threaded_program() -> None:
    """Workers are fresh interpreters, not forks of a parent that holds locks in other threads."""
    results: list[list[int]] = []
    stop = threading.Event()
    busy = threading.Thread(target=lambda: stop.wait(), daemon=True)
    busy.start()
    worker = threading.Thread(target=lambda: results.append(gearshift.map(abs, [-1, -2], mode="process")))
    worker.start()
    worker.join(timeout=30)
    stop.set()
    assert results == [[1, 2]]


def test_script_without_main_guard_is_not_re_executed(tmp_path: Path) -> None:
    script = tmp_path / "no_guard.py"
    script.write_text(
        textwrap.dedent(
            """
            import gearshift
            print("top level ran", flush=True)
            def square(x):
                return x * x
            print(gearshift.map(square, range(5), mode="process"), flush=True)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["top level ran", "[0, 1, 4, 9, 16]"]


def test_worker_crash_fails_only_its_item() -> None:
    result = gearshift.map(_exit_on_2, range(6), mode="process", workers=2, errors="return")
    assert [r for i, r in enumerate(result) if i != 2] == [0, 1, 3, 4, 5]
    failure = result[2]
    assert isinstance(failure, gearshift.Failure)
    assert isinstance(failure.exception, gearshift.WorkerCrashed)
    assert failure.exception.index == 2 and failure.exception.exitcode == 3
    assert "exited with code 3 while running item 2" in str(failure.exception)


def _exit_on_2(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x


def test_unpicklable_exception_arrives_as_remote_error() -> None:
    with pytest.raises(gearshift.RemoteError) as info:
        gearshift.map(_raise_unpicklable, [1], mode="process")
    assert info.value.type_name.endswith("Unpicklable")
    assert "holds a lock" in info.value.message
    assert "_raise_unpicklable" in info.value.traceback


class Unpicklable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def _raise_unpicklable(x: int) -> int:
    raise Unpicklable("holds a lock")


def test_warm_starts_the_workers_before_any_work() -> None:
    from gearshift._backends._process import Backend

    backend = Backend(2)
    try:
        assert not backend.ready()
        backend.warm()
        deadline = time.monotonic() + 30
        while not backend.ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert backend.ready()
        pids = {p.proc.pid for p in backend._procs}
        assert len(pids) == 2
        fut = backend.submit(Task(fn=getpid, items=[0], call=CALL_ONE))
        assert fut.result(timeout=30).outcomes[0] in pids  # no new worker was needed
    finally:
        backend.shutdown()
