"""Where shared memory beats the pipe for big arguments in process mode.

    python benchmarks/shm_threshold.py [--total-mib 128] [--rounds 5] [--out benchmarks/results/shm_threshold.json]

For each buffer size, the same job (crc32 + sha256 of each buffer, about
128 MiB in all by default) runs in process mode with shared memory off and on, and in
thread mode for reference; medians of 5 alternating runs, in ms per item.
``gearshift._backends._shm.THRESHOLD`` is set from these figures.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))

from _meta import run_meta, write

import gearshift
from gearshift._backends import _shm
from gearshift._bench.workloads import digest_buffer

SIZES = (16 << 10, 64 << 10, 256 << 10, 1 << 20, 8 << 20)
TOTAL = 128 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-mib", type=int, default=TOTAL >> 20, help="MiB of buffers per size")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the meta, every round and the medians here (JSON)")
    args = parser.parse_args()
    meta = run_meta()
    total = args.total_mib << 20
    rows = []
    print(f"{'size':>9} {'pipe':>9} {'shm':>9} {'thread':>9}  (ms per item)")
    for size in SIZES:
        n = max(2, min(2000, total // size))
        items = [random.Random(i).randbytes(size) for i in range(n)]
        gearshift.map(digest_buffer, items[:4], mode="process")
        times: dict[str, list[float]] = {"pipe": [], "shm": [], "thread": []}
        for _ in range(args.rounds):
            for label, threshold in (("pipe", 1 << 62), ("shm", 1)):
                _shm.THRESHOLD = threshold
                t0 = time.perf_counter()
                gearshift.map(digest_buffer, items, mode="process")
                times[label].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            gearshift.map(digest_buffer, items, mode="thread")
            times["thread"].append(time.perf_counter() - t0)
        ms = {k: statistics.median(v) * 1000 / n for k, v in times.items()}
        rows.append(
            {
                "size_bytes": size,
                "items": n,
                "rounds_s": {k: [round(x, 5) for x in v] for k, v in times.items()},
                "median_ms_per_item": {k: round(v, 4) for k, v in ms.items()},
                "pipe_over_shm": round(ms["pipe"] / ms["shm"], 3),
            }
        )
        print(f"{size >> 10:>7}Ki {ms['pipe']:>9.3f} {ms['shm']:>9.3f} {ms['thread']:>9.3f}", flush=True)

    if args.out:
        write(args.out, meta, mode="process", rows=rows)


if __name__ == "__main__":
    main()
