"""The chart for ``gearshift bench --plot``: speed-up over sync per workload and mode.

matplotlib is an optional extra (``pip install 'gearshift[plot]'``), imported
only here, with the Agg backend so no display is needed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ._inputs import UsageError

COLOURS = {"sync": "#8c8c8c", "async": "#4c72b0", "thread": "#55a868", "process": "#c44e52", "auto": "#dd8452"}


def check_matplotlib() -> None:
    """Fail early, before the benchmark runs, when the chart cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install 'gearshift[plot]'")


def plot_bench(report: dict[str, Any], path: str) -> None:
    """Draw one group of bars per workload (one bar per mode, log scale) and save it as PNG."""
    check_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    modes = list(results[0]["modes"])
    fig, ax = plt.subplots(figsize=(max(8.0, 2.5 * len(results)), 6.0), dpi=110)
    width = 0.8 / len(modes)
    for j, mode in enumerate(modes):
        xs = [i + (j - (len(modes) - 1) / 2) * width for i in range(len(results))]
        ys = [r["modes"][mode]["speedup_over_sync"] for r in results]
        bars = ax.bar(xs, ys, width * 0.95, label=mode, color=COLOURS.get(mode), edgecolor="black", linewidth=0.4)
        for bar, r, y in zip(bars, results, ys):
            cell = r["modes"][mode]
            if cell["estimated"]:
                bar.set_hatch("//")
            label = f"{y:.1f}x" if y < 10 else f"{y:.0f}x"
            weight = "bold" if mode == r["winner"] else "normal"
            ax.annotate(
                label, (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom", fontsize=7,
                fontweight=weight, xytext=(0, 2), textcoords="offset points",
            )  # fmt: skip
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_ylabel("speed-up over sync (log scale, higher is better)")
    labels = [
        f"{r['title']}\n{r['items']:,} items\nwinner: {r['winner']}\nauto chose: {r['auto']['mode']}" for r in results
    ]
    ax.set_xticks(range(len(results)))
    ax.set_xticklabels(labels, fontsize=8)
    m = report["machine"]
    ax.set_title(
        f"gearshift bench{' --quick' if report['quick'] else ''}: which model wins on this machine "
        f"({m['cpus']} CPUs, Python {m['python']})",
        fontsize=10,
    )
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=COLOURS.get(m), edgecolor="black", linewidth=0.4, label=m) for m in modes]
    ax.legend(handles=handles, title="mode", fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.margins(y=0.15)
    if any(c["estimated"] for r in results for c in r["modes"].values()):
        fig.text(0.01, 0.01, "hatched: stopped at the time budget, time extrapolated", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
