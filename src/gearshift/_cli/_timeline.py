"""``gearshift demo --timeline``: one job under sync, threads, processes and async, traced and drawn side by side.

Each item computes a little pure Python, then waits (a blocking sleep, or
``await asyncio.sleep`` for the async twin).  The four pictures the textbooks
draw then come from the reader's own machine: sync's bars never overlap;
threads overlap their waits while the Python parts take turns holding the GIL;
processes run side by side; on one event loop every wait is in flight at once.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from .._bench.jobs import cpu_loop as _spin
from .._options import Mode

# Worker processes import this module to run its functions: what the run itself needs loads in run_timeline.

#: pure-Python steps per item (a few milliseconds) and the wait that follows them
SPIN = 60_000
WAIT = 0.04


def work(n: int) -> int:
    """The job's item: compute, then a blocking wait."""
    _spin(SPIN)
    time.sleep(WAIT)
    return n


def warm(n: int) -> int:
    """Nothing: run once per worker process before the traced run, so the picture shows the model, not start-up."""
    return n


async def awork(n: int) -> int:
    """The same item for an event loop: compute, then a wait that yields the loop."""
    import asyncio

    _spin(SPIN)
    await asyncio.sleep(WAIT)
    return n


def panels(items: int) -> list[tuple[str, Mode, Any, int]]:
    """(title, mode, function, workers) of each model, in the order drawn."""
    from .._cpu import usable_cpus

    procs = max(2, min(4, usable_cpus()))
    return [
        ("sync: one item after another, never overlapping", "sync", work, 1),
        ("thread x4: the waits overlap; the Python parts take turns holding the GIL", "thread", work, 4),
        (f"process x{procs}: side by side in worker processes (started beforehand)", "process", work, procs),
        (f"async x{items}: every wait in flight at once on one event loop", "async", awork, items),
    ]


def run_timeline(out: TextIO, path: str, *, items: int = 12) -> list[tuple[str, dict[str, Any]]]:
    """Run the job under each model with ``trace=``, draw the four timelines to ``path``; return the traces."""
    import tempfile

    from .._api import map as gmap
    from .._trace_format import read
    from ._trace_plot import check_output, plot_side_by_side

    check_output(path)
    out.write(f"gearshift demo --timeline: {items} items, each ~a few ms of Python then a {WAIT * 1000:.0f} ms wait,\n")
    out.write("under each model, traced (trace=...).\n")
    docs: list[tuple[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for title, mode, fn, workers in panels(items):
            trace = os.path.join(tmp, f"{mode}.json")
            if mode == "process":  # start the workers and import this module there, untraced
                gmap(warm, range(4 * workers), mode=mode, workers=workers, chunksize=1)
            t0 = time.perf_counter()
            gmap(fn, range(items), mode=mode, workers=workers, chunksize=1, trace=trace)
            out.write(f"  {mode:<8} {time.perf_counter() - t0:6.2f} s\n")
            out.flush()
            docs.append((title, read(trace)))
    plot_side_by_side(docs, path, title=f"One job ({items} items: compute, then wait) under four models")
    out.write(f"drew {path}\n")
    return docs


def timeline_command(path: str) -> int:
    run_timeline(sys.stdout, path)
    return 0
