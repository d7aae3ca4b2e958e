"""The benchmark suite run cold: ``mode="auto"`` against every fixed mode, one fresh interpreter per call.

    python benchmarks/cold_suite.py                          # every workload, quick scales, 5 rounds
    python benchmarks/cold_suite.py --workloads tiny,cpu-loop --rounds 9
    python benchmarks/cold_suite.py --summary benchmarks/results/cold-suite.json \\
        --warm benchmarks/results/suite-warm.json            # the table of auto / fastest fixed mode

A user's script is a fresh interpreter making one call: the time here is the
whole process (start, ``import gearshift``, pool start, the call, shutdown at
exit), measured by the parent; the items are built in the child before the
timer it reports (``call_s``: import and call), and the same way for every
mode.  Modes take turns in every round (the order rotates); the report is the
median per mode, its spread, and auto's ratio to the fastest fixed mode
(targets: at most 1.10 on every workload, at most 1.00 by geometric mean).
The warm form is ``benchmarks/run.py`` with the gearshift strategies (pools
started before the timed call; auto's first two calls made before it, see
``benchmarks/_child.py``); ``--summary`` reads both.  ``--baseline`` runs another tree's auto (a ``git
archive`` of an earlier commit, with a ``COMMIT`` file beside its ``src``) in
the same rounds, as ``auto@baseline``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(ROOT, "src")
sys.path.insert(0, SRC)

from _meta import compile_bytecode  # noqa: E402

from gearshift._bench import WORKLOADS  # noqa: E402
from gearshift._bench.servers import raise_fd_limit, workload_server  # noqa: E402

MODES = ("auto", "sync", "thread", "process", "async")
#: fixed modes that cannot overlap thousands of slow coroutines by design (as in run.py)
ASYNC_IO_SKIP = {"sync", "thread", "process"}
TARGET_EACH, TARGET_GEOMEAN = 1.10, 1.00
#: the mode name of --baseline's auto (never a fixed mode)
BASELINE = "auto@baseline"

CHILD = """
import sys, time, json
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["src"])
from gearshift._bench import get
workload = get(spec["workload"])
items = workload.items(spec["scale"], spec["url"])
t0 = time.perf_counter()
import gearshift
workers = min(len(items), 10_000) if spec["mode"] == "async" and workload.is_async else None
results = gearshift.map(workload.fn, items, mode=spec["mode"], workers=workers)
elapsed = time.perf_counter() - t0
if spec["check"]:
    workload.check(items, results)
print(json.dumps({"call_s": elapsed}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="full scales (default: the quick ones)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds before one run is killed")
    parser.add_argument("--name", default="cold-suite", help="results: benchmarks/results/<name>.json")
    parser.add_argument("--summary", help="print the table for this cold results file and exit")
    parser.add_argument("--warm", help="with --summary: a benchmarks/run.py results file (the warm form)")
    parser.add_argument(
        "--baseline",
        help="another tree's src/ (a git archive of main): its auto runs as auto@baseline in the same rounds",
    )
    args = parser.parse_args(argv)
    if args.summary:
        print(summarize(args.summary, args.warm))
        return 0
    names = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    raise_fd_limit()
    path = os.path.join(HERE, "results", f"{args.name}.json")
    meta = _meta(args)
    meta["bytecode"] = compile_bytecode(SRC, *filter(None, [args.baseline]))
    if args.baseline:
        stamp = os.path.join(os.path.dirname(os.path.abspath(args.baseline)), "COMMIT")
        commit = Path(stamp).read_text().strip() if os.path.exists(stamp) else "unknown (no COMMIT file beside it)"
        meta["baseline"] = {"src": args.baseline, "commit": commit}
    records: list[dict[str, Any]] = []
    for name in names:
        workload = WORKLOADS[name]
        scale = workload.scale if args.full else workload.quick_scale
        with ExitStack() as stack:
            url = stack.enter_context(workload_server(workload.server))
            modes = [m for m in MODES if not (workload.kind == "async-io" and m in ASYNC_IO_SKIP)]
            modes += [BASELINE] if args.baseline else []
            rec: dict[str, Any] = {"workload": name, "kind": workload.kind, "scale": scale, "modes": {}}
            runs = {m: {"process_s": [], "call_s": []} for m in modes}
            errors: dict[str, str] = {}
            for r in range(args.rounds):
                order = modes[r % len(modes) :] + modes[: r % len(modes)]
                for mode in order:
                    if mode in errors:
                        continue
                    src = args.baseline if mode == BASELINE else SRC
                    spec = {"src": src, "workload": name, "scale": scale, "url": url, "mode": mode.split("@")[0]}
                    spec["check"] = r == 0
                    outcome = _run(spec, args.budget)
                    if "error" in outcome:
                        errors[mode] = outcome["error"]
                        continue
                    runs[mode]["process_s"].append(outcome["process_s"])
                    runs[mode]["call_s"].append(outcome["call_s"])
                print(
                    f"{name:>16} round {r + 1}: "
                    + "  ".join(f"{m} {runs[m]['process_s'][-1]:.3f}" for m in modes if runs[m]["process_s"]),
                    flush=True,
                )
            for mode in modes:
                entry: dict[str, Any] = {k: [round(v, 5) for v in vals] for k, vals in runs[mode].items()}
                if runs[mode]["process_s"]:
                    entry["median_s"] = round(statistics.median(runs[mode]["process_s"]), 5)
                    entry["median_call_s"] = round(statistics.median(runs[mode]["call_s"]), 5)
                if mode in errors:
                    entry["error"] = errors[mode]
                rec["modes"][mode] = entry
            records.append(rec)
            _save(path, meta, records)
    print(f"wrote {os.path.relpath(path)}")
    print(summarize(path, None))
    return 0


def _run(spec: dict[str, Any], budget: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=budget
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout: killed after {budget:g} s"}
    elapsed = time.perf_counter() - t0
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"exit code {proc.returncode}: {proc.stderr[-300:]}"}
    return {"process_s": elapsed, **json.loads(lines[-1])}


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "dirty": bool(dirty),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "python": sys.version,
        "rounds": args.rounds,
        "full": args.full,
        "command": " ".join(["python benchmarks/cold_suite.py", *(sys.argv[1:])]),
    }


def _save(path: str, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def _ratios_cold(path: str, auto: str = "auto") -> dict[str, tuple[float, str, float]]:
    """workload -> (``auto`` / fastest fixed, the fastest fixed mode, its median)."""
    with open(path) as f:
        data = json.load(f)
    out = {}
    for rec in data["records"]:
        medians = {m: e["median_s"] for m, e in rec["modes"].items() if "median_s" in e}
        fixed = {m: v for m, v in medians.items() if not m.startswith("auto")}
        if auto in medians and fixed:
            best = min(fixed, key=fixed.__getitem__)
            out[rec["workload"]] = (medians[auto] / fixed[best], best, fixed[best])
    return out


def _ratios_warm(path: str, steady: bool = False) -> dict[str, tuple[float, str, float]]:
    """workload -> (auto / fastest fixed, the fastest fixed mode, its median); ``steady``: auto's later
    calls (benchmarks/run.py's --later-calls), not its timed third one."""
    with open(path) as f:
        data = json.load(f)
    by: dict[str, dict[str, float]] = {}
    for rec in data["records"]:
        if rec["strategy"].startswith("gearshift-") and "median_s" in rec and "error" not in rec:
            key = "steady_median_s" if steady and rec["strategy"] == "gearshift-auto" else "median_s"
            if key in rec:
                by.setdefault(rec["workload"], {})[rec["strategy"].split("-", 1)[1]] = rec[key]
    out = {}
    for workload, medians in by.items():
        fixed = {m: v for m, v in medians.items() if m != "auto"}
        if "auto" in medians and fixed:
            best = min(fixed, key=fixed.__getitem__)
            out[workload] = (medians["auto"] / fixed[best], best, fixed[best])
    return out


def summarize(cold_path: str, warm_path: str | None) -> str:
    forms = {"cold": _ratios_cold(cold_path)}
    baseline = _ratios_cold(cold_path, BASELINE)
    if baseline:
        forms["cold, the baseline's auto"] = baseline
    if warm_path:
        forms["warm"] = _ratios_warm(warm_path)
        settled = _ratios_warm(warm_path, steady=True)
        if settled:
            forms["warm, auto's later calls"] = settled
    lines = []
    for form, ratios in forms.items():
        lines.append(f"{form}: auto / fastest fixed mode (target <= {TARGET_EACH} each, <= {TARGET_GEOMEAN} geomean)")
        for workload, (ratio, best, seconds) in ratios.items():
            flag = "" if ratio <= TARGET_EACH else "  MISSED"
            lines.append(f"  {workload:>16}  {ratio:6.3f}  (fastest: {best}, {seconds:.3f} s){flag}")
        if ratios:
            geo = math.exp(statistics.fmean(math.log(r) for r, _, _ in ratios.values()))
            lines.append(f"  {'geomean':>16}  {geo:6.3f}{'' if geo <= TARGET_GEOMEAN else '  MISSED'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
