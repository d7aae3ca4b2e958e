"""``gearshift demo``: four jobs under every mode, with the winner and auto's choice."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from gearshift._cli._demo import MODES, run_demo


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_in_process_runs_four_jobs_in_every_mode() -> None:
    out = io.StringIO()
    rows = run_demo(out, quick=True)
    jobs = {row["job"] for row in rows}
    assert len(jobs) == 4
    assert {(row["job"], row["mode"]) for row in rows} == {(job, mode) for job in jobs for mode in MODES}
    assert all(row["seconds"] > 0 for row in rows)
    text = out.getvalue()
    assert text.count("auto chose") == 4
    assert text.count("<- fastest") == 4
    assert "found: aaaah" in text  # the cracked password, checked against the wordlist's known hit


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_demo_as_subprocess() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gearshift", "demo", "--quick"], capture_output=True, text=True, timeout=220
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("auto chose") == 4
    assert "Traceback" not in out.stderr
