"""auto's lookahead: while a first item that waits runs alone, the next ones start on threads.

Real threads, real sleeps and real CPU work; what is checked is what ran when
(start and end stamps of each call), never how fast.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

import gearshift
from gearshift import Failure
from gearshift._auto import AutoRun
from gearshift._auto.lookahead import LOOKAHEAD_ITEMS, Lookahead, _watcher
from gearshift._auto.sampler import Sampler
from gearshift._options import make_options
from gearshift._task import CALL_ONE
from helpers import Recorder

pytestmark = pytest.mark.alone  # what starts while the first item runs is a matter of time

#: the first item's length: long enough for the lookahead to look at it twice on a busy machine
FIRST = 0.3


class Stamps(Recorder):
    """A :class:`~helpers.Recorder` that also notes when each item started and ended."""

    def __init__(self, work: Any) -> None:
        super().__init__(work)
        self.started: dict[Any, float] = {}
        self.ended: dict[Any, float] = {}

    def on_start(self, x: Any) -> None:
        self.started[x] = time.perf_counter()

    def on_end(self, x: Any) -> None:
        self.ended[x] = time.perf_counter()

    def overlapping_first(self) -> list[Any]:
        """Items (other than 0) that started while item 0 was still running."""
        return [x for x, t in self.started.items() if x != 0 and t < self.ended[0]]


def first_waits(x: int) -> int:
    time.sleep(FIRST if x == 0 else 0.005)
    return x * 2


def first_computes(x: int) -> int:
    end = time.thread_time() + (FIRST if x == 0 else 0.005)
    while time.thread_time() < end:
        pass
    return x * 2


@pytest.mark.timeout(60)
def test_a_first_item_that_waits_has_the_next_ones_started_on_threads() -> None:
    fn = Stamps(first_waits)
    out = gearshift.map(fn, range(60), mode="auto")
    assert out == [x * 2 for x in range(60)]
    assert sorted(fn.calls) == list(range(60))  # each item exactly once
    assert len(fn.overlapping_first()) >= 10


@pytest.mark.timeout(60)
def test_a_first_item_that_computes_runs_alone() -> None:
    fn = Stamps(first_computes)
    out = gearshift.map(fn, range(8), mode="auto")
    assert out == [x * 2 for x in range(8)]
    assert sorted(fn.calls) == list(range(8))
    assert fn.overlapping_first() == []


def computes_briefly(x: int) -> int:
    end = time.thread_time() + 0.002
    while time.thread_time() < end:
        pass
    return x


@pytest.mark.timeout(60)
def test_the_watcher_leaves_the_items_after_the_first_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # A look takes the GIL from an item that computes; measured, that handover looks like the
    # item went to sleep.  Only the first item is watched: once it is over, its run has no look
    # pending, and a look already on its way (popped just before) finds it disarmed and reads
    # nothing.  (Counting the watcher's sleeps in /proc instead depended on when a loaded
    # machine let it run: it was seen going to sleep once more after the first item.)
    looks: list[tuple[bool, bool]] = []  # (after the first item was measured, armed)
    measured = [False]
    look, observe = Lookahead.look, Sampler.observe

    def noting_look(self: Lookahead) -> float | None:
        looks.append((measured[0], self.armed))
        return look(self)

    def noting_observe(self: Sampler, *args: Any) -> None:
        if not measured[0]:
            assert _watcher()._due == [], "a look is still due once the first item is over"
            measured[0] = True
        observe(self, *args)

    monkeypatch.setattr(Lookahead, "look", noting_look)
    monkeypatch.setattr(Sampler, "observe", noting_observe)
    fn = Stamps(first_computes)
    assert gearshift.map(fn, range(8), mode="auto") == [x * 2 for x in range(8)]
    assert looks, "the first item (0.3 s of CPU) was never looked at"
    assert [armed for after, armed in looks if after] == [False] * sum(after for after, _ in looks)
    assert fn.overlapping_first() == []


@pytest.mark.timeout(60)
def test_items_started_early_count_against_workers() -> None:
    fn = Stamps(first_waits)
    assert gearshift.map(fn, range(40), mode="auto", workers=3) == [x * 2 for x in range(40)]
    assert fn.peak <= 3
    assert fn.overlapping_first()  # two more ran meanwhile
    fn = Stamps(first_waits)
    assert gearshift.map(fn, range(10), mode="auto", workers=1) == [x * 2 for x in range(10)]
    assert fn.peak == 1


@pytest.mark.timeout(60)
def test_the_report_says_how_long_the_items_started_early_took() -> None:
    # 3 items that wait 0.05 s, started early on 3 threads: their segment runs from their start to the last
    # one's end (it read 1 us before: the time between two lines of the code that recorded it)
    def f(x: int) -> int:
        time.sleep(FIRST if x == 0 else 0.05)
        return x

    fn = Stamps(f)
    with gearshift.reporting() as reports:
        assert gearshift.map(fn, range(4), mode="auto") == list(range(4))
    early = [s for s in reports[0].segments if s.what == "lookahead"]
    assert [(s.mode, s.workers, s.items) for s in early] == [("thread", 3, 3)]
    span = max(fn.ended[x] for x in range(1, 4)) - min(fn.started[x] for x in range(1, 4))
    assert span <= early[0].seconds < FIRST + 0.05


@pytest.mark.timeout(60)
def test_no_more_items_start_early_than_the_lookahead_allows() -> None:
    fn = Stamps(first_waits)
    n = LOOKAHEAD_ITEMS + 200
    assert gearshift.map(fn, range(n), mode="auto") == [x * 2 for x in range(n)]
    assert len(fn.overlapping_first()) >= 10
    # what started before item 0 ended: the lookahead's items, and none of the plan's (it starts after)
    assert max(fn.overlapping_first()) <= LOOKAHEAD_ITEMS


@pytest.mark.timeout(60)
def test_failures_among_the_early_items_keep_their_input_index() -> None:
    def fn(x: int) -> int:
        if x in (7, 250):
            raise ValueError(f"bad {x}")
        return first_waits(x)

    out = gearshift.map(fn, range(300), mode="auto", errors="return")
    failures = [(i, r.index) for i, r in enumerate(out) if isinstance(r, Failure)]
    assert failures == [(7, 7), (250, 250)]
    assert all(r == 2 * i for i, r in enumerate(out) if not isinstance(r, Failure))


@pytest.mark.timeout(60)
def test_errors_raise_in_an_early_item_hands_out_what_came_before() -> None:
    def fn(x: int) -> int:
        if x == 7:
            raise ValueError("bad 7")
        return first_waits(x)

    got: list[int] = []
    with pytest.raises(ValueError, match="bad 7"):
        for r in gearshift.imap(fn, range(100), mode="auto"):
            got.append(r)
    assert got == [x * 2 for x in range(7)]


@pytest.mark.timeout(60)
def test_closing_imap_while_items_run_early_stops_taking_input() -> None:
    taken: list[int] = []

    def source() -> Any:
        for x in range(10_000):
            taken.append(x)
            yield x

    fn = Stamps(first_waits)
    it = gearshift.imap(fn, source(), mode="auto")
    assert next(it) == 0
    it.close()  # type: ignore[attr-defined]
    assert len(taken) <= LOOKAHEAD_ITEMS + 2
    assert len(fn.calls) <= len(taken)
    calls = len(fn.calls)
    time.sleep(0.1)
    assert len(fn.calls) == calls  # nothing more starts after the close


@pytest.mark.timeout(60)
def test_the_plan_after_a_waiting_first_item_is_threads_and_keeps_order() -> None:
    n = LOOKAHEAD_ITEMS + 200  # more than the lookahead takes: a plan is made for the rest
    run = AutoRun(Stamps(first_waits), make_options(), CALL_ONE, False)
    out = [r for batch in run.batches(range(n)) for r in batch]
    assert out == [x * 2 for x in range(n)]
    assert run.plan is not None and run.plan.mode == "thread"


@pytest.mark.timeout(60)
def test_results_observers_see_every_early_item_once_with_its_input_index() -> None:
    from gearshift._call import _Run

    seen: dict[int, Any] = {}

    def observe(start: int, outcomes: list[Any], failed: int) -> None:
        for k, outcome in enumerate(outcomes):
            assert start + k not in seen, f"index {start + k} reported twice"
            seen[start + k] = outcome

    fn = Stamps(first_waits)
    n = LOOKAHEAD_ITEMS + 100
    run = _Run(fn, make_options(errors="return"), CALL_ONE, None, on_results=observe)
    results = [r for batch in run.batches(iter(range(n))) for r in batch]
    assert results == [x * 2 for x in range(n)]
    assert fn.overlapping_first()  # the lookahead did start items early
    assert sorted(seen) == list(range(n))
    assert all(seen[i] == 2 * i for i in range(n))


FRESH_INTERPRETER = """
import threading, time, gearshift
lock, started, ended, other = threading.Lock(), {}, {}, threading.Event()
def fetch(x):
    with lock:
        started[x] = time.perf_counter()
    if x:
        other.set()
        time.sleep(0.03)
    else:
        # The first item waits until another has started (at most 5 s, not a fixed 30 ms that a
        # loaded machine's watcher could miss): the lookahead's looks every 10-100 ms must see it wait.
        other.wait(5)
    with lock:
        ended[x] = time.perf_counter()
    return x
assert gearshift.map(fetch, range(40)) == list(range(40))
print(sum(1 for x, t in started.items() if x and t < ended[0]))
"""


@pytest.mark.timeout(60)
def test_the_first_run_in_a_fresh_interpreter_starts_items_early_too() -> None:
    """Armed right before the first item: gearshift's own first imports are not taken for the item computing."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", FRESH_INTERPRETER], capture_output=True, text=True, timeout=50)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 1, "no item started while the first one waited"
