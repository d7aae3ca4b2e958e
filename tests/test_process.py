"""What only the process backend does: real worker processes, pickling, reuse, no __main__ re-import."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gearshift
from gearshift._task import CALL_ONE, Task
from helpers import alive, getpid


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


def _killed(worker: Any) -> None:
    """Kill ``worker`` and wait until a send to it fails: its pipe has no reader left (all its threads gone)."""
    from gearshift._backends._process_pool import _kill

    _kill(worker)
    poller = select.poll()
    poller.register(worker.tx.fileno(), select.POLLOUT)
    deadline = time.monotonic() + 30
    while not any(event & select.POLLERR for _, event in poller.poll(10)) and time.monotonic() < deadline:
        pass
    assert not alive(worker.proc.pid)


def _jobs(backend: Any, n: int) -> list[Any]:
    """``n`` jobs of one item each, as ``submit`` makes them, not yet pending (the test sends them)."""
    from gearshift._backends import _crossing
    from gearshift._backends._process_pool import _Job

    jobs = []
    for i in range(n):
        task = Task(fn=getpid, items=[i], call=CALL_ONE, start=i)
        key, blob = backend._function_blob(task)
        jobs.append(_Job(task, next(backend._task_ids), key, blob, _crossing.dumps_items(task.items, i)))
    return jobs


def _started(backend: Any, hello: bool) -> Any:
    """The pool's one worker, started here (no manager thread), and ready when ``hello``."""
    backend._warming = True
    backend._keep_workers()
    (worker,) = backend._procs
    deadline = time.monotonic() + 30
    while hello and not worker.ready and time.monotonic() < deadline:
        backend._receive(worker)
        time.sleep(0.005)
    assert worker.ready == hello
    return worker


def _run_manager(backend: Any) -> None:
    backend._manager = threading.Thread(target=backend._manage, daemon=True)
    backend._manager.start()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hello", [False, True], ids=["before-its-hello", "after-its-hello"])
@pytest.mark.parametrize("zygote", [True, False], ids=["forked-by-the-zygote", "fresh-interpreter"])
def test_jobs_sent_to_a_worker_that_just_died_run_on_a_new_one(hello: bool, zygote: bool) -> None:
    """The manager sends jobs to a worker dead before its pipe's end of file was seen: a new worker runs them.

    The send fails and the dead worker's jobs go back to pending; the manager must start a
    worker for them then, or nothing ever wakes it (the deep semantics run's hang, 2026-12-05:
    an item's unpickling killed the worker while the next item was being sent to it).  Neither
    job is blamed: the worker died before it took them.  The manager's steps run here, on
    this thread, so the order is fixed, not raced.
    """
    from gearshift._backends._process import Backend

    backend = Backend(1)
    backend._use_zygote = backend._use_zygote and zygote
    try:
        dead = _started(backend, hello)
        _killed(dead)
        jobs = _jobs(backend, 2)
        backend._pending.extend(jobs)

        backend._settle()

        assert not backend._pending, "jobs were left waiting with no worker to run them"
        (new,) = backend._procs
        assert new is not dead and list(new.outstanding) == jobs
        _run_manager(backend)
        assert [job.future.result(timeout=30).outcomes for job in jobs] == [[new.proc.pid]] * 2
    finally:
        backend.shutdown()


@pytest.mark.timeout(60)
def test_a_job_whose_workers_die_before_taking_it_twice_fails_with_a_clear_error() -> None:
    """A job is sent again once when its worker died before taking it; the next such death fails it, clearly.

    (So a job that kills every worker before it is even taken, say one too big to receive,
    cannot go round forever.)  The job here was sent again once already; the one behind it runs.
    """
    from gearshift._backends._process import Backend

    backend = Backend(1)
    try:
        _killed(_started(backend, True))
        jobs = _jobs(backend, 2)
        jobs[0].resent = True
        backend._pending.extend(jobs)

        backend._settle()

        with pytest.raises(gearshift.WorkerCrashed, match=r"before it started the task \(item 0\)"):
            jobs[0].future.result(timeout=0)
        (new,) = backend._procs
        _run_manager(backend)
        assert jobs[1].future.result(timeout=30).outcomes == [new.proc.pid]
    finally:
        backend.shutdown()
