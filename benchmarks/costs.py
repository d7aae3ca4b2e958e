"""Measure the mechanism constants of auto's cost model on this machine (``_auto/costs.py``, ``COSTS``).

    python benchmarks/costs.py                      # 9 rounds -> benchmarks/results/costs.json
    python benchmarks/costs.py --rounds 5 --out /tmp/costs.json

The cost model prices a plan with a few facts about the backends: what a chunk's
round trip costs the parent (threads, processes), what the parent does per item
in process mode, how fast bytes go through a worker's pipe, what starting a
thread and a cold process pool costs.  Each is measured here through the public
``gearshift.map`` (warm shared pools, trivial items, so the mechanism is all
that is timed), over several interleaved rounds; the file records every round
and the medians, beside the values the table holds now, so the table can cite
it (its ``source`` names this file) and a reader can see how far they are.

What each measurement is:

* ``thread_chunk_seconds``: wall time per item of trivial items through warm
  threads with ``chunksize=1``: the parent hands out and collects one chunk per
  item, so this is its cost per chunk (the workers are idle most of the time).
* ``process_chunk_seconds``: the same through warm worker processes.
* ``parent_item_seconds``: wall time per item of trivial items through warm
  worker processes in chunks of 10,000: the parent's own work per item
  (pickling the item and the result, handing them on).
* ``pipe_bytes_per_second``: 1 MiB items returned unchanged by one warm
  worker: bytes moved both ways per second.
* ``thread_start_seconds``: starting and joining one ``threading.Thread``.
* ``process_start_seconds``: a fresh interpreter (gearshift imported) running
  one trivial item per CPU in process mode, minus the same interpreter running
  them in sync mode: starting a cold pool of one worker per CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from _meta import compile_bytecode, run_meta, write

import gearshift
from gearshift._auto.costs import COSTS

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
MIB = 1 << 20


def trivial(x: Any) -> Any:
    return x


def _per_item(mode: str, items: int, chunksize: int, workers: int, payload: Any = None) -> float:
    data = range(items) if payload is None else [payload] * items
    start = time.perf_counter()
    out = gearshift.map(trivial, data, mode=mode, workers=workers, chunksize=chunksize)
    elapsed = time.perf_counter() - start
    assert len(out) == items
    return elapsed / items


def _thread_start(count: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(count):
        t = threading.Thread(target=int)
        t.start()
        t.join()
    return (time.perf_counter() - start) / count


_COLD = (
    "import sys, time\nimport gearshift\nstart = time.perf_counter()\n"
    "gearshift.map(abs, range({cpus}), mode=sys.argv[1], chunksize=1)\n"
    "print(time.perf_counter() - start)\n"
)


def _cold_start(cpus: int) -> float:
    """A cold pool's start: one fresh interpreter in process mode, one in sync mode, the difference."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])))
    times = {}
    for mode in ("process", "sync"):
        out = subprocess.run(
            [sys.executable, "-c", _COLD.format(cpus=cpus), mode],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        times[mode] = float(out.stdout.strip().splitlines()[-1])
    return times["process"] - times["sync"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "costs.json"))
    args = parser.parse_args(argv)
    meta = run_meta(argv)
    meta["bytecode"] = compile_bytecode(SRC)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Warm the shared pools first: the per-chunk figures are those of running pools.
    for mode in ("thread", "process"):
        gearshift.map(trivial, range(100), mode=mode, workers=cpus, chunksize=1)
    gearshift.map(trivial, range(4), mode="process", workers=1, chunksize=1)
    measures: dict[str, Callable[[], float]] = {
        "thread_chunk_seconds": lambda: _per_item("thread", 5_000, 1, cpus),
        "process_chunk_seconds": lambda: _per_item("process", 5_000, 1, cpus),
        "parent_item_seconds": lambda: _per_item("process", 200_000, 10_000, cpus),
        "pipe_bytes_per_second": lambda: 2 * MIB / _per_item("process", 64, 1, 1, payload=bytes(MIB)),
        "thread_start_seconds": _thread_start,
        "process_start_seconds": lambda: _cold_start(cpus),
    }
    rounds: dict[str, list[float]] = {name: [] for name in measures}
    for r in range(args.rounds):
        names = list(measures)
        names = names[r % len(names) :] + names[: r % len(names)]  # a different one first each round
        for name in names:
            rounds[name].append(measures[name]())
        print(f"round {r + 1}/{args.rounds}", flush=True)
    results = {}
    for name, values in rounds.items():
        median = statistics.median(values)
        results[name] = {
            "median": median,
            "rounds": values,
            "in_the_table": COSTS[name].value,
            "table_over_measured": COSTS[name].value / median,
        }
        print(
            f"{name:24} measured {median:.3g}  table {COSTS[name].value:.3g}  (table/measured {COSTS[name].value / median:.2f})"
        )
    write(args.out, meta, cpus=cpus, constants=results)
    print(f"-> {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
