"""``gearshift run --resume`` of a run that finished: nothing runs again, and it says so (issue 17, defect 8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

JOBS = """
import os

def logged_square(x):
    with open(os.environ["GS_CALL_LOG"], "a") as log:
        log.write(f"{x}\\n")
    return x * x
"""


def _run(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["run", "jobs_fin:logged_square", "-i", "in.jsonl", "-o", "out.jsonl", "--mode", "thread", *extra]
    return subprocess.run(
        [sys.executable, "-m", "gearshift", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=work,
        env={**os.environ, "GS_CALL_LOG": str(work / "calls.log")},
    )


def _calls(work: Path) -> int:
    return len((work / "calls.log").read_text().splitlines())


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "jobs_fin.py").write_text(JOBS)
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(50)))
    return tmp_path


@pytest.mark.parametrize("store", [None, "sqlite:///kept.sqlite"])
def test_resume_of_a_finished_run_runs_nothing_and_says_so(work: Path, store: str | None) -> None:
    extra = ["--store", store] if store else []
    first = _run(work, *extra)
    assert first.returncode == 0, first.stderr
    output = (work / "out.jsonl").read_text()
    assert _calls(work) == 50

    again = _run(work, *extra, "--resume")
    assert again.returncode == 0, again.stderr
    assert _calls(work) == 50, "--resume of a finished run ran items again"
    assert "nothing to run" in again.stderr, again.stderr
    assert (work / "out.jsonl").read_text() == output


def test_resume_with_the_output_gone_runs_everything_again(work: Path) -> None:
    assert _run(work).returncode == 0
    (work / "out.jsonl").unlink()  # no checkpoint and no output: nothing tells what finished
    again = _run(work, "--resume")
    assert again.returncode == 0, again.stderr
    assert _calls(work) == 100
    assert "nothing to resume, starting from the first item" in again.stderr


def test_resume_with_an_incomplete_output_is_not_taken_for_finished(work: Path) -> None:
    assert _run(work).returncode == 0
    lines = (work / "out.jsonl").read_text().splitlines()
    (work / "out.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # not this run's complete output
    again = _run(work, "--resume")
    assert again.returncode == 0, again.stderr
    assert _calls(work) == 100
    assert len((work / "out.jsonl").read_text().splitlines()) == 50


def test_resume_of_a_finished_run_with_failures_exits_1(work: Path) -> None:
    (work / "jobs_fin.py").write_text(
        JOBS + "\ndef picky(x):\n    if x == 7:\n        raise ValueError(x)\n    return x\n"
    )
    args = ["run", "jobs_fin:picky", "-i", "in.jsonl", "-o", "out.jsonl", "--errors", "return"]
    first = subprocess.run([sys.executable, "-m", "gearshift", *args], capture_output=True, text=True, cwd=work)
    assert first.returncode == 1, first.stderr
    again = subprocess.run(
        [sys.executable, "-m", "gearshift", *args, "--resume"], capture_output=True, text=True, cwd=work
    )
    assert again.returncode == 1, again.stderr
    assert "nothing to run" in again.stderr and "(1 failed)" in again.stderr
