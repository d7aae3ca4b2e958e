"""gearshift against a plain loop and the usual pools, side by side, in one run.

    python benchmarks/run.py --quick          # a few minutes
    python benchmarks/run.py                  # the full suite (tens of minutes)
    python benchmarks/run.py --workloads tiny,md5-fine --strategies loop,gearshift-process

Each measurement runs in a fresh process: pools start and warm up untimed,
then one call is timed.  Strategies take turns (round-robin, ``--repeats``
rounds) so that a change in the machine's load hits them all alike; the median
is reported.  Then the contests that decide the issue's targets get more rounds
(``--contest-repeats`` in all, still interleaved): the strategies within
:data:`CONTENDER` of the fastest of all, or of the fastest of their own
concurrency model when that model has both a gearshift mode and a peer, and
``gearshift-auto``.  On a shared 2-core host one strategy's times spread by
a quarter or more within a run; three rounds cannot settle a ratio near 1.
A run past ``--budget`` is killed with its process group, reported as a
timeout and not repeated.  The parent samples the resident memory of
the child's whole process tree (workers included) every 50 ms.  Results go to
``benchmarks/results/<name>.json``, ``<name>.md`` and ``<name>.png``.
Needs ``pip install -e '.[bench]'``; peers that are missing are skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
#: children import this tree's gearshift, whatever an editable install elsewhere points at
_CHILD_ENV = dict(
    os.environ,
    PYTHONPATH=os.pathsep.join(
        filter(None, [os.path.join(os.path.dirname(HERE), "src"), os.environ.get("PYTHONPATH")])
    ),
)

import report  # noqa: E402
from _meta import compile_bytecode, run_meta  # noqa: E402
from strategies import CPUS, STRATEGIES, applies  # noqa: E402

from gearshift._bench import WORKLOADS  # noqa: E402
from gearshift._bench.servers import raise_fd_limit, workload_server  # noqa: E402

#: the Python package each peer needs (skipped with a note when absent)
NEEDS = {
    "joblib-loky": "joblib",
    "joblib-threading": "joblib",
    "mpire": "mpire",
    "pebble": "pebble",
    "dask-local": "distributed",
}
#: after the first rounds, a strategy this many times the fastest (of all, or of its model) or
#: less is a contender and gets ``--contest-repeats`` rounds in all
CONTENDER = 1.25
#: seconds allowed on top of the budget for starting pools and warming up
SETUP_GRACE = 10.0
#: gearshift modes that cannot overlap thousands of slow coroutines by design
_ASYNC_SKIP = {
    "gearshift-sync": "runs one coroutine at a time: n x latency",
    "gearshift-thread": "at most workers x 32 coroutines in flight",
    "gearshift-process": "at most workers x 32 coroutines in flight",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small scales and a short budget")
    parser.add_argument("--workloads", help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--strategies", help=f"comma-separated subset of: {', '.join(STRATEGIES)}")
    parser.add_argument("--repeats", type=int, help="timed repeats per measurement (default 5, quick 3)")
    parser.add_argument(
        "--contest-repeats", type=int, help="rounds in all for the contenders (default 9, quick: --repeats)"
    )
    parser.add_argument(
        "--contest-max", type=float, default=6.0, help="no extra rounds for strategies slower than this (s)"
    )
    parser.add_argument("--budget", type=float, help="seconds per measurement before it is killed (60, quick 30)")
    parser.add_argument(
        "--later-calls",
        type=int,
        default=3,
        help="auto's calls after the timed third one, in the same process: their median is its steady figure",
    )
    parser.add_argument("--name", help="results file name (default: quick or full)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    args = parser.parse_args(argv)

    workloads = _pick(args.workloads, WORKLOADS, "workload")
    strategies = _pick(args.strategies, STRATEGIES, "strategy")
    repeats = args.repeats or (3 if args.quick else 5)
    contest_repeats = max(repeats, args.contest_repeats or (repeats if args.quick else 9))
    budget = args.budget or (30.0 if args.quick else 60.0)
    name = args.name or ("quick" if args.quick else "full")
    os.makedirs(args.out, exist_ok=True)
    raise_fd_limit()
    meta = {
        **run_meta(argv, "benchmarks/run.py"),
        "bytecode": compile_bytecode(os.path.join(os.path.dirname(HERE), "src")),
        "platform": platform.platform(),
        "cpus": CPUS,
        "loadavg_at_start": os.getloadavg(),
        "quick": args.quick,
        "repeats": repeats,
        "contest_repeats": contest_repeats,
        "contender": CONTENDER,
        "contest_max_s": args.contest_max,
        "budget_s": budget,
        "later_calls": args.later_calls,
    }
    records: list[dict[str, Any]] = []
    path = os.path.join(args.out, f"{name}.json")
    for wname in workloads:
        workload = WORKLOADS[wname]
        scale = workload.quick_scale if args.quick else workload.scale
        with ExitStack() as stack:
            url = stack.enter_context(workload_server(workload.server))
            # Rounds: every strategy once per round, so a change in the machine's load
            # hits all strategies alike instead of whichever happened to run then.
            recs = {s: _new_record(workload, scale, s) for s in strategies}
            names = list(recs)
            for round_no in range(contest_repeats):
                if round_no == repeats:
                    extra = contenders(list(recs.values()), args.contest_max)
                    for sname in extra:
                        recs[sname]["contender"] = True
                    names = [n for n in names if n in extra]
                    if not names:
                        break
                    print(f"{workload.name:>16} contest rounds for: {', '.join(names)}", flush=True)
                turn = round_no % len(names)  # each round starts one further along
                for sname in names[turn:] + names[:turn]:
                    rec = recs[sname]
                    if "skipped" in rec or "error" in rec:
                        continue
                    _measure(rec, workload, url, budget, first=round_no == 0, later=args.later_calls)
                    if round_no == repeats - 1 or "error" in rec:
                        _print(rec)
                    _save(path, meta, [*records, *recs.values()])
            for sname in names:  # the contenders' final medians
                if round_no >= repeats and "median_s" in recs[sname]:
                    _print(recs[sname])
            records.extend(recs.values())
    _save(path, meta, records)
    report.write(path)
    print(f"\nwrote {path} and its .md and .png")
    return 0


def contenders(recs: list[dict[str, Any]], slowest: float) -> list[str]:
    """The strategies whose ratios decide a target: near the fastest of all or of their model.

    A model counts only when it holds both a gearshift mode and a peer (the
    target compares the two), and a contest needs two strategies to be one.
    ``gearshift-auto`` always takes part (its target is the fastest of all).
    Strategies slower than ``slowest`` seconds get no extra rounds: their
    relative spread is smaller and their rounds cost the most.
    """
    done = [r for r in recs if "median_s" in r and "error" not in r]
    if not done:
        return []
    picked: set[str] = set()
    groups: list[list[dict[str, Any]]] = [done]
    for model in {r["model"] for r in done}:
        group = [r for r in done if r["model"] == model]
        ours = [r for r in group if r["strategy"].startswith("gearshift-")]
        if ours and len(ours) < len(group):
            groups.append(group)
    for group in groups:
        best = min(r["median_s"] for r in group)
        near = {
            r["strategy"]
            for r in group
            if (r["median_s"] <= CONTENDER * best or r["strategy"] == "gearshift-auto") and r["median_s"] <= slowest
        }
        if len(near) >= 2:
            picked |= near
    return [r["strategy"] for r in recs if r["strategy"] in picked]


def _pick(given: str | None, known: dict[str, Any], what: str) -> list[str]:
    if not given:
        return list(known)
    names = [n.strip() for n in given.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what} {', '.join(unknown)}; choose from: {', '.join(known)}")
    return names


def _new_record(workload: Any, scale: int, sname: str) -> dict[str, Any]:
    cls = STRATEGIES[sname]
    rec: dict[str, Any] = {
        "workload": workload.name,
        "kind": workload.kind,
        "scale": scale,
        "strategy": sname,
        "model": cls.model or ("auto" if sname == "gearshift-auto" else sname.split("-", 1)[1]),
        "times": [],
    }
    module = NEEDS.get(sname)
    if not applies(cls, workload.is_async):
        rec["skipped"] = "needs an async def function" if cls.only == "async" else "cannot run an async def function"
    elif workload.is_async and sname in _ASYNC_SKIP:
        rec["skipped"] = _ASYNC_SKIP[sname]
    elif module and importlib.util.find_spec(module) is None:
        rec["skipped"] = f"{module} is not installed (pip install -e '.[bench]')"
    return rec


def _measure(
    rec: dict[str, Any], workload: Any, url: str | None, budget: float, *, first: bool, later: int = 0
) -> None:
    """One timed run of ``rec``'s strategy in a fresh process (auto: and ``later`` calls after it); updates ``rec``."""
    spec = {"workload": workload.name, "scale": rec["scale"], "url": url, "strategy": rec["strategy"]}
    spec.update(budget=budget, check=first, chunksize=rec.get("chunksize"), later=later)
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: chatty peers (dask) must never block on it
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "_child.py"), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=errors,
        start_new_session=True,  # its own process group: a timeout kills all it started
        env=_CHILD_ENV,
    )
    # auto's warm-up is two whole runs (benchmarks/_child.py), its later calls as many as asked: the budget covers them
    limit = budget * (3 + later if rec["strategy"] == "gearshift-auto" else 1) + SETUP_GRACE
    peak = _watch(proc, limit)
    timed_out = proc.returncode is None
    # Always end the whole group: pool workers a peer left behind would hold
    # the output pipe open (and the machine busy) forever.
    _kill_group(proc)
    stdout, _ = proc.communicate(timeout=30)
    errors.seek(0)
    stderr = errors.read()
    errors.close()
    rec["peak_rss_mib"] = max(rec.get("peak_rss_mib", 0.0), round(peak / 2**20, 1))
    lines = stdout.decode(errors="replace").strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if timed_out:
        rec["error"] = f"timeout: killed after {limit:g} s (setup included)"
    elif not result:
        rec["error"] = f"exit code {proc.returncode}: {stderr.decode(errors='replace')[-300:]}"
    elif "error" in result:
        rec["error"] = result["error"]
    else:
        rec["times"].append(result["time"])
        rec["median_s"] = statistics.median(rec["times"])
        if "cold_time" in result:  # auto's warm-up: its first call, in a fresh process, and its second
            rec.setdefault("cold_times", []).append(result["cold_time"])
            rec.setdefault("second_times", []).append(result["second_time"])
        if result.get("later_times"):  # auto's calls after the timed one: where it settles, per round
            rec.setdefault("later_times", []).append(result["later_times"])
            rec.setdefault("steady_times", []).append(statistics.median(result["later_times"]))
            rec["steady_median_s"] = statistics.median(rec["steady_times"])
        for key in ("params", "sweep", "chunksize"):
            if key in result:
                rec[key] = result[key]


def _watch(proc: subprocess.Popen[bytes], limit: float) -> int:
    """Wait for ``proc`` (at most ``limit`` s), sampling its process tree's memory; return the peak RSS."""
    try:
        import psutil
    except ImportError:
        psutil = None
    peak = 0
    deadline = time.monotonic() + limit
    root = psutil.Process(proc.pid) if psutil is not None else None
    while proc.poll() is None and time.monotonic() < deadline:
        if root is not None:
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            peak = max(peak, total)
        time.sleep(0.05)
    return peak


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _print(rec: dict[str, Any]) -> None:
    what = f"{rec['workload']:>16} {rec['strategy']:<20}"
    if "skipped" in rec:
        print(f"{what} skipped: {rec['skipped']}", flush=True)
    elif "median_s" in rec and "error" not in rec:
        print(
            f"{what} {rec['median_s']:9.3f} s  peak {rec['peak_rss_mib']:7.1f} MiB  {rec.get('params', '')}", flush=True
        )
    else:
        print(f"{what} FAILED: {rec.get('error')}", flush=True)


def _save(path: str, meta: dict[str, Any], records: list[dict[str, Any]]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
