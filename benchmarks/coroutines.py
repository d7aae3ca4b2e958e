"""CPU-bound coroutines: one event loop (async), processes each with a loop, and ``mode="auto"``.

An ``async def`` that computes blocks its loop: on one loop the items run one
after another.  Auto starts coroutines on its private loop, sees the loop
computing (``gearshift._auto.coroutines.LoopWatch``) and re-plans the rest to
processes, each with its own event loop (a few dozen items run on the loop
while it is judged).  Each round runs every choice once, the order rotated
round by round; medians and every round are written, with the git commit, the
host, Python and the load average.  ``--cold`` runs each choice as a whole
fresh interpreter (import, pool start and one ``map`` call), timed from outside.

    python benchmarks/coroutines.py                      # 1500 items of 1 ms, 3 rounds, warm
    python benchmarks/coroutines.py --items 3000 --rounds 9
    python benchmarks/coroutines.py --cold --rounds 9

Writes ``benchmarks/results/coroutines.json`` (``coroutines-cold.json`` with ``--cold``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

import gearshift
from gearshift._cpu import usable_cpus

HERE = os.path.dirname(os.path.abspath(__file__))
MS = 1.0


async def compute(x: int) -> int:
    """Computes for MS milliseconds of CPU, then awaits once."""
    end = time.thread_time() + MS / 1000
    while time.thread_time() < end:
        pass
    await asyncio.sleep(0)
    return x


def run_once(mode: str, items: list[int]) -> tuple[float, str]:
    workers = usable_cpus() if mode == "process" else None
    with gearshift.reporting() as reports:
        t0 = time.perf_counter()
        out = gearshift.map(compute, items, mode=mode, workers=workers)
        seconds = time.perf_counter() - t0
    assert out == items, "wrong results"
    return seconds, reports[0].summary() if reports else ""


def run_cold(mode: str, args: argparse.Namespace) -> tuple[float, str]:
    """One fresh interpreter running one choice, timed whole from here (start, import, pools, exit)."""
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--items", str(args.items)]
    t0 = time.perf_counter()
    done = subprocess.run([*command, "--ms", str(args.ms)], capture_output=True, text=True, timeout=600, check=True)
    return time.perf_counter() - t0, done.stdout.strip()


def main() -> None:
    global MS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--ms", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="each choice a fresh interpreter, timed whole")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # (--cold's interpreters: run this choice once)
    args = parser.parse_args()
    MS = args.ms
    items = list(range(args.items))
    if args.child:
        print(run_once(args.child, items)[1])
        return
    choices = ["async", "process", "auto"]
    if not args.cold:
        gearshift.map(abs, range(8), mode="process", workers=usable_cpus())  # a warm pool for every choice
    load_before = os.getloadavg()
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        turn = r % len(choices)
        row: dict[str, Any] = {}
        for choice in choices[turn:] + choices[:turn]:
            seconds, ran = run_cold(choice, args) if args.cold else run_once(choice, items)
            row[choice] = {"seconds": round(seconds, 4), "ran": ran}
            print(f"round {r + 1}: {choice:<8} {seconds:7.3f} s  {ran}", flush=True)
        rounds.append(row)
    medians = {c: statistics.median(row[c]["seconds"] for row in rounds) for c in choices}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    result = {
        "command": "python benchmarks/coroutines.py " + " ".join(sys.argv[1:]),
        "form": "cold: whole fresh interpreters, timed from outside" if args.cold else "warm: in this process",
        "commit": commit,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "host": {"platform": platform.platform(), "machine": platform.machine(), "cpus": usable_cpus()},
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in load_before],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "items": args.items,
        "ms_per_item": args.ms,
        "rounds": rounds,
        "median_seconds": {c: round(s, 4) for c, s in medians.items()},
        "auto_over_best_fixed": round(medians["auto"] / min(medians["async"], medians["process"]), 3),
        "process_over_async": round(medians["process"] / medians["async"], 3),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    name = "coroutines-cold.json" if args.cold else "coroutines.json"
    with open(os.path.join(HERE, "results", name), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result["median_seconds"]), "auto/best", result["auto_over_best_fixed"])


if __name__ == "__main__":
    main()
