"""A program that calls ``map`` many times with the same function: auto against every fixed mode, call by call.

    python benchmarks/repeated.py --workloads csv-files,parse-files --calls 10 --rounds 7
    python benchmarks/repeated.py --baseline addf4bf      # another commit's auto in the same rounds

What the suite's warm form does not show: auto decides per call, so a program
that runs the same job in a loop pays for its measuring (and its mistakes) on
every call unless auto remembers (``gearshift._auto.memory``).  Each round
runs, for every workload, one fresh interpreter per strategy (auto, each fixed
mode, and with ``--baseline`` the other commit's auto), taking turns in a
rotating order; each interpreter builds the items, then calls ``map`` on them
``--calls`` times and reports every call's time.  The report per workload:
the median over rounds of the total of all calls, and of the calls after the
first (a pool started by the first call is warm for them); auto's ratio to the
fastest fixed mode on each.  Results go to ``benchmarks/results/<name>.json``
with the commit, the host and every call of every round.  (Workloads that need
a server, the http ones, are not run here.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _meta import ROOT, baseline_src, compile_bytecode, run_meta, write

SRC = os.path.join(ROOT, "src")
MODES = ("sync", "thread", "process", "async")

CHILD = """
import json, sys, time
import gearshift
from gearshift._bench import get
from gearshift._bench.servers import raise_fd_limit
raise_fd_limit()
w = get(sys.argv[1])
items = w.items(int(sys.argv[2]), None)
mode, calls = sys.argv[3], int(sys.argv[4])
times = []
for _ in range(calls):
    t0 = time.perf_counter()
    out = gearshift.map(w.fn, items, mode=mode)
    times.append(time.perf_counter() - t0)
w.check(items, out)
print(json.dumps(times), flush=True)
"""


def run_child(src: str, workload: str, scale: int, mode: str, calls: int, timeout: float) -> list[float] | str:
    env = {**os.environ, "PYTHONPATH": src}
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, workload, str(scale), mode, str(calls)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    if out.returncode != 0:
        return f"exit {out.returncode}: {out.stderr.strip()[-300:]}"
    times: list[float] = json.loads(out.stdout.strip().splitlines()[-1])
    return times


def summarize(rounds: dict[str, list[list[float]]]) -> dict[str, Any]:
    total = {k: statistics.median(sum(r) for r in v) for k, v in rounds.items() if v}
    later = {k: statistics.median(sum(r[1:]) for r in v) for k, v in rounds.items() if v}
    fixed = [k for k in total if k in MODES]
    best_total = min(fixed, key=total.__getitem__)
    best_later = min(fixed, key=later.__getitem__)
    out: dict[str, Any] = {"total_s": total, "after_first_s": later}
    out["best_total"], out["best_after_first"] = best_total, best_later
    for k in total:
        if k not in MODES:
            out[f"{k}_ratio_total"] = round(total[k] / total[best_total], 3)
            out[f"{k}_ratio_after_first"] = round(later[k] / later[best_later], 3)
    return out


def main() -> None:
    from gearshift._bench import get

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="csv-files,parse-files,numpy-eigvalsh,hash-big-args,md5-fine,cpu-loop")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per child")
    parser.add_argument("--baseline", help="a commit whose auto runs beside this tree's, in the same rounds")
    parser.add_argument("--name", default="repeated")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"), help="directory for the results")
    args = parser.parse_args()
    meta = run_meta()
    peers = {"auto": SRC}
    tmp = tempfile.mkdtemp(prefix="gearshift-repeated-")
    if args.baseline:
        src, meta["baseline"] = baseline_src(args.baseline, tmp)
        peers["auto@baseline"] = src
    meta["bytecode"] = compile_bytecode(*peers.values())
    meta["calls"], meta["rounds"] = args.calls, args.rounds
    strategies = [(k, src, "auto") for k, src in peers.items()] + [(m, SRC, m) for m in MODES]
    results: dict[str, Any] = {}
    for name in args.workloads.split(","):
        workload = get(name)
        scale = workload.quick_scale
        rounds: dict[str, list[list[float]]] = {k: [] for k, _, _ in strategies}
        errors: dict[str, str] = {}
        for r in range(args.rounds):
            order = strategies[r % len(strategies) :] + strategies[: r % len(strategies)]
            for key, src, mode in order:
                got = run_child(src, name, scale, mode, args.calls, args.timeout)
                if isinstance(got, str):
                    errors[key] = got
                    continue
                rounds[key].append(got)
            print(f"{name:>16} round {r + 1}: " + "  ".join(f"{k} {sum(v[-1]):.3f}" for k, v in rounds.items() if v))
        results[name] = {"scale": scale, "rounds": rounds, "errors": errors, **summarize(rounds)}
        s = results[name]
        print(
            f"{name:>16}: auto / fastest fixed, all {args.calls} calls {s['auto_ratio_total']:.3f}"
            f" ({s['best_total']}), calls 2-{args.calls} {s['auto_ratio_after_first']:.3f} ({s['best_after_first']})"
            + (
                f"; baseline {s['auto@baseline_ratio_total']:.3f}, {s['auto@baseline_ratio_after_first']:.3f}"
                if "auto@baseline_ratio_total" in s
                else ""
            )
        )
    path = os.path.join(args.out, f"{args.name}.json")
    write(path, meta, workloads=results, finished=time.time())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
