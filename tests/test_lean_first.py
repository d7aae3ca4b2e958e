"""gearshift._lean_first: the lean start's first item, watched from a helper thread.

How the watch hands a long first item over to auto is tested with the rest of the lean
start (tests/test_lean.py); here: a first item still loading modules is not judged by its
imports.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import gearshift


def _importing_first(where: Path, monkeypatch: pytest.MonkeyPatch, then: float) -> Any:
    """A function whose first item imports a module new to this process (150 ms, as NumPy's first
    import takes about half that), then waits ``then`` seconds; every other item is cheap."""
    monkeypatch.syspath_prepend(str(where))
    name = f"gearshift_test_slow_{uuid.uuid4().hex}"
    (where / f"{name}.py").write_text("import time\ntime.sleep(0.15)\n")

    def f(x: int) -> int:
        if x == 0:
            __import__(name)
            time.sleep(then)
        return x + 1

    return f


def test_a_first_item_that_only_imports_is_not_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fifteen looks inside an import, then it returns: not work auto could spread, so auto does not
    # load beside it, and the cheap items after it stay on the calling thread.
    assert gearshift.map(_importing_first(tmp_path, monkeypatch, 0.0), range(50)) == list(range(1, 51))
    assert lean == []


def test_a_first_item_that_runs_on_after_its_imports_is_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same import, then 300 ms of waiting: judged once a whole look passed without an import.
    assert gearshift.map(_importing_first(tmp_path, monkeypatch, 0.3), range(50)) == list(range(1, 51))
    (run,) = lean
    assert run.auto.report.segments[0].what == "measuring"


@pytest.mark.parametrize(
    ("cpu", "runnable", "expected"),
    [
        (0.0, False, 0.0),  # sleeping or blocked: its waits are its own, judged by the wall
        (0.0, None, 0.0),  # no clocks to tell: judged
        (None, True, 0.0),
        (0.0, True, 0.007),  # runnable and no CPU yet: kept off the CPU, look again
        (0.005, True, 0.002),
        (0.0095, True, 0.0),  # computed through the look: judged
    ],
)
def test_a_runnable_item_is_judged_once_it_computed_most_of_a_look(
    cpu: float | None, runnable: bool | None, expected: float
) -> None:
    from gearshift._lean_first import owed

    assert owed(cpu, runnable) == pytest.approx(expected)


def test_a_first_item_kept_off_the_cpu_is_not_taken_over(lean: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake busy machine: the item's thread is always ready to run and never given a CPU. Its 50 ms
    # would be taken over at the first look on a free machine; here it never computed a look's worth.
    from gearshift import _lean_first

    monkeypatch.setattr(_lean_first, "runnable", lambda native: True)
    monkeypatch.setattr(_lean_first, "_cpu_clock", lambda ident: 0.0)

    def f(x: int) -> int:
        if x == 0:
            time.sleep(0.05)
        return x + 1

    assert gearshift.map(f, range(20)) == list(range(1, 21))
    assert lean == []
