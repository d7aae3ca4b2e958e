"""How many coroutines auto starts before any is back: its ``async_start`` against the fixed async mode.

    python benchmarks/async_start.py --rounds 5 --out benchmarks/results/async-start.json

Auto does not measure a coroutine function before it runs it: it starts a window of
``costs.COSTS["async_start"]`` coroutines (within ``max_async`` and the open-file
limit), and its limiter grows or shrinks it from the first round trip on.  Each
round runs, in fresh interpreters (a script's one call, import included), every
arm on the async HTTP workloads of ``gearshift._bench`` against one local aiohttp
server: ``auto`` at the default start and at the starts given with ``--starts``
(set in the child before its call), and ``mode="async"`` with every item in flight
(``workers=min(n, 10000)``, as ``benchmarks/cold_suite.py`` runs it).  Arms take
turns, the order rotating each round; the report is each arm's median and its
ratio to the fixed mode's.  Needs ``pip install -e '.[bench]'`` (aiohttp).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

from _meta import ROOT, compile_bytecode, run_meta, write

#: (workload, items): the 10k workload at the cold suite's scale and its own, and the 3,000-item one
CASES = (("http-async-10k", 2000), ("http-async-10k", 10_000), ("http-async", 500), ("http-async", 3000))

CHILD = r"""
import json, sys, time
import gearshift
import gearshift._auto.costs as costs
from gearshift._bench import get
from gearshift._bench.servers import raise_fd_limit

start, n, url, workload, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
raise_fd_limit()
if start:
    costs.ASYNC_START = start
w = get(workload)
items = w.items(n, url)
kw = {"workers": min(n, 10_000)} if mode == "async" else {}
t = time.perf_counter()
out = gearshift.map(w.fn, items, mode=mode, **kw)
call = time.perf_counter() - t
w.check(items, out)
print(json.dumps({"call_s": call}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", default="1024", help="comma-separated starts to try beside the default")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "async-start.json"))
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    meta["bytecode"] = compile_bytecode(ROOT / "src")
    from gearshift._auto.costs import ASYNC_START
    from gearshift._bench.servers import raise_fd_limit, workload_server

    meta["async_start_default"] = ASYNC_START
    raise_fd_limit()
    arms: list[tuple[str, int]] = [("auto", 0)] + [("auto", int(s)) for s in args.starts.split(",") if s]
    arms.append(("async", 0))
    rounds: dict[str, list[float]] = {}
    with workload_server("aio") as url:
        assert url is not None
        for r in range(args.rounds):
            for workload, n in CASES:
                for mode, start in arms[r % len(arms) :] + arms[: r % len(arms)]:
                    t = time.perf_counter()
                    cmd = [sys.executable, "-c", CHILD, str(start), str(n), url, workload, mode]
                    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
                    if done.returncode:
                        sys.exit(f"{workload} {n} {mode} {start}: {done.stderr[-800:]}")
                    key = f"{workload}:{n}:{mode}:{start or 'default'}"
                    rounds.setdefault(key, []).append(round(time.perf_counter() - t, 4))
            print(f"round {r + 1} of {args.rounds}", flush=True)
    medians = {k: statistics.median(v) for k, v in rounds.items()}
    ratios: dict[str, Any] = {}
    for key, median in medians.items():
        workload, n, mode, start = key.split(":")
        if mode == "auto":
            ratios[key] = round(median / medians[f"{workload}:{n}:async:default"], 3)
    for key in sorted(medians):
        print(f"{key:40} {medians[key]:.3f} s  {ratios.get(key, '')}")
    write(args.out, meta, rounds=rounds, medians=medians, ratio_to_async=ratios)
    return 0


if __name__ == "__main__":
    sys.exit(main())
