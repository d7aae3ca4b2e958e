"""``gearshift bench``: rows for every mode, the table, JSON, and a chart that is a real PNG."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift._cli import main
from gearshift._cli._bench import CASES, MODES, Case, print_table, run_bench

TINY = (Case("tiny tasks", "tiny", 2000, 2000),)


def test_run_bench_times_every_mode_and_records_auto() -> None:
    rows = run_bench(quick=True, cases=TINY)
    (row,) = rows
    assert set(row.cells) == set(MODES)
    assert all(cell.seconds > 0 for cell in row.cells.values())
    assert row.speedup("sync") == 1.0
    assert row.winner in MODES and row.winner != "auto"
    data = row.as_json()
    assert data["auto"]["mode"] in ("sync", "async", "thread", "process")
    assert data["auto"]["reasons"]
    out = io.StringIO()
    print_table(rows, out)
    text = out.getvalue()
    assert "tiny tasks" in text and "winner" in text and "auto chose" in text


def test_sync_past_its_budget_is_extrapolated(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._cli import _bench

    def timed(fn: object, items: list[object], mode: str, *, budget: float, check: object = None) -> _bench.Cell:
        return original(fn, items, mode, budget=0.0 if mode == "sync" else budget, check=check)

    original = _bench._timed
    monkeypatch.setattr(_bench, "_timed", timed)
    (row,) = run_bench(quick=True, cases=(Case("sleep", "sleep", 6, 6),))
    assert row.cells["sync"].estimated
    assert not row.cells["thread"].estimated
    assert 0.2 < row.cells["sync"].seconds < 3  # 6 x 50 ms, extrapolated from the first item(s)


def test_cases_cover_the_five_kinds_of_work() -> None:
    from gearshift._bench import get

    kinds = {get(case.workload).kind for case in CASES}
    assert kinds == {"cpu", "cpu-nogil", "io", "async-io", "tiny"}


def test_unknown_workload_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "nope"]) == 2
    assert "unknown workload nope" in capsys.readouterr().err


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_in_process_is_a_non_empty_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "bench.png"
    assert main(["bench", "--quick", "--only", "tiny", "--plot", str(chart)]) == 0
    width, height = _png_size(chart)
    assert width > 300 and height > 200
    import matplotlib.image

    pixels = matplotlib.image.imread(str(chart))
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05  # bars and text, not a blank canvas
    assert f"chart written to {chart}" in capsys.readouterr().out


def test_plot_without_matplotlib_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["bench", "--only", "tiny", "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'gearshift[plot]'" in err.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_bench_as_subprocess_json_and_plot(tmp_path: Path) -> None:
    """The --quick bench as users run it, JSON on stdout, a PNG chart: two workloads, one of them
    against the local HTTP server (each workload's function is tested in test_bench_workloads.py;
    the whole --quick bench, about 30 s on 2 idle cores, is a benchmark, not a test)."""
    pytest.importorskip("matplotlib")
    chart = tmp_path / "quick.png"
    only = [c for c in CASES if c.workload in ("tiny", "http-blocking")]
    out = subprocess.run(
        [sys.executable, "-m", "gearshift", "bench", "--quick", "--json", "--plot", str(chart),
         "--only", ",".join(c.workload for c in only)],
        capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert [r["workload"] for r in report["results"]] == [c.workload for c in only] and len(only) == 2
    for result in report["results"]:
        assert set(result["modes"]) == set(MODES)
        assert result["winner"] in MODES
    assert report["seconds"] > 0  # its time is a benchmark figure (30 s on 2 idle cores), not asserted here
    assert _png_size(chart) > (300, 200)
