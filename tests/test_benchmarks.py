"""The benchmark suite runs end to end from one command and writes its JSON, markdown and chart."""

from __future__ import annotations

import json
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
