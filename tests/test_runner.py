"""The runner: equivalence with the builtin map, bounded memory, cancellation."""

from __future__ import annotations

import itertools
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gearshift
from gearshift._chunker import Chunker
from helpers import double, record_and_sleep


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(st.integers(), max_size=200),
    mode=st.sampled_from(["sync", "async", "thread"]),
    chunksize=st.one_of(st.none(), st.integers(1, 50)),
    ordered=st.booleans(),
    workers=st.one_of(st.none(), st.integers(1, 8)),
)
def test_equivalent_to_builtin_map(
    items: list[int], mode: str, chunksize: int | None, ordered: bool, workers: int | None
) -> None:
    result = gearshift.map(double, items, mode=mode, chunksize=chunksize, ordered=ordered, workers=workers)
    expected = list(map(double, items))
    assert (result if ordered else sorted(result)) == (expected if ordered else sorted(expected))


@settings(max_examples=8, deadline=None)
@given(items=st.lists(st.integers(), max_size=100), chunksize=st.one_of(st.none(), st.integers(1, 30)))
def test_equivalent_to_builtin_map_in_processes(items: list[int], chunksize: int | None) -> None:
    assert gearshift.map(double, items, mode="process", workers=2, chunksize=chunksize) == [x * 2 for x in items]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_imap_memory_stays_bounded_over_two_million_items(mode: str) -> None:
    pulled = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for i in range(2_000_000):
            pulled += 1
            yield i

    worst_ahead = 0
    traced: list[int] = []
    tracemalloc.start()
    try:
        for n, _ in enumerate(gearshift.imap(abs, source(), mode=mode, workers=2), start=1):
            if n % 250_000 == 0:
                worst_ahead = max(worst_ahead, pulled - n)
                traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert n == 2_000_000
    # Read-ahead is a small multiple of workers x chunksize, never the input's size.
    assert worst_ahead <= 4 * 2 * 2 * 65536, worst_ahead
    # Python memory in use reaches a plateau: what 2 million results would take (>50 MiB)
    # is never held at once, and the second half of the run adds nothing.
    mib = [t / 2**20 for t in traced]
    assert max(mib) < 40, mib
    assert max(mib[4:]) - max(mib[:4]) < 8, mib


@pytest.mark.parametrize("mode", ["thread", "process", "async"])
def test_closing_imap_stops_the_work(mode: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    results = gearshift.imap(record_and_sleep, ((i, str(log)) for i in itertools.count()), mode=mode, workers=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    results.close()  # type: ignore[attr-defined]
    time.sleep(0.3)  # what was running when we closed may finish (20 ms each)
    calls = len(log.read_text().splitlines())
    time.sleep(0.5)
    assert len(log.read_text().splitlines()) == calls, "work went on after the iterator was closed"
    assert calls < 100


def test_chunker_fixed_size() -> None:
    chunker = Chunker(7, target=0.01, workers=2, length=None)
    assert [chunker.next_size() for _ in range(3)] == [7, 7, 7]


def test_chunker_ramps_then_aims_at_target() -> None:
    chunker = Chunker(None, target=0.01, workers=2, length=None)
    assert [chunker.next_size() for _ in range(4)] == [1, 2, 4, 8]
    for _ in range(10):
        chunker.observe(100, 100 * 1e-5)  # 10 us per item: 1000 items per 10 ms chunk
        chunker.next_size()
    assert chunker.next_size() == 1000


def test_chunker_respects_input_length() -> None:
    chunker = Chunker(None, target=10.0, workers=2, length=80)
    chunker.observe(1, 1e-6)
    assert chunker.next_size() <= 10  # 80 items / (2 workers x 4)


def test_chunker_seeded_with_a_measured_time_skips_the_ramp() -> None:
    # auto measured 10 us per item: the first chunk already aims at the target.
    chunker = Chunker(None, target=0.01, workers=2, length=None)
    chunker.seed(1e-5)
    assert chunker.next_size() in (999, 1000)  # 0.01 / 1e-5, floored
    fixed = Chunker(7, target=0.01, workers=2, length=None)
    fixed.seed(1e-5)
    assert fixed.next_size() == 7  # an explicit chunksize is kept


def test_chunker_one_inline_worker_is_not_guided() -> None:
    # Guided sizes save round trips between processes; auto's measuring phase runs
    # inline and must look at its measurements after every small chunk.
    one = Chunker(None, target=0.002, workers=1, length=1000)
    two = Chunker(None, target=0.002, workers=2, length=1000)
    for chunker in (one, two):
        chunker.next_size()
        chunker.observe(1, 0.013)
    assert one.next_size(1) == 1
    assert two.next_size(1) > 1


def test_chunker_slow_items_get_chunks_of_one() -> None:
    chunker = Chunker(None, target=0.02, workers=2, length=None)
    chunker.observe(1, 0.5)
    assert chunker.next_size() == 1


async def _wait_for_all(item: int) -> int:
    """Returns only once every item of the run is in flight at the same time (or fails after 10 s)."""
    import asyncio

    _in_flight[0] += 1
    for _ in range(1000):
        if _in_flight[0] >= _ALL_AT_ONCE:
            return item
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {_in_flight[0]} of {_ALL_AT_ONCE} items were in flight together")


_ALL_AT_ONCE = 500  # not a multiple of ASYNC_CHUNKS_IN_FLIGHT: no item may be left waiting
_in_flight = [0]


def test_async_batches_items_but_keeps_every_item_in_flight() -> None:
    # workers=500: items go to the loop in batches, yet all 500 must wait together.
    import gearshift
    from gearshift._run_feed import ASYNC_CHUNKS_IN_FLIGHT

    assert _ALL_AT_ONCE // ASYNC_CHUNKS_IN_FLIGHT > 1
    _in_flight[0] = 0
    items = list(range(_ALL_AT_ONCE))
    assert gearshift.map(_wait_for_all, items, mode="async", workers=_ALL_AT_ONCE) == items


def test_guided_chunks_take_a_share_of_a_known_input_then_shrink_at_its_end() -> None:
    # 15 ms items, 200 of them, 2 workers: the 20 ms target alone means one round trip per item.
    chunker = Chunker(None, target=0.02, workers=2, length=200)
    for _ in range(3):
        chunker.next_size(0)
    chunker.observe(4, 4 * 0.015)
    assert chunker.next_size(20) == 16  # 180 left / (2 x 4) = 22, capped at 0.25 s of work
    assert chunker.next_size(150) == 6  # 50 left / 8
    assert chunker.next_size(195) == 1  # the end: back to the target, workers finish together
    unknown = Chunker(None, target=0.02, workers=2, length=None)
    unknown.observe(4, 4 * 0.015)
    assert unknown.next_size(20) == 1  # no length: no share to take


# -- the inline path: sync runs chunks on the calling thread, straight from the input ------


def _interrupt_at(n: int):  # type: ignore[no-untyped-def]
    def f(x: int) -> int:
        if x == n:
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of a chunk
        return x * 2

    return f


@pytest.mark.parametrize("api", ["map", "imap", "auto"])
def test_ctrl_c_in_sync_keeps_every_completed_result_of_the_chunk(api: str) -> None:
    n = 50_000  # well inside a chunk (they grow to thousands of cheap items)
    f = _interrupt_at(n)
    got: list[int] = []
    with pytest.raises(KeyboardInterrupt) as info:
        if api == "imap":
            for value in gearshift.imap(f, range(100_000), mode="sync"):
                got.append(value)
        else:
            gearshift.map(f, range(100_000), mode="auto" if api == "auto" else "sync")
    partial = getattr(info.value, "partial_results", None)
    assert partial is not None
    assert got + partial == [2 * x for x in range(n)]  # nothing lost, nothing twice, in order


def test_sync_results_observer_sees_each_item_once_with_its_failures() -> None:
    seen: list[tuple[int, int, int]] = []

    def observe(start: int, outcomes: list[object], failed: int) -> None:
        assert failed == sum(isinstance(o, gearshift.Failure) for o in outcomes)
        seen.append((start, len(outcomes), failed))

    from gearshift._call import _Run
    from gearshift._options import make_options
    from gearshift._task import CALL_ONE

    def f(x: int) -> int:
        if x % 1000 == 7:
            raise ValueError(x)
        return x

    run = _Run(f, make_options(mode="sync", errors="return"), CALL_ONE, None, on_results=observe)
    out: list[object] = []
    run.collect(range(10_000), out)
    assert [o.index for o in out if isinstance(o, gearshift.Failure)] == list(range(7, 10_000, 1000))
    assert [o for o in out if not isinstance(o, gearshift.Failure)] == [x for x in range(10_000) if x % 1000 != 7]
    assert sum(n for _, n, _ in seen) == 10_000
    assert [s for s, _, _ in seen] == list(itertools.accumulate([0] + [n for _, n, _ in seen[:-1]]))
    assert sum(k for _, _, k in seen) == 10


def test_sync_errors_raise_hands_out_the_results_before_the_failure() -> None:
    def f(x: int) -> int:
        if x == 3000:
            raise ValueError("item 3000")
        return x

    got: list[int] = []
    with pytest.raises(ValueError, match="item 3000"):
        for value in gearshift.imap(f, range(10_000), mode="sync"):
            got.append(value)
    assert got == list(range(3000))


def test_sync_reads_the_input_lazily() -> None:
    pulled = 0

    def source():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    it = gearshift.imap(double, source(), mode="sync")
    assert [next(it) for _ in range(10)] == [2 * i for i in range(10)]
    assert pulled < 100  # chunks start at one item and grow
    it.close()  # type: ignore[attr-defined]
