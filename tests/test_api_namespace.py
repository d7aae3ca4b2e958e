"""The public namespace holds the public names and nothing else, each typed with public names."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

import gearshift
from helpers import double


def test_dir_lists_the_public_names_only() -> None:
    assert dir(gearshift) == sorted(gearshift.__all__)
    for helper in ("Any", "TYPE_CHECKING", "annotations", "importlib"):
        assert not hasattr(gearshift, helper), helper


def test_dir_is_clean_in_a_fresh_interpreter() -> None:
    # Before any name was loaded (the names load on first use, from private modules).
    out = subprocess.run(
        [sys.executable, "-c", "import gearshift; print(dir(gearshift) == sorted(gearshift.__all__))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_plan_fields_are_typed_with_exported_classes() -> None:
    # Profile is imported for type checkers only (_plan stays light): name it here
    hints = typing.get_type_hints(gearshift.Plan, localns={"Profile": gearshift.Profile})
    assert hints["alternatives"] == tuple[gearshift.Alternative, ...]
    assert hints["profile"] == gearshift.Profile | None
    plan = gearshift.advise(double, list(range(40)))  # auto: it measures and weighs the modes
    assert plan.alternatives and all(isinstance(a, gearshift.Alternative) for a in plan.alternatives)


def test_profile_has_no_field_that_is_never_set() -> None:
    assert "concurrent_items" not in {f.name for f in dataclasses.fields(gearshift.Profile)}


def _add(table: dict[int, int], x: int) -> int:
    return table[x]


def test_advise_takes_shared_like_map() -> None:
    plan = gearshift.advise(_add, [1, 2, 3], mode="thread", shared={1: 1, 2: 2, 3: 3})
    assert plan.mode == "thread"
    measured = gearshift.advise(_add, list(range(8)), shared={i: i for i in range(8)})  # measured as fn(shared, item)
    assert measured.profile is not None and measured.profile.failures == 0


def test_advise_refuses_shared_with_a_function_of_one_argument() -> None:
    with pytest.raises(
        TypeError,
        match=r"with shared=, fn is called as fn\(shared, item\), but double\(x.* does not take two positional arguments",
    ):
        gearshift.advise(double, [1], shared={})
