"""The benchmark suite runs end to end from one command and writes its JSON, markdown and chart."""

from __future__ import annotations

import importlib.util
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
        "--strategies", "loop,gearshift-sync,gearshift-thread,gearshift-auto,asyncio-gather", "--repeats", "2",
        "--contest-repeats", "3", "--budget", "30", "--out", str(tmp_path), "--name", "t",
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    data = json.loads((tmp_path / "t.json").read_text())
    recs = {r["strategy"]: r for r in data["records"]}
    # Contenders (here at least the fastest and whatever is near it) get the contest's rounds.
    timed = [r for r in recs.values() if "times" in r and "skipped" not in r]
    assert {len(r["times"]) for r in timed if r.get("contender")} <= {3}
    assert {len(r["times"]) for r in timed if not r.get("contender")} <= {2}
    assert len(recs["loop"]["times"]) in (2, 3)
    assert recs["loop"]["median_s"] > 0
    assert recs["gearshift-thread"]["peak_rss_mib"] > 1
    assert "needs an async def" in recs["asyncio-gather"]["skipped"]
    md = (tmp_path / "t.md").read_text()
    assert "| gearshift-sync |" in md
    assert "Per-task overhead" in md
    assert "| tiny | gearshift-sync | loop |" in md  # the per-model contest table
    # auto's warm-up is its first two calls, each timed and reported beside the timed third
    auto = recs["gearshift-auto"]
    assert len(auto["cold_times"]) == len(auto["second_times"]) == len(auto["times"])
    # and its later calls (3 by default) after it, in the same process: where it settles
    assert len(auto["later_times"]) == len(auto["times"]) and {len(t) for t in auto["later_times"]} == {3}
    assert auto["steady_median_s"] > 0 and data["meta"]["later_calls"] == 3
    assert "| workload | auto, first call (cold) | auto, second call | auto, third call" in md
    assert "auto, later calls (steady) | steady / fastest fixed |" in md
    assert "\n| tiny | " in md.split("auto, second call")[-1]
    assert (tmp_path / "t.png").stat().st_size > 10_000


@pytest.mark.slow
def test_repeated_calls_benchmark_writes_every_call_of_every_round(tmp_path: Path) -> None:
    cmd = [
        sys.executable, str(ROOT / "benchmarks" / "repeated.py"), "--workloads", "tiny", "--calls", "3",
        "--rounds", "2", "--out", str(tmp_path), "--name", "r",
    ]  # fmt: skip
    out = subprocess.run(cmd, check=True, timeout=300, capture_output=True, text=True)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["meta"]["calls"] == 3 and data["meta"]["commit"]
    tiny = data["workloads"]["tiny"]
    assert set(tiny["rounds"]) == {"auto", "sync", "thread", "process", "async"}
    assert all(len(r) == 2 and all(len(calls) == 3 for calls in r) for r in tiny["rounds"].values()), tiny["errors"]
    total = tiny["total_s"]
    assert tiny["auto_ratio_total"] == pytest.approx(total["auto"] / total[tiny["best_total"]], rel=1e-3)
    assert "auto / fastest fixed, all 3 calls" in out.stdout


def _load_run_module() -> object:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rec(strategy: str, model: str, median: float) -> dict[str, object]:
    return {"strategy": strategy, "model": model, "median_s": median, "times": [median]}


def test_contenders_are_the_strategies_near_the_best_of_all_or_of_their_model() -> None:
    run = _load_run_module()
    recs = [
        _rec("gearshift-auto", "auto", 1.5),
        _rec("gearshift-process", "process", 1.2),
        _rec("mp-pool", "process", 1.0),  # the fastest of all
        _rec("pebble", "process", 1.6),  # too far from its model's best
        _rec("gearshift-thread", "thread", 3.0),
        _rec("cf-thread", "thread", 3.3),  # a thread contest, far from the best of all
        _rec("gearshift-sync", "sync", 2.0),
        _rec("loop", "sync", 2.9),  # gearshift leads its model by more than the margin: no contest
        _rec("gearshift-async", "async", 0.0),  # failed: no median
        _rec("joblib-loky", "process", 9.0),  # too slow for extra rounds
    ]
    del recs[8]["median_s"]
    recs[8]["error"] = "timeout"
    picked = run.contenders(recs, 6.0)  # type: ignore[attr-defined]
    assert picked == ["gearshift-auto", "gearshift-process", "mp-pool", "gearshift-thread", "cf-thread"]
    # Nothing slower than the cap, even when near the best.
    assert run.contenders(recs, 2.5) == ["gearshift-auto", "gearshift-process", "mp-pool"]  # type: ignore[attr-defined]
    # A model with only gearshift in it, and a lone fastest strategy, make no contest.
    lone = [_rec("gearshift-auto", "auto", 0.2), _rec("gearshift-thread", "thread", 3.0), _rec("loop", "sync", 9.0)]
    assert run.contenders(lone, 6.0) == []  # type: ignore[attr-defined]


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
