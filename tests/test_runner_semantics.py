"""The runner's promises (contract C2, C5, C6, C9, C10) as properties over every local mode.

Each test runs a grid of modes x chunksize x workers x ordered (x the kind of
function) and compares with the builtin ``map``.  Process-mode functions live
at module level so worker processes import them by reference.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

import gearshift

# Grids over gearshift's own semantics, not over its dependencies' APIs: run once, on the newest
# versions (.ci/run's lowest-versions step leaves slow tests out to stay within CI's 15 minutes).
pytestmark = pytest.mark.slow

MODES = ["sync", "async", "thread", "process", "auto"]
FAIL_AT = 50


class Boom(Exception):
    pass


class Custom(BaseException):
    """A BaseException that is not an Exception, raised by fn."""


def twice_fail_50(x: int) -> int:
    if x == FAIL_AT:
        raise Boom(x)
    return 2 * x


async def atwice_fail_50(x: int) -> int:
    await asyncio.sleep(0)
    if x == FAIL_AT:
        raise Boom(x)
    return 2 * x


def twice(x: int) -> int:
    return 2 * x


async def atwice(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def oracle(x: int) -> int:
    return 2 * x


def _grid(*modes: str, small: bool = False) -> list[Any]:
    """(mode, chunksize, workers, ordered) for every mode; sync has one worker.

    ``small``: automatic and multi-item chunks on several workers only, for grids that also
    multiply by other parameters (the cases that one item per chunk or one worker adds are
    the same code paths, and the harness in test_semantics.py draws them anyway).
    """
    out = []
    chunksizes, workerses = ((None, 3), (3,)) if small else ((None, 1, 3), (1, 3))
    for mode in modes:
        counts = (1,) if mode == "sync" else workerses
        for chunksize, workers, ordered in itertools.product(chunksizes, counts, (True, False)):
            out.append(pytest.param(mode, chunksize, workers, ordered, id=f"{mode}-c{chunksize}-w{workers}-o{ordered}"))
    return out


# -- C2: errors="raise" hands out exactly the results before the failing item ------------


@pytest.mark.parametrize("is_async", [False, True], ids=["plain", "async"])
@pytest.mark.parametrize(("mode", "chunksize", "workers", "ordered"), _grid(*MODES))
def test_raise_hands_out_exactly_the_items_before_the_failure(
    mode: str, chunksize: int | None, workers: int, ordered: bool, is_async: bool
) -> None:
    fn = atwice_fail_50 if is_async else twice_fail_50
    got: list[Any] = []
    with pytest.raises(Boom) as info:
        for value in gearshift.imap(fn, range(200), mode=mode, chunksize=chunksize, workers=workers, ordered=ordered):
            got.append(value)
    assert info.value.args == (FAIL_AT,)
    if ordered:
        assert got == list(map(oracle, range(FAIL_AT)))
    else:
        # Only correct values of distinct items, never the failing one's slot filled by anything.
        assert len(got) == len(set(got))
        assert set(got) <= {oracle(x) for x in range(200) if x != FAIL_AT}


# -- C9: an input that raises ------------------------------------------------------------


class InputBroke(OSError):
    pass


def _breaking(n: int) -> Iterator[int]:
    yield from range(n)
    raise InputBroke(f"the input broke after {n} items")


@pytest.mark.parametrize("errors", ["raise", "return"])
@pytest.mark.parametrize(("mode", "chunksize", "workers", "ordered"), _grid(*MODES))
def test_input_that_raises_delivers_what_was_read_then_raises(
    mode: str, chunksize: int | None, workers: int, ordered: bool, errors: str
) -> None:
    kw: dict[str, Any] = dict(mode=mode, chunksize=chunksize, workers=workers, ordered=ordered, errors=errors)
    for n in (0, 1, 7, 40):
        expected = list(map(oracle, range(n)))
        got: list[Any] = []
        with pytest.raises(InputBroke, match=f"after {n} items"):
            for value in gearshift.imap(twice, _breaking(n), **kw):
                got.append(value)
        assert got == expected if ordered else sorted(got) == expected, n

        with pytest.raises(InputBroke, match=f"after {n} items") as info:
            gearshift.map(twice, _breaking(n), **kw)
        partial = info.value.partial_results  # type: ignore[attr-defined]
        assert partial == expected if ordered else sorted(partial) == expected, n

        with pytest.raises(InputBroke) as info:
            gearshift.starmap(twice, ((x,) for x in _breaking(n)), **kw)
        partial = info.value.partial_results  # type: ignore[attr-defined]
        assert partial == expected if ordered else sorted(partial) == expected, n


# -- C6: workers caps the items running at once, plain and async functions -------------


def _span_plain(x: int) -> tuple[float, float]:
    t0 = time.monotonic()
    time.sleep(0.02)
    return t0, time.monotonic()


async def _span_async(x: int) -> tuple[float, float]:
    t0 = time.monotonic()
    await asyncio.sleep(0.02)
    return t0, time.monotonic()


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The largest number of [start, end] intervals that overlap (CLOCK_MONOTONIC spans processes)."""
    events = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
    running = most = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start: touching is not overlapping
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize("is_async", [False, True], ids=["plain", "async"])
@pytest.mark.parametrize(("mode", "chunksize", "workers", "ordered"), _grid(*MODES))
def test_workers_caps_items_running_at_once(
    mode: str, chunksize: int | None, workers: int, ordered: bool, is_async: bool
) -> None:
    fn = _span_async if is_async else _span_plain
    spans = gearshift.map(fn, range(12), mode=mode, chunksize=chunksize, workers=workers, ordered=ordered)
    assert len(spans) == 12
    cap = 1 if mode == "sync" else workers
    assert _most_at_once(spans) <= cap


# -- C10: a BaseException that is not an Exception stops the run -----------------------


def _fatal_at(arg: tuple[int, str], exc_type: type[BaseException]) -> int:
    x, log = arg
    with open(log, "a") as f:  # every call, from any process: O_APPEND lines do not mix
        f.write(f"{x}\n")
    if x == 20:
        raise exc_type("from fn")
    return 2 * x


def fatal_keyboard(arg: tuple[int, str]) -> int:
    return _fatal_at(arg, KeyboardInterrupt)


def fatal_exit(arg: tuple[int, str]) -> int:
    return _fatal_at(arg, SystemExit)


def fatal_custom(arg: tuple[int, str]) -> int:
    return _fatal_at(arg, Custom)


async def afatal_custom(arg: tuple[int, str]) -> int:
    await asyncio.sleep(0)
    return _fatal_at(arg, Custom)


async def afatal_keyboard(arg: tuple[int, str]) -> int:
    await asyncio.sleep(0)
    return _fatal_at(arg, KeyboardInterrupt)


FATAL = [
    pytest.param(fatal_keyboard, KeyboardInterrupt, id="KeyboardInterrupt"),
    pytest.param(fatal_exit, SystemExit, id="SystemExit"),
    pytest.param(fatal_custom, Custom, id="custom"),
    pytest.param(afatal_custom, Custom, id="async-custom"),
    pytest.param(afatal_keyboard, KeyboardInterrupt, id="async-KeyboardInterrupt"),
]


def _runs_of(log: Any, x: int) -> int:
    runs = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return runs.count(str(x))


@pytest.mark.parametrize(("fn", "exc_type"), FATAL)
@pytest.mark.parametrize("policy", [dict(errors="raise"), dict(errors="return"), dict(errors="return", retries=2)])
@pytest.mark.parametrize(("mode", "chunksize", "workers", "ordered"), _grid(*MODES, small=True))
def test_fatal_base_exception_stops_the_run_with_partial_results(
    mode: str,
    chunksize: int | None,
    workers: int,
    ordered: bool,
    policy: dict[str, Any],
    fn: Any,
    exc_type: Any,
    tmp_path: Any,
) -> None:
    kw: dict[str, Any] = dict(mode=mode, chunksize=chunksize, workers=workers, ordered=ordered, **policy)
    log = tmp_path / "calls"
    items = [(x, str(log)) for x in range(60)]
    expected = [oracle(x) for x in range(60)]
    with pytest.raises(exc_type) as info:
        gearshift.map(fn, items, **kw)
    assert type(info.value) is exc_type
    assert _runs_of(log, 20) == 1  # never retried
    partial = info.value.partial_results  # type: ignore[attr-defined]
    assert oracle(20) not in partial and not any(isinstance(p, gearshift.Failure) for p in partial)
    if ordered:
        assert partial == expected[: len(partial)]  # an ordered prefix
        assert len(partial) <= 20
    else:
        assert len(set(partial)) == len(partial) and set(partial) <= set(expected)

    got: list[Any] = []
    with pytest.raises(exc_type) as info:
        for value in gearshift.imap(fn, items, **kw):
            got.append(value)
    assert _runs_of(log, 20) == 1
    partial = info.value.partial_results  # type: ignore[attr-defined]
    if ordered:
        assert got + partial == expected[: len(got) + len(partial)]
    assert not any(isinstance(p, gearshift.Failure) for p in got + partial)


# -- C5: read-ahead bounded in bytes of results buffered ---------------------------------

BIG = 100_000  # bytes per result


def big_result(x: int) -> bytes:
    return bytes(BIG)


async def abig_result(x: int) -> bytes:
    return bytes(BIG)


class Counted:
    """An endless input that counts the items read."""

    def __init__(self) -> None:
        self.read = 0

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count():
            self.read = i + 1
            yield i


def _most_ahead(mode: str, fn: Any, results: int, **kw: Any) -> int:
    """Consume ``results`` results slowly; the most items read but not yet consumed at any point."""
    source = Counted()
    ahead = 0
    it = gearshift.imap(fn, source, mode=mode, **kw)
    try:
        for consumed, value in enumerate(itertools.islice(it, results), 1):
            assert len(value) == BIG
            time.sleep(0.002)  # a slow consumer: the workers could run far ahead
            ahead = max(ahead, source.read - consumed)
    finally:
        it.close()  # type: ignore[attr-defined]
    return ahead


@pytest.mark.parametrize("is_async", [False, True], ids=["plain", "async"])
@pytest.mark.parametrize(("mode", "chunksize", "workers", "ordered"), _grid(*MODES, small=True))
def test_read_ahead_is_bounded_by_buffer_bytes(
    mode: str, chunksize: int | None, workers: int, ordered: bool, is_async: bool
) -> None:
    budget = 20 * BIG  # about 20 results
    fn = abig_result if is_async else big_result
    ahead = _most_ahead(mode, fn, 150, chunksize=chunksize, workers=workers, ordered=ordered, buffer_bytes=budget)
    # The budget, plus at most one chunk beyond it and the items that were in flight
    # before the first result's size was known (one per slot of the window).
    slack = max(chunksize or 1, 1) + 2 * max(workers, 2) * 3
    assert ahead <= budget // BIG + slack


@pytest.mark.parametrize("mode", MODES)
def test_default_buffer_is_64_mib(mode: str) -> None:
    # 64 MiB hold about 670 results of 100 kB; old runs read thousands (process) or millions (async) ahead.
    ahead = _most_ahead(mode, big_result, 300, workers=4)
    assert ahead * BIG <= 64 * 2**20 + 40 * BIG


def slow_twice(x: int) -> int:
    time.sleep(0.03)  # waits: auto starts the next items on threads while the first one runs
    return 2 * x


def slow_fatal(x: int) -> int:
    time.sleep(0.03)
    if x == 5:
        raise Custom("from fn")
    return 2 * x


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("n", [2, 7, 40])
def test_input_that_raises_while_auto_looks_ahead(n: int, ordered: bool) -> None:
    expected = list(map(oracle, range(n)))
    with pytest.raises(InputBroke) as info:
        gearshift.map(slow_twice, _breaking(n), mode="auto", ordered=ordered)
    partial = info.value.partial_results  # type: ignore[attr-defined]
    assert partial == expected if ordered else sorted(partial) == expected
    got: list[Any] = []
    with pytest.raises(InputBroke):
        for value in gearshift.imap(slow_twice, _breaking(n), mode="auto", ordered=ordered):
            got.append(value)
    assert got == expected if ordered else sorted(got) == expected


@pytest.mark.parametrize("mode", MODES)
def test_fatal_base_exception_from_waiting_items(mode: str) -> None:
    with pytest.raises(Custom) as info:
        gearshift.map(slow_fatal, range(40), mode=mode, workers=4)
    partial = info.value.partial_results  # type: ignore[attr-defined]
    assert partial == list(map(oracle, range(len(partial)))) and len(partial) <= 5


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("mode", MODES)
def test_amap_and_aimap_input_that_raises(mode: str, ordered: bool) -> None:
    expected = list(map(oracle, range(7)))

    async def main() -> tuple[list[Any], BaseException, list[Any]]:
        with pytest.raises(InputBroke) as info:
            await gearshift.amap(twice, _breaking(7), mode=mode, ordered=ordered, workers=2)
        got: list[Any] = []
        with pytest.raises(InputBroke):
            async for value in gearshift.aimap(twice, _breaking(7), mode=mode, ordered=ordered, workers=2):
                got.append(value)
        return info.value.partial_results, info.value, got  # type: ignore[attr-defined]

    partial, _, got = asyncio.run(main())
    for out in (partial, got):
        assert out == expected if ordered else sorted(out) == expected


def bigger_result(x: int) -> bytes:
    return bytes(4 * BIG)


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_default_buffer_bounds_a_plain_function_on_threads(mode: str) -> None:
    # 400 kB results: 64 MiB hold about 167.  Old runs read 800 (async: a window of chunks as if
    # their items ran at once) and 334 (thread) ahead within 300 results, and kept growing.
    source = Counted()
    ahead = 0
    it = gearshift.imap(bigger_result, source, mode=mode, workers=4)
    try:
        for consumed, value in enumerate(itertools.islice(it, 300), 1):
            assert len(value) == 4 * BIG
            time.sleep(0.002)
            ahead = max(ahead, source.read - consumed)
    finally:
        it.close()  # type: ignore[attr-defined]
    assert ahead * 4 * BIG <= 64 * 2**20 + 10 * 4 * BIG


# -- one property over all of them: the builtin map as the model ---------------------------


def twice_or_boom(arg: tuple[int, bool]) -> int:
    x, fails = arg
    if fails:
        raise Boom(x)
    return 2 * x


def _source(items: list[tuple[int, bool]], breaks: bool) -> Iterator[tuple[int, bool]]:
    yield from items
    if breaks:
        raise InputBroke(f"the input broke after {len(items)} items")


@pytest.mark.parametrize("mode", ["sync", "async", "thread", "process"])
def test_results_match_the_builtin_map(mode: str) -> None:
    """C1, C2, C9: imap's values and exception against a model computed with the builtin map."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=25 if mode == "process" else 60, deadline=None, derandomize=True)
    @given(
        fails=st.lists(st.integers(0, 9).map(lambda v: v == 0), max_size=60),  # about 1 item in 10 fails
        breaks=st.booleans(),
        chunksize=st.sampled_from([None, 1, 2, 5]),
        workers=st.integers(1, 4),
        ordered=st.booleans(),
        errors=st.sampled_from(["raise", "return"]),
    )
    def check(fails: list[bool], breaks: bool, chunksize: int | None, workers: int, ordered: bool, errors: str) -> None:
        items = list(enumerate(fails))
        model: list[Any] = []
        model_error: type[BaseException] | None = InputBroke if breaks else None
        for x, fail in items:
            if not fail:
                model.append(2 * x)
            elif errors == "return":
                model.append(("failure", x))
            else:
                model_error = Boom
                break
        got: list[Any] = []
        error: BaseException | None = None
        try:
            for value in gearshift.imap(
                twice_or_boom, _source(items, breaks), mode=mode, chunksize=chunksize,
                workers=workers, ordered=ordered, errors=errors,
            ):  # fmt: skip
                got.append(("failure", value.index) if isinstance(value, gearshift.Failure) else value)
        except (Boom, InputBroke) as exc:
            error = exc
        assert type(error) is model_error if model_error is not None else error is None
        if ordered:
            assert got == model
        elif model_error is Boom:
            # Unordered: only correct values of distinct items that did not fail.
            allowed = {2 * x for x, fail in items if not fail}
            assert len(set(got)) == len(got) and set(got) <= allowed
        else:
            assert sorted(got, key=repr) == sorted(model, key=repr)

    check()


@pytest.mark.parametrize("mode", MODES)
def test_fatal_base_exception_and_input_errors_with_a_timeout(mode: str, tmp_path: Any) -> None:
    # timeout= runs items watched (threads) or reported one by one (processes): the same promises hold.
    log = tmp_path / "calls"
    with pytest.raises(Custom) as info:
        gearshift.map(fatal_custom, [(x, str(log)) for x in range(40)], mode=mode, timeout=30, retries=1)
    partial = info.value.partial_results  # type: ignore[attr-defined]
    assert partial == list(map(oracle, range(len(partial)))) and len(partial) <= 20
    assert _runs_of(log, 20) == 1
    with pytest.raises(InputBroke) as info:
        gearshift.map(twice, _breaking(9), mode=mode, timeout=30, errors="return")
    assert info.value.partial_results == list(map(oracle, range(9)))  # type: ignore[attr-defined]
