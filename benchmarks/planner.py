"""Does ``mode="auto"`` pick well?  Every fixed mode and ``auto``, side by side, on every workload.

For each workload of :mod:`gearshift._bench.workloads` this runs ``gearshift.map``
under each fixed choice (sync; threads at the standard library's default count
and at 128; processes at one per usable CPU; for coroutine functions also async
at its default of 100 and at 1000 in flight) and under ``mode="auto"``,
interleaved round by round (each round starting one place further along the list, so
no choice always runs right after the same neighbour), and reports the median time of
each.  The oracle is
the fastest fixed choice; the figure of merit is ``auto / oracle``, the ratio of
the two medians.  Next to it, ``paired`` is the median over rounds of auto's
time over the oracle's in the same round: on a shared host whose speed swings
by a quarter for seconds at a time, runs close in time are slowed alike, so
this ratio of neighbours is the steadier estimate on short jobs.

A run slower than ``--limit`` seconds is cut short (it is then only a lower
bound, marked ``>``, and never the oracle).  Every completed run's results are
checked against the workload's own ``check``.

    python benchmarks/planner.py            # full scale, about 28 minutes on 2 cores
    python benchmarks/planner.py --quick    # smaller inputs, a few minutes

Writes ``benchmarks/results/planner.json`` and ``benchmarks/results/planner.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Iterator
from typing import Any

from _meta import run_meta

import gearshift
from gearshift._bench import WORKLOADS, Workload
from gearshift._bench.servers import aio_server, http_server, raise_fd_limit
from gearshift._cpu import usable_cpus

HERE = os.path.dirname(os.path.abspath(__file__))
#: a contest whose fastest fixed choice takes under this many seconds gets rounds beyond
#: three: on a shared 2-core host a one-second run varies by a quarter from round to round
SHORT_RUN = 3.0
#: ...and under this, ``--repeat-short`` rounds: a sub-second job is where a swing of the
#: host's speed outlasts a whole round
VERY_SHORT_RUN = 1.0
#: choices this many times slower than the fastest fixed one in the first round cannot be
#: the oracle: three rounds give their median (one, if longer than ``--long``)
CONTENDER = 1.5


def configs(workload: Workload) -> list[tuple[str, str, int | None]]:
    """(label, mode, workers) for every fixed choice tried on ``workload``."""
    cpus = usable_cpus()
    default_threads = min(32, cpus + 4)
    out: list[tuple[str, str, int | None]] = [
        ("sync", "sync", None),
        (f"thread-{default_threads}", "thread", default_threads),
        ("thread-128", "thread", 128),
        (f"process-{cpus}", "process", cpus),
    ]
    if workload.is_async:
        out += [("async-100", "async", 100), ("async-1000", "async", 1000)]
    return out


def run_once(workload: Workload, items: list[Any], mode: str, workers: int | None, limit: float) -> tuple[float, bool]:
    """Seconds for one run, and whether it finished (False: cut at ``limit``, results unchecked)."""
    results: list[Any] = []
    t0 = time.perf_counter()
    it = gearshift.imap(workload.fn, items, mode=mode, workers=workers)
    try:
        for n, result in enumerate(it):
            results.append(result)
            # Check the clock on every slow result, every 64th fast one: the check costs too.
            if (n < 256 or not n & 63) and time.perf_counter() - t0 > limit:
                return time.perf_counter() - t0, False
    finally:
        it.close()  # type: ignore[attr-defined]
    seconds = time.perf_counter() - t0
    workload.check(items, results)
    return seconds, True


def auto_plan(workload: Workload, items: list[Any]) -> str:
    """What auto would choose, in one line (measured on the items, results thrown away)."""
    from gearshift._auto import AutoRun
    from gearshift._options import make_options

    run = AutoRun(workload.fn, make_options(), 0, workload.is_async)
    for _ in run.batches(items):
        pass
    plans = [f"{p.mode}/{p.workers}" + (f"x{p.chunksize}" if p.chunksize else "") for p in run.plans] or ["sync"]
    final = run.limiter.window if run.limiter is not None else None
    return " -> ".join(plans) + (f" (window ended at {final})" if final is not None else "")


@contextlib.contextmanager
def servers(needed: set[str]) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        urls = {}
        if "http" in needed:
            urls["http"] = stack.enter_context(http_server())
        if "aio" in needed:
            urls["aio"] = stack.enter_context(aio_server())
        yield urls


def bench(workload: Workload, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    items = workload.items(url=url, quick=args.quick)
    runs: dict[str, list[tuple[float, bool]]] = {}
    choices = [*configs(workload), ("auto", "auto", None)]
    wanted: dict[str, int] = {}  # rounds per choice, set after the first round
    for round_ in range(max(args.repeat, args.repeat_short)):
        turn = round_ % len(choices)
        for label, mode, workers in choices[turn:] + choices[:turn]:
            done = runs.get(label, [])
            if done and (not done[0][1] or round_ >= wanted[label]):
                continue  # cut short once (do not spend the limit again), or measured enough
            runs.setdefault(label, []).append(run_once(workload, items, mode, workers, args.limit))
        if round_ == 0:
            wanted = rounds_wanted(runs, args)
    times = {label: statistics.median(s for s, _ in r) for label, r in runs.items()}
    finished = {label: all(ok for _, ok in r) for label, r in runs.items()}
    fixed = [label for label, *_ in configs(workload) if finished[label]]
    oracle = min(fixed, key=lambda label: times[label])
    ratio = times["auto"] / times[oracle] if finished["auto"] else math.inf
    pairs = list(zip(runs["auto"], runs[oracle]))  # round by round (both measured once: one pair)
    paired = statistics.median(a / o for (a, _), (o, _) in pairs) if finished["auto"] else math.inf
    return {
        "workload": workload.name,
        "items": len(items),
        "times": {k: round(v, 4) for k, v in times.items()},
        "finished": finished,
        "oracle": oracle,
        "auto_over_oracle": round(ratio, 3),
        "paired": round(paired, 3),
        "rounds": {label: len(r) for label, r in runs.items()},
        "round_times": {label: [round(t, 4) for t, _ in r] for label, r in runs.items()},
        "auto_plan": auto_plan(workload, items) if args.explain else None,
    }


def rounds_wanted(first: dict[str, list[tuple[float, bool]]], args: argparse.Namespace) -> dict[str, int]:
    """Rounds for each choice, from the first round's times.

    The contest's scale is the fastest fixed choice: auto and every choice
    close to it (:data:`CONTENDER`) get the same number of rounds, so the
    oracle's median and auto's are equally steady, whichever of them is slower.
    """
    fixed = [runs[0][0] for label, runs in first.items() if label != "auto" and runs[0][1]]
    best = min(fixed) if fixed else math.inf
    if best > SHORT_RUN:
        contest = min(3, args.repeat)
    elif best > VERY_SHORT_RUN:
        contest = args.repeat
    else:
        contest = max(args.repeat, args.repeat_short)
    out = {}
    for label, runs in first.items():
        seconds = runs[0][0]
        if label == "auto" or seconds <= CONTENDER * best:
            out[label] = contest
        else:
            out[label] = 1 if seconds > args.long else min(3, contest)
    return out


#: small jobs for the planning overhead: (label, function, items); the workload functions at small scale
def small_jobs() -> list[tuple[str, Any, list[Any]]]:
    from gearshift._bench.workloads import cpu_loop, md5_matches, sleep_for, square_plus_one

    words = WORKLOADS["md5-fine"].items(20_000)
    return [
        ("100 trivial items", square_plus_one, list(range(100))),
        ("10,000 trivial items", square_plus_one, list(range(10_000))),
        ("20,000 md5 checks", md5_matches, words),
        ("20 x 2 ms CPU", cpu_loop, [30_000] * 20),
        ("20 x 10 ms sleep", sleep_for, [0.01] * 20),
    ]


def planning_overhead(repeat: int) -> list[dict[str, Any]]:
    """``auto`` minus the fastest fixed choice on small jobs, where planning could cost more than it wins."""
    cpus = usable_cpus()
    fixed = [
        ("sync", "sync", None),
        (f"thread-{min(32, cpus + 4)}", "thread", None),
        (f"process-{cpus}", "process", cpus),
    ]
    rows = []
    for label, fn, items in small_jobs():
        times: dict[str, list[float]] = {}
        for _ in range(repeat):
            for name, mode, workers in [*fixed, ("auto", "auto", None)]:
                t0 = time.perf_counter()
                gearshift.map(fn, items, mode=mode, workers=workers)
                times.setdefault(name, []).append(time.perf_counter() - t0)
        med = {name: statistics.median(v) for name, v in times.items()}
        best = min((name for name, *_ in fixed), key=med.__getitem__)
        rows.append(
            {
                "job": label,
                "times_ms": {k: round(v * 1e3, 2) for k, v in med.items()},
                "best": best,
                "overhead_ms": round((med["auto"] - med[best]) * 1e3, 2),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]], geomean: float, meta: dict[str, Any]) -> str:
    labels: list[str] = []
    for row in rows:
        labels += [k for k in row["times"] if k not in labels and k != "auto"]
    head = ["workload", "items", *labels, "auto", "oracle", "auto/oracle", "paired"]
    lines = [
        f"`{meta['command']}` at commit {meta['commit']}, {meta['date']}, on {meta['cpus']} usable CPUs, "
        f"Python {meta['python']['version']}; median seconds "
        f"of interleaved rounds: auto and every choice within {CONTENDER:g}x of the fastest fixed one get 3 "
        f"when that one takes over {SHORT_RUN:g} s, {meta['repeat']} from {VERY_SHORT_RUN:g} s, "
        f"{meta.get('repeat_short', meta['repeat'])} below; the others 3 (1 over {meta.get('long', 5.0):g} s) "
        f"(`>`: cut short at {meta['limit']:g} s); `paired`: median of the per-round ratios; "
        f"load average {meta['loadavg_start'][0]:g} at the start, {meta['loadavg_end'][0]:g} at the end.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [row["workload"], str(row["items"])]
        for label in [*labels, "auto"]:
            if label not in row["times"]:
                cells.append("")
                continue
            mark = "" if row["finished"][label] else ">"
            cells.append(f"{mark}{row['times'][label]:.3g}")
        cells += [row["oracle"], f"**{row['auto_over_oracle']:.2f}**", f"{row.get('paired', math.nan):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    worst = max(r["auto_over_oracle"] for r in rows)
    lines += ["", f"Geometric mean of auto/oracle: **{geomean:.2f}**; worst: {worst:.2f}."]
    overhead = meta.get("planning_overhead")
    if overhead:
        lines += [
            "",
            "Planning overhead on small jobs: `auto` minus the fastest fixed choice, median milliseconds "
            f"of {meta['repeat_small']} interleaved rounds (target: under 50 ms).",
            "",
            "| job | " + " | ".join(overhead[0]["times_ms"]) + " | fastest fixed | auto overhead (ms) |",
            "|" + "---|" * (len(overhead[0]["times_ms"]) + 3),
        ]
        for o in overhead:
            cells = [f"{v:.1f}" for v in o["times_ms"].values()]
            lines.append(f"| {o['job']} | " + " | ".join(cells) + f" | {o['best']} | **{o['overhead_ms']:.1f}** |")
    if any(r.get("auto_plan") for r in rows):
        lines += ["", "What auto chose:", ""]
        lines += [f"- {r['workload']}: {r['auto_plan']}" for r in rows if r.get("auto_plan")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--only", nargs="*", help="workload names (default: all)")
    parser.add_argument(
        "--repeat", type=int, default=9, help="rounds (default 9) when the fastest fixed choice takes 1-3 s; 3 above"
    )
    parser.add_argument(
        "--repeat-short", type=int, default=21, help=f"rounds for runs under {VERY_SHORT_RUN:g} s (default 21)"
    )
    parser.add_argument("--limit", type=float, default=20.0, help="cut a run after this many seconds")
    parser.add_argument("--long", type=float, default=5.0, help="runs longer than this are measured once")
    parser.add_argument("--repeat-small", type=int, default=7, help="rounds of the planning-overhead jobs (0: skip)")
    parser.add_argument("--explain", action="store_true", help="also record the plan auto followed")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="output directory")
    args = parser.parse_args(argv)
    started = run_meta(argv, "benchmarks/planner.py")  # the commit and load as the run starts
    raise_fd_limit()
    load_start = [round(x, 2) for x in os.getloadavg()]
    chosen = [WORKLOADS[name] for name in (args.only or WORKLOADS)]
    rows = []
    with servers({w.server for w in chosen if w.server}) as urls:
        for workload in chosen:
            row = bench(workload, urls.get(workload.server) if workload.server else None, args)
            rows.append(row)
            print(
                f"{row['workload']:>16}: auto {row['times']['auto']:.3g}s, oracle {row['oracle']} "
                f"{row['times'][row['oracle']]:.3g}s -> {row['auto_over_oracle']:.2f}",
                flush=True,
            )
    geomean = math.exp(statistics.fmean(math.log(r["auto_over_oracle"]) for r in rows))
    overhead = planning_overhead(args.repeat_small) if args.repeat_small else []
    meta = {
        **started,
        "cpus": usable_cpus(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "repeat_short": args.repeat_short,
        "long": args.long,
        "limit": args.limit,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        # The machine may be shared: the load average says how much else was running.
        "loadavg_start": load_start,
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "repeat_small": args.repeat_small,
        "planning_overhead": overhead,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "planner.json"), "w") as f:
        json.dump(
            {"meta": meta, "geomean": round(geomean, 3), "workloads": rows, "planning_overhead": overhead}, f, indent=2
        )
    table = markdown(rows, geomean, meta)
    with open(os.path.join(args.out, "planner.md"), "w") as f:
        f.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
