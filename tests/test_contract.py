"""The behaviour every execution mode must have, run once per mode (see the ``mode`` fixture)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

import gearshift
from gearshift._chunker import MAX_CHUNK
from helpers import Boom, add, adouble, afail_on_3, double, fail_on_3, fail_once, slow_identity


@pytest.mark.parametrize("ordered", [True, False])
def test_map_equals_builtin_map(mode: str, ordered: bool) -> None:
    items = list(range(257))
    result = gearshift.map(double, items, mode=mode, ordered=ordered)
    expected = list(map(double, items))
    assert (result if ordered else sorted(result)) == expected


@pytest.mark.parametrize("ordered", [True, False])
def test_async_function_in_every_mode(mode: str, ordered: bool) -> None:
    items = list(range(50))
    result = gearshift.map(adouble, items, mode=mode, ordered=ordered)
    assert (result if ordered else sorted(result)) == [x * 2 for x in items]


def test_lambda_and_closure(mode: str) -> None:
    offset = 7
    assert gearshift.map(lambda x: x + offset, range(5), mode=mode) == [7, 8, 9, 10, 11]


def test_empty_input(mode: str) -> None:
    assert gearshift.map(double, [], mode=mode) == []
    assert list(gearshift.imap(double, iter([]), mode=mode)) == []


def test_starmap(mode: str) -> None:
    pairs = [(i, i + 1) for i in range(20)]
    assert gearshift.starmap(add, pairs, mode=mode) == [a + b for a, b in pairs]


@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_explicit_chunksize(mode: str, chunksize: int) -> None:
    assert gearshift.map(double, range(31), mode=mode, chunksize=chunksize) == [x * 2 for x in range(31)]


def test_imap_is_lazy_on_an_endless_generator(mode: str) -> None:
    pulled = 0

    def endless() -> itertools.count[int]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i

    results = gearshift.imap(double, endless(), mode=mode, workers=2)
    first = [next(results) for _ in range(10)]
    results.close()  # type: ignore[attr-defined]
    assert first == [x * 2 for x in range(10)]
    # Read-ahead is bounded by the window (workers x prefetch chunks, twice that held in
    # order) times the largest automatic chunk, whatever the machine's load.
    assert pulled <= 2 * 2 * 2 * MAX_CHUNK, f"imap read {pulled} items ahead for 10 results"


def test_errors_raise_keeps_type_and_message(mode: str) -> None:
    with pytest.raises(Boom, match="item 3 is bad"):
        gearshift.map(fail_on_3, range(10), mode=mode)
    with pytest.raises(Boom, match="item 3 is bad"):
        gearshift.map(afail_on_3, range(10), mode=mode)


def test_errors_raise_in_imap_yields_earlier_results_first(mode: str) -> None:
    got = []
    with pytest.raises(Boom):
        for value in gearshift.imap(fail_on_3, range(10), mode=mode, chunksize=1):
            got.append(value)
    assert got == [0, 1, 2]


def test_errors_return_gives_failure_in_place(mode: str) -> None:
    result = gearshift.map(fail_on_3, range(6), mode=mode, errors="return")
    assert result[:3] == [0, 1, 2] and result[4:] == [4, 5]
    failure = result[3]
    assert isinstance(failure, gearshift.Failure)
    assert failure.index == 3
    assert isinstance(failure.exception, Boom)
    assert failure.attempts == 1
    assert "fail_on_3" in failure.traceback and "item 3 is bad" in failure.traceback


def test_remote_traceback_is_attached(mode: str) -> None:
    with pytest.raises(Boom) as info:
        gearshift.map(fail_on_3, range(5), mode=mode)
    if mode in ("process", "dask", "ray"):  # another process: the worker's traceback as text
        assert isinstance(info.value.__cause__, gearshift.RemoteTraceback)
        assert "fail_on_3" in str(info.value.__cause__)
    else:  # in-process: the real traceback
        assert any(frame.name == "fail_on_3" for frame in _frames(info.value))


def _frames(exc: BaseException) -> list[object]:
    import traceback

    return list(traceback.extract_tb(exc.__traceback__))


def test_retries_rerun_failed_items(mode: str, tmp_path: Path) -> None:
    items = [(i, str(tmp_path)) for i in range(8)]
    assert gearshift.map(fail_once, items, mode=mode, retries=1) == list(range(8))


def test_retries_exhausted_reports_attempts(mode: str) -> None:
    result = gearshift.map(fail_on_3, range(5), mode=mode, retries=2, errors="return")
    assert isinstance(result[3], gearshift.Failure)
    assert result[3].attempts == 3


def test_amap_and_aimap(mode: str) -> None:
    async def main() -> tuple[list[int], list[int], list[int]]:
        a = await gearshift.amap(double, range(20), mode=mode)
        b = [x async for x in gearshift.aimap(adouble, range(20), mode=mode)]
        c = await gearshift.amap(double, _agen(20), mode=mode)
        return a, b, c

    a, b, c = asyncio.run(main())
    assert a == b == c == [x * 2 for x in range(20)]


async def _agen(n: int):  # type: ignore[no-untyped-def]
    for i in range(n):
        await asyncio.sleep(0)
        yield i


def test_amap_does_not_block_the_event_loop(mode: str) -> None:
    async def main() -> int:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await gearshift.amap(slow_identity, range(20), mode=mode, workers=2)
        done = True
        await task
        return ticks

    # 20 items x 10 ms on 2 workers (or 1 for sync): 100-200 ms, the ticker runs meanwhile.
    assert asyncio.run(main()) >= 5


def test_aimap_break_stops_cleanly(mode: str) -> None:
    async def main() -> list[int]:
        got = []
        async for value in gearshift.aimap(double, itertools.count(), mode=mode):
            got.append(value)
            if len(got) == 5:
                break
        return got

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]


def test_executor_submit_map_shutdown(mode: str) -> None:
    with gearshift.Executor(mode, workers=2) as ex:
        assert ex.submit(add, 2, b=3).result(timeout=30) == 5
        assert ex.submit(adouble, 21).result(timeout=30) == 42
        assert list(ex.map(add, range(5), range(5))) == [0, 2, 4, 6, 8]
        with pytest.raises(Boom):
            ex.submit(fail_on_3, 3).result(timeout=30)
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(add, 1, 2)


def test_executor_map_timeout(mode: str) -> None:
    if mode == "sync":
        pytest.skip("sync runs each call inside map(): nothing can run past the deadline")
    with gearshift.Executor(mode, workers=2) as ex:
        ex.submit(time.sleep, 0).result(timeout=30)  # workers started: the deadline measures the work only
        results = ex.map(time.sleep, [0, 0, 5], timeout=1.5)
        assert next(results) is None
        assert next(results) is None
        with pytest.raises(TimeoutError):
            next(results)
