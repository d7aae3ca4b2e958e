"""What does ``trace=PATH`` cost?  The issue's bound: at most 10 % on 300,000 md5-sized items in process mode.

Runs the same ``gearshift.map`` without and with ``trace=`` (the file written
included), interleaved round by round so a drifting machine load hits both
alike, and reports the median of each and their ratio.  Two workloads:

- ``md5_matches`` on 300,000 words (about 0.4 us of work each): too small to
  trace one by one, so chunks are traced (the issue's case);
- ``busy_2ms`` on 500 items: slow enough that every item gets its event
  (what timing items one by one costs).

Writes every round with the commit, host and Python to
``benchmarks/results/trace_overhead.json``.  Usage::

    python benchmarks/trace_overhead.py [--items N] [--rounds R] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import gearshift
from gearshift._bench.workloads import md5_matches, word_at

HERE = os.path.dirname(os.path.abspath(__file__))


def busy_2ms(x: int) -> int:
    end = time.perf_counter() + 0.002
    while time.perf_counter() < end:
        pass
    return x


def workers_cpu() -> float:
    """CPU seconds used so far by this process's children (the pool's workers), from /proc (Linux); 0 elsewhere."""
    me, total, tick = os.getpid(), 0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:  # ppid; then utime, stime at 11, 12 (after the name)
            total += int(fields[11]) + int(fields[12])
    return total / tick


def measure(fn: Callable[[Any], Any], items: list[Any], trace: str | None) -> tuple[float, float, float]:
    """Wall seconds of the run, and the CPU seconds the parent and the worker processes spent on it.

    On a machine shared with other work, wall times swing with the load; CPU time
    counts only what this run did, so it shows what tracing costs when wall times cannot.
    """
    start, cpu, workers = time.perf_counter(), time.process_time(), workers_cpu()
    gearshift.map(fn, items, mode="process", trace=trace)
    return time.perf_counter() - start, time.process_time() - cpu, workers_cpu() - workers


def _commit() -> str:
    try:
        out = subprocess.run(["git", "-C", HERE, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=300_000, help="md5-sized items (default 300,000)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved off/on rounds (default 9)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "trace_overhead.json"))
    args = parser.parse_args(argv)
    words = [word_at(i) for i in range(args.items)]
    workloads: list[tuple[str, Callable[[Any], Any], list[Any]]] = [
        (f"md5_matches x {args.items:,}", md5_matches, words),
        ("busy_2ms x 500", busy_2ms, list(range(500))),
    ]
    with tempfile.TemporaryDirectory() as tmp:  # start the shared pool and import the writer: in no round
        gearshift.map(md5_matches, words[:1000], mode="process", trace=os.path.join(tmp, "warm.json"))
    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "mode": "process (default workers)",
        "command": " ".join(["python benchmarks/trace_overhead.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "run.trace.json")
        for name, fn, items in workloads:
            off: list[tuple[float, float, float]] = []
            on: list[tuple[float, float, float]] = []
            sizes: list[int] = []
            for k in range(args.rounds):
                # Alternate which goes first, so neither always runs right after the other.
                if k % 2 == 0:
                    off.append(measure(fn, items, None))
                    on.append(measure(fn, items, trace))
                else:
                    on.append(measure(fn, items, trace))
                    off.append(measure(fn, items, None))
                sizes.append(os.path.getsize(trace))
            with open(trace) as f:
                events = len(json.load(f)["traceEvents"])
            m_off, m_on = statistics.median(r[0] for r in off), statistics.median(r[0] for r in on)
            ratios = [b[0] / a[0] for a, b in zip(off, on)]
            c_off, c_on = statistics.median(r[1] for r in off), statistics.median(r[1] for r in on)
            t_off, t_on = statistics.median(r[1] + r[2] for r in off), statistics.median(r[1] + r[2] for r in on)
            row = {
                "workload": name,
                "items": len(items),
                "off_s": [r[0] for r in off],
                "on_s": [r[0] for r in on],
                "off_parent_cpu_s": [r[1] for r in off],
                "on_parent_cpu_s": [r[1] for r in on],
                "off_workers_cpu_s": [r[2] for r in off],
                "on_workers_cpu_s": [r[2] for r in on],
                "median_off_total_cpu_s": t_off,
                "median_on_total_cpu_s": t_on,
                "total_cpu_ratio_of_medians": t_on / t_off if t_off else None,
                "median_off_s": m_off,
                "median_on_s": m_on,
                "ratio_of_medians": m_on / m_off,
                "median_round_ratio": statistics.median(ratios),
                "parent_cpu_ratio_of_medians": c_on / c_off,
                "trace_bytes": sizes,
                "trace_events_last_round": events,
            }
            results.append(row)
            print(
                f"{name:>22}: off {m_off * 1e3:8.1f} ms, on {m_on * 1e3:8.1f} ms, ratio of medians "
                f"{m_on / m_off:5.3f}, median round ratio {row['median_round_ratio']:5.3f}, parent CPU "
                f"{c_off * 1e3:.0f} -> {c_on * 1e3:.0f} ms, CPU of parent + workers {t_off:.2f} -> {t_on:.2f} s "
                f"(ratio {t_on / t_off if t_off else float('nan'):5.3f}), "
                f"{events} events, {sizes[-1] / 1024:.0f} KiB",
                flush=True,
            )
    meta["loadavg_at_end"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
