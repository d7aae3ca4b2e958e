"""``run_chunk``: the one place a chunk's items meet ``fn``, in C where it can be."""

from __future__ import annotations

import pytest

from gearshift._task import CALL_ARGS, CALL_ONE, CALL_STAR, Raised, Task
from gearshift._task_run import run_chunk


def fails_on_multiples_of_three(x: int) -> int:
    if x % 3 == 0:
        raise ValueError(f"bad {x}")
    return x * 10


def outcomes(task: Task) -> list[object]:
    return [f"raised {o.exception}" if isinstance(o, Raised) else o for o in run_chunk(task).outcomes]


def test_every_item_has_its_outcome_in_place_around_failures() -> None:
    calls: list[int] = []

    def fn(x: int) -> int:
        calls.append(x)
        return fails_on_multiples_of_three(x)

    result = run_chunk(Task(fn=fn, items=list(range(10)), call=CALL_ONE))
    assert calls == list(range(10))  # every item once, none repeated after a failure
    assert result.failures == 4
    assert [f"raised {o.exception}" if isinstance(o, Raised) else o for o in result.outcomes] == [
        "raised bad 0", 10, 20, "raised bad 3", 40, 50, "raised bad 6", 70, 80, "raised bad 9",
    ]  # fmt: skip


def test_stop_on_error_ends_the_chunk_at_the_first_failure() -> None:
    result = run_chunk(Task(fn=fails_on_multiples_of_three, items=[1, 2, 3, 4], stop_on_error=True))
    assert len(result.outcomes) == 3
    assert result.failures == 1


def test_star_and_keyword_conventions() -> None:
    assert outcomes(Task(fn=pow, items=[(2, 3), (0, -1), (3, 2)], call=CALL_STAR)) == [
        8, "raised 0.0 cannot be raised to a negative power", 9,
    ]  # fmt: skip
    assert outcomes(Task(fn=int, items=[(("7",), {}), (("ff",), {"base": 16})], call=CALL_ARGS)) == [7, 255]


@pytest.mark.parametrize("call", [CALL_ONE, CALL_STAR])
def test_stop_iteration_from_fn_does_not_end_the_chunk(call: int) -> None:
    # map() would end silently at a StopIteration; the item gets a RuntimeError instead
    # (as PEP 479 does for generators) and the items after it still run.
    def fn(x: int) -> int:
        if x == 2:
            raise StopIteration
        return x

    items = [0, 1, 2, 3] if call == CALL_ONE else [(0,), (1,), (2,), (3,)]
    result = run_chunk(Task(fn=fn, items=items, call=call))
    assert result.outcomes[:2] == [0, 1]
    assert result.outcomes[3] == 3
    raised = result.outcomes[2]
    assert isinstance(raised, Raised)
    assert isinstance(raised.exception, RuntimeError)
    assert "raised StopIteration" in str(raised.exception)
    assert result.failures == 1
