"""mode="auto" with an input that raises (C9) and a BaseException from fn (C10), in each measuring phase.

The auto driver reads the input through a Gate, in phases: items one at a
time (sample), items started on threads while the first one waits
(lookahead), items on threads at once (the probe, for work that computes
and cannot be pickled), then the plan.  Wherever the input raises, the items
read before it run and their results come out, in order, then the input's
own exception.  A BaseException raised by fn is raised as itself, never
retried, never a Failure.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import gearshift


def nap(x: int) -> int:
    """Waits: its first item has the lookahead start the next ones on threads."""
    time.sleep(0.05)
    return 2 * x


def spin(x: int) -> int:
    end = time.perf_counter() + 0.005
    while time.perf_counter() < end:
        pass
    return 2 * x


class _Unpicklable:
    """Computes and cannot be pickled (it holds a lock): measured on threads (the probe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __call__(self, x: int) -> int:
        with self.lock:
            pass
        return spin(x)


spin_here = _Unpicklable()


async def anap(x: int) -> int:
    await asyncio.sleep(0.01)
    return 2 * x


def quick(x: int) -> int:
    return 2 * x


FUNCTIONS: dict[str, Callable[[int], Any]] = {
    "waits": nap,
    "computes": spin,
    "computes-unpicklable": spin_here,
    "coroutine": anap,
    "trivial": quick,
}


class Broken(OSError):
    pass


def broken_input(n: int, at: int) -> Iterator[int]:
    for i in range(n):
        if i == at:
            raise Broken(f"the input broke at item {i}")
        yield i


@pytest.mark.timeout(60)
@pytest.mark.parametrize("errors", ["raise", "return"])
@pytest.mark.parametrize("at", [0, 1, 2, 3, 9, 30, 200])
@pytest.mark.parametrize("fn", list(FUNCTIONS))
def test_an_input_that_raises_delivers_what_came_before_then_its_error(fn: str, at: int, errors: str) -> None:
    seen: list[Any] = []
    with pytest.raises(Broken, match=f"at item {at}$"):
        for value in gearshift.imap(FUNCTIONS[fn], broken_input(1000, at), mode="auto", errors=errors):
            seen.append(value)
    assert seen == [2 * i for i in range(at)]


class Halt(BaseException):
    pass


class _Halting:
    """Calls ``fn``, raising :class:`Halt` on item ``at``; counts the calls per item.

    It cannot be pickled (it holds a lock), so auto keeps it in this process, where the
    measuring phases run: worker processes' side of C10 is tested with process mode.
    """

    def __init__(self, fn: Callable[[int], Any], at: int) -> None:
        self.fn, self.at, self.calls = fn, at, Counter[int]()
        self.lock = threading.Lock()

    def __call__(self, x: int) -> Any:
        self.calls[x] += 1
        if x == self.at:
            raise Halt(x)
        return self.fn(x)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("errors", ["raise", "return"])
@pytest.mark.parametrize("at", [0, 1, 3, 9, 30])  # waits: sample, lookahead, plan; computes: sample, probe, plan
@pytest.mark.parametrize("fn", ["waits", "computes"])
def test_a_base_exception_from_fn_is_raised_as_itself_and_never_retried(fn: str, at: int, errors: str) -> None:
    halting = _Halting(FUNCTIONS[fn], at)
    seen: list[Any] = []
    with pytest.raises(Halt):
        for value in gearshift.imap(halting, range(100), mode="auto", retries=2, errors=errors):
            seen.append(value)
    assert halting.calls[at] == 1
    assert seen == [2 * i for i in range(len(seen))]
    assert len(seen) <= at
