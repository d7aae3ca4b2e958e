"""The quick path (``gearshift._quick``): a sync ``map``/``starmap`` with nothing else asked.

Its outcomes must be the general path's, which the semantics harness proves
(docs/semantics.md): so the general path is the oracle here, over every way an
item or the input can end (a value, an Exception, StopIteration, a
BaseException), for ``map`` and ``starmap``, and the builtin ``map`` for the
results.  Ctrl-C by a real signal: tests/test_interrupt.py (``map-plain``).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import gearshift
from gearshift import _quick

SYNC = {"mode": "sync"}
#: what an item does: return its value, or raise one of these
ENDINGS = ("value", "error", "stop", "interrupt", "exit")


class InputBroke(Exception):
    pass


def _act(plan: dict[int, str], x: int) -> int:
    ending = plan.get(x, "value")
    if ending == "error":
        raise ValueError(f"item {x} failed")
    if ending == "stop":
        raise StopIteration(x)
    if ending == "interrupt":
        raise KeyboardInterrupt(x)
    if ending == "exit":
        raise SystemExit(x)
    return x * 3


def _feed(n: int, broken_at: int | None, how: str) -> Iterator[int]:
    for i in range(n):
        if i == broken_at:
            if how == "interrupt":
                raise KeyboardInterrupt("input")
            raise InputBroke(f"input broke at {i}")
        yield i


def _outcome(call: Any) -> tuple[Any, ...]:
    try:
        return ("returned", call())
    except BaseException as exc:  # every ending is compared, the BaseExceptions too
        return ("raised", type(exc), str(exc), getattr(exc, "partial_results", "absent"))


@given(
    n=st.integers(0, 30),
    plan=st.dictionaries(st.integers(0, 29), st.sampled_from(ENDINGS), max_size=3),
    broken_at=st.none() | st.integers(0, 30),
    how=st.sampled_from(["error", "interrupt"]),
    star=st.booleans(),
    as_list=st.booleans(),
)
def test_the_quick_path_ends_every_run_as_the_general_path_does(
    n: int, plan: dict[int, str], broken_at: int | None, how: str, star: bool, as_list: bool
) -> None:
    fn: Any
    if star:
        fn = lambda x, y: _act(plan, x)  # noqa: E731 - a def function, as the quick path takes it

        def items() -> Any:
            gen = ((x, None) for x in _feed(n, broken_at, how))
            return list(gen) if as_list and broken_at is None else gen
    else:
        fn = lambda x: _act(plan, x)  # noqa: E731

        def items() -> Any:
            gen = _feed(n, broken_at, how)
            return list(gen) if as_list and broken_at is None else gen

    entry = gearshift.starmap if star else gearshift.map
    quick = _outcome(lambda: _quick.collect(fn, items(), "raise", None, SYNC, star=star))
    assert quick[:2] != ("returned", None), "the quick path did not take the call"
    general = _outcome(lambda: entry(fn, items(), mode="sync", ordered=True))  # another option: the general path
    assert quick == general
    if general[0] == "returned":
        assert quick[1] == [x * 3 for x in range(n)]  # the builtin map's results


def _square(x: int) -> int:
    return x * x


async def _square_later(x: int) -> int:
    return x * x


class _Squares:
    def method(self, x: int) -> int:
        return x * x

    async def later(self, x: int) -> int:
        return x * x

    def __call__(self, x: int) -> int:
        return x * x


@pytest.mark.parametrize(
    "fn", [_square, abs, int, _Squares().method, lambda x: x], ids=["function", "builtin", "class", "method", "lambda"]
)
def test_plain_functions_take_the_quick_path(fn: Any) -> None:
    assert _quick.collect(fn, [1, -2], "raise", None, SYNC, star=False) == [fn(1), fn(-2)]


@pytest.mark.parametrize(
    "fn",
    [_square_later, _Squares().later, _Squares(), functools.partial(_square)],
    ids=["coroutine-function", "coroutine-method", "callable-object", "partial"],
)
def test_anything_that_may_be_a_coroutine_function_goes_the_general_way(fn: Any) -> None:
    assert _quick.collect(fn, [1, 2], "raise", None, SYNC, star=False) is None
    assert gearshift.map(fn, [1, 2], mode="sync") == [1, 4]  # coroutines are awaited there


@pytest.mark.skipif(sys.version_info < (3, 12), reason="inspect.markcoroutinefunction is new in 3.12")
def test_a_function_marked_as_a_coroutine_function_goes_the_general_way() -> None:
    import inspect

    def later(x: int) -> Any:
        return _square_later(x)

    marked = inspect.markcoroutinefunction(later)  # type: ignore[attr-defined]
    assert _quick.collect(marked, [1, 2], "raise", None, SYNC, star=False) is None
    assert gearshift.map(marked, [1, 2], mode="sync") == [1, 4]


@pytest.mark.parametrize(
    ("errors", "shared", "options"),
    [
        ("return", None, SYNC),
        ("raise", 5, SYNC),
        ("raise", None, {"mode": "sync", "workers": 1}),
        ("raise", None, {"mode": "sync", "retries": False}),
        ("raise", None, {"mode": "sync", "buffer_bytes": 1 << 26}),
        ("raise", None, {}),
    ],
    ids=["errors-return", "shared", "another-option", "a-default-of-another-type", "an-option-not-copied", "auto"],
)
def test_any_other_ask_goes_the_general_way(errors: str, shared: Any, options: dict[str, Any]) -> None:
    assert _quick.collect(_square, [1, 2], errors, shared, options, star=False) is None


def test_options_given_their_defaults_ask_for_nothing() -> None:
    defaults = {**SYNC, "workers": None, "chunksize": None, "ordered": True, "timeout": None, "retries": 0}
    assert _quick.collect(_square, [1, 2], "raise", None, defaults, star=False) == [1, 4]
    assert _quick.asks_nothing({"workers": None}, "auto")
    assert _quick.asks_nothing({"mode": "auto", "progress": False}, "auto")
    assert not _quick.asks_nothing({"workers": None}, "sync")


def test_the_defaults_are_the_options() -> None:
    import dataclasses

    from gearshift._options import Options

    fields = {f.name: f.default for f in dataclasses.fields(Options)}
    assert {name: fields[name] for name in _quick.DEFAULTS} == _quick.DEFAULTS


def test_bad_input_gets_the_general_paths_message() -> None:
    with pytest.raises(TypeError, match=r"items must be iterable \(a list, generator, ...\), got int: 5"):
        gearshift.map(abs, 5, mode="sync")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="must be callable, got int: 3"):
        gearshift.map(3, [1], mode="sync")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'mdoe'"):
        gearshift.map(abs, [1], mdoe="sync")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="mode"):
        gearshift.map(abs, [1], mode="synk")  # type: ignore[call-overload]
