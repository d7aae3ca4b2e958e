"""Where does a process-mode run spend CPU besides the work itself?  (Robust to a busy machine.)

For suite workloads (default: the coarse CPU targets), interleaved rounds of a plain loop and
``gearshift.map(mode="process")`` on the warm pool, reporting per run: the wall-clock speed-up
(meaningful only on a quiet machine), the CPU time of the calling process (runner, manager
thread, pickling: taken from the workers when both cores are busy) and the workers' CPU time
over the loop's (1.00 = no overhead in the workers).  CPU times, unlike wall times, hold up
when other programs load the machine.  Usage::

    python benchmarks/parent_cpu.py [--workloads cpu-loop,md5-coarse] [--rounds 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psutil
from _meta import run_meta, write

import gearshift
from gearshift._bench.workloads import WORKLOADS


def _workers_cpu(me: psutil.Process) -> float:
    total = 0.0
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default="cpu-loop,md5-coarse")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", help="write the meta and every round here (JSON)")
    args = parser.parse_args()
    meta = run_meta()
    rows = []
    me = psutil.Process()
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        items, fn = workload.make_items(workload.scale), workload.fn
        gearshift.map(fn, items[:4], mode="process")  # start the pool: not what is measured
        speedups, parent, workers = [], [], []
        for _ in range(args.rounds):
            start, cpu = time.perf_counter(), time.process_time()
            for x in items:
                fn(x)
            loop_wall, loop_cpu = time.perf_counter() - start, time.process_time() - cpu
            before = _workers_cpu(me)
            start, cpu = time.perf_counter(), time.process_time()
            gearshift.map(fn, items, mode="process")
            wall, own = time.perf_counter() - start, time.process_time() - cpu
            speedups.append(loop_wall / wall)
            parent.append(own)
            workers.append((_workers_cpu(me) - before) / loop_cpu)
        print(
            f"{name} x {len(items)}: speed-up {statistics.median(speedups):.2f}x, calling process CPU "
            f"{statistics.median(parent) * 1e3:.0f} ms per run, workers' CPU / loop CPU "
            f"{statistics.median(workers):.3f} (medians of {args.rounds}; load average {os.getloadavg()[0]:.1f})"
        )
        rows.append(
            {
                "workload": name,
                "items": len(items),
                "speedup": speedups,
                "parent_cpu_s": parent,
                "workers_cpu_over_loop": workers,
            }
        )
    if args.out:
        write(args.out, meta, rows=rows)


if __name__ == "__main__":
    main()
