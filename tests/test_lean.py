"""gearshift._lean: a first auto map starts on the calling thread, before auto loads.

The contract harness (tests/test_semantics.py, ``LEAN`` and the drawn configurations with
``lean``) checks every outcome over this path; here: its decisions (pure functions of
made-up figures), the copies of auto's cost table it keeps, what a fresh interpreter
loads, and each way it ends (stays, hands over to auto, auto takes its first item over).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import gearshift
from gearshift import _lean, _lean_first

# -- the decisions -----------------------------------------------------------------------------------


def test_items_stay_while_the_time_spent_is_under_what_loading_auto_costs() -> None:
    assert _lean.stays(0.010, 1e-3, load=0.045, floor=0.2e-6)
    assert _lean.stays(0.0449, 1.0, load=0.045, floor=0.2e-6)
    assert not _lean.stays(0.045, 1e-3, load=0.045, floor=0.2e-6)


def test_items_cheaper_than_handing_them_over_stay_however_long() -> None:
    assert _lean.stays(30.0, 0.1e-6, load=0.045, floor=0.2e-6)
    assert not _lean.stays(30.0, 0.3e-6, load=0.045, floor=0.2e-6)


def test_items_stay_when_loading_auto_could_not_pay_for_itself_on_the_rest() -> None:
    # past the budget, 1 ms items: 40 left would take 40 ms here, under a 45 ms load
    assert _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=40, cpus=2)
    assert not _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=50, cpus=2)
    # work that computes can at best be spread over the CPUs, by processes, which start a pool (61 ms) first:
    # on 2, half the rest must be over the load and the pool's start (106 ms), on 4, three quarters of it
    assert _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=212, cpus=2, busy=1.0)
    assert not _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=213, cpus=2, busy=1.0)
    assert _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=141, cpus=4, busy=1.0)
    assert not _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=142, cpus=4, busy=1.0)
    assert _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=10**6, cpus=1, busy=1.0)  # (one CPU)
    assert not _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=None, cpus=2, busy=1.0)  # (unknown)
    # half waiting: threads overlap the half that waits, for no pool (processes: 3/4 of it less 61 ms)
    assert _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=90, cpus=2, busy=0.5)
    assert not _lean.stays(0.05, 1e-3, load=0.045, floor=0.2e-6, rest=91, cpus=2, busy=0.5)
    assert _lean.saving(0.4, 0.5, 2) == pytest.approx(0.3 - _lean.POOL_START_SECONDS)  # (processes, from 0.244 s)


def test_items_whose_native_pools_keep_the_cpus_busy_stay() -> None:
    # A BLAS pool beside the calling thread kept both CPUs busy: no mode has CPU to spare for the rest...
    assert _lean.stays(0.2, 5e-3, load=0.045, floor=0.2e-6, rest=10**4, cpus=2, busy=2.0)
    assert _lean.stays(0.2, 5e-3, load=0.045, floor=0.2e-6, rest=10**4, cpus=2, busy=2.6)  # (and over: clocks)
    # ...and at 1.9 of 2, a twentieth of it, less a pool's start: loading auto pays past 2.1 s of items here
    assert _lean.stays(0.2, 5e-3, load=0.045, floor=0.2e-6, rest=423, cpus=2, busy=1.9)
    assert not _lean.stays(0.2, 5e-3, load=0.045, floor=0.2e-6, rest=425, cpus=2, busy=1.9)
    assert _lean.spread(1.0, 1.9, 2) == pytest.approx(0.05)
    assert _lean.spread(1.0, 3.0, 2) == 0.0
    assert _lean.saving(1.0, 3.0, 2) == 0.0


def test_chunks_double_within_their_time_and_size() -> None:
    assert _lean.next_chunk(1, 1e-6) == 2
    assert _lean.next_chunk(64, 1e-6) == 128
    assert _lean.next_chunk(_lean.MAX_CHUNK // 2, 1e-12) == _lean.MAX_CHUNK
    assert _lean.next_chunk(_lean.MAX_CHUNK, 1e-12) == _lean.MAX_CHUNK
    assert _lean.next_chunk(8, _lean.CHUNK_SECONDS / 5) == 5  # (about CHUNK_SECONDS of work)
    assert _lean.next_chunk(4, 1.0) == 1
    assert _lean.next_chunk(4, 0.0) == 8


def test_the_figures_are_auto_cost_tables() -> None:
    from gearshift._address import ADDRESS_ENV
    from gearshift._auto import lookahead
    from gearshift._auto.costs import COSTS
    from gearshift._pools import _SHARED_PREFIX

    assert COSTS["load_auto_seconds"].value == _lean.LOAD_SECONDS
    floor = COSTS["parent_item_seconds"].value * COSTS["process_preference"].value / COSTS["margin"].value
    assert pytest.approx(floor) == _lean.FLOOR_SECONDS
    assert COSTS["lean_chunk_seconds"].value == _lean.CHUNK_SECONDS
    assert COSTS["max_chunk"].value == _lean.MAX_CHUNK
    assert COSTS["process_start_seconds"].value == _lean.POOL_START_SECONDS
    assert _lean_first.WATCH_SECONDS == lookahead.WATCH_SECONDS
    assert COSTS["computes_above"].value == _lean_first.COMPUTES_SHARE
    assert set(_lean.CLUSTER_ENV) == set(ADDRESS_ENV.values())
    assert _lean_first.POOL_THREAD_PREFIX == _SHARED_PREFIX


# -- a fresh interpreter ----------------------------------------------------------------------------


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_a_first_auto_map_of_cheap_work_loads_nothing_of_auto() -> None:
    code = (
        "import sys, gearshift\n"
        "def f(x):\n    return x + 1\n"
        "assert gearshift.map(f, range(200_000)) == [x + 1 for x in range(200_000)]\n"
        "assert gearshift.starmap(divmod, [(7, 2)] * 10) == [(3, 1)] * 10\n"
        "print(sorted(m for m in sys.modules if m.startswith(('gearshift._auto', 'gearshift._call', 'typing'))))\n"
    )
    assert _fresh(code) == "[]"


def test_a_first_auto_map_whose_first_item_runs_long_loads_auto() -> None:
    # (the first item outlasts the lookahead's first look: auto takes it over; it waits for that, bounded:
    # a fixed 50 ms sleep ended first on a loaded host, in a fresh-clone CI run of the main-thread test below)
    code = (
        "import sys, time, gearshift\n"
        "def f(x):\n"
        "    deadline = time.monotonic() + 30  # (until auto has loaded beside it: no host's load decides)\n"
        "    while x == 0 and 'gearshift._auto' not in sys.modules and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    return -x\n"
        "assert gearshift.map(f, range(20)) == [-x for x in range(20)]\n"
        "print('gearshift._auto' in sys.modules)\n"
    )
    assert _fresh(code) == "True"


@pytest.mark.parametrize(
    "call",
    [
        "gearshift.map(f, range(5), workers=2)",
        "gearshift.map(f, range(5), errors='return')",
        "gearshift.map(f, range(5), mode='auto', ordered=False)",
        "gearshift.map(f, range(5), shared=1)",
    ],
)
def test_a_call_that_asks_for_anything_else_goes_the_general_way(call: str) -> None:
    code = (
        "import sys, gearshift\n"
        "def f(*args):\n    return args[-1]\n"
        f"assert {call} == list(range(5))\n"
        "print('gearshift._auto' in sys.modules)\n"
    )
    assert _fresh(code) == "True"


def test_with_a_cluster_configured_auto_calls_go_the_general_way() -> None:
    # (auto may run on the cluster: that is for the general path to find out)
    from gearshift._lean import collect

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_lean, "auto_loaded", lambda: False)
        mp.setenv("GEARSHIFT_DASK_ADDRESS", "tcp://127.0.0.1:1")
        assert collect("gearshift.map", abs, [1], "raise", None, {}, star=False) is None
        mp.delenv("GEARSHIFT_DASK_ADDRESS")
        assert collect("gearshift.map", abs, [1], "raise", None, {}, star=False) == [1]


def test_a_run_being_reported_goes_the_general_way(lean: list[Any]) -> None:
    with gearshift.reporting() as reports:
        assert gearshift.map(abs, [-1, -2]) == [1, 2]
    assert len(reports) == 1  # (the general path's run; the lean start would have left it out)


# -- the three ways it goes on ------------------------------------------------------------------------


def test_cheap_items_stay_to_the_end(lean: list[Any]) -> None:
    assert gearshift.map(abs, range(-50_000, 0)) == list(range(50_000, 0, -1))
    assert lean == []


def test_past_its_budget_auto_runs_the_rest_from_the_next_item(
    lean: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_lean, "LOAD_SECONDS", 0.0)
    monkeypatch.setattr(_lean, "FLOOR_SECONDS", 0.0)
    seen: list[int] = []

    def f(x: int) -> int:
        seen.append(x)
        return x * 3

    items = list(range(3000))
    assert gearshift.map(f, items) == [x * 3 for x in items]
    assert sorted(seen) == items  # each item once
    (run,) = lean
    assert run.auto.state.gate.taken == len(items)
    report = run.auto.report
    assert sum(s.items for s in report.segments) == len(items) - 2  # the first item, then a chunk of one


def test_the_time_rented_counts_over_the_calls_of_the_process(lean: list[Any]) -> None:
    # A program calling map often on short jobs: once they have cost as much as loading auto, the next
    # call loads it (rent-or-buy over the process, not over one call).
    items = list(range(2000))
    assert gearshift.map(_slow_square, items) == [x * x for x in items]
    assert lean == []  # (2000 items of about 1 µs: well under LOAD_SECONDS)
    assert 0 < _lean._rented < _lean.LOAD_SECONDS
    _lean._rented = _lean.LOAD_SECONDS  # (as if earlier calls had spent it)
    # (a list whose rest alone could not repay the load: auto, once loaded, serves the calls to come)
    assert gearshift.map(_slow_square, items) == [x * x for x in items]
    (run,) = lean
    assert run.auto.state.gate.taken == len(items)


def _slow_square(x: int) -> int:
    return sum([x] * 8) // 8 * x  # (above FLOOR_SECONDS: a chunk can leave for auto)


@pytest.mark.parametrize("star", [False, True], ids=["map", "starmap"])
@pytest.mark.parametrize("sized", [True, False], ids=["list", "generator"])
def test_a_first_item_still_running_at_the_first_look_is_taken_over_by_auto(
    lean: list[Any], star: bool, sized: bool
) -> None:
    # The first item waits: auto's lookahead, watching it from its start, runs the next ones on threads.
    def f(x: int, y: int = 0) -> int:
        time.sleep(0.3 if x == 0 else 0.001)
        return x - y

    items: Any = [(x, 1) for x in range(40)] if star else list(range(40))
    source = items if sized else (x for x in items)
    out = gearshift.starmap(f, source) if star else gearshift.map(f, source)
    assert out == [x - 1 for x in range(40)] if star else list(range(40))
    (run,) = lean
    segments = run.auto.report.segments
    assert segments[0].what == "measuring" and segments[0].items >= 1
    assert any(s.what == "lookahead" and s.mode == "thread" for s in segments), segments


# -- how it fails ------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def _failing_at(index: int, exc: BaseException) -> Any:
    def f(x: int) -> int:
        if x == index:
            raise exc
        return x + 100

    return f


@pytest.mark.parametrize("index", [0, 1, 6, 2500])
def test_fn_exception_is_raised_as_it_is(lean: list[Any], monkeypatch: pytest.MonkeyPatch, index: int) -> None:
    # (2500: past the budget, in auto)
    monkeypatch.setattr(_lean, "LOAD_SECONDS", 0.0)
    monkeypatch.setattr(_lean, "FLOOR_SECONDS", 1e-9 if index == 2500 else 1.0)
    boom = Boom("no")
    with pytest.raises(Boom) as caught:
        gearshift.map(_failing_at(index, boom), range(3000))
    assert caught.value is boom
    assert not hasattr(boom, "partial_results")


@pytest.mark.parametrize("star", [False, True], ids=["map", "starmap"])
@pytest.mark.parametrize("index", [0, 5])
def test_fn_stop_iteration_is_a_runtime_error_naming_fn(lean: list[Any], index: int, star: bool) -> None:
    def stops(x: int, y: int = 0) -> int:
        if x == index:
            raise StopIteration
        return x + y

    with pytest.raises(RuntimeError, match="stops raised StopIteration") as caught:
        if star:
            gearshift.starmap(stops, [(x, 1) for x in range(20)])
        else:
            gearshift.map(stops, range(20))
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("index", [0, 3, 700])
def test_a_keyboard_interrupt_from_fn_carries_the_completed_results(lean: list[Any], index: int) -> None:
    with pytest.raises(KeyboardInterrupt) as caught:
        gearshift.map(_failing_at(index, KeyboardInterrupt()), range(1000))
    assert caught.value.partial_results == [x + 100 for x in range(index)]  # type: ignore[attr-defined]


def _broken(n: int, at: int) -> Iterator[int]:
    for x in range(n):
        if x == at:
            raise Boom(f"input broke at {at}")
        yield x


@pytest.mark.parametrize("at", [0, 1, 5, 900])
def test_an_input_error_comes_after_the_items_read_before_it(lean: list[Any], at: int) -> None:
    with pytest.raises(Boom, match=f"input broke at {at}") as caught:
        gearshift.map(abs, _broken(1000, at))
    assert caught.value.partial_results == list(range(at))  # type: ignore[attr-defined]


def test_an_adopted_first_item_that_raises_leaves_nothing_running(lean: list[Any]) -> None:
    started = threading.Event()

    def f(x: int) -> int:
        if x == 0:
            # (waits until the lookahead has started the next items on threads: on a busy host auto's
            # load beside it took longer than the 0.2 s this item once slept)
            started.wait(30)
            raise Boom("first")
        started.set()
        time.sleep(0.05)
        return x

    with pytest.raises(Boom, match="first"):
        gearshift.map(f, range(30))
    assert started.is_set()  # (the lookahead had started the next items on threads)
    (run,) = lean  # taken over...
    assert run.auto.state.pending is None  # ...and let go of
    assert gearshift.map(abs, [-3]) == [3]


def test_auto_loaded_beside_a_first_item_leaves_the_main_thread_the_main_thread() -> None:
    # threading takes the thread that first imports it for the main one (before 3.13): not the helper's
    code = (
        "import sys, time, gearshift\n"
        "def f(x):\n"
        "    deadline = time.monotonic() + 30  # (until auto has loaded beside it: no host's load decides)\n"
        "    while x == 0 and 'gearshift._auto' not in sys.modules and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    return x\n"
        "assert gearshift.map(f, range(4)) == [0, 1, 2, 3]\n"
        "import threading\n"
        "print('gearshift._auto' in sys.modules, threading.current_thread() is threading.main_thread())\n"
    )
    assert _fresh(code) == "True True"


def test_a_first_item_that_computes_has_processes_start_beside_it() -> None:
    # (auto loads beside it, the helper boots the zygote meanwhile and stays for its life; the item lasts
    # long enough for that on a loaded host, where two busy loops on 2 CPUs made a 0.4 s one end first)
    code = (
        "import os, time, gearshift\n"
        "def f(x):\n"
        "    end = time.perf_counter() + (1.5 if x == 0 else 0.05)\n"
        "    while time.perf_counter() < end:\n        pass\n"
        "    return os.getpid()\n"
        "with_pids = gearshift.map(f, range(6))\n"
        "print(len(set(with_pids) - {os.getpid()}) >= 1)\n"
    )
    assert _fresh(code) == "True"


@pytest.mark.parametrize("fails", [False, True], ids=["returns", "raises"])
def test_the_switch_interval_auto_loaded_with_comes_back_when_the_first_item_ends(lean: list[Any], fails: bool) -> None:
    from gearshift import _switch

    before = sys.getswitchinterval()
    during: list[float] = []

    def f(x: int) -> int:
        if x == 0:
            time.sleep(0.2)
            during.append(sys.getswitchinterval())
            if fails:
                raise Boom("first")
        return x

    if fails:
        with pytest.raises(Boom):
            gearshift.map(f, range(10))
    else:
        assert gearshift.map(f, range(10)) == list(range(10))
    assert during == [pytest.approx(_lean_first.LOAD_SWITCH_SECONDS)]  # (auto was loaded and took the item over)
    assert sys.getswitchinterval() == before
    assert _switch.held() == 0


@pytest.mark.parametrize(
    ("per_item", "rest", "cpus", "computing", "boots"),
    [
        (0.01, 20, 2, True, True),  # 200 ms here, 100 ms saved on two CPUs: over a pool's start
        (0.01, 12, 2, True, False),  # 60 ms saved at best: under it
        (0.01, 20, 2, False, False),  # work that waits goes to threads or a loop: no pool
        (0.01, 20, 1, True, False),  # one CPU: processes cannot win
        (0.01, None, 2, True, False),  # an input of unknown length: no guess
        (0.0003, 400, 4, True, True),  # 120 ms here, 90 saved on four CPUs
    ],
)
def test_loading_auto_for_long_computing_work_boots_the_zygote(
    per_item: float, rest: int | None, cpus: int, computing: bool, boots: bool
) -> None:
    assert _lean.boots_zygote(per_item, rest, cpus, computing) is boots


def test_work_whose_native_pools_keep_the_cpus_busy_boots_no_zygote() -> None:
    assert _lean.boots_zygote(0.01, 40, 2, True, busy=1.0)  # 200 ms saved at best: over a pool's start
    assert not _lean.boots_zygote(0.01, 40, 2, True, busy=1.9)  # 20 ms: BLAS keeps both CPUs busy already


def test_loading_auto_for_long_computing_work_boots_the_zygote_then(
    lean: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lean start asks for the zygote as it loads auto (boots_zygote's figures are its own test's:
    here every chunk counts as computing, whatever a loaded machine does to its clocks)."""
    from gearshift._backends import _zygote

    booted: list[int] = []
    monkeypatch.setattr(_zygote, "start_early", lambda **kw: booted.append(len(lean)) or False)
    monkeypatch.setattr(_lean, "COMPUTES_SHARE", 0.0)
    cpus = [2]
    monkeypatch.setattr("gearshift._cpu.usable_cpus", lambda: cpus[0])
    items = list(range(400))
    assert gearshift.map(_spin_1ms, items) == items
    assert len(lean) == 1  # auto ran the rest...
    assert booted[:1] == [0]  # ...and the zygote was asked for before auto was prepared (its plan may ask again)
    cpus[0] = 1
    monkeypatch.setattr(_lean, "_rented", 0.0)
    booted.clear()
    assert gearshift.map(_spin_1ms, items) == items
    assert booted == []  # one CPU: processes cannot win


def _spin_1ms(x: int) -> int:
    end = time.thread_time() + 0.001
    while time.thread_time() < end:
        pass
    return x


def test_time_a_chunk_waited_for_a_cpu_is_not_the_items(lean: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake busy machine that kept the calling thread queued for a CPU whenever its chunks did not
    # compute: the items (1 ms waits here) then cost only their CPU time, under the floor, and stay.
    # (On a real loaded host, chunks of x + 1 read as items over the floor and rented a whole load.)
    from gearshift import _lean

    def f(x: int) -> int:
        time.sleep(0.001)
        return -x

    assert gearshift.map(f, range(200)) == [-x for x in range(200)]
    assert len(lean) == 1  # (on this machine: 1 ms items that wait, worth loading auto for)
    monkeypatch.setattr(_lean, "_rented", 0.0)
    clock = iter(range(10**6))
    monkeypatch.setattr(_lean, "runqueue_seconds", lambda: float(next(clock)))  # (a second queued per read)
    assert gearshift.map(f, range(200)) == [-x for x in range(200)]
    assert len(lean) == 1  # (the fake machine's: nothing loaded for them)


@pytest.mark.parametrize("kind", [list, tuple, lambda r: r], ids=["list", "tuple", "range"])
def test_a_sequence_read_in_slices_goes_on_in_auto_from_where_the_slices_ended(lean: list[Any], kind: Any) -> None:
    # Items worth loading auto for, after some chunks here: auto goes on from the next item, none skipped
    # or run twice. (From 3.12 a range iterator's __setstate__ counts from where it is: set on the first
    # item's iterator, it skipped one item, so the results were one short.)
    def f(x: int) -> int:
        time.sleep(0.001)
        return -x

    items = kind(range(200))
    assert gearshift.map(f, items) == [-x for x in range(200)]
    (run,) = lean
    assert run.auto.report.segments[0].items < 200  # (auto ran some of them)
