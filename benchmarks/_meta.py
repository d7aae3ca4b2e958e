"""What every results file records about its run: commit, host, Python, date and load.

A figure quoted in the README or the docs must come from a results file that says which code
produced it, on which machine, with which interpreter: ``run_meta()`` gathers those facts once,
at the start of a run, and each benchmark script stores them under ``"meta"`` beside every
round it timed (not only the medians), so a reader can judge the spread.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def commit() -> str:
    """The commit of this tree, with ``+dirty`` when src/ or the benchmark scripts have uncommitted changes."""
    head = _git("rev-parse", "HEAD") or "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--", "src", "benchmarks", ":!benchmarks/results")
    return head + ("+dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_meta(argv: list[str] | None = None, script: str | None = None) -> dict[str, Any]:
    """The facts about this run that every results file records."""
    try:
        from gearshift._cpu import usable_cpus

        cpus: int | None = usable_cpus()
    except ImportError:  # pragma: no cover - gearshift not importable
        cpus = os.cpu_count()
    name = script or os.path.relpath(sys.argv[0], ROOT)
    args = sys.argv[1:] if argv is None else argv
    return {
        "command": " ".join(["python", name, *args]),
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "host": {
            "name": socket.gethostname(),
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "usable_cpus": cpus,
        },
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "gil": getattr(sys, "_is_gil_enabled", lambda: True)(),
        },
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def finish(meta: dict[str, Any]) -> dict[str, Any]:
    """Add the load average at the end of the run (the machine may be shared)."""
    meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return meta


def write(path: str | os.PathLike[str], meta: dict[str, Any], **data: Any) -> None:
    """Write ``{"meta": meta, **data}`` as indented JSON."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"meta": finish(meta), **data}, indent=1) + "\n")


def compile_bytecode(*trees: str | os.PathLike[str]) -> str:
    """Write the ``.pyc`` files of every module under ``trees``, as ``pip install`` does.

    A cold run must not time Python compiling gearshift from source: an installed
    package ships compiled, and an editable checkout compiles once.  Without this, a
    tree never imported before (a fresh clone, a worktree) or an environment with
    ``PYTHONDONTWRITEBYTECODE=1`` (which this sandbox sets) compiles every module in
    every timed run: that cost ~20 ms a run here and was in the cold figures before.
    Returns the note a results file records.
    """
    import compileall

    for tree in trees:
        if not compileall.compile_dir(os.fspath(tree), quiet=1):
            raise SystemExit(f"could not compile {tree}: fix the syntax error above first")
    return "bytecode compiled before timing (compileall), as an installed package ships it"


def baseline_src(ref: str, into: str) -> tuple[str, str]:
    """``ref``'s src/ extracted under ``into`` (git archive), for a run beside this tree: (path, "REF = commit")."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into], input=archive.stdout, check=True)
    return os.path.join(into, "src"), f"{ref} = {_git('rev-parse', ref)}"


def best_of_children(
    script: str, baseline: str, rounds: int, meta: dict[str, Any]
) -> dict[str, dict[str, list[float]]]:
    """Rounds of ``script --child`` on ``baseline``'s src and on this tree's, taking turns (the order alternates).

    Each child prints one JSON line, ``{"best": {case: seconds}, "gearshift": its file}``, and must
    have imported the tree meant, not an installed copy.  Returns ``{"baseline": {case: [seconds per
    round]}, "this_tree": ...}``; the baseline's commit goes into ``meta``.
    """
    import tempfile

    tree = os.path.join(str(ROOT), "src")
    out: dict[str, dict[str, list[float]]] = {"baseline": {}, "this_tree": {}}
    with tempfile.TemporaryDirectory() as tmp:
        base_src, meta["baseline"] = baseline_src(baseline, tmp)
        order = [(base_src, "baseline"), (tree, "this_tree")]
        for k in range(rounds):
            for src, which in order if k % 2 == 0 else reversed(order):
                done = subprocess.run(
                    [sys.executable, script, "--child"],
                    env={**os.environ, "PYTHONPATH": src},
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                )
                got = json.loads(done.stdout.strip().splitlines()[-1])
                assert str(got["gearshift"]).startswith(src), got
                for name, value in got["best"].items():
                    out[which].setdefault(name, []).append(value)
    return out
