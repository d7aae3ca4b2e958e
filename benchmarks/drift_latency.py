"""How long a sync plan keeps items that turned heavy before auto re-plans (issue 21, re-plan).

A ``mode="auto"`` run of ``--items`` items (a range) whose items are trivial
until ``--switch``, then sleep ``--heavy`` seconds each: auto measures trivial
items and plans sync; the work drifts mid-run.  Reported per tree: the heavy
items that ran on the first (sync) plan before it was re-planned, and the
whole run's time.  This tree and a baseline (a git ref, exported to a
temporary folder) run in fresh interpreters, interleaved round by round.
Writes every round with the commits, host and Python to
``benchmarks/results/drift_latency.json``.  Usage::

    python benchmarks/drift_latency.py [--baseline REF] [--rounds R] [--items N] [--switch K] [--heavy S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from _meta import baseline_src, compile_bytecode, run_meta, write

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.join(os.path.dirname(HERE), "src")

CHILD = """
import json, sys, time
import gearshift
from gearshift._auto import AutoRun
from gearshift._options import make_options
from gearshift._task import CALL_ONE

items, switch, heavy = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

def work(x):
    if x >= switch:
        time.sleep(heavy)
    return x

run = AutoRun(work, make_options(), CALL_ONE, False)
start = time.perf_counter()
count = sum(len(batch) for batch in run.batches(range(items)))
seconds = time.perf_counter() - start
assert count == items
segments = run.report.segments
# the first plan's segment: the items before it (measuring) plus its own, past the switch
first = next(i for i, s in enumerate(segments) if s.what == "plan")
through = sum(s.items for s in segments[: first + 1])
print(json.dumps({
    "seconds": seconds,
    "first_plan": run.report.plans[0].mode,
    "heavy_on_first_plan": max(0, through - switch),
    "replans": run.report.replans,
    "gearshift": gearshift.__file__,
}))
"""


def once(src: str, items: int, switch: int, heavy: float) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(items), str(switch), str(heavy)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="main")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--switch", type=int, default=60_000)
    parser.add_argument("--heavy", type=float, default=0.001)
    args = parser.parse_args()
    meta = run_meta()
    with tempfile.TemporaryDirectory() as folder:
        base, meta["baseline"] = baseline_src(args.baseline, folder)
        meta["bytecode"] = compile_bytecode(TREE, base)
        trees = {"baseline": base, "this tree": TREE}
        rounds: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name in list(trees)[:: 1 if r % 2 == 0 else -1]:
                result = once(trees[name], args.items, args.switch, args.heavy)
                rounds[name].append(result)
                print(f"round {r + 1}/{args.rounds} {name}: {result['heavy_on_first_plan']} heavy items on the "
                      f"first ({result['first_plan']}) plan, {result['seconds']:.2f} s")  # fmt: skip
    summary = {}
    for name, results in rounds.items():
        heavy = statistics.median(float(r["heavy_on_first_plan"]) for r in results)  # type: ignore[arg-type]
        seconds = statistics.median(float(r["seconds"]) for r in results)  # type: ignore[arg-type]
        summary[name] = {"median_heavy_on_first_plan": heavy, "median_seconds": round(seconds, 3)}
        print(f"{name}: median {heavy:.0f} heavy items on the first plan, median {seconds:.2f} s")
    path = os.path.join(HERE, "results", "drift_latency.json")
    write(path, meta, parameters=vars(args), summary=summary, rounds=rounds)
    print(f"-> {os.path.relpath(path)}")


if __name__ == "__main__":
    main()
