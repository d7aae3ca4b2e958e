"""Misuses of gearshift's public API: mypy --strict must report each, and nothing else.

Every line that must fail ends with ``# error: CODE`` (the mypy error codes
expected on that line); tests/test_api_typing.py runs mypy on this file and
compares.  No ``# type: ignore`` here: the point is that the errors happen.
This file is only type-checked, never run.
"""

from __future__ import annotations

import gearshift


def parse(text: str) -> int:
    return int(text)


def lookup(table: dict[str, int], key: str) -> int:
    return table[key]


def scale(x: int, factor: float) -> float:
    return x * factor


def configured_mode() -> str:
    return "thread"


gearshift.map(parse, [1, 2])  # error: arg-type
gearshift.map(parse, ["1"], mode="proces")  # error: call-overload
gearshift.map(parse, ["1"], mode=configured_mode())  # error: call-overload
gearshift.map(parse, ["1"], wrkers=2)  # error: call-overload
gearshift.map(parse, ["1"], workers="2")  # error: call-overload
gearshift.map(parse, ["1"], errors="ignore")  # error: call-overload
gearshift.imap(parse, [b"1"])  # error: arg-type
gearshift.starmap(scale, [("1", 2.0)])  # error: arg-type
gearshift.map(lookup, ["a"], shared=["not", "a", "dict"])  # error: arg-type
gearshift.map(lookup, ["a"])  # error: arg-type
total: int = sum(gearshift.map(parse, ["1"], errors="return"))  # error: call-overload
first: int = gearshift.map(parse, ["1"], errors="return")[0]  # error: assignment
not_awaited: list[int] = gearshift.amap(parse, ["1"])  # error: assignment
for _r in gearshift.aimap(parse, ["1"]):  # error: attr-defined
    pass
gearshift.advise(parse, ["1"], mode="gpu")  # error: call-overload
gearshift.ThreadPoolExecutor().submit(parse, 1)  # error: call-overload
gearshift.Executor(mode="auto")  # error: arg-type
gearshift.mapp(parse, ["1"])  # error: attr-defined
