"""``shared=``: a multi-MB read-only table that every task needs, handed over once per worker.

Side by side in one run, on two tables (a dict of 400,000 ints, about 5 MB pickled, and
a 64 MiB ``bytes``), each item doing a few milliseconds of lookups in the table:

- ``loop``: a plain loop (the baseline);
- ``gearshift-shared``: ``gearshift.map(fn, items, mode="process", shared=table)``;
- ``gearshift-per-item``: the table passed with every item (``starmap`` over ``(table, x)``),
  what one writes without ``shared=``;
- ``cf-initializer``: ``concurrent.futures.ProcessPoolExecutor`` whose initializer stores the
  table in a global, the standard library's idiom (pool start-up included: the table is an
  argument of the pool);
- ``joblib-loky``: ``Parallel(n_jobs=2)(delayed(fn)(table, x) ...)``;
- ``mpire-shared``: ``mpire.WorkerPool(shared_objects=table)`` (forked workers: the table is
  inherited copy-on-write, mpire's best case, not available with spawned workers).

Median of ``--repeats`` timed runs after one untimed warm-up.  Usage::

    python benchmarks/shared.py [--repeats 3] [--items 400] [--out benchmarks/results/shared.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

from _meta import run_meta, write

import gearshift

WORKERS = 2
DICT_SIZE = 400_000
BYTES_SIZE = 64 << 20
LOOKUPS = 20_000
#: a strategy whose warm-up run takes longer than this is timed once (that run)
SLOW = 10.0

_TABLE: Any = None  # cf-initializer: the table, set once in each worker


def dict_task(table: dict[int, int], x: int) -> int:
    total, n = 0, len(table)
    for j in range(LOOKUPS):
        total += table[(x * 7919 + j * 31) % n]
    return total


def bytes_task(table: bytes, x: int) -> int:
    step = len(table) // 64
    start = (x * 4099) % (len(table) - step)
    return zlib.crc32(table[start : start + step]) ^ zlib.adler32(table[start : start + step // 2])


def _set_table(table: Any) -> None:
    global _TABLE
    _TABLE = table


def _dict_global(x: int) -> int:
    return dict_task(_TABLE, x)


def _bytes_global(x: int) -> int:
    return bytes_task(_TABLE, x)


# -- strategies: each returns the results for (task, table, items) -------------------------


def loop(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    return [task(table, x) for x in items]


def gearshift_shared(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    return gearshift.map(task, items, mode="process", workers=WORKERS, shared=table)


def gearshift_per_item(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    return gearshift.starmap(task, [(table, x) for x in items], mode="process", workers=WORKERS)


def cf_initializer(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    import concurrent.futures
    import multiprocessing

    glob = _dict_global if task is dict_task else _bytes_global
    ctx = multiprocessing.get_context("spawn")  # the safe default (and the only one from 3.14)
    with concurrent.futures.ProcessPoolExecutor(WORKERS, ctx, initializer=_set_table, initargs=(table,)) as ex:
        return list(ex.map(glob, items, chunksize=max(1, len(items) // (4 * WORKERS))))


def joblib_loky(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    from joblib import Parallel, delayed

    return Parallel(n_jobs=WORKERS)(delayed(task)(table, x) for x in items)  # type: ignore[no-any-return]


def mpire_shared(task: Callable[[Any, int], int], table: Any, items: list[int]) -> list[int]:
    from mpire import WorkerPool

    with WorkerPool(n_jobs=WORKERS, shared_objects=table) as pool:
        return pool.map(task, items)  # type: ignore[no-any-return]


STRATEGIES: dict[str, Callable[[Callable[[Any, int], int], Any, list[int]], list[int]]] = {
    "loop": loop,
    "gearshift-shared": gearshift_shared,
    "gearshift-per-item": gearshift_per_item,
    "cf-initializer": cf_initializer,
    "joblib-loky": joblib_loky,
    "mpire-shared": mpire_shared,
}


def tables() -> dict[str, tuple[Callable[[Any, int], int], Any]]:
    return {
        "dict-5MB": (dict_task, {k: (k * 2654435761) % 1_000_003 for k in range(DICT_SIZE)}),
        "bytes-64MiB": (bytes_task, os.urandom(BYTES_SIZE)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", default=None, help="write the markdown table here as well (and X.json beside it)")
    parser.add_argument("--tables", default="dict-5MB,bytes-64MiB", help="which tables to time")
    args = parser.parse_args()
    meta = run_meta()
    rounds: dict[str, dict[str, list[float]]] = {}
    names = args.strategies.split(",")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    items = list(range(args.items))
    rows: dict[str, dict[str, float]] = {name: {} for name in names}
    single: set[tuple[str, str]] = set()
    columns = {k: v for k, v in tables().items() if k in args.tables.split(",")}
    for column, (task, table) in columns.items():
        expected = loop(task, table, items)
        for name in names:
            run = STRATEGIES[name]
            times: list[float] = []
            for i in range(args.repeats + 1):
                start = time.perf_counter()
                got = run(task, table, items)
                elapsed = time.perf_counter() - start
                if got != expected:
                    raise SystemExit(f"{name} returned wrong results on {column}")
                if i:  # the first run warms up (pools, imports)
                    times.append(elapsed)
                elif elapsed > SLOW:  # ten times slower than the rest: one run says enough
                    times.append(elapsed)
                    single.add((name, column))
                    break
            rows[name][column] = statistics.median(times)
            rounds.setdefault(name, {})[column] = [round(t, 4) for t in times]
            print(f"{column:>12} {name:>20}: {rows[name][column]:.3f} s", file=sys.stderr)
    end_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    command = "python benchmarks/shared.py " + " ".join(sys.argv[1:])
    lines = [
        "# shared=: a multi-MB read-only table every task needs",
        "",
        f"`{command.strip()}` on {started}: "
        f"Python {platform.python_version()}, {WORKERS} workers, load average at start {load}, at the end {end_load}. "
        f"{args.items} items of {LOOKUPS:,} dict lookups (dict-5MB) or one crc32 of a 1 MiB slice "
        f"(bytes-64MiB); median of {args.repeats} timed runs after a warm-up; ratio to the fastest.",
        "",
        "| strategy | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name in names:
        cells = []
        for column in columns:
            best = min(rows[n][column] for n in names)
            t = rows[name][column]
            cell = f"{t / best:.2f}x ({t:.3f} s{', one run' if (name, column) in single else ''})"
            cells.append(f"**{cell}**" if t == best else cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        medians = {n: {c: round(t, 4) for c, t in r.items()} for n, r in rows.items()}
        write(
            os.path.splitext(args.out)[0] + ".json",
            meta,
            workers=WORKERS,
            items=args.items,
            median_s=medians,
            rounds_s=rounds,
            single_run=sorted(f"{n}/{c}" for n, c in single),
        )


if __name__ == "__main__":
    main()
