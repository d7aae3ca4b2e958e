"""The lookahead keeps the CPUs its first item leaves idle busy: more items start on processes as the first
ones come back (``Lookahead._start_more``), handed out as one runner (``gearshift._auto.chain.Chain``), and
a plan made meanwhile knows that any mode but processes waits for them (``Machine.early_left``).

The live tests start items as the watcher does, from the test (no host's load decides when), and check what
ran and in which order, never how fast; the pricing is pure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from gearshift._auto.chain import Chain
from gearshift._auto.costs import Machine, estimates
from gearshift._auto.decide import decide
from gearshift._auto.gate import Gate
from gearshift._auto.lookahead import LOOKAHEAD_ITEMS, Lookahead
from gearshift._options import make_options
from gearshift._profile import Profile
from gearshift._task import CALL_ONE

#: seconds a test waits at most for something that takes milliseconds (a bound, not a sleep)
PATIENCE = 30.0


def tagged(args: tuple[int, str]) -> tuple[int, int]:
    """Item ``index`` with its process id; item 1 waits (bounded) for the file ``gate`` to exist; item 3 raises
    when ``gate`` is "fail"."""
    index, gate = args
    deadline = time.monotonic() + PATIENCE
    while index == 1 and gate not in ("", "fail") and not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.005)
    if index == 3 and gate == "fail":
        raise ValueError("item 3 fails")
    return index, os.getpid()


def started(items: list[Any], **options: Any) -> Lookahead:
    """A lookahead that started item 1 on processes while item 0 (taken, as the calling thread's) runs."""
    gate = Gate(iter(items), len(items))
    gate.take(1)
    lookahead = Lookahead(tagged, gate, make_options(mode="auto", **options), CALL_ONE, 1, lambda _: None)
    lookahead._armed = True  # (as arm() leaves it; the watcher is not needed to start)
    lookahead._start("process")
    assert lookahead.mode == "process" and lookahead.count == 1
    return lookahead


def back(lookahead: Lookahead, returned: int) -> None:
    assert lookahead.runner is not None
    deadline = time.monotonic() + PATIENCE
    while lookahead.runner.returned < returned and time.monotonic() < deadline:
        time.sleep(0.005)
    assert lookahead.runner.returned >= returned


def results(lookahead: Lookahead) -> list[Any]:
    lookahead.disarm()
    try:
        return [r for batch in lookahead.batches() for r in batch]
    finally:
        lookahead.close()


@pytest.mark.timeout(90)
def test_once_the_items_started_are_back_as_many_more_start_and_come_out_in_order() -> None:
    lookahead = started([(i, "") for i in range(8)], workers=2)
    back(lookahead, 1)
    lookahead._start_more()  # (the watcher's next look, the first item still running)
    assert lookahead.count == 2 and lookahead.gate.taken == 3
    back(lookahead, 2)
    lookahead._start_more()
    assert lookahead.count == 3
    out = results(lookahead)
    assert [index for index, _ in out] == [1, 2, 3]  # every stretch, in input order
    assert all(pid != os.getpid() for _, pid in out)  # on worker processes
    assert lookahead.gate.taken == 4  # the rest is the plan's


@pytest.mark.timeout(90)
def test_nothing_more_starts_while_items_started_are_out(tmp_path: Path) -> None:
    release = str(tmp_path / "release")
    lookahead = started([(i, release) for i in range(8)], workers=2)
    lookahead._start_more()  # item 1 waits for the file: still out
    assert lookahead.count == 1 and lookahead.gate.taken == 2
    Path(release).write_text("go")
    assert [index for index, _ in results(lookahead)] == [1]


@pytest.mark.timeout(90)
def test_nothing_more_starts_once_the_first_item_is_over() -> None:
    lookahead = started([(i, "") for i in range(8)], workers=2)
    back(lookahead, 1)
    lookahead.disarm()  # the first item ended: the measuring takes the input from here
    lookahead._start_more()
    assert lookahead.count == 1 and lookahead.gate.taken == 2
    assert [index for index, _ in results(lookahead)] == [1]


@pytest.mark.timeout(90)
def test_an_error_in_a_later_stretch_comes_after_the_earlier_results() -> None:
    lookahead = started([(i, "fail") for i in range(8)], workers=2)
    back(lookahead, 1)
    lookahead._start_more()
    back(lookahead, 2)
    lookahead._start_more()  # item 3, which fails
    assert lookahead.count == 3
    lookahead.disarm()
    out: list[Any] = []
    try:
        with pytest.raises(ValueError, match="item 3 fails"):
            for batch in lookahead.batches():
                out.extend(batch)
    finally:
        lookahead.close()
    assert [index for index, _ in out] == [1, 2]


@pytest.mark.timeout(90)
def test_the_early_items_stop_at_the_lookaheads_bound() -> None:
    lookahead = started([(i, "") for i in range(8)], workers=2)
    back(lookahead, 1)
    lookahead.count = LOOKAHEAD_ITEMS  # (as if that many had started)
    lookahead._start_more()
    assert lookahead.gate.taken == 2
    lookahead.count = 1
    assert [index for index, _ in results(lookahead)] == [1]


class Returned:
    """A runner of which ``returned`` submissions came back."""

    def __init__(self, returned: int) -> None:
        self.returned = returned


def test_the_time_left_is_the_last_starts_until_it_took_an_item() -> None:
    gate = Gate(iter(range(8)), 8)
    lookahead = Lookahead(tagged, gate, make_options(mode="auto"), CALL_ONE, 1, lambda _: None)
    assert lookahead.seconds_left(1.0) == 0.0  # nothing started
    lookahead.mode, lookahead.count = "process", 2
    lookahead.runner = Chain(Returned(1))  # type: ignore[arg-type]
    lookahead._last_start = time.perf_counter()
    assert 0.9 < lookahead.seconds_left(1.0) <= 1.0
    lookahead._last_start -= 2.0  # (started 2 s ago: due back already)
    assert lookahead.seconds_left(1.0) == 0.0
    lookahead._last_start += 2.0
    lookahead.runner = Chain(Returned(2))  # type: ignore[arg-type]
    assert lookahead.seconds_left(1.0) == 0.0  # all back
    lookahead.mode = "thread"
    lookahead.runner = Chain(Returned(1))  # type: ignore[arg-type]
    assert lookahead.seconds_left(1.0) == 0.0  # threads: the plan does not wait for them (they overlap)


# -- pricing (pure) ----------------------------------------------------------------------------


def two_second_items() -> Profile:
    return Profile(
        is_async=False,
        wall=(2.0,),
        cpu=(2.0,),
        fn_bytes=60,
        fn_pickle_seconds=20e-6,
        item_bytes=6,
        item_pickle_seconds=1e-6,
        result_bytes=40,
        result_pickle_seconds=1e-6,
    )


def test_every_mode_but_processes_waits_for_the_items_started_early() -> None:
    machine = Machine(cpus=2, process_pool_warm=True)
    options = make_options(mode="auto")
    now = {a.mode: a.seconds for a in estimates(two_second_items(), options, machine, 1)}
    later = {
        a.mode: a.seconds
        for a in estimates(two_second_items(), options, Machine(cpus=2, process_pool_warm=True, early_left=1.5), 1)
    }
    assert later["sync"] == pytest.approx(now["sync"] + 1.5)
    assert later["thread"] == pytest.approx(now["thread"] + 1.5)
    assert later["process"] == pytest.approx(now["process"])  # beside them, on the same pool


def test_the_last_item_goes_beside_the_early_ones_rather_than_after_them() -> None:
    # The first item ended while the early ones still run: one item is left, 2 s of work.
    options = make_options(mode="auto")
    assert decide(two_second_items(), options, Machine(cpus=2, process_pool_warm=True), 1).mode == "sync"
    busy = Machine(cpus=2, process_pool_warm=True, early_left=1.5)
    assert decide(two_second_items(), options, busy, 1).mode == "process"
