"""Process mode counts runs exactly: async chunks after a crash, pickle faults never retried (C3, C11).

Every item's executions are counted in files that survive a crash (``faults.executions``),
so ``Failure.attempts`` is compared with what really ran.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

import faults
import gearshift
from faults import executions
from gearshift import Failure, UnpicklableError, WorkerCrashed

N = 6
BAD = 2


def _runs(marks: Path, n: int = N) -> list[int]:
    return [executions(marks, i) for i in range(n)]


async def _first_time_async(item: tuple[int, str | None], marks: str) -> int:
    """``faults.first_time`` as a coroutine: the item's fault happens on its first execution only."""
    index, fault = item
    if faults._seen(marks, index) == 0:
        if fault == "exit":
            os._exit(3)
        faults.act(fault)
    return index * 10


# -- C3: a crash in an async chunk costs only the item that was running ---------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("timeout", [None, 30.0])
@pytest.mark.parametrize("retries", [0, 1])
def test_async_chunk_crash_fails_only_the_running_item(tmp_path: Path, timeout: float | None, retries: int) -> None:
    # One chunk on one worker: item 0 raises, then item BAD kills the worker (first time only).
    items = [(i, "raise" if i == 0 else "exit" if i == BAD else None) for i in range(N)]
    fn = functools.partial(_first_time_async, marks=str(tmp_path))
    results = gearshift.map(
        fn, items, mode="process", workers=1, chunksize=N, timeout=timeout, retries=retries, errors="return"
    )
    if retries:
        assert results == [i * 10 for i in range(N)]
        assert _runs(tmp_path) == [2 if i in (0, BAD) else 1 for i in range(N)]
        return
    assert [r for i, r in enumerate(results) if i not in (0, BAD)] == [i * 10 for i in range(N) if i not in (0, BAD)]
    raised, crashed = results[0], results[BAD]
    assert isinstance(raised, Failure) and type(raised.exception) is ValueError and raised.attempts == 1
    assert isinstance(crashed, Failure) and isinstance(crashed.exception, WorkerCrashed)
    assert crashed.exception.index == BAD and crashed.attempts == 1
    assert _runs(tmp_path) == [1] * N  # the siblings that had finished never ran again


# -- C3 / C11: a pickle fault is never retried; attempts counts the runs that happened ---------------

# (payload of item BAD, the step named, how many times fn got the item)
_ITEM_STEPS = [
    (faults.RaisesWhenPickled(), "pickling the item", UnpicklableError),
    (faults.RaisesWhenUnpickled(), "unpickling the item in the worker", UnpicklableError),
    (faults.ExitsWhenUnpickled(), "unpickling the item in the worker", UnpicklableError),
    (faults.ExitWhenUnpickled(), "unpickling the item in the worker", WorkerCrashed),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("chunksize", [1, N])
@pytest.mark.parametrize(("payload", "step", "error"), _ITEM_STEPS, ids=["pickle", "raises", "sys-exit", "crash"])
def test_an_item_that_never_reaches_fn_is_not_retried_and_has_0_attempts(
    tmp_path: Path, chunksize: int, payload: Any, step: str, error: type[Exception]
) -> None:
    fn = functools.partial(faults.item_index, marks=str(tmp_path))
    items = [(i, payload if i == BAD else None) for i in range(N)]
    results = gearshift.map(fn, items, mode="process", workers=1, chunksize=chunksize, retries=2, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, error)
    assert failure.exception.index == BAD and failure.exception.step == step
    assert failure.attempts == 0  # it never ran: each of these steps comes before fn
    assert _runs(tmp_path) == [0 if i == BAD else 1 for i in range(N)]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("is_async", [False, True])
@pytest.mark.parametrize(
    ("fault", "step"),
    [
        ("result_pickling_raises", "pickling the result in the worker"),
        ("result_unpickling_raises", "unpickling the result"),
        ("result_unpickling_exits", "unpickling the result"),
    ],
)
def test_a_result_that_does_not_cross_is_not_retried_and_has_1_attempt(
    tmp_path: Path, fault: str, step: str, is_async: bool
) -> None:
    marks = str(tmp_path)
    if is_async:

        async def fn(item: tuple[int, str | None]) -> Any:
            return faults.pickle_fault(item, marks)

    else:
        fn = functools.partial(faults.pickle_fault, marks=marks)  # type: ignore[assignment]
    items = [(i, fault if i == BAD else None) for i in range(N)]
    results = gearshift.map(fn, items, mode="process", workers=1, chunksize=N, retries=2, errors="return")
    assert [r for i, r in enumerate(results) if i != BAD] == [i * 10 for i in range(N) if i != BAD]
    failure = results[BAD]
    assert isinstance(failure, Failure) and isinstance(failure.exception, UnpicklableError)
    assert failure.exception.index == BAD and failure.exception.step == step
    assert failure.attempts == 1
    assert _runs(tmp_path) == [1] * N


# -- the outcome log keeps each finished outcome exactly, whatever its type -----------------------

VALUES: list[Any] = [7, -(2**63), 2**63 - 1, 2**63, -(2**70), True, 0, 2.5, "s", None, (1, "a"), b"\x01", False]


def _value_then_crash(item: tuple[int, int], marks: str) -> Any:
    index, crash_at = item
    if faults._seen(marks, index) == 0 and index == crash_at:
        os._exit(3)
    return VALUES[index % len(VALUES)]


async def _avalue_then_crash(item: tuple[int, int], marks: str) -> Any:
    return _value_then_crash(item, marks)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("is_async", [False, True])
def test_outcomes_before_a_crash_come_back_with_their_types(tmp_path: Path, is_async: bool) -> None:
    # Ints are packed in the log, not pickled: bools, ints past 64 bits and the rest keep their types.
    n = len(VALUES) + 1
    items = [(i, n - 1) for i in range(n)]
    fn = _avalue_then_crash if is_async else _value_then_crash
    results = gearshift.map(
        functools.partial(fn, marks=str(tmp_path)), items, mode="process", workers=1, chunksize=n, errors="return"
    )
    expected = [VALUES[i % len(VALUES)] for i in range(n - 1)]
    assert results[: n - 1] == expected
    assert [type(r) for r in results[: n - 1]] == [type(v) for v in expected]
    assert isinstance(results[-1], Failure) and isinstance(results[-1].exception, WorkerCrashed)
    assert _runs(tmp_path, n - 1) == [1] * (n - 1)


def _ints_raise_crash(item: tuple[int, str | None], marks: str) -> int:
    index, fault = item
    if faults._seen(marks, index) == 0 and fault == "exit":
        os._exit(3)
    if fault == "raise":
        raise ValueError(f"item {index}")
    return index * 10


@pytest.mark.timeout(60)
@pytest.mark.parametrize("raise_at", [None, 0, 2])
def test_int_outcomes_before_an_error_and_a_crash_are_kept(tmp_path: Path, raise_at: int | None) -> None:
    # Int outcomes go to the log's int array until something else comes; a crash after that keeps them all.
    crash_at = 4
    items = [(i, "raise" if i == raise_at else "exit" if i == crash_at else None) for i in range(N)]
    results = gearshift.map(
        functools.partial(_ints_raise_crash, marks=str(tmp_path)),
        items,
        mode="process",
        workers=1,
        chunksize=N,
        errors="return",
    )
    for i, r in enumerate(results):
        if i == raise_at:
            assert isinstance(r, Failure) and type(r.exception) is ValueError and r.attempts == 1
        elif i == crash_at:
            assert isinstance(r, Failure) and isinstance(r.exception, WorkerCrashed) and r.exception.index == i
        else:
            assert r == i * 10 and type(r) is int
    assert _runs(tmp_path) == [1] * N


def _fork_then_int(x: int, marks: str) -> int:
    faults._seen(marks, x)
    pid = os.fork()
    if pid == 0:
        return -x  # the child comes back into gearshift: it must end there, silently
    os.waitpid(pid, 0)
    return x


@pytest.mark.timeout(60)
def test_a_forked_child_returning_an_int_never_speaks_for_the_worker(tmp_path: Path) -> None:
    fn = functools.partial(_fork_then_int, marks=str(tmp_path))
    assert gearshift.map(fn, range(N), mode="process", workers=1, chunksize=N) == list(range(N))
    assert _runs(tmp_path) == [1] * N  # the child ran no other item
