"""Turn a results JSON into a markdown report and a PNG chart.

python benchmarks/report.py benchmarks/results/full.json
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
from typing import Any

# The figures issue 7 asks for, computed from the measurements (never typed in).
TARGETS = (
    ("md5-fine", "gearshift-process", "loop", "<=", 1.3, "process mode on 2M tiny md5 checks vs the plain loop"),
    ("md5-coarse", "loop", "gearshift-process", ">=", 1.85, "speed-up of process mode on coarse CPU (md5-coarse)"),
    ("cpu-loop", "loop", "gearshift-process", ">=", 1.85, "speed-up of process mode on coarse CPU (cpu-loop)"),
    ("http-async-10k", "gearshift-async", "asyncio-gather", "<=", 1.1, "async mode vs hand-written asyncio.gather"),
)


def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)  # type: ignore[no-any-return]


def by_workload(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for rec in records:
        table.setdefault(rec["workload"], {})[rec["strategy"]] = rec
    for row in table.values():
        ok = [r["median_s"] for r in row.values() if _ok(r)]
        best = min(ok) if ok else math.nan
        for r in row.values():
            if _ok(r):
                r["ratio"] = r["median_s"] / best
    return table


def _ok(rec: dict[str, Any]) -> bool:
    return "median_s" in rec and "error" not in rec


def _cell(rec: dict[str, Any] | None) -> str:
    if rec is None:
        return ""
    if "skipped" in rec:
        return "n/a"
    if not _ok(rec):
        return "timeout" if "timeout" in rec.get("error", "") else "failed"
    text = f"{rec['ratio']:.2f}x ({_seconds(rec['median_s'])})"
    return f"**{text}**" if rec["ratio"] == 1.0 else text


def _seconds(s: float) -> str:
    return f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def overhead_us(table: dict[str, dict[str, dict[str, Any]]], workload: str) -> dict[str, float]:
    """Microseconds per task added over the plain loop, per strategy, on a tiny workload."""
    row = table.get(workload, {})
    loop = row.get("loop")
    if loop is None or not _ok(loop):
        return {}
    n = loop["scale"]
    return {s: (r["median_s"] - loop["median_s"]) / n * 1e6 for s, r in row.items() if _ok(r) and s != "loop"}


def targets(table: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for workload, num, den, op, limit, what in TARGETS:
        row = table.get(workload, {})
        a, b = row.get(num), row.get(den)
        if a is None or b is None or not (_ok(a) and _ok(b)):
            lines.append(f"| {what} ({op} {limit}) | not measured | - |")
            continue
        value = a["median_s"] / b["median_s"]
        met = value <= limit if op == "<=" else value >= limit
        lines.append(f"| {what} ({op} {limit}) | {value:.2f}x | {'yes' if met else 'no'} |")
    us = overhead_us(table, "md5-fine").get("gearshift-process")
    if us is not None:
        lines.append(
            f"| process mode overhead per item on md5-fine (< 1 µs) | {us:.2f} µs | {'yes' if us < 1 else 'no'} |"
        )
    mem = table.get("http-async-10k", {}).get("gearshift-async")
    if mem is not None and _ok(mem):
        peak = mem["peak_rss_mib"]
        lines.append(
            f"| async 10k requests: peak memory (< 200 MiB) | {peak:.0f} MiB | {'yes' if peak < 200 else 'no'} |"
        )
    return lines


def _paired(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Median over rounds of ``a``'s time over ``b``'s in the same round (rounds are interleaved)."""
    pairs = list(zip(a["times"], b["times"]))
    return statistics.median(x / y for x, y in pairs) if pairs else math.nan


def contests(table: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Issue 7's per-model rule: each gearshift mode against the best peer of its model; auto against all."""
    lines = [
        "| workload | gearshift | rival | rounds | time ratio | paired | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for w, row in table.items():
        done = {s: r for s, r in row.items() if _ok(r)}
        for s, r in done.items():
            if not s.startswith("gearshift-"):
                continue
            if s == "gearshift-auto":
                rivals = [p for p in done.values() if p is not r]
                limit = 1.10
            else:
                rivals = [
                    p for p in done.values() if p["model"] == r["model"] and not p["strategy"].startswith("gearshift-")
                ]
                limit = 1.0
            if not rivals:
                continue
            rival = min(rivals, key=lambda p: p["median_s"])
            ratio = r["median_s"] / rival["median_s"]
            paired = _paired(r, rival)
            met = "yes" if ratio <= limit else ("noise" if min(ratio, paired) <= limit * 1.05 else "no")
            rounds = f"{len(r['times'])}/{len(rival['times'])}"
            lines.append(
                f"| {w} | {s} | {rival['strategy']} | {rounds} | {ratio:.2f} | {paired:.2f} | {met} (<= {limit:g}) |"
            )
    return lines


def _cold_start(table: dict[str, dict[str, dict[str, Any]]], workloads: list[str]) -> list[str]:
    """auto's warm-up run (its first call, pools cold) against its timed run (pools warm)."""
    rows = []
    for w in workloads:
        rec = table[w].get("gearshift-auto", {})
        if not _ok(rec) or not rec.get("cold_times"):
            continue
        cold = statistics.median(rec["cold_times"])
        second = statistics.median(rec["second_times"]) if rec.get("second_times") else None
        steady = rec.get("steady_median_s")
        rivals = [
            r
            for name, r in table[w].items()
            if name.startswith("gearshift-") and name != "gearshift-auto" and _ok(r) and "median_s" in r
        ]
        best = min((r["median_s"] for r in rivals), default=None)
        rows.append(
            f"| {w} | {_seconds(cold)} | {_seconds(second) if second is not None else 'not recorded'} "
            f"| {_seconds(rec['median_s'])} | {_seconds(steady) if steady is not None else 'not recorded'} "
            f"| {f'{steady / best:.2f}' if steady is not None and best else '-'} |"
        )
    if not rows:
        return []
    return [
        "Every strategy is timed with its pools started (the warm-up). auto starts only the pool it",
        "picks, and picks from the whole job, so its warm-up is whole runs: its first call in a fresh",
        "process, which pays for the pool's start and the first imports, and its second call (a first",
        "call may run on the calling thread without loading auto, as auto rents before it buys: the",
        "second then loads auto and measures); the third is timed above. It may still rent (pay, on",
        "sync, toward a process pool) or buy (start one): ski rental buys once renting has cost the",
        "pool's start. The later calls, in the same process, show where auto settles: their median per",
        "round, and the median of those over rounds, against the fastest fixed gearshift mode's warm time.",
        "",
        "| workload | auto, first call (cold) | auto, second call | auto, third call (timed above) "
        "| auto, later calls (steady) | steady / fastest fixed |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def markdown(data: dict[str, Any]) -> str:
    meta, table = data["meta"], by_workload(data["records"])
    strategies = list(dict.fromkeys(r["strategy"] for r in data["records"]))
    workloads = list(table)
    out = [
        f"# Benchmark results ({'quick' if meta['quick'] else 'full'})",
        "",
        f"`{meta['command']}` on {meta['date']}, commit {meta.get('commit', 'not recorded')}, host "
        f"{meta.get('host', {}).get('name', 'not recorded')}: Python "
        f"{meta['python']['version'] if isinstance(meta['python'], dict) else meta['python']}, {meta['cpus']} usable CPUs, "
        f"{meta['platform']}, load average at start {', '.join(f'{x:.1f}' for x in meta['loadavg_at_start'])}. "
        f"Median of up to {meta['repeats']} timed runs "
        f"({meta.get('contest_repeats', meta['repeats'])} for the strategies within "
        f"{meta.get('contender', 1.25):g}x of the best of all or of their model) after an untimed warm-up (auto: a whole run, "
        "see its cold start below); each cell is the ratio to "
        "the fastest strategy on that workload (1.00x = fastest), with the median wall time.",
        "",
        "## Time (ratio to the best, median wall time)",
        "",
        "| strategy | " + " | ".join(workloads) + " |",
        "|---|" + "---|" * len(workloads),
    ]
    for s in strategies:
        out.append(f"| {s} | " + " | ".join(_cell(table[w].get(s)) for w in workloads) + " |")
    out += ["", "Scales: " + ", ".join(f"{w} {next(iter(table[w].values()))['scale']:,}" for w in workloads), ""]
    out += ["## Issue 7 targets", "", *targets(table), ""]
    out += [
        "## Each gearshift mode against the best peer of its model; auto against the fastest of all",
        "",
        "`time ratio`: of the medians; `paired`: median over rounds of the two times in the same round",
        "(neighbours in time, slowed alike by the host); `rounds`: timed runs of each. `noise`: over the",
        "limit by less than 5 % on the better of the two estimates.",
        "",
        *contests(table),
        "",
    ]
    out += ["## Per-task overhead over the plain loop (µs per task, tiny tasks)", ""]
    tiny = [w for w in ("tiny", "md5-fine") if w in table]
    if tiny:
        ov = {w: overhead_us(table, w) for w in tiny}
        out += ["| strategy | " + " | ".join(tiny) + " |", "|---|" + "---|" * len(tiny)]
        for s in strategies:
            cells = [f"{ov[w][s]:.2f}" if s in ov[w] else "" for w in tiny]
            if any(cells):
                out.append(f"| {s} | " + " | ".join(cells) + " |")
    cold = _cold_start(table, workloads)
    if cold:
        out += ["", "## auto's first call in a fresh process (cold pools)", "", *cold]
    out += ["", "## Peak memory of the whole process tree (MiB)", ""]
    out += ["| strategy | " + " | ".join(workloads) + " |", "|---|" + "---|" * len(workloads)]
    for s in strategies:
        cells = [f"{table[w][s]['peak_rss_mib']:.0f}" if _ok(table[w].get(s, {})) else "" for w in workloads]
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    notes = [
        f"- {w} / {s}: {r.get('skipped') or r.get('error')}"
        for w, row in table.items()
        for s, r in row.items()
        if not _ok(r) and not str(r.get("skipped", "")).startswith(("needs an", "cannot run"))
    ]
    if notes:
        out += ["", "## Skipped or failed", "", *notes]
    params = [f"- {w} / {s}: {r['params']}" for w, row in table.items() for s, r in row.items() if r.get("params")]
    sweeps = [
        f"- {w}: " + ", ".join(f"{k}: {v:.3f} s" for k, v in r["sweep"].items())
        for w, row in table.items()
        for r in row.values()
        if r.get("sweep")
    ]
    if sweeps:
        out += ["", "## cf-process-best chunk-size sweep (chunksize: one timed run)", "", *sweeps]
    if params:
        out += ["", "## Parameters", "", *params]
    return "\n".join(out) + "\n"


def chart(data: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = by_workload(data["records"])
    workloads = list(table)
    cols = 3
    rows = math.ceil(len(workloads) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.6 * rows), squeeze=False)
    for ax, w in zip(axes.flat, workloads):
        row = [(s, r) for s, r in table[w].items() if _ok(r)]
        row.sort(key=lambda sr: sr[1]["ratio"], reverse=True)
        names = [s for s, _ in row]
        ratios = [r["ratio"] for _, r in row]
        colors = ["#d95f02" if s.startswith("gearshift") else "#7570b3" for s in names]
        ax.barh(names, ratios, color=colors)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title(f"{w} ({next(iter(table[w].values()))['scale']:,} items)", fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("time / fastest (log scale, lower is better)", fontsize=8)
    for ax in list(axes.flat)[len(workloads) :]:
        ax.axis("off")
    fig.suptitle("gearshift (orange) vs peers (purple): wall time relative to the fastest strategy", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(json_path: str) -> None:
    data = load(json_path)
    base = os.path.splitext(json_path)[0]
    with open(base + ".md", "w") as f:
        f.write(markdown(data))
    try:
        chart(data, base + ".png")
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')")


if __name__ == "__main__":
    write(sys.argv[1])
