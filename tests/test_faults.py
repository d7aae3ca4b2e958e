"""Fault injection: every fault fails only its own item; the siblings still succeed.

Each case runs a few well-behaved items around one faulty item and checks the
faulty item's outcome, the siblings' results and (through pytest-timeout) that
the run ends in bounded time.
"""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import faults
import gearshift
from faults import executions, faulty
from gearshift import Failure, RemoteError, TaskTimeout, UnpicklableError, WorkerCrashed
from gearshift._errors import RemoteTraceback

MODES = ["sync", "async", "thread", "process"]
N = 8
BAD = 3


def items(fault: str | None, bad: int = BAD, n: int = N) -> list[tuple[int, str | None]]:
    return [(i, fault if i == bad else None) for i in range(n)]


def check_siblings(results: list[object], bad: int = BAD) -> None:
    assert len(results) == N
    for i, r in enumerate(results):
        if i != bad:
            assert r == i * 10, (i, r)


# -- crashes (process mode) -------------------------------------------------------


CRASHES = {
    "segfault": "SIGSEGV",
    "exit": "exited with code 3",
    "c_exit": "exited with code 4",
    "sigkill": "SIGKILL",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("chunksize", [1, 4, None])
@pytest.mark.parametrize("fault", sorted(CRASHES))
def test_crash_fails_only_its_item(fault: str, chunksize: int | None) -> None:
    results = gearshift.map(faulty, items(fault), mode="process", workers=2, chunksize=chunksize, errors="return")
    check_siblings(results)
    failure = results[BAD]
    assert isinstance(failure, Failure)
    assert isinstance(failure.exception, WorkerCrashed)
    assert failure.exception.index == BAD
    assert failure.index == BAD
    assert CRASHES[fault] in str(failure.exception)
    assert f"item {BAD}" in str(failure.exception)


@pytest.mark.timeout(30)
def test_crash_raises_with_index_when_errors_raise() -> None:
    with pytest.raises(WorkerCrashed, match="SIGKILL") as info:
        gearshift.map(faulty, items("sigkill"), mode="process", workers=2)
    assert info.value.index == BAD
    assert info.value.exitcode == -9


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", ["crash_pickling_result"])
def test_crash_while_pickling_the_result(fault: str) -> None:
    results = gearshift.map(faulty, items(fault), mode="process", workers=2, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, WorkerCrashed)
    assert "exited with code 6" in str(results[BAD].exception)


@pytest.mark.timeout(30)
def test_crash_while_unpickling_the_task() -> None:
    data = [(i, None) if i != BAD else (i, faults.ExitWhenUnpickled()) for i in range(N)]
    results = gearshift.map(faulty, data, mode="process", workers=2, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, WorkerCrashed)
    assert "exited with code 5" in str(results[BAD].exception)


@pytest.mark.timeout(30)
def test_executor_survives_a_crash() -> None:
    # The standard library breaks the whole pool here (BrokenProcessPool).
    with gearshift.ProcessPoolExecutor(2) as ex:
        futures = [ex.submit(faulty, item) for item in items("exit")]
        for i, f in enumerate(futures):
            if i == BAD:
                with pytest.raises(WorkerCrashed, match="exited with code 3"):
                    f.result(timeout=20)
            else:
                assert f.result(timeout=20) == i * 10
        assert ex.submit(faulty, (9, None)).result(timeout=20) == 90


@pytest.mark.timeout(30)
def test_workers_that_die_at_startup_are_not_respawned_forever() -> None:
    ex = gearshift.ProcessPoolExecutor(1, initializer=faults.crash_on_start)
    try:
        future = ex.submit(faulty, (1, None))
        with pytest.raises(BrokenProcessPool, match="died before they were ready"):
            future.result(timeout=20)
        with pytest.raises(BrokenProcessPool):
            ex.submit(faulty, (2, None))
    finally:
        ex.shutdown()


# -- pickling errors and remote exceptions -------------------------------------------


@pytest.mark.timeout(30)
def test_unpicklable_item_fails_only_that_item() -> None:
    data = [(i, None) if i != BAD else (i, threading.Lock()) for i in range(N)]  # type: ignore[misc]
    results = gearshift.map(faulty, data, mode="process", workers=2, chunksize=4, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, UnpicklableError)
    assert f"item {BAD}" in str(results[BAD].exception)


@pytest.mark.timeout(30)
def test_unpicklable_result_fails_only_that_item() -> None:
    results = gearshift.map(faulty, items("unpicklable_result"), mode="process", workers=2, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, UnpicklableError)
    assert "cannot be pickled" in str(results[BAD].exception)


@pytest.mark.timeout(30)
def test_unpicklable_exception_arrives_as_remote_error() -> None:
    results = gearshift.map(faulty, items("unpicklable_exception"), mode="process", workers=2, errors="return")
    check_siblings(results)
    error = results[BAD].exception
    assert isinstance(error, RemoteError)
    assert error.type_name == "faults.UnpicklableError"
    assert error.message == "cannot travel"
    assert "in act" in error.traceback
    assert "in act" in results[BAD].traceback


@pytest.mark.timeout(30)
def test_exception_keeps_type_and_remote_traceback() -> None:
    with pytest.raises(ValueError, match="bad item") as info:
        gearshift.map(faulty, items("raise"), mode="process", workers=2)
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "in act" in cause.traceback
    assert 'raise ValueError("bad item")' in cause.traceback


# -- timeouts ------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
def test_timeout_fails_only_the_late_item(mode: str) -> None:
    start = time.monotonic()
    results = gearshift.map(faulty, items("hang"), mode=mode, workers=2, timeout=0.5, errors="return")
    elapsed = time.monotonic() - start
    check_siblings(results)
    error = results[BAD].exception
    assert isinstance(error, TaskTimeout)
    assert isinstance(error, TimeoutError)
    assert error.index == BAD
    assert error.timeout == 0.5
    assert elapsed < 20  # the hanging item sleeps 60 s: nobody waited for it


@pytest.mark.timeout(30)
def test_timeout_raises_when_errors_raise() -> None:
    with pytest.raises(TaskTimeout, match="was killed and replaced") as info:
        gearshift.map(faulty, items("hang"), mode="process", workers=2, timeout=0.5)
    assert info.value.index == BAD


@pytest.mark.timeout(30)
def test_timeout_keeps_finished_items_of_the_killed_chunk(tmp_path: Path) -> None:
    # One chunk of 8: items 0..2 finish before item 3 hangs and its worker is
    # killed.  They must not run again; items 4..7 run once, on a new worker.
    fn = functools.partial(faulty, marks=str(tmp_path))
    results = gearshift.map(fn, items("hang"), mode="process", workers=1, chunksize=N, timeout=1.0, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, TaskTimeout)
    assert [executions(tmp_path, i) for i in range(N)] == [1] * N


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["process", "thread", "async"])
def test_timeout_with_async_function(mode: str) -> None:
    import asyncio

    async def fn(x: int) -> int:
        await asyncio.sleep(30 if x == BAD else 0.01)
        return x * 10

    results = gearshift.map(fn, range(N), mode=mode, workers=2, timeout=0.5, errors="return")
    check_siblings(results)
    assert isinstance(results[BAD].exception, TaskTimeout)
    assert results[BAD].exception.index == BAD


@pytest.mark.timeout(30)
def test_thread_mode_keeps_its_capacity_after_a_timeout() -> None:
    # Both workers get a hanging item; the rest must still run, on replacement threads.
    data = [(i, "hang" if i in (0, 1) else None) for i in range(N)]
    results = gearshift.map(faulty, data, mode="thread", workers=2, chunksize=1, timeout=0.3, errors="return")
    assert [type(r.exception) for r in results[:2]] == [TaskTimeout, TaskTimeout]
    assert results[2:] == [i * 10 for i in range(2, N)]


# -- retries -------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", MODES)
def test_retry_recovers_from_an_exception(mode: str, tmp_path: Path) -> None:
    fn = functools.partial(faults.first_time, marks=str(tmp_path))
    results = gearshift.map(fn, items("raise"), mode=mode, workers=2, retries=1)
    assert results == [i * 10 for i in range(N)]
    assert executions(tmp_path, BAD) == 2


@pytest.mark.timeout(30)
@pytest.mark.parametrize("fault", ["sigkill", "hang"])
def test_retry_recovers_from_a_crash_or_timeout(fault: str, tmp_path: Path) -> None:
    fn = functools.partial(faults.first_time, marks=str(tmp_path))
    results = gearshift.map(fn, items(fault), mode="process", workers=2, retries=2, timeout=2.0)
    assert results == [i * 10 for i in range(N)]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_failure_records_attempts(mode: str, tmp_path: Path) -> None:
    fn = functools.partial(faulty, marks=str(tmp_path))
    results = gearshift.map(fn, items("raise"), mode=mode, workers=2, retries=2, errors="return")
    check_siblings(results)
    assert results[BAD].attempts == 3
    assert executions(tmp_path, BAD) == 3


@pytest.mark.timeout(30)
def test_retry_on_narrows_what_is_retried(tmp_path: Path) -> None:
    fn = functools.partial(faulty, marks=str(tmp_path))
    data = [(i, "raise" if i == 1 else "connection" if i == 2 else None) for i in range(N)]
    results = gearshift.map(fn, data, mode="thread", retries=2, retry_on=ConnectionError, errors="return")
    assert results[1].attempts == 1  # ValueError: not retried
    assert results[2].attempts == 3  # ConnectionError: retried twice
    assert isinstance(results[2].exception, ConnectionError)


@pytest.mark.timeout(30)
def test_retry_on_can_name_gearshift_errors(tmp_path: Path) -> None:
    fn = functools.partial(faulty, marks=str(tmp_path))
    data = [(i, "exit" if i == 1 else "raise" if i == 2 else None) for i in range(N)]
    results = gearshift.map(fn, data, mode="process", workers=2, retries=1, retry_on=(WorkerCrashed,), errors="return")
    assert results[1].attempts == 2
    assert results[2].attempts == 1
