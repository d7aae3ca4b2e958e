"""A short demonstration: every mode on a small CPU-bound and a small I/O-bound job."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from .._api import map as gs_map

MODES = ("sync", "async", "thread", "process", "auto")


def cpu_job(n: int) -> int:
    """Pure-Python arithmetic: holds the GIL the whole time."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def io_job(seconds: float) -> float:
    """A blocking wait, as a socket read or a disk access would be."""
    time.sleep(seconds)
    return seconds


def run_demo(out: TextIO, *, cpu_items: int = 16, io_items: int = 32) -> list[dict[str, Any]]:
    """Run each job in each mode, print a table, and return the rows."""
    jobs: list[tuple[str, Callable[[Any], Any], list[Any]]] = [
        ("CPU-bound (pure Python loop)", cpu_job, [300_000] * cpu_items),
        ("I/O-bound (blocking 50 ms wait)", io_job, [0.05] * io_items),
    ]
    rows: list[dict[str, Any]] = []
    for title, fn, items in jobs:
        expected = [fn(items[0])] * len(items) if fn is cpu_job else items
        out.write(f"\n{title}: {len(items)} items\n")
        times: dict[str, float] = {}
        for mode in MODES:
            gs_map(fn, items[:2], mode=mode)  # warm the workers; start-up is not what we compare
            t0 = time.perf_counter()
            results = gs_map(fn, items, mode=mode)
            times[mode] = time.perf_counter() - t0
            assert results == expected, f"{mode} gave wrong results"
        base = times["sync"]
        for mode, took in times.items():
            out.write(f"  {mode:<8} {took * 1000:8.1f} ms   {base / took:5.2f}x sync\n")
            rows.append({"job": title, "mode": mode, "seconds": took, "speedup": base / took})
        best = min(times, key=lambda m: times[m])
        out.write(f"  fastest: {best}\n")
    return rows
