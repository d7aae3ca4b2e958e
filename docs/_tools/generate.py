"""Generate the parts of the docs that come from files: benchmark tables and charts, and the "More" toctree.

Run by ``docs/build.sh`` before Sphinx; writes only into ``docs/_generated/`` (not committed).

- Every ``benchmarks/results/*.json`` that records its commit (see ``benchmarks/_meta.py``)
  becomes a table under ``_generated/``, headed by its command, commit, host, Python, date and
  load; files that record no commit are listed as such, and no figure is taken from them.
- ``bench-quick.json`` also becomes the chart of "Which model when" (``_generated/models.png``);
  ``--readme-chart`` writes the same chart to ``docs/images/bench-quick.png``, the README's.
- Pages that other branches add at the top of ``docs/`` (typing, integrations, tracing,
  performance, ...) and that ``index.md`` does not list go into the "More" toctree, so the
  build neither fails when they are absent nor when they arrive.

Nothing is timed here: the build takes seconds. Re-measure with the commands the tables name.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = DOCS / "_generated"
MODES = ("sync", "async", "thread", "process", "auto")
COLORS = {"sync": "#8c8c8c", "async": "#4c9f70", "thread": "#3d7cc9", "process": "#d9822b", "auto": "#8e5bb5"}
#: pages other branches add; listed first in "More", in this order, when present
EXPECTED_EXTRA = ("typing", "integrations", "tracing", "performance")


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def host_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The host's facts: a dict (benchmarks/_meta.py), or a results file that recorded only its name."""
    host = meta.get("host", {})
    return host if isinstance(host, dict) else {"name": host}


def provenance(meta: dict[str, Any]) -> str:
    """One paragraph: what ran, on which code, machine and interpreter, when, under what load."""
    host = host_of(meta)
    py = meta.get("python", {})
    pyv = py.get("version", "?") if isinstance(py, dict) else py
    impl = py.get("implementation", "CPython") if isinstance(py, dict) else "CPython"
    load_start = ", ".join(f"{x:.1f}" for x in meta.get("loadavg_at_start", []))
    load_end = ", ".join(f"{x:.1f}" for x in meta.get("loadavg_at_end", []))
    commit = meta.get("commit", "not recorded")
    return (
        f"`{meta.get('command', '?')}` at commit `{commit[:12]}{'+dirty' if commit.endswith('+dirty') else ''}` "
        f"on {meta.get('date', meta.get('when', '?'))}; host `{host.get('name', '?')}` "
        f"({host.get('usable_cpus', '?')} usable CPUs, {host.get('cpu', '?')}, {host.get('platform', '?')}); "
        f"{impl} {pyv}; load average {load_start} at the start"
        + (f", {load_end} at the end" if load_end else "")
        + "."
        + busy(meta)
    )


def busy(meta: dict[str, Any]) -> str:
    """A warning when other work competed for the CPUs during the run."""
    loads = [*meta.get("loadavg_at_start", [])[:1], *meta.get("loadavg_at_end", [])[:1]]
    cpus = host_of(meta).get("usable_cpus") or 1
    if not loads or max(loads) <= cpus:
        return ""
    return (
        f" **A busy machine:** a load average of {max(loads):.0f} on {cpus} CPUs means other work competed for "
        "them during this run, so times and ratios swing with it; the run is reported as measured."
    )


def fmt_s(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


#: the models a workload should favour, by what the models are (see docs/models.md)
EXPECTED = {
    "cpu-loop": {"process"},
    "zlib-small-args": {"thread", "process"},
    "http-blocking": {"thread", "async"},
    "http-async": {"async"},
    "tiny": {"sync"},
}


def surprises(data: dict[str, Any]) -> str:
    """Say so when this run's winner is not the model the workload should favour."""
    odd = [
        f"{row['title']} (fastest: {row['winner']}; expected: {' or '.join(sorted(EXPECTED[row['workload']]))})"
        for row in data["results"]
        if row["workload"] in EXPECTED and row["winner"] not in EXPECTED[row["workload"]]
    ]
    if not odd:
        return "In this run every workload's fastest mode is the model it should favour."
    load = data["meta"].get("loadavg_at_start", [0])[0]
    return (
        f"In this run the fastest mode is not the expected one on {'; '.join(odd)}. The machine is shared "
        f"(load average {load:.1f} at the start on {host_of(data['meta']).get('usable_cpus', '?')} CPUs), "
        "and modes are timed one after another, so a burst of other work can favour whichever ran during a lull; "
        "run `gearshift bench --quick` on a quiet machine of yours to see the models' own shape."
    )


def bench_quick(data: dict[str, Any]) -> str:
    rows = data["results"]
    lines = [
        provenance(data["meta"]),
        f"Median of {data['repeat']} timed runs per cell (every run is in the file); "
        "`~` marks a sync run stopped at its time budget and extrapolated from the items it finished.",
        "",
        "| workload | items | " + " | ".join(MODES) + " | fastest | auto chose |",
        "|---|---:|" + "---:|" * len(MODES) + "---|---|",
    ]
    for row in rows:
        cells = []
        for mode in MODES:
            cell = row["modes"][mode]
            mark = "~" if cell["estimated"] else ""
            text = f"{mark}{fmt_s(cell['seconds'])} ({cell['speedup_over_sync']:.1f}x)"
            cells.append(f"**{text}**" if mode == row["winner"] else text)
        auto = row["auto"]
        lines.append(
            f"| {row['title']} | {row['items']:,} | " + " | ".join(cells) + f" | {row['winner']} | "
            f"{auto['mode']} x{auto['workers']} |"
        )
    lines += [
        "",
        "Time per mode, then its speed-up over sync (higher is better); the fastest fixed mode in bold.",
        "",
        surprises(data),
    ]
    return "\n".join(lines) + "\n"


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["results"]
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=110)
    width = 0.8 / len(MODES)
    for i, mode in enumerate(MODES):
        xs = [j + (i - (len(MODES) - 1) / 2) * width for j in range(len(rows))]
        ys = [row["modes"][mode]["speedup_over_sync"] for row in rows]
        ax.bar(xs, ys, width, label=mode, color=COLORS[mode])
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([row["title"].replace(", ", ",\n") for row in rows], fontsize=9)
    ax.set_ylabel("speed-up over sync (log scale)")
    meta = data["meta"]
    host = host_of(meta)
    ax.set_title(
        f"gearshift bench --quick: commit {meta['commit'][:8]}, {host.get('usable_cpus', '?')} CPUs, "
        f"Python {meta['python']['version']}, {meta['date'][:10]}, load average {meta['loadavg_at_start'][0]:.0f}",
        fontsize=10,
    )
    ax.legend(ncol=len(MODES), fontsize=9, loc="upper left", frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def shm_chart(data: dict[str, Any], path: Path) -> None:
    """Milliseconds per item against buffer size: the pipe, shared memory, and threads (no copy at all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    sizes = [r["size_bytes"] / 1024 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    for key, label, color in (
        ("pipe", "process, through the pipe", COLORS["process"]),
        ("shm", "process, through shared memory", COLORS["auto"]),
        ("thread", "thread (nothing copied)", COLORS["thread"]),
    ):
        ax.plot(sizes, [r["median_ms_per_item"][key] for r in rows], marker="o", label=label, color=color)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{int(k)} KiB" if k < 1024 else f"{int(k) // 1024} MiB" for k in sizes])
    ax.minorticks_off()
    ax.set_xlabel("buffer per item")
    ax.set_ylabel("ms per item (log scale)")
    meta = data["meta"]
    ax.set_title(
        f"shm_threshold.py: commit {meta['commit'][:8]}, {meta['date'][:10]}, "
        f"load average {meta['loadavg_at_start'][0]:.0f}",
        fontsize=9,
    )
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def planner(data: dict[str, Any]) -> str:
    rows = data["workloads"]
    choices: list[str] = []
    for row in rows:
        for label in row["times"]:
            if label not in choices and label != "auto":
                choices.append(label)
    lines = [
        provenance(data["meta"]),
        "Median seconds per choice (every round is in the file); `auto/oracle` is auto's time over "
        "the fastest fixed choice (the oracle), `paired` the median of the per-round ratios.",
        "",
        "| workload | items | " + " | ".join(choices) + " | auto | oracle | auto/oracle | paired |",
        "|---|---:|" + "---:|" * len(choices) + "---:|---|---:|---:|",
    ]
    for row in rows:
        cells = []
        for label in choices:
            t = row["times"].get(label)
            done = row["finished"].get(label, True)
            cells.append("" if t is None else (f"{t:.3g}" if done else f">{t:.3g}"))
        lines.append(
            f"| {row['workload']} | {row['items']:,} | " + " | ".join(cells) + f" | {row['times']['auto']:.3g} | "
            f"{row['oracle']} | **{row['auto_over_oracle']:.2f}** | {row['paired']:.2f} |"
        )
    worst = max(rows, key=lambda r: r["auto_over_oracle"])
    met = worst["auto_over_oracle"] <= 1.10 and data["geomean"] <= 1.0
    lines += [
        "",
        f"Geometric mean of auto/oracle: **{data['geomean']:.2f}**; worst: **{worst['auto_over_oracle']:.2f}** "
        f"({worst['workload']}). The targets (geometric mean at most 1.0, every workload at most 1.10) are "
        + ("**met** in this run." if met else "**missed** in this run."),
    ]
    overhead = data.get("planning_overhead") or []
    if overhead:
        keys = [k for k in overhead[0] if k not in ("job",)]
        lines += ["", "Planning overhead on small jobs (median milliseconds):", ""]
        lines += ["| job | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for r in overhead:
            lines.append(f"| {r['job']} | " + " | ".join(str(r[k]) for k in keys) + " |")
    return "\n".join(lines) + "\n"


def timeout_overhead(data: dict[str, Any]) -> str:
    lines = [
        provenance(data["meta"]),
        "",
        "| function | items | no timeout | `timeout=60` | ratio | per item, no timeout | per item, `timeout=60` |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| `{r['function']}` | {r['items']:,} | {fmt_s(r['median_no_timeout_s'])} | "
            f"{fmt_s(r['median_timeout_60_s'])} | {r['ratio']:.2f}x | {r['per_item_no_timeout_us']:.1f} µs | "
            f"{r['per_item_timeout_60_us']:.1f} µs |"
        )
    lines += ["", f"Median of {len(data['rows'][0]['no_timeout_s'])} interleaved rounds, process mode, 2 workers."]
    return "\n".join(lines) + "\n"


def shm_threshold(data: dict[str, Any]) -> str:
    lines = [
        provenance(data["meta"]),
        "",
        "| buffer | items | pipe (ms/item) | shared memory (ms/item) | threads (ms/item) | pipe / shared memory |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        ms = r["median_ms_per_item"]
        size = r["size_bytes"]
        label = f"{size >> 20} MiB" if size >= 1 << 20 else f"{size >> 10} KiB"
        lines.append(
            f"| {label} | {r['items']} | {ms['pipe']:.3f} | {ms['shm']:.3f} | {ms['thread']:.3f} | "
            f"{r['pipe_over_shm']:.2f}x |"
        )
    rounds = len(data["rows"][0]["rounds_s"]["pipe"])
    lines += ["", f"Median of {rounds} alternating rounds; crc32 + sha256 of each buffer in process mode."]
    return "\n".join(lines) + "\n"


def shared(data: dict[str, Any]) -> str:
    medians: dict[str, dict[str, float]] = data["median_s"]
    columns = list(next(iter(medians.values())))
    lines = [
        provenance(data["meta"]),
        f"{data['items']} items, {data['workers']} workers; median of the timed runs after one warm-up "
        "(a strategy slower than 10 s is timed once).",
        "",
        "| strategy | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in medians.items():
        cells = []
        for column in columns:
            best = min(r[column] for r in medians.values())
            text = f"{row[column]:.3f} s ({row[column] / best:.2f}x)"
            cells.append(f"**{text}**" if row[column] == best else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cluster(data: dict[str, Any]) -> str:
    lines = [provenance(data["meta"]), "", "| engine | round trip per task | break-even work per task |"]
    lines.append("|---|---:|---:|")
    for mode, per in data["overhead_per_task_seconds"].items():
        even = data["break_even"].get(mode, {}).get("vs_sync_seconds")
        lines.append(f"| {mode} | {per * 1e3:.2f} ms | {'' if even is None else f'{even * 1e3:.1f} ms'} |")
    return "\n".join(lines) + "\n"


RENDERERS = {
    "bench-quick.json": ("`gearshift bench --quick`", bench_quick),
    "planner.json": ("auto against every fixed choice", planner),
    "timeout_overhead.json": ("what `timeout=` costs in process mode", timeout_overhead),
    "shm_threshold.json": ("shared memory against the pipe", shm_threshold),
    "shared.json": ("`shared=` against its peers", shared),
    "cluster.json": ("clusters: round trips and break-even", cluster),
}
#: the command that writes each file, named where a page includes a table that has no file yet
COMMANDS = {
    "bench-quick.json": "python benchmarks/bench.py --quick",
    "planner.json": "python benchmarks/planner.py --quick",
    "timeout_overhead.json": "python benchmarks/timeout_overhead.py --out benchmarks/results/timeout_overhead.json",
    "shm_threshold.json": "python benchmarks/shm_threshold.py --out benchmarks/results/shm_threshold.json",
    "shared.json": "python benchmarks/shared.py --out benchmarks/results/shared.md",
    "cluster.json": "python benchmarks/cluster.py",
}


def results_pages() -> str:
    """The Benchmarks page's generated part: one section per results file."""
    parts = []
    unrecorded = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        meta = data.get("meta") or {}
        if "commit" not in meta:
            unrecorded.append(path.name)
            continue
        title, render = RENDERERS.get(path.name, (path.stem, None))
        body = render(data) if render else provenance(meta) + "\n"
        parts.append(f"### {title}\n\nFrom `benchmarks/results/{path.name}`: {body}")
        (OUT / f"{path.stem}.md").write_text(body)
    if unrecorded:
        parts.append(
            "### Older results files\n\nThese files predate commit recording; they are kept for their history "
            "(see the changelog) and no figure in these pages comes from them: "
            + ", ".join(f"`{n}`" for n in unrecorded)
            + ". Re-run the command each one names to replace it.\n"
        )
    return "\n".join(parts)


def toctree_entries(index: str) -> set[str]:
    listed = set()
    for block in re.findall(r"```\{toctree\}\n(.*?)```", index, re.S):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                explicit = re.match(r"^.*<(.+)>$", line)  # "Title <docname>"
                listed.add(explicit.group(1) if explicit else line)
    return listed


def more_toctree() -> str:
    listed = toctree_entries((DOCS / "index.md").read_text())
    pages = sorted(p.stem for p in DOCS.glob("*.md") if p.stem != "index" and not p.stem.startswith("README"))
    extra = [p for p in pages if p not in listed]
    extra.sort(key=lambda p: (EXPECTED_EXTRA.index(p) if p in EXPECTED_EXTRA else len(EXPECTED_EXTRA), p))
    if not extra:
        return ""
    return "```{toctree}\n:caption: More\n:maxdepth: 2\n:hidden:\n\n" + "\n".join(extra) + "\n```\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme-chart", action="store_true", help="also write docs/images/bench-quick.png")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    for name, command in COMMANDS.items():  # what a page includes when its file is missing or unrecorded
        (OUT / f"{Path(name).stem}.md").write_text(
            f"No results file that records its commit yet: `{command}` writes `benchmarks/results/{name}`.\n"
        )
    (OUT / "more.md").write_text(more_toctree())
    (OUT / "results.md").write_text(results_pages())
    shm = load("shm_threshold.json")
    if shm is not None and "commit" in shm.get("meta", {}):
        shm_chart(shm, OUT / "shm.png")
    data = load("bench-quick.json")
    if data is not None:
        (OUT / "bench-quick.md").write_text(bench_quick(data))
        chart(data, OUT / "models.png")
        if args.readme_chart:
            chart(data, DOCS / "images" / "bench-quick.png")


if __name__ == "__main__":
    main()
