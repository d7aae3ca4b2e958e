"""How much faster can two processes be than one on this machine, with no library at all?

The physical ceiling for the coarse CPU targets: the same items as a workload of the
suite (``cpu-loop`` or ``md5-coarse``), run (a) by a plain loop in this process and (b)
split in two equal halves between two processes that were started and warmed
beforehand and only wait for a byte to begin: no pickling, no scheduling, no tail
beyond the halves' difference.  Each round also times (c) ``gearshift.map(...,
mode="process")`` on the same items (its pool warmed by an untimed call first), so the
library's speed-up is read against the ceiling measured in the same minutes.  Rounds are
interleaved so that drifting load hits all three alike; medians are printed with the load
average.  Usage::

    python benchmarks/parallel_ceiling.py [--workload cpu-loop] [--rounds 5] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from _meta import run_meta, write

import gearshift
from gearshift._bench.workloads import WORKLOADS

_CHILD = """
import pickle, sys
from gearshift._bench.workloads import WORKLOADS
workload = WORKLOADS[sys.argv[1]]
lo, hi = int(sys.argv[2]), int(sys.argv[3])
items = workload.make_items(workload.scale)[lo:hi]
workload.fn(items[0])  # warm
while sys.stdin.buffer.read(1):
    for x in items:
        workload.fn(x)
    sys.stdout.buffer.write(b"d"); sys.stdout.buffer.flush()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", default="cpu-loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the meta and every round here (JSON)")
    args = parser.parse_args()
    meta = run_meta()
    workload = WORKLOADS[args.workload]
    items = workload.make_items(workload.scale)
    n = len(items)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, workload.name, str(lo), str(hi)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for lo, hi in ((0, n // 2), (n // 2, n))
    ]
    loops, pairs, ours = [], [], []
    gearshift.map(workload.fn, items[: 4 * len(children)], mode="process")  # start and warm its pool
    try:
        for _ in range(args.rounds):
            start = time.perf_counter()
            for x in items:
                workload.fn(x)
            loops.append(time.perf_counter() - start)
            start = time.perf_counter()
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"g")
                child.stdin.flush()
            for child in children:
                assert child.stdout is not None
                child.stdout.read(1)
            pairs.append(time.perf_counter() - start)
            start = time.perf_counter()
            gearshift.map(workload.fn, items, mode="process")
            ours.append(time.perf_counter() - start)
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
            child.wait()
    loop, pair, our = statistics.median(loops), statistics.median(pairs), statistics.median(ours)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{workload.name} x {n}: one process {loop:.3f} s, two processes (halves, pre-started) {pair:.3f} s, "
        f"ceiling {loop / pair:.2f}x; gearshift process mode {our:.3f} s, {loop / our:.2f}x "
        f"({pair / our:.0%} of the ceiling) (median of {args.rounds}; load average after: {load})"
    )
    if args.out:
        rounds = {"one_process_s": loops, "two_processes_s": pairs, "gearshift_process_s": ours}
        write(args.out, meta, workload=workload.name, items=n, rounds=rounds, ceiling=loop / pair, gearshift=loop / our)


if __name__ == "__main__":
    main()
