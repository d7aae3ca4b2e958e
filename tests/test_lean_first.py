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


def _slow_module(where: Path, seconds: float) -> str:
    """A module, new to this process, whose import takes ``seconds`` (as NumPy's first import does)."""
    name = f"gearshift_test_slow_{uuid.uuid4().hex}"
    (where / f"{name}.py").write_text(f"import time\ntime.sleep({seconds})\n")
    return name


def test_a_first_item_that_only_imports_is_not_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first item spends 150 ms (fifteen looks) in an import, then returns: not work auto could spread,
    # so auto does not load beside it, and the cheap items after it stay on the calling thread.
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _slow_module(tmp_path, 0.15)

    def f(x: int) -> int:
        if x == 0:
            __import__(name)
        return x + 1

    assert gearshift.map(f, range(50)) == list(range(1, 51))
    assert lean == []


def test_a_first_item_that_runs_on_after_its_imports_is_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same import, then 300 ms of waiting: judged once a whole look passed without an import.
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _slow_module(tmp_path, 0.15)

    def f(x: int) -> int:
        if x == 0:
            __import__(name)
            time.sleep(0.3)
        return x + 1

    assert gearshift.map(f, range(50)) == list(range(1, 51))
    (run,) = lean
    assert run.auto.report.segments[0].what == "measuring"
