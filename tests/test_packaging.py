"""The lowest-versions constraints file CI installs (.ci/minimums.txt) pins exactly the floors pyproject declares.

CI runs the suite a second time against these pins, so a floor that is too low shows; this test keeps the
pins and the floors from drifting apart when either is edited.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MINIMUMS = ROOT / ".ci" / "minimums.txt"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Linters the suite does not run: CI lints and type-checks once, with their newest releases.
NOT_PINNED = {"ruff"}  # mypy is pinned: tests/test_api_typing.py runs it

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def _name(name: str) -> str:
    """The PEP 503 normalised project name (pip treats these spellings as one project)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _floors(requirements: list[str]) -> dict[str, str]:
    """name -> the version after ">=" of each requirement; every requirement must declare one."""
    floors = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        assert match, f"cannot read the requirement {requirement!r}"
        floor = re.search(r">=\s*([^,\s]+)", match.group(3))
        assert floor, f"{requirement!r} declares no lowest version (>=): CI's lowest-versions run cannot test it"
        floors[_name(match.group(1))] = floor.group(1)
    return floors


def _installed_by_ci() -> dict[str, str]:
    """The floors of what `pip install -e '.[test]'` installs for the suite: the dependencies and the test extra."""
    project = PYPROJECT["project"]
    floors = _floors(project["dependencies"])
    for name, floor in _floors(project["optional-dependencies"]["test"]).items():
        assert floors.get(name, floor) == floor, f"{name} has two floors: {floors[name]} and {floor}"
        floors[name] = floor
    return {name: floor for name, floor in floors.items() if name not in NOT_PINNED}


def _minimums() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(name -> pinned version of the "==" lines, [(other constraint line, the comment just above it)])."""
    pins: dict[str, str] = {}
    others = []
    comment = ""
    for raw in MINIMUMS.read_text().splitlines():
        line = raw.strip()
        if not line:
            comment = ""
        elif line.startswith("#"):
            comment = line
        elif pin := re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line):
            assert _name(pin.group(1)) not in pins, f"{pin.group(1)} is pinned twice in {MINIMUMS.name}"
            pins[_name(pin.group(1))] = pin.group(2)
        else:
            others.append((line, comment))
    return pins, others


def test_minimums_pin_exactly_the_declared_floors() -> None:
    pins, _ = _minimums()
    floors = _installed_by_ci()
    missing = {name: floor for name, floor in floors.items() if name not in pins}
    assert not missing, f"add to .ci/minimums.txt (name==floor): {missing}"
    wrong = {name: (pins[name], floor) for name, floor in floors.items() if pins[name] != floor}
    assert not wrong, f"pins differing from pyproject's floors, as (pin, floor): {wrong}"
    extra = sorted(set(pins) - set(floors))
    assert not extra, f"{extra} are pinned with == but are not declared dependencies; cap them with < and a reason"


def test_transitive_pins_are_caps_that_say_why() -> None:
    pins, others = _minimums()
    for line, comment in others:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\s*<\s*\S+", line), (
            f"{line!r}: a transitive constraint only caps a release (name<version) that an old floor cannot run with"
        )
        assert any(re.search(rf"\b{re.escape(name)}\b", _name(comment)) for name in pins), (
            f"{line!r} needs a comment line right above it naming the pinned floor that needs it, and why"
        )


def test_other_extras_declare_the_same_floors() -> None:
    # CI installs only [test]; an extra naming the same project with another floor would go untested.
    tested = _installed_by_ci()
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        for name, floor in _floors(requirements).items():
            if name in tested:
                assert floor == tested[name], f"[{extra}] declares {name}>={floor}, the tested floor is {tested[name]}"


def test_ci_runs_the_suite_against_the_minimums() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c .ci/minimums.txt" in ci
