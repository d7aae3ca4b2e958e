"""The benchmark suite runs end to end from one command and writes its JSON, markdown and chart."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_suite_writes_results(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    pytest.importorskip("matplotlib")
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--workloads", "tiny",
        "--strategies", "loop,gearshift-sync,gearshift-thread,asyncio-gather", "--repeats", "2",
        "--budget", "30", "--out", str(tmp_path), "--name", "t",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    data = json.loads((tmp_path / "t.json").read_text())
    recs = {r["strategy"]: r for r in data["records"]}
    assert len(recs["loop"]["times"]) == 2
    assert recs["loop"]["median_s"] > 0
    assert recs["gearshift-thread"]["peak_rss_mib"] > 1
    assert "needs an async def" in recs["asyncio-gather"]["skipped"]
    md = (tmp_path / "t.md").read_text()
    assert "| gearshift-sync |" in md
    assert "Per-task overhead" in md
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_benchmark_rejects_unknown_names() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--workloads", "nope"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode != 0
    assert "unknown workload nope" in out.stderr


@pytest.mark.slow
def test_planner_benchmark_writes_results(tmp_path: Path) -> None:
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "planner.py"), "--quick", "--only", "tiny",
        "--repeat", "2", "--repeat-short", "3", "--repeat-small", "0", "--explain", "--out", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    data = json.loads((tmp_path / "planner.json").read_text())
    (row,) = data["workloads"]
    assert row["workload"] == "tiny"
    assert {"sync", "thread-128", "auto"} <= set(row["times"])
    assert any(label.startswith("process-") for label in row["times"])
    assert row["oracle"] in row["times"] and row["oracle"] != "auto"
    assert row["auto_over_oracle"] == pytest.approx(row["times"]["auto"] / row["times"][row["oracle"]], rel=0.03)
    assert row["rounds"] == {label: 3 for label in row["times"]}  # sub-second runs get --repeat-short rounds
    assert 0 < row["paired"] < math.inf
    assert row["auto_plan"]
    assert data["geomean"] == pytest.approx(row["auto_over_oracle"], rel=0.01)
    md = (tmp_path / "planner.md").read_text()
    assert "| tiny | 100000 |" in md
    assert "Geometric mean of auto/oracle" in md
