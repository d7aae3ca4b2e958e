"""The runner's ``on_results`` hook: every item reported once, with its index in the whole input."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

import gearshift
from gearshift._call import _Run
from gearshift._options import make_options
from gearshift._task import CALL_ONE


def _slow_square(x: int) -> int:
    if x % 97 == 5:
        time.sleep(0.002)  # some items slower, so completion order differs from input order
    if x == 300:
        raise ValueError("bad item")
    return x * x


@pytest.mark.parametrize("mode", ["auto", "sync", "async", "thread", "process"])
@pytest.mark.parametrize("ordered", [True, False])
def test_every_item_is_reported_once_with_its_input_index(mode: str, ordered: bool) -> None:
    seen: dict[int, Any] = {}
    failed = 0

    def observe(start: int, outcomes: list[Any], nfailed: int) -> None:
        nonlocal failed
        failed += nfailed
        for k, outcome in enumerate(outcomes):
            assert start + k not in seen, f"index {start + k} reported twice"
            seen[start + k] = outcome

    n = 2000
    options = make_options(mode=mode, ordered=ordered, errors="return")
    run = _Run(_slow_square, options, CALL_ONE, None, on_results=observe)
    results = [r for batch in run.batches(iter(range(n))) for r in batch]
    assert len(results) == n
    assert sorted(seen) == list(range(n))
    assert failed == 1
    assert isinstance(seen[300], gearshift.Failure)
    assert all(seen[i] == i * i for i in range(n) if i != 300)
    plan = run.current_plan
    assert plan is not None and plan.mode in ("sync", "async", "thread", "process")


def test_a_started_runner_reports_before_anyone_consumes_it() -> None:
    """Auto starts runners whose results are handed out later (items started while it measures):
    their finished items reach the observer as they finish, each once (issue 17, defect 8)."""
    from gearshift._plan import Plan
    from gearshift._pools import create_backend
    from gearshift._runner import Runner

    n = 64
    seen: dict[int, Any] = {}
    all_in = threading.Event()

    def observe(start: int, outcomes: list[Any], nfailed: int) -> None:
        for k, outcome in enumerate(outcomes):
            assert start + k not in seen, f"index {start + k} reported twice"
            seen[start + k] = outcome
        if len(seen) == n:
            all_in.set()

    backend = create_backend("thread", 4)
    try:
        runner = Runner(backend, _square, make_options(mode="thread", workers=4), Plan("thread", 4, None, ()))
        runner.on_results = observe
        runner.window = n  # every item in flight at once: nothing waits for the consumer to refill
        runner.start(iter(range(n)))
        assert all_in.wait(timeout=30), f"only {len(seen)} of {n} items were reported before the consumer came"
        results = [r for batch in runner.batches() for r in batch]
    finally:
        backend.shutdown(wait=True)
    assert results == [i * i for i in range(n)]
    assert seen == {i: i * i for i in range(n)}, "each item reported once, after consumption too"


def _square(x: int) -> int:
    return x * x


def test_chunks_watched_by_an_observer_hold_little_work() -> None:
    """A chunk reports when all of it is back: with an observer (a checkpoint) it holds at most about
    REPORT_SECONDS (0.05 s) of work, and one item until one was measured (not 1, 2, 4, ... items of unknown cost)."""
    from gearshift._plan import Plan
    from gearshift._pools import create_backend
    from gearshift._runner import Runner

    sizes: list[int] = []
    backend = create_backend("thread", 4)
    try:
        runner = Runner(
            backend,
            _nap,
            make_options(mode="thread", workers=4),
            Plan("thread", 4, None, ()),
            observer=lambda items, elapsed, cpu, nbytes: sizes.append(items),
            on_results=lambda start, outcomes, failed: None,
        )
        results = [r for batch in runner.batches(iter(range(200))) for r in batch]
    finally:
        backend.shutdown(wait=True)
    assert results == list(range(200))
    assert max(sizes) * NAP <= 0.1, f"chunks of {max(sizes)} items of {NAP} s: their first items wait for the last"


NAP = 0.02


def _nap(x: int) -> int:
    time.sleep(NAP)
    return x


def test_items_of_a_concurrent_chunk_report_as_each_one_ends() -> None:
    """mode="async" runs a chunk's items at once: an item that finished is reported then, not when its
    slowest sibling ends (a checkpoint would otherwise lose it to a crash meanwhile)."""
    released = threading.Event()
    seen: dict[int, Any] = {}

    async def slow_first(x: int) -> str:
        if x % 4 == 0:  # the first of each chunk of 4 waits until its siblings were reported
            for _ in range(1000):
                if released.is_set():
                    return "released"
                await asyncio.sleep(0.01)  # polling a threading.Event from a coroutine
            return "never released"
        return "fast"

    def observe(start: int, outcomes: list[Any], nfailed: int) -> None:
        for k, outcome in enumerate(outcomes):
            assert start + k not in seen, f"index {start + k} reported twice"
            seen[start + k] = outcome
        if {1, 2, 3} <= seen.keys():
            released.set()

    options = make_options(mode="async", workers=256)  # 256 // 64: chunks of 4 items running at once
    run = _Run(slow_first, options, CALL_ONE, None, on_results=observe)
    results = [r for batch in run.batches(iter(range(8))) for r in batch]
    assert results[0] == "released", "item 1..3 were reported only once item 0 ended"
    assert results == ["released", "fast", "fast", "fast", "released", "fast", "fast", "fast"]
    assert seen == dict(enumerate(results)), "each item reported once"
