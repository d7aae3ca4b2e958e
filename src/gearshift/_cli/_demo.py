"""``gearshift demo``: four classic jobs, each under every mode, with the winner and ``auto``'s choice.

The jobs come from :mod:`gearshift._bench.workloads` (defined once for every
benchmark).  Each job runs under every mode in this one process, pools warmed
first; a run shorter than 0.3 s is repeated and the median kept.  A mode that
would take too long on the whole job (``sync`` on 500 slow downloads takes a
minute and a half) runs only on its first items, and its time is scaled up to
the whole job: such times are marked ``~``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .._call import _prepare
from .._task import CALL_ONE
from ._bench import warm_pools

MODES = ("sync", "async", "thread", "process", "auto")


@dataclasses.dataclass(frozen=True)
class Job:
    title: str
    story: str
    fn: Callable[..., Any]
    items: list[Any]
    #: per mode: a different function for the same job (the async client for async) ...
    fns: dict[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    #: ... and how many items to time when the whole job would take too long
    samples: dict[str, int] = dataclasses.field(default_factory=dict)
    describe: Callable[[list[Any]], str] | None = None


@dataclasses.dataclass
class Timing:
    mode: str
    seconds: float
    sampled: int | None  # items timed when scaled up, else None
    plan_mode: str
    workers: int
    reasons: tuple[str, ...]
    results: list[Any]
    ran: str = ""  # auto: what it executed (items per mode, re-plans), not only what it planned


def demo_command(args: argparse.Namespace) -> int:
    if getattr(args, "timeline", None):
        from ._timeline import timeline_command

        return timeline_command(args.timeline)
    run_demo(sys.stdout, quick=args.quick)
    return 0


def run_demo(out: TextIO, *, quick: bool = False) -> list[dict[str, Any]]:
    """Run the four jobs, print what happened, and return one row per job and mode."""
    from .._bench.servers import aio_server, http_server
    from .._bench.workloads import ahttp_get, http_get, md5_crack_prefix, square_plus_one

    t_start = time.perf_counter()
    out.write("gearshift demo: the same job under every concurrency model, timed side by side.\n")
    out.write("Workers are each mode's defaults; pools are started before timing.\n")
    out.flush()
    warm_pools(square_plus_one)
    pages = 100 if quick else 500
    rows: list[dict[str, Any]] = []
    server = aio_server if importlib.util.find_spec("aiohttp") else http_server
    with server(0.2) as slow_url, http_server(0.1) as url:
        prefixes = [a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijklmnopqrstuvwxyz"]
        jobs = [
            Job(
                "Crack an md5 password from a wordlist",
                "CPU-bound pure Python: the GIL is held, so only processes run it in parallel",
                md5_crack_prefix,
                prefixes[: 12 if quick else 52],
                describe=lambda results: "found: " + ", ".join(w for ws in results for w in ws),
            ),
            Job(
                f"Download {pages} pages from a slow local server (200 ms each)",
                "I/O-bound at scale: asyncio keeps 100 requests in flight on one thread; "
                "sync, thread and process use a blocking client",
                http_get,
                [f"{slow_url}/item/{i}?delay=0.2" for i in range(pages)],
                fns={"async": ahttp_get, "auto": ahttp_get},
                samples={"sync": 6, "thread": 30, "process": 10},
            ),
            Job(
                "A few blocking reads (6 requests, 100 ms each)",
                "a handful of blocking calls: a few threads overlap the waits; processes cost more to feed",
                http_get,
                [f"{url}/item/{i}?delay=0.1" for i in range(6)],
            ),
            Job(
                "Trivial work (20,000 additions)",
                "each item takes well under a microsecond: any hand-off costs more than the work",
                square_plus_one,
                list(range(20_000)),
            ),
        ]
        for number, job in enumerate(jobs, 1):
            rows += _run_job(out, number, job)
    out.write(f"\nThe demo took {time.perf_counter() - t_start:.1f} s.  Measure your own function with:\n")
    out.write("  gearshift advise MODULE:FUNCTION --input items.jsonl\n")
    return rows


def _run_job(out: TextIO, number: int, job: Job) -> list[dict[str, Any]]:
    out.write(f"\n{number}. {job.title}\n   {job.story}\n")
    out.flush()
    timings: dict[str, Timing] = {}
    for mode in MODES:
        fn = job.fns.get(mode, job.fn)
        timings[mode] = _measure(fn, job.items, mode, sample=job.samples.get(mode))
    base = timings["sync"].seconds
    best = min((m for m in MODES if m != "auto"), key=lambda m: timings[m].seconds)
    rows = []
    for mode, t in timings.items():
        mark = "~" if t.sampled else " "
        note = f"  (timed on {t.sampled} items, scaled up)" if t.sampled else ""
        star = "  <- fastest" if mode == best else ""
        who = f"{t.plan_mode} x{t.workers}"
        out.write(f"   {mode:<8}{mark}{_fmt(t.seconds):>8}  {base / t.seconds:6.1f}x sync   {who:<12}{star}{note}\n")
        rows.append({"job": job.title, "mode": mode, "seconds": t.seconds, "speedup": base / t.seconds})
    auto = timings["auto"]
    workers = f"{auto.workers} worker{'s' if auto.workers != 1 else ''}"
    out.write(f"   auto chose {auto.plan_mode} with {workers}, because:\n")
    for reason in auto.reasons:
        out.write(f"     - {reason}\n")
    out.write(f"   auto {auto.ran} (the last timed run)\n")
    if job.describe is not None:
        out.write(f"   {job.describe(timings['sync'].results)}\n")
    out.flush()
    return rows


#: runs shorter than this are repeated (up to REPEATS times) and the median kept: one short run is mostly noise
SHORT = 0.3
REPEATS = 5


def _measure(fn: Callable[..., Any], items: list[Any], mode: str, *, sample: int | None = None) -> Timing:
    part = items if sample is None or sample >= len(items) else items[:sample]
    times: list[float] = []
    while True:
        run = _prepare(fn, part, CALL_ONE, None, mode=mode)
        t0 = time.perf_counter()
        results = [r for batch in run.batches(part) for r in batch]
        times.append(time.perf_counter() - t0)
        if times[0] >= SHORT or len(times) >= REPEATS:
            break
    seconds = statistics.median(times)
    sampled = None
    if len(part) < len(items):
        seconds *= len(items) / len(part)
        sampled = len(part)
    plan = run.current_plan
    ran = run.report.summary() if run.report is not None else ""
    if plan is None:  # auto stopped before it chose (a short input): it ran everything while measuring
        why = ("the input ended while auto was still measuring",)
        return Timing(mode, seconds, sampled, "sync", 1, why, results, ran)
    return Timing(mode, seconds, sampled, plan.mode, plan.workers, plan.reasons, results, ran)


def _fmt(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"
