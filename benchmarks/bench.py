"""``gearshift bench`` with a results file: every round, and the commit, host and Python it ran on.

    python benchmarks/bench.py --quick --repeat 5 --repeat-for http-async=1 --out benchmarks/results/bench-quick.json

The same five workloads as ``gearshift bench`` (CPU-bound pure Python, CPU work that releases
the GIL, blocking I/O with few connections, slow I/O with many connections, tiny tasks) under
every mode and ``auto``. ``--repeat-for WORKLOAD=N`` sets the runs of one workload (the slow-I/O
one takes minutes per round in thread and process mode, where each worker runs its coroutines one
after another). The docs' charts of "Which model when" are drawn from this file;
``gearshift bench --quick --plot bench.png`` draws the same chart on the reader's machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from _meta import run_meta, write

from gearshift._cli._bench import CASES, machine, run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the quick sizes (about 30 s on 2 cores)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per cell (median reported)")
    parser.add_argument("--repeat-for", action="append", default=[], metavar="WORKLOAD=N", help="runs for one workload")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench-quick.json"))
    args = parser.parse_args()
    meta = run_meta()
    t0 = time.perf_counter()
    repeats = {k: int(v) for k, v in (item.split("=", 1) for item in args.repeat_for)}
    rows = []
    for case in CASES:  # one case at a time: each with its own number of runs
        repeat = repeats.get(case.workload, args.repeat)
        rows += run_bench(quick=args.quick, repeat=repeat, log=sys.stderr, cases=(case,))
    write(
        args.out,
        meta,
        machine=machine(),
        quick=args.quick,
        repeat=args.repeat,
        repeat_for=repeats,
        seconds=round(time.perf_counter() - t0, 2),
        results=[row.as_json() for row in rows],
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
