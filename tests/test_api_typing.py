"""The public API's types: mypy --strict infers what tests/typecheck/uses.py states, and rejects every misuse.

tests/typecheck/uses.py holds typed uses with ``assert_type`` (no error
allowed); tests/typecheck/misuse.py holds misuses, each line marked with the
mypy error codes it must raise (and no other line may raise one).  One mypy
run checks both; its cache (.mypy_cache, shared with the lint step) makes a
second run quick.  The typed uses are also run, so the stated types are the
ones that come back.
"""

from __future__ import annotations

import collections
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "typecheck"
USES = CASES / "uses.py"
MISUSE = CASES / "misuse.py"
EXPECTED = re.compile(r"#\s*error:\s*([\w-]+(?:\s*,\s*[\w-]+)*)\s*$")
REPORTED = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*?)\s+\[(?P<code>[\w-]+)\]$")


def _expected_errors(path: Path) -> dict[int, set[str]]:
    expected: dict[int, set[str]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = EXPECTED.search(line)
        if match:
            expected[number] = {code.strip() for code in match.group(1).split(",")}
    return expected


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, dict[int, set[str]]]:
    """mypy --strict on both files, in one run: {file name: {line: error codes}}."""
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}  # the package under test, however it is installed
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--hide-error-context"]
    command += ["--show-error-codes", "--no-pretty", str(USES.relative_to(ROOT)), str(MISUSE.relative_to(ROOT))]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), f"mypy did not run:\n{done.stdout}\n{done.stderr}"
    errors: dict[str, dict[int, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
    for line in done.stdout.splitlines():
        match = REPORTED.match(line)
        if match:
            errors[Path(match["path"]).name][int(match["line"])].add(match["code"])
        elif ": error:" in line:
            raise AssertionError(f"an error line this test cannot read: {line}")
    return {name: dict(lines) for name, lines in errors.items()}


@pytest.mark.timeout(300)
def test_typed_uses_check_under_mypy_strict(mypy_errors: dict[str, dict[int, set[str]]]) -> None:
    assert mypy_errors.get("uses.py", {}) == {}


@pytest.mark.timeout(300)
def test_each_misuse_is_an_error_with_its_code_and_nothing_else_is(
    mypy_errors: dict[str, dict[int, set[str]]],
) -> None:
    expected = _expected_errors(MISUSE)
    assert len(expected) >= 15, "the misuse cases were not found (their '# error: CODE' markers)"
    assert mypy_errors.get("misuse.py", {}) == expected


def test_the_typed_uses_run_and_return_what_their_types_say() -> None:
    namespace = runpy.run_path(str(USES))
    namespace["main"]()
