"""One measurement, in a fresh process: a strategy on a workload, one timed run.

Run by ``benchmarks/run.py`` (never by hand): reads a JSON spec from argv,
prints one JSON line with the time.  Running each measurement in its own
process keeps peak memory per strategy and lets the parent kill a run that
exceeds its time budget, with everything it started.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strategies import CPUS, STRATEGIES

from gearshift._bench import get
from gearshift._bench.servers import raise_fd_limit

#: a best-chunk sweep tries sizes giving about this many chunks per worker
SWEEP_CHUNKS_PER_WORKER = (1, 4, 16, 64, 256, 1024)
#: and skips sizes that would make more chunks than this (each costs ~100 µs)
SWEEP_MAX_CHUNKS = 20_000


def _time(strategy: object, fn: object, items: list[object]) -> tuple[float, list[object]]:
    gc.collect()
    t0 = time.perf_counter()
    results = strategy.run(fn, items)  # type: ignore[attr-defined]
    return time.perf_counter() - t0, results


def main() -> None:
    spec = json.loads(sys.argv[1])
    raise_fd_limit()
    workload = get(spec["workload"])
    items = workload.items(spec["scale"], spec.get("url"))
    fn = workload.fn
    cls = STRATEGIES[spec["strategy"]]
    budget = spec["budget"]
    out: dict[str, object] = {}
    try:
        params: dict[str, object] = {}
        if cls.name == "cf-process-best":
            chunksize = spec.get("chunksize")
            if chunksize is None:  # the first round sweeps, later rounds reuse its choice
                chunksize = _sweep(cls, fn, items, budget / 2, out)
            params["chunksize"] = out["chunksize"] = chunksize
        with cls(**params) as strategy:
            # Warm-up (untimed): start pools and import what the function needs.  A few
            # items start a fixed mode's pool; auto starts only the pool it picks, and it
            # picks from the whole job, so its warm-up is whole runs: its first call in a
            # fresh process (cold pools included), then its second, as both are reported.
            # Two, as auto rents before it buys (gearshift._lean): a first call may run on
            # the calling thread without loading auto at all, and the second then pays
            # for auto's imports, its measuring and its pool's start.  The timed call is
            # the steady state every other strategy is timed in.
            if cls.name == "gearshift-auto":
                out["cold_time"], _ = _time(strategy, fn, items)
                out["second_time"], _ = _time(strategy, fn, items)
            else:
                _time(strategy, fn, items[: max(1, min(len(items), 4 * CPUS))])
            elapsed, results = _time(strategy, fn, items)
            if spec.get("check", True):
                workload.check(items, results)
            out["time"] = elapsed
            if cls.name == "gearshift-auto" and spec.get("later"):
                # Where auto settles: ski rental buys a process pool once renting has cost its start, so
                # the timed third call may be the one that rents or buys (run.py's --later-calls).
                out["later_times"] = [_time(strategy, fn, items)[0] for _ in range(spec["later"])]
            out["params"] = strategy.describe()
    except BaseException as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
        out["traceback"] = traceback.format_exc()[-2000:]
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)  # do not wait for the peers' lingering threads


def _sweep(cls: type, fn: object, items: list[object], budget: float, out: dict[str, object]) -> int:
    """Try chunk sizes once each (cheapest first) and keep the fastest."""
    sizes = sorted(
        {max(1, len(items) // (CPUS * k)) for k in SWEEP_CHUNKS_PER_WORKER} | {1},
        reverse=True,
    )
    sizes = [s for s in sizes if len(items) / s <= SWEEP_MAX_CHUNKS]
    tried: dict[int, float] = {}
    started = time.perf_counter()
    with cls() as strategy:
        strategy.run(fn, items[: 4 * CPUS])
        for size in sizes:
            strategy.params["chunksize"] = size
            elapsed, _ = _time(strategy, fn, items)
            tried[size] = elapsed
            if time.perf_counter() - started > budget:
                break
    out["sweep"] = {str(k): v for k, v in tried.items()}
    return min(tried, key=tried.__getitem__)


if __name__ == "__main__":
    main()
