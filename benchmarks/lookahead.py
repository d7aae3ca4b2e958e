"""What auto's lookahead is worth: ``auto`` with and without it, next to fixed thread pools.

While auto measures its first item alone, the lookahead starts the next ones on
threads if that item waits (see ``gearshift._lookahead``).  This runs, on one
waiting workload of the shared suite, ``mode="auto"`` as shipped, ``auto`` with
the lookahead switched off (for this measurement only), and thread pools of
128 and 400, interleaved round by round with the order rotating, and prints
the median of each and its ratio to thread-128.  Usage::

    python benchmarks/lookahead.py [--workload http-blocking] [--rounds 11] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _meta import run_meta, write
from planner import run_once

import gearshift._auto as auto_module
from gearshift._bench.servers import http_server, raise_fd_limit
from gearshift._bench.workloads import WORKLOADS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", default="http-blocking", choices=["http-blocking", "sleep", "fetch-parse"])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--out", help="write the meta and every round here (JSON)")
    args = parser.parse_args()
    meta = run_meta()
    raise_fd_limit()
    workload = WORKLOADS[args.workload]
    shipped = auto_module.AutoRun._lookahead
    choices = ["thread-128", "auto", "auto-without-lookahead", "thread-400"]
    times: dict[str, list[float]] = {c: [] for c in choices}
    server = http_server() if workload.server else contextlib.nullcontext(None)
    with server as url:
        items: list[Any] = workload.items(url=url)
        for round_ in range(args.rounds):
            turn = round_ % len(choices)
            for choice in choices[turn:] + choices[:turn]:
                if choice.startswith("thread-"):
                    seconds, _ = run_once(workload, items, "thread", int(choice.split("-")[1]), 60)
                else:
                    off = choice == "auto-without-lookahead"
                    auto_module.AutoRun._lookahead = (lambda self, gate: None) if off else shipped  # type: ignore[method-assign]
                    seconds, _ = run_once(workload, items, "auto", None, 60)
                times[choice].append(seconds)
    auto_module.AutoRun._lookahead = shipped  # type: ignore[method-assign]
    base = statistics.median(times["thread-128"])
    print(
        f"{workload.name} x {len(items)}, median of {args.rounds} interleaved rounds (load {os.getloadavg()[0]:.1f}):"
    )
    for choice, values in times.items():
        median = statistics.median(values)
        print(f"  {choice:>24}: {median:.3f} s  {median / base:.2f}x thread-128")
    if args.out:
        write(args.out, meta, workload=workload.name, items=len(items), rounds_s=times)


if __name__ == "__main__":
    main()
