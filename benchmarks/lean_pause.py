"""When a script's coarse auto job starts its second item, with and without the first item's pause.

A script's first ``gearshift.map`` in auto mode runs its first item on the
calling thread; past the lean start's first look, auto loads beside it and
its lookahead starts the next items on worker processes
(``gearshift._lean_first``).  Beside an item that computes in Python, that load
took turns with the item for the GIL; the item now waits meanwhile
(``gearshift._pause``).  This times, in fresh interpreters (one call each,
``import gearshift`` included), a job of ``--jobs`` pure-Python items of about
``--seconds`` each: when each item started (seconds after the call began, read
in the item), the call's time, and the whole process's.  ``--baseline`` runs
another tree's ``src`` (a ``git archive`` of a commit) in the same rounds,
interleaved, in alternating order.  Every round is kept.

    python benchmarks/lean_pause.py --rounds 9 --baseline /tmp/before/src --name lean-pause

Results: ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _meta import ROOT, compile_bytecode, finish, run_meta

SRC = str(ROOT / "src")

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import gearshift

waits = []  # how long the first item waited, when it did (a tree without gearshift._pause: never)
try:
    import gearshift._pause as pause
except ImportError:
    pass
else:
    handler = pause.Pause._handler

    def recording(self, *args):
        before = self.waited
        handler(self, *args)
        waits.append(self.waited - before)

    pause.Pause._handler = recording

def job(n):
    start = time.perf_counter()
    s = 0
    for i in range(n):
        s += i
    return start

n, jobs = int(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
starts = gearshift.map(job, [n] * jobs)
end = time.perf_counter()
print(json.dumps({"starts": [s - t for s in starts], "call_s": end - t, "import_s": t - t0, "waits": waits}))
"""


def _loops_for(seconds: float) -> int:
    """Iterations of the job's loop that take about ``seconds`` here (best of 3 short tries)."""
    n = 2_000_000
    best = min(_time_loop(n) for _ in range(3))
    return max(1, int(n * seconds / best))


def _time_loop(n: int) -> float:
    t = time.perf_counter()
    s = 0
    for i in range(n):
        s += i
    return time.perf_counter() - t


def _one(src: str, loops: int, jobs: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(loops), str(jobs)], env=env, capture_output=True, text=True, timeout=300
    )
    process_s = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}: {proc.stderr[-300:]}"}
    return {"process_s": process_s, **json.loads(lines[-1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--jobs", type=int, default=2 * (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    )
    parser.add_argument("--seconds", type=float, default=0.5, help="each item's time, about")
    parser.add_argument("--baseline", help="another tree's src/ (a git archive), run in the same rounds")
    parser.add_argument("--name", default="lean-pause")
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    meta["bytecode"] = compile_bytecode(SRC, *filter(None, [args.baseline]))
    if args.baseline:
        stamp = Path(args.baseline).resolve().parent / "COMMIT"
        meta["baseline"] = {"src": args.baseline, "commit": stamp.read_text().strip() if stamp.exists() else None}
    loops = _loops_for(args.seconds)
    meta.update(rounds=args.rounds, jobs=args.jobs, seconds=args.seconds, loops=loops)
    trees = {"this": SRC, **({"baseline": args.baseline} if args.baseline else {})}
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        rounds.append({name: _one(trees[name], loops, args.jobs) for name in order})
        print(f"round {r + 1}:", {k: _brief(v) for k, v in rounds[-1].items()}, flush=True)
    summary = {}
    for name in trees:
        ok = [rd[name] for rd in rounds if "error" not in rd[name]]
        if ok:
            summary[name] = {
                "second_start_median_s": statistics.median(sorted(x["starts"])[1] for x in ok),
                "call_median_s": statistics.median(x["call_s"] for x in ok),
                "process_median_s": statistics.median(x["process_s"] for x in ok),
                "waits": [w for x in ok for w in x.get("waits", [])],
                "errors": args.rounds - len(ok),
            }
    out = ROOT / "benchmarks" / "results" / f"{args.name}.json"
    out.write_text(json.dumps({"meta": finish(meta), "summary": summary, "rounds": rounds}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


def _brief(result: dict[str, Any]) -> str:
    if "error" in result:
        return result["error"][:80]
    return f"second item at {sorted(result['starts'])[1]:.3f} s, call {result['call_s']:.3f} s"


if __name__ == "__main__":
    raise SystemExit(main())
