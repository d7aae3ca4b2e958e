"""Drawing a trace as a per-worker Gantt chart (``gearshift trace --plot``, ``gearshift demo --timeline``).

One row per lane (thread, event-loop slot, worker process), one bar per item
or chunk; failures red, timeouts orange, crashes dark red, re-runs hatched,
retries marked x; pickling, worker starts and auto's phases in their own
colours; counters (items in flight, concurrency limit) underneath.  matplotlib
is an optional extra (``pip install 'gearshift[plot]'``), imported here only,
with the Agg backend so no display is needed.
"""

from __future__ import annotations

import html
import io
import os
from collections import defaultdict
from typing import Any

from ._inputs import UsageError
from ._plot import check_matplotlib

FORMATS = (".png", ".svg", ".html")
#: room under the axes for the legend (two rows)
LEGEND_INCHES = 0.75
COLOURS = {
    "item": "#4c72b0",
    "chunk": "#92aed6",
    "pickle": "#8172b2",
    "pool": "#b0b0b0",
    "auto": "#e6c98a",
    "failed": "#c44e52",
    "timeout": "#dd8452",
    "crashed": "#7a1f1f",
}


def check_output(path: str) -> None:
    """Refuse, before anything runs, a chart file whose kind is unknown or whose folder is missing."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"--plot {path}: the file name must end in {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--plot {path}: the folder {folder} does not exist")
    check_matplotlib()


def lanes(doc: dict[str, Any]) -> list[tuple[int, int, str]]:
    """(pid, tid, name) of every named lane, in the trace's sort order."""
    pname: dict[int, int] = {}
    tname: dict[tuple[int, int], str] = {}
    tsort: dict[tuple[int, int], int] = {}
    for e in doc["traceEvents"]:
        if e.get("ph") != "M":
            continue
        if e["name"] == "process_sort_index":
            pname[e["pid"]] = e["args"]["sort_index"]
        elif e["name"] == "thread_name":
            tname[(e["pid"], e["tid"])] = e["args"]["name"]
        elif e["name"] == "thread_sort_index":
            tsort[(e["pid"], e["tid"])] = e["args"]["sort_index"]
    keys = sorted(tname, key=lambda k: (pname.get(k[0], 1 << 30), k[0], tsort.get(k, k[1])))
    return [(pid, tid, tname[(pid, tid)]) for pid, tid in keys]


def _colour(event: dict[str, Any]) -> tuple[str, str | None]:
    """(face colour, hatch) of a bar."""
    args = event.get("args", {})
    if "error" in args:
        kind = "timeout" if args.get("timeout") else "crashed" if args.get("crashed") else "failed"
        return COLOURS[kind], None
    return COLOURS.get(event.get("cat", ""), COLOURS["item"]), ("////" if args.get("attempt", 1) > 1 else None)


def draw(ax: Any, doc: dict[str, Any], *, title: str | None = None, end: float | None = None) -> None:
    """Draw the lanes of ``doc`` on ``ax`` (time in seconds from the first event)."""
    rows = lanes(doc)
    y = {(pid, tid): len(rows) - 1 - n for n, (pid, tid, _) in enumerate(rows)}
    bars: dict[tuple[str, str | None], list[tuple[float, float, float]]] = defaultdict(list)
    labels: list[tuple[float, float, str]] = []
    marks: list[tuple[float, float]] = []
    decisions: list[tuple[float, str]] = []
    for e in doc["traceEvents"]:
        key = (e.get("pid"), e.get("tid"))
        if e.get("ph") == "X" and key in y:
            start, width = e["ts"] / 1e6, e["dur"] / 1e6
            bars[_colour(e)].append((start, width, y[key]))
            if e.get("cat") == "auto":
                labels.append((start, y[key], e["name"]))
        elif e.get("ph") == "i":
            if e.get("cat") == "retry" and key in y:
                marks.append((e["ts"] / 1e6, y[key]))
            elif e.get("name") == "plan":
                args = e.get("args", {})
                decisions.append((e["ts"] / 1e6, f"plan: {args.get('mode')} x{args.get('workers')}"))
    for (face, hatch), spans in bars.items():
        by_row: dict[float, list[tuple[float, float]]] = defaultdict(list)
        for start, width, row in spans:
            by_row[row].append((start, max(width, 1e-6)))
        for row, xs in by_row.items():
            ax.broken_barh(xs, (row - 0.4, 0.8), facecolors=face, edgecolor="black" if hatch else "white",
                           linewidth=0.4, hatch=hatch)  # fmt: skip
    for start, row, text in labels:
        ax.text(start, row, " " + text, va="center", ha="left", fontsize=7, clip_on=True)
    if marks:
        ax.plot([m[0] for m in marks], [m[1] for m in marks], "kx", markersize=6, label="retry")
    for at, text in decisions:
        ax.axvline(at, color="black", linestyle="--", linewidth=0.7)
        ax.text(at, len(rows) - 0.5, " " + text, fontsize=7, va="top")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_short(name) for _, _, name in reversed(rows)], fontsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    if end is not None:
        ax.set_xlim(0, end)
    ax.grid(axis="x", linewidth=0.3, alpha=0.6)
    if title:
        ax.set_title(title, fontsize=9, loc="left")


def _short(name: str) -> str:
    """A lane's label, cut in the middle when long: its end (the slot) tells lanes apart."""
    return name if len(name) <= 52 else name[:26] + "..." + name[-23:]


def end_of(doc: dict[str, Any]) -> float:
    """Seconds from the first event to the last one's end."""
    return max(float(e["ts"] + e.get("dur", 0)) / 1e6 for e in doc["traceEvents"] if e.get("ph") != "M")


def _counters(ax: Any, doc: dict[str, Any], end: float) -> None:
    series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for e in doc["traceEvents"]:
        if e.get("ph") == "C":
            xs, ys = series[e["name"]]
            xs.append(e["ts"] / 1e6)
            ys.append(next(iter(e["args"].values())))
    for name, (xs, ys) in series.items():
        ax.step([*xs, end], [*ys, ys[-1]], where="post", label=name, linewidth=0.9)
    ax.set_xlim(0, end)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("seconds")
    ax.grid(linewidth=0.3, alpha=0.6)


def _legend(fig: Any) -> None:
    from matplotlib.patches import Patch

    handles = [
        Patch(facecolor=COLOURS["item"], label="item"),
        Patch(facecolor=COLOURS["chunk"], label="chunk of small items"),
        Patch(facecolor=COLOURS["failed"], label="failed"),
        Patch(facecolor=COLOURS["timeout"], label="timed out"),
        Patch(facecolor=COLOURS["crashed"], label="worker crashed"),
        Patch(facecolor="white", edgecolor="black", hatch="////", label="re-run (retry)"),
        Patch(facecolor=COLOURS["pickle"], label="pickle / unpickle"),
        Patch(facecolor=COLOURS["pool"], label="worker start"),
        Patch(facecolor=COLOURS["auto"], label="auto phase"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False)


def _pyplot() -> Any:
    check_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trace(doc: dict[str, Any], path: str, *, title: str | None = None) -> None:
    """Draw one trace (lanes, then counters when it has any) to ``path`` (.png, .svg or .html)."""
    plt = _pyplot()
    rows = len(lanes(doc))
    has_counters = any(e.get("ph") == "C" for e in doc["traceEvents"])
    heights = [max(2.0, 0.28 * rows)] + ([1.3] if has_counters else [])
    fig, axes = plt.subplots(
        len(heights), 1, figsize=(11, sum(heights) + 1.4), dpi=110, sharex=True,
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )  # fmt: skip
    end = end_of(doc)
    draw(axes[0][0], doc, title=title, end=end)
    if has_counters:
        _counters(axes[1][0], doc, end)
    else:
        axes[0][0].set_xlabel("seconds")
    _legend(fig)
    fig.tight_layout(rect=(0, LEGEND_INCHES / fig.get_figheight(), 1, 1))
    _save(fig, path, title or os.path.basename(path))
    plt.close(fig)


def plot_side_by_side(panels: list[tuple[str, dict[str, Any]]], path: str, *, title: str) -> None:
    """Draw several traces one above the other on one time scale (``gearshift demo --timeline``)."""
    plt = _pyplot()
    heights = [max(1.2, 0.3 * len(lanes(doc))) for _, doc in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(11, sum(heights) + 1.6), dpi=110, sharex=True,
        gridspec_kw={"height_ratios": heights}, squeeze=False,
    )  # fmt: skip
    end = max(end_of(doc) for _, doc in panels)
    for ax, (name, doc) in zip((a[0] for a in axes), panels):
        draw(ax, doc, title=name, end=end)
    axes[-1][0].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    _legend(fig)
    fig.tight_layout(rect=(0, LEGEND_INCHES / fig.get_figheight(), 1, 1))
    _save(fig, path, title)
    plt.close(fig)


def _save(fig: Any, path: str, title: str) -> None:
    if not path.lower().endswith(".html"):
        fig.savefig(path)
        return
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    body = svg.getvalue()
    body = body[body.index("<svg") :]  # drop the XML prolog: the SVG sits inline in the page
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>\n"
                f"<body style='font-family: sans-serif'>\n<h3>{html.escape(title)}</h3>\n{body}\n"
                "<p>Open the trace itself in the Perfetto UI or chrome://tracing to zoom in.</p>\n"
                "</body></html>\n")  # fmt: skip
