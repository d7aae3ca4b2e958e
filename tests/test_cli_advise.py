"""``gearshift advise``: measured evidence, a plan, and why the other modes lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift._cli import main
from gearshift._cli._advise import collect_advice

JOBS = "import time\n\ndef wait(x):\n    time.sleep(0.01)\n    return x\n\nasync def anoop(x):\n    return x\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobs_advise.py").write_text(JOBS)
    (tmp_path / "in.jsonl").write_text("".join(f"{i}\n" for i in range(30)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_collect_advice_measures_and_plans() -> None:
    import time

    def wait(x: int) -> int:
        time.sleep(0.01)
        return x

    advice = collect_advice(wait, list(range(24)), total=1000)
    m = advice["measured"]
    wall = m["median_wall"] if advice["source"] == "planner" else m["wall_per_item_s"]
    assert wall >= 0.009
    assert m["cpu_share"] < 0.5  # sleeping is not CPU
    assert m["is_async"] is False
    assert m["item_bytes"] > 0
    assert advice["evidence"]
    plan = advice["plan"]
    assert plan["mode"] != "sync"  # overlapping 10 ms waits beats one at a time
    assert plan["expected_speedup"] > 1
    assert plan["reasons"]
    assert "sync" in advice["other_modes"]
    assert "one item at a time" in advice["other_modes"]["sync"]
    json.dumps(advice)  # what --json prints


def test_advise_text_in_process(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["advise", "jobs_advise:wait", "--input", "in.jsonl", "--sample", "10"]) == 0
    text = capsys.readouterr().out
    for heading in ("Measured", "Plan: mode=", "Why not the others"):
        assert heading in text
    assert "gearshift run jobs_advise:wait" in text


def test_advise_json_as_subprocess(work: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gearshift", "advise", "./jobs_advise.py:anoop", "-i", "in.jsonl", "--json"],
        capture_output=True, text=True, timeout=60, cwd=work,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    advice = json.loads(out.stdout)
    assert advice["measured"]["is_async"] is True
    assert advice["input"]["items"] == 30
    assert advice["plan"]["mode"] in ("sync", "async", "thread", "process")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs_advise:nope", "-i", "in.jsonl"], "has no function 'nope'"),
        (["jobs_advise:wait", "-i", "empty.jsonl"], "holds no items"),
        (["jobs_advise:wait", "-i", "in.jsonl", "--sample", "0"], "--sample must be >= 1"),
    ],
)
def test_usage_errors(work: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "empty.jsonl").write_text("")
    assert main(["advise", *args]) == 2
    assert message in capsys.readouterr().err
