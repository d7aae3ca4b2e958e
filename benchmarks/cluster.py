"""Cost of a cluster: per-task overhead, transfer cost and break-even task size of
mode="dask" and mode="ray" against mode="process", all with 2 workers on this machine.

    python benchmarks/cluster.py [--quick]

Writes benchmarks/results/cluster.json and cluster.md.  Every figure is the
median of --repeat runs, measured through gearshift.map (the whole path: runner,
backend, engine), with warm workers (one untimed warm-up run per mode first).

- overhead per task: N calls of a function that does nothing, one item per
  task (chunksize=1): wall time / N.  What one round trip through the engine costs.
- transfer: tasks carrying 1 MiB of bytes each way; seconds per MiB beyond the
  null task.
- break-even: items of t seconds of CPU work (a busy loop), one per task, for t
  from 50 us to 100 ms; speed-up over sync (one process, no overhead) for each
  mode.  The break-even task size is the t where the speed-up crosses 1 (log
  interpolation); "within 10% of process" is the t from which the engine is no
  more than 10% slower than process mode.
- startup: seconds to start the local cluster (LocalCluster, ray.init) and run one task.

The planner's cluster rule (gearshift._auto.cluster_costs.cluster_worthwhile) rests on these numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _meta import run_meta

import gearshift
from gearshift._cpu import usable_cpus

WORKERS = 2
MODES = ("process", "dask", "ray")
RESULTS = Path(__file__).resolve().parent / "results"
#: items per point of the sweep, at most
MAX_ITEMS = 300


def noop(x: Any) -> Any:
    return x


def spin(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def echo_size(blob: bytes) -> bytes:
    return blob


def _timed(fn: Any, items: list[Any], mode: str, chunksize: int = 1) -> float:
    t0 = time.perf_counter()
    gearshift.map(fn, items, mode=mode, workers=WORKERS, chunksize=chunksize)
    return time.perf_counter() - t0


def _median(fn: Any, items: list[Any], mode: str, repeat: int, chunksize: int = 1) -> float:
    return statistics.median(_timed(fn, items, mode, chunksize) for _ in range(repeat))


def startup(mode: str) -> float:
    t0 = time.perf_counter()
    gearshift.map(noop, [0], mode=mode, workers=WORKERS)  # the shared backend starts here
    return time.perf_counter() - t0


def overhead_per_task(mode: str, n: int, repeat: int) -> float:
    return _median(noop, list(range(n)), mode, repeat) / n


def transfer_per_mib(mode: str, n: int, repeat: int) -> float:
    blob = os.urandom(1 << 20)
    with_payload = _median(echo_size, [blob] * n, mode, repeat) / n
    null = _median(noop, [0] * n, mode, repeat) / n
    return max(0.0, with_payload - null)


def sweep(sizes: list[float], repeat: int, budget: float) -> dict[str, dict[str, float]]:
    """Wall time per mode for each task size; ``budget`` is the sync time aimed at per point."""
    out: dict[str, dict[str, float]] = {}
    for t in sizes:
        # Capped: one task per item, and a dask round trip can cost 10 ms on a loaded machine.
        n = max(4 * WORKERS, min(MAX_ITEMS, round(budget / t)))
        items = [t] * n
        row = {"items": float(n), "sync": _median(spin, items, "sync", repeat)}
        for mode in MODES:
            row[mode] = _median(spin, items, mode, repeat)
        out[f"{t:g}"] = row
        print(f"  t={t * 1e3:8.3f} ms  n={n:6d}  " + "  ".join(f"{m}={row[m]:.3f}s" for m in ("sync", *MODES)))
    return out


def crossing(points: list[tuple[float, float]], level: float) -> float | None:
    """The task size where ``value`` first reaches ``level`` (log-log interpolation), or None."""
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        if v0 >= level:
            return t0
        if v1 >= level:
            f = (math.log(level) - math.log(v0)) / (math.log(v1) - math.log(v0))
            return math.exp(math.log(t0) + f * (math.log(t1) - math.log(t0)))
    return points[0][0] if points and points[0][1] >= level else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats (a smoke run)")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    load_before = os.getloadavg()
    sizes = [1e-4, 1e-3, 1e-2] if args.quick else [5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
    budget = 0.2 if args.quick else 0.6

    print(f"startup (cold, {WORKERS} workers):")
    starts = {mode: startup(mode) for mode in MODES}
    for mode, s in starts.items():
        print(f"  {mode}: {s:.2f} s")
    for mode in MODES:  # warm-up: workers imported everything they need
        _timed(noop, list(range(50)), mode)

    print("overhead per task (null function, chunksize=1):")
    n_null = 200 if args.quick else 500
    overhead = {mode: overhead_per_task(mode, n_null, repeat) for mode in ("sync", *MODES)}
    for mode, o in overhead.items():
        print(f"  {mode}: {o * 1e6:.0f} us")

    print("transfer (1 MiB each way per task):")
    n_blob = 10 if args.quick else 40
    transfer = {mode: transfer_per_mib(mode, n_blob, repeat) for mode in MODES}
    for mode, s in transfer.items():
        print(f"  {mode}: {s * 1e3:.2f} ms per MiB round trip")

    print("break-even sweep (busy loop of t seconds per item, chunksize=1):")
    table = sweep(sizes, repeat, budget)
    break_even: dict[str, dict[str, float | None]] = {}
    for mode in MODES:
        speedup = [(float(t), row["sync"] / row[mode]) for t, row in table.items()]
        vs_process = [(float(t), row["process"] / row[mode]) for t, row in table.items()]
        break_even[mode] = {
            "vs_sync_seconds": crossing(speedup, 1.0),
            "within_10pct_of_process_seconds": crossing(vs_process, 0.9) if mode != "process" else None,
            "best_speedup": max(s for _, s in speedup),
        }

    result = {
        "meta": run_meta(None, "benchmarks/cluster.py"),
        "command": "python benchmarks/cluster.py" + (" --quick" if args.quick else ""),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "usable_cpus": usable_cpus(),
        },
        "versions": _versions(),
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "workers": WORKERS,
        "repeat": repeat,
        "startup_seconds": starts,
        "overhead_per_task_seconds": overhead,
        "transfer_seconds_per_mib": transfer,
        "sweep_wall_seconds": table,
        "break_even": break_even,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "cluster.md").write_text(_markdown(result))
    print((RESULTS / "cluster.md").read_text())


def _versions() -> dict[str, str]:
    import distributed
    import ray

    return {"gearshift": gearshift.__version__, "distributed": distributed.__version__, "ray": ray.__version__}


def _fmt_s(value: float | None) -> str:
    if value is None:
        return "not reached"
    return f"{value * 1e3:.2f} ms" if value >= 1e-3 else f"{value * 1e6:.0f} us"


def _markdown(r: dict[str, Any]) -> str:
    lines = [
        "# Cluster cost: dask and ray against process mode",
        "",
        f"`{r['command']}` — {r['workers']} workers on this machine ({r['machine']['usable_cpus']} usable CPUs, "
        f"Python {r['machine']['python']}, distributed {r['versions']['distributed']}, ray {r['versions']['ray']}), "
        f"median of {r['repeat']}; load average {r['load_average_1min']['before']:.1f} before, "
        f"{r['load_average_1min']['after']:.1f} after (a shared machine: compare columns of one run, not runs).",
        "",
        "| mode | startup | overhead per task | transfer per MiB (round trip) | break-even task size vs sync | "
        "task size within 10% of process | best speed-up over sync |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        b = r["break_even"][mode]
        lines.append(
            f"| {mode} | {r['startup_seconds'][mode]:.2f} s | {_fmt_s(r['overhead_per_task_seconds'][mode])} | "
            f"{_fmt_s(r['transfer_seconds_per_mib'][mode])} | {_fmt_s(b['vs_sync_seconds'])} | "
            f"{_fmt_s(b['within_10pct_of_process_seconds']) if mode != 'process' else '-'} | {b['best_speedup']:.2f}x |"
        )
    lines += [
        "",
        "Wall seconds per task size (chunksize=1, busy loop of t per item):",
        "",
        "| t | items | sync | " + " | ".join(MODES) + " |",
        "|---|---|---|" + "---|" * len(MODES),
    ]
    for t, row in r["sweep_wall_seconds"].items():
        lines.append(
            f"| {_fmt_s(float(t))} | {int(row['items'])} | {row['sync']:.3f} | "
            + " | ".join(f"{row[m]:.3f}" for m in MODES)
            + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
