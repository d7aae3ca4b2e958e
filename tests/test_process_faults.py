"""Process mode at its edges: crashes without a timeout, the four pickle steps, BaseExceptions, forks.

Every item's executions are counted in files that survive a crash (``faults.executions``),
so "ran once" is checked, not assumed.  Contract: C3 (runs and attempts), C10
(BaseExceptions from fn), C11 (pickle faults fail their item alone).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import faults
import gearshift
from faults import executions
from gearshift import Failure, UnpicklableError, WorkerCrashed
from helpers import alive

N = 8
BAD = 3


def _items(fault: Any, n: int = N, bad: int = BAD) -> list[tuple[int, Any]]:
    return [(i, fault if i == bad else None) for i in range(n)]


def _runs(marks: Path, n: int = N) -> list[int]:
    return [executions(marks, i) for i in range(n)]


# -- C3: a crash without timeout= costs only the item that was running ---------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("retries", [0, 1, 2])
@pytest.mark.parametrize("chunksize", [N, 3, None])
def test_crash_without_timeout_runs_each_item_at_most_1_plus_retries(
    tmp_path: Path, retries: int, chunksize: int | None
) -> None:
    fn = functools.partial(faults.pickle_fault, marks=str(tmp_path))
    results = gearshift.map(
        fn, _items("exit"), mode="process", workers=1, chunksize=chunksize, retries=retries, errors="return"
    )
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, WorkerCrashed)
    assert failure.exception.index == BAD
    assert f"item {BAD}" in str(failure.exception)
    assert failure.attempts == 1 + retries
    expected = [1] * N
    expected[BAD] = 1 + retries
    assert _runs(tmp_path) == expected  # finished siblings never ran again


@pytest.mark.timeout(60)
def test_crash_without_timeout_errors_raise_hands_out_the_items_before(tmp_path: Path) -> None:
    fn = functools.partial(faults.pickle_fault, marks=str(tmp_path))
    got: list[int] = []
    with pytest.raises(WorkerCrashed) as info:
        for value in gearshift.imap(fn, _items("exit"), mode="process", workers=1, chunksize=N):
            got.append(value)
    assert got == [i * 10 for i in range(BAD)]
    assert info.value.index == BAD
    assert _runs(tmp_path)[: BAD + 1] == [1] * (BAD + 1)


@pytest.mark.timeout(60)
def test_crash_with_many_tiny_items_keeps_every_finished_one(tmp_path: Path) -> None:
    # Thousands of items per chunk: the crash comes deep inside a chunk that reports nothing until its end.
    n, bad = 10_000, 7_500
    log = tmp_path / "executions"
    data = [(i, "exit" if i == bad else None) for i in range(n)]
    fn = functools.partial(faults.logged, log=str(log))
    results = gearshift.map(fn, data, mode="process", workers=2, chunksize=n // 2, errors="return")
    assert isinstance(results[bad], Failure) and results[bad].exception.index == bad
    assert [r for i, r in enumerate(results) if i != bad] == [i * 10 for i in range(n) if i != bad]
    ran = sorted(int(line) for line in log.read_text().split())
    assert ran == list(range(n))  # each once, the crashing one included


# -- C11: the four pickle steps ------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", [None, 30.0])
@pytest.mark.parametrize(
    ("fault", "step"),
    [
        ("result_pickling_raises", "pickling the result in the worker"),
        ("result_unpickling_raises", "unpickling the result"),
        ("result_unpickling_exits", "unpickling the result"),
    ],
)
def test_a_result_that_fails_to_cross_fails_its_item_alone(
    tmp_path: Path, fault: str, step: str, timeout: float | None
) -> None:
    fn = functools.partial(faults.pickle_fault, marks=str(tmp_path))
    results = gearshift.map(fn, _items(fault), mode="process", workers=2, chunksize=4, timeout=timeout, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure), failure
    assert isinstance(failure.exception, UnpicklableError)
    assert failure.exception.step == step
    assert failure.exception.index == BAD
    assert f"item {BAD}" in str(failure.exception)
    assert _runs(tmp_path) == [1] * N


@pytest.mark.timeout(60)
def test_a_result_that_fails_to_cross_raises_like_any_item_error(tmp_path: Path) -> None:
    fn = functools.partial(faults.pickle_fault, marks=str(tmp_path))
    got: list[int] = []
    with pytest.raises(UnpicklableError, match=f"item {BAD}"):
        for value in gearshift.imap(fn, _items("result_unpickling_exits"), mode="process", workers=1, chunksize=N):
            got.append(value)
    assert got == [i * 10 for i in range(BAD)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("payload", "error"),
    [(faults.ExitsWhenUnpickled(), UnpicklableError), (faults.RaisesWhenUnpickled(), UnpicklableError)],
)
def test_an_item_that_fails_to_unpickle_in_the_worker_fails_alone(tmp_path: Path, payload: Any, error: type) -> None:
    fn = functools.partial(faults.item_index, marks=str(tmp_path))
    results = gearshift.map(fn, _items(payload), mode="process", workers=2, chunksize=4, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, error)
    assert failure.exception.index == BAD
    assert failure.exception.step == "unpickling the item in the worker"
    assert f"item {BAD}" in str(failure.exception)
    assert _runs(tmp_path) == [1 if i != BAD else 0 for i in range(N)]


@pytest.mark.timeout(60)
def test_an_item_that_exits_when_unpickled_never_ends_the_callers_program(tmp_path: Path) -> None:
    fn = functools.partial(faults.item_index, marks=str(tmp_path))
    with pytest.raises(UnpicklableError, match=f"item {BAD}"):
        gearshift.map(fn, _items(faults.ExitsWhenUnpickled()), mode="process", workers=2, chunksize=4)


@pytest.mark.timeout(60)
def test_an_item_that_crashes_the_worker_when_unpickled_spares_its_chunk(tmp_path: Path) -> None:
    fn = functools.partial(faults.item_index, marks=str(tmp_path))
    results = gearshift.map(
        fn, _items(faults.ExitWhenUnpickled()), mode="process", workers=2, chunksize=4, errors="return"
    )
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, WorkerCrashed)
    assert failure.exception.index == BAD
    assert "unpickling" in str(failure.exception)
    assert _runs(tmp_path) == [1 if i != BAD else 0 for i in range(N)]


# -- C10: a BaseException raised by fn comes back as itself --------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", [None, 30.0])
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("keyboard_interrupt", KeyboardInterrupt),
        ("system_exit", SystemExit),
        ("custom_base", faults.CustomBaseException),
    ],
)
def test_a_base_exception_from_fn_ends_the_run_as_itself(
    tmp_path: Path, fault: str, error: type, timeout: float | None
) -> None:
    fn = functools.partial(faults.pickle_fault, marks=str(tmp_path))
    with pytest.raises(error) as info:
        gearshift.map(
            fn, _items(fault), mode="process", workers=1, chunksize=N, retries=2, timeout=timeout, errors="return"
        )
    assert "SIGINT" not in str(info.value)
    assert executions(tmp_path, BAD) == 1  # never retried
    # What completed rides on the exception (which of it is the runner's business: a correct prefix).
    partial = info.value.partial_results  # type: ignore[union-attr]
    assert partial == [i * 10 for i in range(len(partial))] and len(partial) <= BAD


@pytest.mark.timeout(60)
def test_a_keyboard_interrupt_from_fn_reaches_an_executor_future() -> None:
    with gearshift.ProcessPoolExecutor(1) as ex:
        future = ex.submit(faults.pickle_fault, (0, "keyboard_interrupt"))
        with pytest.raises(KeyboardInterrupt):
            future.result(timeout=30)
        assert ex.submit(faults.pickle_fault, (1, None)).result(timeout=30) == 10  # the worker lives on


# -- forks inside fn -----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_child_forked_by_fn_never_answers_for_the_worker() -> None:
    results = gearshift.map(faults.fork_and_return, range(6), mode="process", workers=2, chunksize=2)
    assert results == ["parent"] * 6


@pytest.mark.timeout(60)
def test_what_fn_forks_dies_with_the_pool(tmp_path: Path) -> None:
    with gearshift.ProcessPoolExecutor(2) as ex:
        assert list(ex.map(faults.fork_sleeper, [(i, str(tmp_path)) for i in range(2)])) == [0, 1]
    grandchildren = [int(p.name) for p in tmp_path.iterdir()]
    assert len(grandchildren) == 2
    deadline = time.monotonic() + 10
    while any(alive(p) for p in grandchildren) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in grandchildren)


@pytest.mark.timeout(60)
def test_what_fn_forks_dies_with_a_crashed_worker(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    with gearshift.ProcessPoolExecutor(1) as ex:
        assert ex.submit(faults.fork_sleeper, (0, str(pids))).result(timeout=30) == 0
        with pytest.raises(WorkerCrashed):
            ex.submit(faults.pickle_fault, (1, "exit")).result(timeout=30)
        (grandchild,) = [int(p.name) for p in pids.iterdir()]
        deadline = time.monotonic() + 10
        while alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(grandchild)


# -- worker tracebacks keep the file and line of code pickled by value ------------------------------


@pytest.mark.timeout(60)
def test_a_main_function_traceback_names_its_file_and_line(tmp_path: Path) -> None:
    script = tmp_path / "main_script.py"
    script.write_text(
        textwrap.dedent(
            """
            import gearshift

            def fails(x):
                raise ValueError(f"bad {x}")  # the line the traceback must show

            try:
                gearshift.map(fails, [1], mode="process")
            except ValueError as exc:
                print(exc.__cause__.traceback)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert f'File "{script}", line 5, in fails' in out.stdout, out.stdout
    assert "the line the traceback must show" in out.stdout
    assert "<dynamic-code>" not in out.stdout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunksize", [N, 4])
def test_a_crash_after_results_that_need_another_pickler_keeps_them(tmp_path: Path, chunksize: int) -> None:
    # Items 1 and 2 return what the worker's outcome log cannot record as it is (a lambda,
    # a cycle): they are recorded another way, and survive the crash of item 5 all the same.
    log = tmp_path / "executions"
    fn = functools.partial(faults.odd_results, log=str(log))
    results = gearshift.map(fn, _items("exit", bad=5), mode="process", workers=1, chunksize=chunksize, errors="return")
    assert results[0] == 0 and results[1]() == 10
    assert results[2][0] == 20 and results[2][1] is results[2]
    assert results[3:5] == [30, 40] and results[6:] == [60, 70]
    assert isinstance(results[5], Failure) and results[5].exception.index == 5
    assert sorted(int(line) for line in log.read_text().split()) == list(range(N))


@pytest.mark.timeout(60)
def test_an_async_function_result_that_fails_to_cross_fails_its_item_alone(tmp_path: Path) -> None:
    async def fn(x: int) -> Any:
        return faults.RaisesWhenUnpickled() if x == BAD else x * 10

    results = gearshift.map(fn, range(N), mode="process", workers=1, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    assert isinstance(results[BAD], Failure) and results[BAD].exception.index == BAD


@pytest.mark.timeout(60)
def test_an_async_function_that_crashes_its_worker_fails_its_item_alone() -> None:
    # The items of an async chunk run one after another, each outcome recorded: the crash is the running one's.
    async def fn(x: int) -> int:
        if x == BAD:
            os._exit(4)
        return x * 10

    results = gearshift.map(fn, range(N), mode="process", workers=1, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    assert isinstance(results[BAD], Failure) and isinstance(results[BAD].exception, WorkerCrashed)
    assert results[BAD].exception.index == BAD


@pytest.mark.timeout(60)
@pytest.mark.parametrize("payload", [faults.ExitsWhenPickled(), faults.RaisesWhenPickled()])
def test_an_item_that_fails_to_pickle_here_fails_alone(tmp_path: Path, payload: Any) -> None:
    fn = functools.partial(faults.item_index, marks=str(tmp_path))
    results = gearshift.map(fn, _items(payload), mode="process", workers=2, chunksize=4, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, UnpicklableError)
    assert failure.exception.index == BAD and failure.exception.step == "pickling the item"
    assert _runs(tmp_path) == [1 if i != BAD else 0 for i in range(N)]


def test_a_frame_reader_closes_its_descriptor_once() -> None:
    # A dead worker's pipes are closed more than once on the way out; the second close
    # must not close whatever reused the number meanwhile (it was the pool's wake pipe).
    from gearshift._backends._frames import FrameReader

    r, w = os.pipe()
    reader = FrameReader(r)
    os.close(w)
    reader.close()
    reused_r, reused_w = os.pipe()
    try:
        assert r in (reused_r, reused_w)
        reader.close()
        os.fstat(r)  # still open
    finally:
        os.close(reused_r)
        os.close(reused_w)
