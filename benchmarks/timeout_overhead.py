"""What does ``timeout=`` cost in process mode?  (One message per item instead of per chunk.)

Runs the same ``gearshift.map`` with and without a (never reached) timeout, side by
side, interleaved over several rounds, and prints medians and the ratio.  Usage::

    python benchmarks/timeout_overhead.py [--items N] [--rounds R] [--out benchmarks/results/timeout_overhead.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from _meta import run_meta, write

import gearshift


def tiny(x: int) -> int:
    return x + 1


def busy_100us(x: int) -> int:
    end = time.perf_counter() + 0.0001
    while time.perf_counter() < end:
        pass
    return x


def measure(fn: Callable[[int], int], items: int, timeout: float | None) -> float:
    start = time.perf_counter()
    gearshift.map(fn, range(items), mode="process", workers=2, timeout=timeout)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the meta, every round and the medians here (JSON)")
    args = parser.parse_args()
    meta = run_meta()
    rows = []
    gearshift.map(tiny, range(100), mode="process", workers=2)  # warm the shared pool
    for fn, items in ((tiny, args.items), (busy_100us, args.items // 10)):
        plain, timed = [], []
        for _ in range(args.rounds):  # interleaved, so drifting machine load hits both alike
            plain.append(measure(fn, items, None))
            timed.append(measure(fn, items, 60.0))
        p, t = statistics.median(plain), statistics.median(timed)
        rows.append(
            {
                "function": fn.__name__,
                "items": items,
                "no_timeout_s": [round(x, 5) for x in plain],
                "timeout_60_s": [round(x, 5) for x in timed],
                "median_no_timeout_s": round(p, 5),
                "median_timeout_60_s": round(t, 5),
                "ratio": round(t / p, 3),
                "per_item_no_timeout_us": round(p / items * 1e6, 2),
                "per_item_timeout_60_us": round(t / items * 1e6, 2),
            }
        )
        print(
            f"{fn.__name__:>11} x {items}: no timeout {p * 1e3:8.1f} ms, timeout=60 {t * 1e3:8.1f} ms, "
            f"ratio {t / p:5.2f}x, +{(t - p) / items * 1e6:.1f} us per item"
        )
    if args.out:
        write(args.out, meta, mode="process", workers=2, rows=rows)


if __name__ == "__main__":
    main()
