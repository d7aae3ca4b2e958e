"""Typed uses of gearshift's public API: mypy --strict must accept this file with no error.

Each ``assert_type`` states what a type checker infers (and an editor shows)
for a call; tests/test_api_typing.py runs mypy on this file, and also runs
:func:`main`, so that the types stated here are the types that come back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Iterator
from typing import Literal, assert_type

import gearshift
from gearshift import Failure


def parse(text: str) -> int:
    return int(text)


async def aparse(text: str) -> int:
    await asyncio.sleep(0)
    return int(text)


def lookup(table: dict[str, int], key: str) -> int:
    return table[key]


def scale(x: int, factor: float) -> float:
    return x * factor


def scaled_lookup(table: dict[str, int], key: str, factor: float) -> float:
    return table[key] * factor


TABLE = {"a": 1, "b": 2}


def sync_entry_points() -> None:
    assert_type(gearshift.map(parse, ["1", "2"]), list[int])
    assert_type(gearshift.map(aparse, ["1"], mode="async"), list[int])  # a coroutine function's results, awaited
    assert_type(gearshift.map(parse, ["1"], mode="thread", workers=2, chunksize=1, ordered=False), list[int])
    assert_type(gearshift.map(lambda s: s.upper(), ["a"], mode="sync"), list[str])
    assert_type(gearshift.imap(parse, iter(["1"]), mode="sync"), Iterator[int])
    assert_type(gearshift.starmap(scale, [(1, 2.0), (2, 0.5)], mode="sync"), list[float])
    assert gearshift.map(parse, ["1", "2"], mode="sync") == [1, 2]

    # errors="return": a Failure stands in for each failed item; isinstance tells them apart
    results = gearshift.map(parse, ["1", "x"], mode="sync", errors="return")
    assert_type(results, list[int | Failure])
    for r in results:
        if isinstance(r, Failure):
            assert_type(r.exception, BaseException)
        else:
            assert_type(r, int)
    assert isinstance(results[1], Failure) and results[0] == 1
    policy: Literal["raise", "return"] = "return"
    assert_type(gearshift.map(parse, ["1"], mode="sync", errors=policy), list[int | Failure])
    assert_type(gearshift.imap(aparse, ["1"], mode="sync", errors="return"), Iterator[int | Failure])

    # shared=: fn takes the shared object first, its type checked against fn's first parameter
    assert_type(gearshift.map(lookup, ["a", "b"], mode="sync", shared=TABLE), list[int])
    assert_type(gearshift.starmap(scaled_lookup, [("a", 2.0)], mode="sync", shared=TABLE), list[float])
    assert_type(gearshift.map(lookup, ["a", "z"], mode="sync", shared=TABLE, errors="return"), list[int | Failure])
    assert gearshift.map(lookup, ["a", "b"], mode="sync", shared=TABLE) == [1, 2]

    # every option, with its type
    assert_type(
        gearshift.map(
            parse,
            ["1"],
            mode="thread",
            workers=None,
            chunksize=None,
            ordered=True,
            timeout=10.0,
            retries=1,
            progress=False,
            retry_on=(ValueError, gearshift.TaskTimeout),
            buffer_bytes=2**20,
        ),
        list[int],
    )


async def async_entry_points() -> None:
    assert_type(await gearshift.amap(parse, ["1"], mode="thread"), list[int])
    assert_type(await gearshift.amap(aparse, ["1"], mode="async"), list[int])
    assert_type(await gearshift.amap(aparse, ["x"], mode="async", errors="return"), list[int | Failure])
    results = gearshift.aimap(aparse, ["1", "2"], mode="async")
    assert_type(results, AsyncIterator[int])
    assert [r async for r in results] == [1, 2]

    async def source() -> AsyncIterator[str]:
        yield "3"

    assert_type(gearshift.aimap(parse, source(), mode="sync"), AsyncIterator[int])
    assert await gearshift.amap(lookup, source(), mode="sync", shared={"3": 3}) == [3]


def executors() -> None:
    with gearshift.ThreadPoolExecutor(max_workers=2) as pool:
        future = pool.submit(parse, "1")
        assert_type(future, concurrent.futures.Future[int])
        assert_type(pool.submit(aparse, "2"), concurrent.futures.Future[int])  # awaited for you
        assert_type(pool.map(parse, ["1", "2"]), Iterator[int])
        assert_type(pool.map(scale, [1, 2], [2.0, 3.0]), Iterator[float])
        assert future.result() == 1 and list(pool.map(parse, ["1", "2"])) == [1, 2]
    executor: concurrent.futures.Executor = gearshift.Executor("sync")  # a real concurrent.futures.Executor
    assert_type(executor.submit(parse, "3"), concurrent.futures.Future[int])
    assert executor.submit(parse, "3").result() == 3
    executor.shutdown()


def planning() -> None:
    plan = gearshift.advise(parse, ["1", "2", "3"], mode="thread", workers=2)
    assert_type(plan, gearshift.Plan)
    assert_type(plan.alternatives, tuple[gearshift.Alternative, ...])
    assert_type(gearshift.advise(lookup, ["a"], mode="sync", shared=TABLE), gearshift.Plan)
    assert_type(gearshift.profile(parse, ["1", "2"], sample=2), gearshift.Profile)


def main() -> None:
    sync_entry_points()
    asyncio.run(async_entry_points())
    executors()
    planning()


if __name__ == "__main__":
    main()
