"""What the modules a plain sync map loads cost a fresh interpreter: this tree against a baseline (main).

Each round starts one fresh interpreter per tree (the order alternates) that
imports gearshift and runs a first ``mode="sync"`` map of 10 items, and records
its wall time and its CPU time (user + system, from ``wait4``: what a loaded
machine inflates least).  Bytecode is compiled first in both trees, as an
installed package ships it.  Reports the medians and the median of the
per-round differences; writes every round with the commits, host and Python to
``benchmarks/results/cold_modules.json``.  Usage::

    python benchmarks/cold_modules.py [--baseline REF] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _meta import baseline_src, compile_bytecode, run_meta, write

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.join(os.path.dirname(HERE), "src")
SCRIPT = "import gearshift\nassert gearshift.map(abs, range(-5, 5), mode='sync') == [abs(x) for x in range(-5, 5)]\n"


def _once(src: str) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh interpreter running SCRIPT with ``src`` first on its path."""
    env = {**os.environ, "PYTHONPATH": src}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"the sync map failed under {src} (exit {proc.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git ref to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "cold_modules.json"))
    args = parser.parse_args()
    meta = run_meta(None, "benchmarks/cold_modules.py")
    rounds: dict[str, dict[str, list[float]]] = {
        "baseline": {"wall": [], "cpu": []},
        "this_tree": {"wall": [], "cpu": []},
    }
    with tempfile.TemporaryDirectory() as tmp:
        base_src, meta["baseline"] = baseline_src(args.baseline, tmp)
        meta["bytecode"] = compile_bytecode(base_src, TREE)
        order = [(base_src, "baseline"), (TREE, "this_tree")]
        for src, _ in order:
            _once(src)  # warm the file cache
        for k in range(args.rounds):
            for src, which in order if k % 2 == 0 else reversed(order):
                wall, cpu = _once(src)
                rounds[which]["wall"].append(wall)
                rounds[which]["cpu"].append(cpu)
    summary = {}
    for what in ("wall", "cpu"):
        base, this = rounds["baseline"][what], rounds["this_tree"][what]
        summary[what] = {
            "median_baseline_ms": statistics.median(base) * 1e3,
            "median_this_tree_ms": statistics.median(this) * 1e3,
            "median_round_difference_ms": statistics.median(t - b for b, t in zip(base, this)) * 1e3,
        }
        s = summary[what]
        print(
            f"{what}: {args.baseline} {s['median_baseline_ms']:.1f} ms, this tree {s['median_this_tree_ms']:.1f} ms, "
            f"median round difference {s['median_round_difference_ms']:+.2f} ms"
        )
    write(args.out, meta, rounds=rounds, summary=summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
