"""``gearshift run`` input mistakes (issue 17, defect 11): the right line and text, status 2 with the prefix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift", "run", *args, "-o", "out.jsonl", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=os.environ.copy(),
    )


@pytest.mark.parametrize(
    ("bad_line", "column", "reason"),
    [
        ('{"a": 1', 8, "Expecting ',' delimiter"),  # cut short: json's position is past the line's newline
        ("[1, 2,", 7, "Expecting value"),
        ('{"a": 1} x', 10, "Extra data"),
    ],
)
def test_json_error_names_its_own_line_column_and_text(tmp_path: Path, bad_line: str, column: int, reason: str) -> None:
    (tmp_path / "jobs_in.py").write_text("def same(x):\n    return x\n")
    (tmp_path / "in.jsonl").write_text(f"1\n{bad_line}\n3\n")
    done = _run(tmp_path, "jobs_in:same", "-i", "in.jsonl")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("gearshift run: error: in.jsonl, line 2: not valid JSON"), done.stderr
    assert f"at column {column} ({reason})" in done.stderr, done.stderr
    assert repr(bad_line) in done.stderr, "the offending text is shown"
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out.jsonl").exists()


def test_json_error_quotes_a_long_line_around_the_fault(tmp_path: Path) -> None:
    (tmp_path / "jobs_in.py").write_text("def same(x):\n    return x\n")
    line = '{"k": "' + "a" * 500 + '", oops}'
    (tmp_path / "in.jsonl").write_text(f"{line}\n")
    done = _run(tmp_path, "jobs_in:same", "-i", "in.jsonl")
    assert done.returncode == 2, done.stderr
    assert "line 1: not valid JSON at column 511" in done.stderr, done.stderr
    assert "oops}'" in done.stderr and "a" * 200 not in done.stderr, "a short quote around the fault"


@pytest.mark.parametrize("code", ["'x'", "0", "3"])
def test_module_that_exits_at_import_is_a_usage_error(tmp_path: Path, code: str) -> None:
    (tmp_path / "jobs_exit.py").write_text(f"import sys\nsys.exit({code})\n\ndef f(x):\n    return x\n")
    (tmp_path / "in.jsonl").write_text("1\n2\n")
    done = _run(tmp_path, "jobs_exit:f", "-i", "in.jsonl")
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("gearshift run: error: importing 'jobs_exit' failed: "), done.stderr
    assert "the module exited while being imported" in done.stderr
    assert f"sys.exit({code})" in done.stderr and "jobs_exit.py, line 2" in done.stderr
    assert len(done.stderr.splitlines()) == 1
