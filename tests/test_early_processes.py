"""auto's early processes: while a first item that computes runs alone, the next ones start on worker processes.

The decisions (when, how many) are pure functions tested with made-up
figures; the live tests check what ran where and beside what (process ids,
a file one item writes and the other waits for), never how fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import gearshift
from gearshift._auto.early import EARLY_PROCESSES_AFTER, next_look, process_items, shippable, start_processes
from gearshift._auto.gate import Gate
from gearshift._auto.lookahead import Lookahead
from gearshift._cpu import usable_cpus
from gearshift._options import make_options
from gearshift._pools import discard_shared, is_warm, shared_backend
from gearshift._task import CALL_ONE

pytestmark = pytest.mark.alone  # what starts while the first item runs is a matter of time

#: how long the first item computes at most while it waits for the item beside it (a bound, not a sleep)
PATIENCE = 30.0

# -- the decisions, from made-up figures ---------------------------------------------------------


def test_one_item_per_cpu_the_first_leaves_idle() -> None:
    assert process_items(256, cpus=2) == 1
    assert process_items(256, cpus=8) == 7
    assert process_items(3, cpus=8) == 3  # capped already by workers= or the input's length
    assert process_items(256, cpus=1) == 0  # one CPU: nothing beside the first item
    assert process_items(0, cpus=8) == 0  # workers=1: nothing beside it either (contract C6)


def test_processes_start_once_the_first_item_has_computed_long_enough() -> None:
    after = EARLY_PROCESSES_AFTER
    assert start_processes(busy=after, elapsed=after)  # computed all along, long enough
    assert not start_processes(busy=after / 2, elapsed=after / 2)  # not yet long enough
    assert not start_processes(busy=0.1 * after, elapsed=2 * after)  # it waits: threads' business
    assert not start_processes(busy=1.0 * after, elapsed=2 * after)  # half waiting: mixed, not computing
    assert start_processes(busy=0.9, elapsed=1.0, after=0.5)
    assert not start_processes(busy=0.4, elapsed=0.4, after=0.5)


def test_an_item_watched_for_less_than_it_ran_counts_its_whole_run() -> None:
    # (the lean start's item: auto began watching it after it had run a while)
    assert start_processes(busy=0.01, elapsed=0.01, after=0.05, ran=0.15)
    assert not start_processes(busy=0.01, elapsed=0.01, after=0.05, ran=0.04)
    assert not start_processes(busy=0.002, elapsed=0.01, after=0.05, ran=0.15)  # it waited while watched


def test_an_adopted_items_computing_is_judged_without_the_load_beside_it() -> None:
    from gearshift._auto.early import without_the_load
    from gearshift._auto.first import FirstItem

    # started at 100.0 with 5.0 s of CPU; auto began loading at 100.010 (CPU 5.010: computing all along)
    first = FirstItem(1, 1, False, 100.0, 5.0, 7.0, 2.0, loading_from=100.010, loading_cpu=5.010, loading_queued=2.0)
    # loaded by 100.150, the item having had half the GIL meanwhile (CPU 5.080), queued 30 ms for a CPU
    t0, cpu0, queued0 = without_the_load(first, now=100.150, cpu=5.080, queued=2.030)
    assert (100.150 - t0, 5.080 - cpu0) == (pytest.approx(0.010), pytest.approx(0.010))  # the 10 ms before it
    assert queued0 == pytest.approx(2.030)  # (none queued before it)
    unread = FirstItem(1, 1, False, 100.0, 5.0, 7.0, None, loading_from=100.010, loading_cpu=None)
    assert without_the_load(unread, now=100.150, cpu=5.080, queued=None) == (100.0, 5.0, None)


def test_moved_on_leaves_out_a_stretch_the_item_did_not_run_for_itself() -> None:
    from gearshift._auto.early import moved_on

    # from 100.0 (5.0 s of CPU, 2.0 queued), held from 100.2 (CPU 5.19, queued 2.01) to 100.3 (5.191, 2.02)
    t0, cpu0, queued0 = moved_on((100.0, 5.0, 2.0), (100.2, 5.19, 2.01), (100.3, 5.191, 2.02))
    assert (t0, cpu0, queued0) == (pytest.approx(100.1), pytest.approx(5.001), pytest.approx(2.01))
    assert moved_on((100.0, 5.0, None), (100.2, 5.19, 2.01), (100.3, 5.191, 2.02))[2] is None


class _NoWatcher:
    """The lookahead's watcher, for a test that looks by hand: nothing is looked at behind its back."""

    def watch(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forget(self, lookahead: Any) -> None:
        pass


def test_an_item_held_while_auto_loaded_is_judged_from_when_it_runs_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._auto.first import FirstItem

    monkeypatch.setattr("gearshift._auto.lookahead._watcher", lambda: _NoWatcher())
    gate = Gate(iter(range(4)), 4)
    gate.take(1)  # the first item: this thread's, computing
    lookahead = Lookahead(lambda x: x, gate, make_options(mode="auto"), CALL_ONE, 2, lambda _: None)
    now, cpu = time.perf_counter(), time.thread_time()
    first = FirstItem(threading.get_ident(), threading.get_native_id(), False, now - 0.05, cpu - 0.05, 0.0)
    first.loading_from, first.loading_cpu, first.paused = now - 0.04, cpu - 0.04, True
    try:
        assert lookahead.arm(first)
        lookahead.look()  # the first look, the item held (gearshift._pause): judged on nothing
        time.sleep(0.03)  # still held: the lean start's helper lets go only after that look
        lookahead.resumed()
        computes_for(0.01)  # it runs again, and computes
        lookahead.look()
        assert not lookahead.started  # counted from when it ran again, it computes: nothing on threads
    finally:
        lookahead.close()


def test_the_watcher_looks_again_when_the_first_item_reaches_the_mark() -> None:
    assert next_look(0.04, elapsed=0.03, after=0.05) == pytest.approx(0.02)  # sooner than backing off
    assert next_look(0.01, elapsed=0.01, after=0.05) == 0.01  # backing off is sooner
    assert next_look(0.08, elapsed=0.06, after=0.05) == 0.08  # past the mark (it was mixed): as before


def test_what_does_not_pickle_is_not_started_on_processes() -> None:
    lock = threading.Lock()
    assert shippable(abs, 3)
    assert shippable(lambda x: x + 1, (1, "a"))  # cloudpickle: lambdas and closures go
    assert not shippable(lambda x: lock, 3)  # a lock among what fn holds
    assert not shippable(abs, lock)  # an item that does not pickle


# -- live ------------------------------------------------------------------------------------


def computes_until_the_second_item_ran(args: tuple[int, str]) -> tuple[int, int, bool]:
    """Item 0 computes until item 1 has written its file (or PATIENCE ends); the rest return at once.

    Returns (index, process id, whether item 0 saw item 1's file while it computed).
    """
    index, path = args
    if index == 1:
        Path(path).write_text(str(os.getpid()))
    seen = False
    if index == 0:
        end = time.monotonic() + PATIENCE
        while time.monotonic() < end and not seen:
            for _ in range(10_000):  # computing, not waiting: the lookahead must see a busy thread
                pass
            seen = os.path.exists(path)
    return index, os.getpid(), seen


@pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPUs")
@pytest.mark.timeout(90)
def test_the_next_items_run_in_a_worker_process_beside_a_first_that_computes(tmp_path: Path) -> None:
    path = str(tmp_path / "second-ran")
    items = [(i, path) for i in range(6)]
    switch = sys.getswitchinterval()
    with gearshift.reporting() as reports:
        out = gearshift.map(computes_until_the_second_item_ran, items, mode="auto")
    assert sys.getswitchinterval() == switch  # (lowered while the processes started: given back)
    assert [index for index, _, _ in out] == list(range(6))  # each once, in order
    first, second = out[0], out[1]
    assert first[1] == os.getpid()  # the first item is measured here, on the calling thread
    assert second[1] != os.getpid()  # the second ran in a worker process...
    assert first[2]  # ...while the first was still computing
    kinds = [(segment.what, segment.mode) for segment in reports[0].segments]
    assert ("lookahead", "process") in kinds
    (early,) = [s for s in reports[0].segments if s.what == "lookahead"]
    # (one item per CPU the first leaves idle, each on a worker, from their start to the last one's end:
    # the segment read 1 us before)
    assert early.items == early.workers == usable_cpus() - 1
    assert early.seconds > 0.001


def computes_for(seconds: float) -> int:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return os.getpid()


@pytest.mark.timeout(90)
def test_work_that_does_not_pickle_is_measured_as_before() -> None:
    lock = threading.Lock()

    def fn(x: int) -> tuple[int, int]:
        with lock:  # (a lock among its globals: it cannot go to processes)
            pass
        return x, computes_for(0.3 if x == 0 else 0.001)

    with gearshift.reporting() as reports:
        out = gearshift.map(fn, range(5), mode="auto")
    assert [x for x, _ in out] == list(range(5))
    assert all(segment.mode != "process" for segment in reports[0].segments)


def test_a_plan_that_does_not_use_the_early_pool_shuts_it_down(tmp_path: Path) -> None:
    workers = 3  # (a pool size no other test shares)
    assert not is_warm("process", workers)
    options = make_options(mode="auto", workers=workers)
    gate = Gate(iter([(i, str(tmp_path / "second-ran")) for i in range(4)]), 4)
    gate.take(1)  # the first item, measured on the calling thread
    lookahead = Lookahead(computes_until_the_second_item_ran, gate, options, CALL_ONE, 2, lambda _: None)
    lookahead._armed = True  # (as arm() leaves it; the watcher is not needed to start)
    lookahead._start("process")
    lookahead.disarm()
    try:
        assert lookahead.mode == "process" and lookahead.count == 2
        assert is_warm("process", workers)  # the pool a process plan would use
        results = [r for batch in lookahead.batches() for r in batch]
        assert [index for index, _, _ in results] == [1, 2]  # the early items' results are kept
        assert all(pid != os.getpid() for _, pid, _ in results)
        lookahead.drop_pool()
    finally:
        lookahead.close()
    assert not is_warm("process", workers)


def test_discarding_a_pool_that_is_no_longer_shared_does_nothing() -> None:
    backend: Any = shared_backend("thread", 7)
    discard_shared(backend)
    assert not is_warm("thread", 7)
    discard_shared(backend)  # (again: nothing to do)


def first_computes(x: int) -> tuple[int, int]:
    return x, computes_for(0.3 if x == 0 else 0.001)


def _read_as_computing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookahead reads the first item as computing whatever the host's load: for tests of what comes
    after (beside four busy loops on 2 CPUs, one look read first_computes's item as waiting, which its
    thread was, for the GIL or a CPU, and the next items went to threads)."""
    monkeypatch.setattr("gearshift._auto.lookahead.work_kind", lambda *args, **kwargs: "computing")
    monkeypatch.setattr("gearshift._auto.early.work_kind", lambda *args, **kwargs: "computing")


@pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPUs")
@pytest.mark.timeout(90)
def test_a_plan_whose_workers_still_start_keeps_the_early_items_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # A process plan runs items on the calling thread while its workers start; with items
    # already in flight on processes it must not: their results come first.
    from gearshift._backends._process import Backend

    monkeypatch.setattr(Backend, "ready", lambda self: False)  # (workers that take their time)
    # (no thread probe: it hands the early items out before it starts, and the plan after it may then run
    # items here while its workers start; a GIL reading on a loaded host asked for one in a CI run)
    monkeypatch.setattr("gearshift._auto.measure.wants_thread_probe", lambda *args, **kwargs: False)
    _read_as_computing(monkeypatch)
    with gearshift.reporting() as reports:
        out = gearshift.map(first_computes, range(12), mode="auto")
    assert [x for x, _ in out] == list(range(12))
    whats = [(s.what, s.mode) for s in reports[0].segments]
    assert ("lookahead", "process") in whats
    assert ("while workers start", "sync") not in whats


@pytest.mark.skipif(usable_cpus() < 2, reason="needs 2 CPUs")
@pytest.mark.timeout(90)
def test_no_thread_probe_waits_for_items_already_on_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    # A first item read "mixed" (a busy host) wants the probe; with the next items out on processes it
    # would wait for them, the CPUs idle, and then run blind: the plan is made without it.
    monkeypatch.setattr("gearshift._auto.measure.wants_thread_probe", lambda *args, **kwargs: True)
    monkeypatch.setattr("gearshift._auto.measure.tick_beside", lambda *a: lambda: None)  # (no GIL reading)
    _read_as_computing(monkeypatch)
    with gearshift.reporting() as reports:
        out = gearshift.map(first_computes, range(40), mode="auto")
    assert [x for x, _ in out] == list(range(40))
    whats = [(s.what, s.mode) for s in reports[0].segments]
    assert ("lookahead", "process") in whats, whats
    assert ("thread probe", "thread") not in whats, whats


@pytest.mark.timeout(90)
def test_workers_1_starts_nothing_beside_the_first_item() -> None:
    with gearshift.reporting() as reports:
        out = gearshift.map(first_computes, range(4), mode="auto", workers=1)  # (its first computes 0.3 s)
    assert [x for x, _ in out] == list(range(4))
    assert all(what != "lookahead" for what in (s.what for s in reports[0].segments))  # (contract C6)


def flaky_second(args: tuple[int, str]) -> tuple[int, int]:
    """Item 0 computes 0.3 s; item 1 fails its first attempt (noted in a file: attempts run in other processes)."""
    index, path = args
    if index == 1 and not os.path.exists(path):
        Path(path).write_text("failed once")
        raise ValueError("first attempt")
    return index, computes_for(0.3 if index == 0 else 0.001)


def run_early(fn: Any, items: list[Any], count: int, **options: Any) -> tuple[Lookahead, list[Any]]:
    """The lookahead of an auto run over ``items`` started ``count`` items on processes after the first:
    it and their results (started here, as its watcher does, so that no host's load decides)."""
    gate = Gate(iter(items), len(items))
    gate.take(1)  # the first item, measured on the calling thread
    lookahead = Lookahead(fn, gate, make_options(mode="auto", **options), CALL_ONE, count, lambda _: None)
    lookahead._armed = True
    lookahead._start("process")
    lookahead.disarm()
    try:
        return lookahead, [r for batch in lookahead.batches() for r in batch]
    finally:
        lookahead.close()


@pytest.mark.timeout(90)
def test_an_early_item_is_retried_as_any_other(tmp_path: Path) -> None:
    path = str(tmp_path / "attempted")
    lookahead, out = run_early(flaky_second, [(i, path) for i in range(5)], 2, retries=1)
    assert lookahead.mode == "process"
    assert [index for index, _ in out] == [1, 2]
    assert out[0][1] != os.getpid()  # it ran (twice) in a worker process


def second_hangs(x: int) -> int:
    computes_for(60.0 if x == 1 else 0.001)
    return x


@pytest.mark.timeout(90)
def test_an_early_item_keeps_to_the_timeout() -> None:
    from gearshift import Failure, TaskTimeout

    lookahead, out = run_early(second_hangs, list(range(5)), 2, timeout=3.0, errors="return")
    assert lookahead.mode == "process"
    assert isinstance(out[0], Failure) and isinstance(out[0].exception, TaskTimeout), out[0]
    assert out[0].index == 1
    assert out[1] == 2


# -- a first call that imports --------------------------------------------------------------------

_HEAVY_SUBMODULE = "import time\nt = time.thread_time()\nwhile time.thread_time() - t < 0.04:\n    pass\n"
_FIRST_CALL_IMPORTS = """
import sys
import gearshift

def double(x):
    import gearshift_test_heavy  # (the first call loads it: 8 submodules, 40 ms of CPU time each)
    return 2 * x

if __name__ == "__main__":
    if sys.argv[1] == "report":
        with gearshift.reporting() as reports:
            assert gearshift.map(double, range(30), mode="auto") == [2 * x for x in range(30)]
        print(sorted({s.mode for s in reports[0].segments}))
        print(reports[0].plans[-1].reasons)
    else:
        assert gearshift.map(double, range(30), mode="auto") == [2 * x for x in range(30)]
    print("gearshift._backends._process" in sys.modules)
"""


@pytest.mark.parametrize("start", ["report", "lean"])
def test_a_first_call_that_imports_is_not_taken_for_work_that_computes(tmp_path: Path, start: str) -> None:
    # Its 320 ms of imports computed, past the 50 ms after which the next items start on processes;
    # but each worker would import it all again, for items of microseconds: nothing starts beside it,
    # the plan is made from the items after it, and it says what the imports cost.
    package = tmp_path / "gearshift_test_heavy"
    package.mkdir()
    (package / "__init__.py").write_text("".join(f"from . import part{i}\n" for i in range(8)))
    for i in range(8):
        (package / f"part{i}.py").write_text(_HEAVY_SUBMODULE)
    script = tmp_path / "first_call.py"
    script.write_text(_FIRST_CALL_IMPORTS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = subprocess.run(
        [sys.executable, str(script), start], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False", out.stdout  # no process pool was started
    if start == "report":
        assert "process" not in lines[0], lines  # the modes it ran in
        assert "its first call loaded 9 modules: a fresh worker process pays" in lines[1], lines
