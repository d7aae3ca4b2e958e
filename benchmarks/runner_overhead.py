"""Per-chunk cost of the runner and the process backend: this tree against a baseline (main by default).

Chunks of one item of a trivial function make the bookkeeping per chunk (the
runner's submit and completion, the process manager's dispatch and frames) the
whole cost.  Each interpreter runs every case many times and keeps the fastest
run (a busy machine only ever adds time), in wall time and in the parent's CPU
time (which waiting for a loaded machine does not inflate); the two trees
alternate, round by round.  Writes every round with the commits, host and Python to
``benchmarks/results/runner_overhead.json``.  Usage::

    python benchmarks/runner_overhead.py [--baseline REF] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from _meta import best_of_children, run_meta, write

HERE = os.path.dirname(os.path.abspath(__file__))
#: (name, mode, items, repeats): chunksize=1 throughout
CASES = [("thread_20000_chunks", "thread", 20_000, 7), ("process_5000_chunks", "process", 5_000, 7)]


def child() -> None:
    """In a child interpreter: warm each pool, print the fastest run of each case as JSON."""
    import time

    import gearshift

    best = {}
    for name, mode, items, repeats in CASES:
        gearshift.map(abs, range(100), mode=mode, chunksize=1)
        times, cpu = [], []
        for _ in range(repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            gearshift.map(abs, range(items), mode=mode, chunksize=1)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        best[name] = min(times)
        # The parent's CPU (the runner and, for processes, the manager thread): what waiting on a
        # loaded machine does not add to, unlike the wall time
        best[name + "_parent_cpu"] = min(cpu)
    print(json.dumps({"best": best, "gearshift": gearshift.__file__}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git ref to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "runner_overhead.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    meta = run_meta(None, "benchmarks/runner_overhead.py")
    rounds = best_of_children(__file__, args.baseline, args.rounds, meta)
    summary = {}
    for name in rounds["baseline"]:
        base, this = rounds["baseline"][name], rounds["this_tree"][name]
        summary[name] = {
            "min_baseline_s": min(base),
            "min_this_tree_s": min(this),
            "ratio_of_mins": min(this) / min(base),
            "median_round_ratio": statistics.median(t / b for b, t in zip(base, this)),
        }
        print(
            f"{name}: {args.baseline} {min(base) * 1e3:.1f} ms, this tree {min(this) * 1e3:.1f} ms, "
            f"ratio of minimums {min(this) / min(base):.3f}, median round ratio {summary[name]['median_round_ratio']:.3f}"
        )
    write(args.out, meta, rounds=rounds, summary=summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
