"""``gearshift trace``, ``gearshift run --trace`` and ``gearshift demo --timeline``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import gearshift
import trace_work as w
from gearshift._cli import main
from gearshift._cli._trace_plot import lanes
from gearshift._trace_format import problems

pytest.importorskip("matplotlib")


@pytest.fixture
def traced(tmp_path: Path) -> Path:
    """A trace with an item that failed, one retried, and threads that overlap."""
    from helpers import fail_once

    path = tmp_path / "run.trace.json"
    items = [(k, str(tmp_path)) for k in range(6)]
    gearshift.map(fail_once, items, mode="thread", workers=3, retries=1, chunksize=1, trace=str(path))
    return path


@pytest.mark.parametrize("ext", [".png", ".svg", ".html"])
def test_trace_plot_draws_every_format(traced: Path, ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = traced.with_suffix(ext)
    assert main(["trace", str(traced), "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "12 items (6 failed)" in text  # 6 first attempts failed, 6 re-runs succeeded
    assert f"drew {out}" in text
    data = out.read_bytes()
    if ext == ".png":
        assert data.startswith(b"\x89PNG")
    elif ext == ".svg":
        assert b"<svg" in data
    else:
        assert data.startswith(b"<!doctype html>") and b"<svg" in data


def test_trace_without_plot_summarises(traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(traced)]) == 0
    assert "lanes" in capsys.readouterr().out


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_a_trace_from_another_tool_is_refused_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "chrome.json"
    other.write_text(json.dumps({"traceEvents": [{"name": "x", "ph": "X", "ts": 0, "dur": 1, "pid": 1, "tid": 1}]}))
    assert "was not written by gearshift" in _error(capsys, ["trace", str(other)])
    array = tmp_path / "array.json"
    array.write_text("[]")
    assert "was not written by gearshift" in _error(capsys, ["trace", str(array)])


@pytest.mark.parametrize("fraction", [0.1, 0.33, 0.5, 0.77, 0.999])
def test_a_truncated_trace_is_refused_clearly(
    traced: Path, capsys: pytest.CaptureFixture[str], fraction: float
) -> None:
    text = traced.read_text()
    cut = traced.with_name("cut.json")
    cut.write_text(text[: int(len(text) * fraction)])
    assert "is cut short" in _error(capsys, ["trace", str(cut)])


def test_every_cut_of_a_trace_is_named_cut_short(traced: Path) -> None:
    from gearshift._trace_format import TraceFileError, read

    text = traced.read_text()
    cut = traced.with_name("cut.json")
    for end in range(1, len(text), max(1, len(text) // 400)):
        cut.write_text(text[:end])
        with pytest.raises(TraceFileError, match="is cut short"):
            read(str(cut))


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("", "is empty"), ("hello {", "is not JSON"), (b"\xff\xfe\x00", "not a text file")],
)
def test_files_that_are_not_traces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any, message: str
) -> None:
    path = tmp_path / "t.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert message in _error(capsys, ["trace", str(path)])


def test_a_trace_that_breaks_the_format_is_refused(traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(traced.read_text())
    doc["traceEvents"].append({"name": "bad", "ph": "X", "ts": -5, "dur": 1, "pid": 1, "tid": 1})
    bad = traced.with_name("bad.json")
    bad.write_text(json.dumps(doc))
    assert "is not a valid trace: event" in _error(capsys, ["trace", str(bad)])


def test_a_plot_file_of_unknown_kind_is_refused(traced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "must end in .png, .svg, .html" in _error(capsys, ["trace", str(traced), "--plot", "out.jpg"])
    assert "does not exist" in _error(capsys, ["trace", str(traced), "--plot", "/nowhere/out.png"])


def test_no_traceback_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"traceEvents": [{"name": "a", "ph": "X"')
    proc = subprocess.run([sys.executable, "-m", "gearshift", "trace", str(path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})  # fmt: skip
    assert proc.returncode == 2
    assert "cut short" in proc.stderr and "Traceback" not in proc.stderr


def test_run_writes_its_trace(tmp_path: Path) -> None:
    (tmp_path / "jobs_trace.py").write_text("def inc(x):\n    return x + 1\n")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f"{k}\n" for k in range(20)))
    trace = tmp_path / "run.json"
    sys.path.insert(0, str(tmp_path))
    try:
        code = main(["run", "jobs_trace:inc", "--input", str(source), "--output", str(tmp_path / "out.jsonl"),
                     "--mode", "thread", "--quiet", "--trace", str(trace)])  # fmt: skip
    finally:
        sys.path.remove(str(tmp_path))
    assert code == 0
    doc = json.loads(trace.read_text())
    assert problems(doc) == []
    assert sum(e["args"].get("items", 1) for e in doc["traceEvents"] if e.get("cat") in ("item", "chunk")) == 20


def test_run_refuses_an_unwritable_trace_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "jobs_never.py").write_text("def inc(x):\n    raise AssertionError('ran')\n")
    source = tmp_path / "in.jsonl"
    source.write_text("1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        err = _error(capsys, ["run", "jobs_never:inc", "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
                              "--quiet", "--trace", str(tmp_path / "missing" / "t.json")])  # fmt: skip
    finally:
        sys.path.remove(str(tmp_path))
    assert "does not exist" in err
    assert not (tmp_path / "o.jsonl").exists()


def _overlaps(doc: dict[str, Any]) -> int:
    items = sorted((e["ts"], e["ts"] + e["dur"]) for e in doc["traceEvents"] if e.get("cat") == "item")
    return sum(1 for k, (s, _) in enumerate(items) for _, e in items[:k] if s < e)


@pytest.mark.timeout(180)
def test_demo_timeline_draws_the_four_models(tmp_path: Path) -> None:
    import io

    from gearshift._cli._timeline import run_timeline

    out = tmp_path / "timeline.png"
    docs = dict(run_timeline(io.StringIO(), str(out), items=8))
    assert out.read_bytes().startswith(b"\x89PNG")
    by_mode = {title.split(":")[0].split()[0]: doc for title, doc in docs.items()}
    assert set(by_mode) == {"sync", "thread", "process", "async"}
    for doc in by_mode.values():
        assert problems(doc) == []
    parent = os.getpid()
    assert _overlaps(by_mode["sync"]) == 0  # one after another
    assert _overlaps(by_mode["thread"]) > 0
    assert _overlaps(by_mode["async"]) > 0
    process_items = [e for e in by_mode["process"]["traceEvents"] if e.get("cat") == "item"]
    assert process_items and all(e["pid"] != parent for e in process_items)
    assert len({e["pid"] for e in process_items}) >= 2  # side by side
    assert len(lanes(by_mode["async"])) >= 2  # one loop, its waits on slot lanes


def test_the_chart_draws_process_items_on_the_workers_rows(tmp_path: Path) -> None:
    """The picture itself: every item bar of a process run sits on a worker process's row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from gearshift._cli._trace_plot import COLOURS, draw

    path = tmp_path / "p.json"
    gearshift.map(w.nap, range(6), mode="process", workers=2, chunksize=1, trace=str(path))
    doc = json.loads(path.read_text())
    fig, ax = plt.subplots()
    try:
        draw(ax, doc)
        labels = [t.get_text() for t in ax.get_yticklabels()]
        rows: dict[str, int] = {}
        for collection in ax.collections:
            if to_hex(collection.get_facecolor()[0]) != COLOURS["item"]:
                continue
            for path_ in collection.get_paths():
                row = round(float(path_.vertices[:, 1].mean()))
                rows[labels[row]] = rows.get(labels[row], 0) + 1
    finally:
        plt.close(fig)
    assert sum(rows.values()) == 6
    assert all(label.startswith("worker process") for label in rows)
