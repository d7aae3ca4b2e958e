"""``gearshift bench``: every mode and ``auto`` on built-in workloads, timed side by side.

The workloads and their local servers are defined once in
:mod:`gearshift._bench`; this module only chooses five of them, runs each
under every mode in one process (peers side by side, pools warmed first so
start-up is not what is compared), and reports time, speed-up over ``sync``,
the winner and what ``auto`` chose.

A ``sync`` run that would take longer than its time budget (slow I/O one item
after the other takes minutes) is stopped, and its full time is extrapolated
from the items it finished: ``sync`` runs items one at a time, so its time is
linear in their number.  Such times are marked ``~`` (``"estimated": true`` in
JSON).  Concurrent modes always run to the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import platform
import sys
import time
from typing import Any, TextIO

from .._call import _prepare
from .._cpu import usable_cpus
from .._task import CALL_ONE
from .._version import __version__

MODES = ("sync", "async", "thread", "process", "auto")
#: a cell whose runs all took less than SHORT seconds is run again, up to SHORT_REPEATS times
#: (median kept): one short run is mostly noise, and a few more cost little
SHORT = 0.3
SHORT_REPEATS = 5


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the table: a workload at a given size."""

    title: str
    workload: str
    items: int
    quick_items: int


#: CPU-bound pure Python, GIL-releasing CPU, blocking I/O with few connections,
#: slow I/O with many connections, tiny tasks
CASES: tuple[Case, ...] = (
    Case("CPU, GIL held", "cpu-loop", 200, 24),
    Case("CPU, GIL released", "zlib-small-args", 200, 24),
    Case("blocking I/O, few conns", "http-blocking", 200, 32),
    Case("slow I/O, many conns", "http-async", 2000, 200),
    Case("tiny tasks", "tiny", 1_000_000, 100_000),
)


@dataclasses.dataclass
class Cell:
    mode: str
    seconds: float
    estimated: bool
    workers: int
    chosen: str  # the mode that actually ran (differs from ``mode`` only for auto)
    reasons: tuple[str, ...] = ()
    rounds: tuple[float, ...] = ()  # every timed run of this cell, in the order run
    ran: str = ""  # auto: what it executed (items per mode, re-plans), not only what it planned


@dataclasses.dataclass
class Row:
    case: Case
    description: str
    items: int
    cells: dict[str, Cell]

    @property
    def winner(self) -> str:
        explicit = {m: c for m, c in self.cells.items() if m != "auto"}
        return min(explicit, key=lambda m: explicit[m].seconds)

    def speedup(self, mode: str) -> float:
        return self.cells["sync"].seconds / self.cells[mode].seconds

    def as_json(self) -> dict[str, Any]:
        auto = self.cells["auto"]
        return {
            "workload": self.case.workload,
            "title": self.case.title,
            "description": self.description,
            "items": self.items,
            "modes": {
                m: {
                    "seconds": round(c.seconds, 6),
                    "speedup_over_sync": round(self.speedup(m), 4),
                    "estimated": c.estimated,
                    "workers": c.workers,
                    "rounds": [round(r, 6) for r in c.rounds],
                }
                for m, c in self.cells.items()
            },
            "winner": self.winner,
            "auto": {"mode": auto.chosen, "workers": auto.workers, "reasons": list(auto.reasons), "ran": auto.ran},
        }


def bench_command(args: argparse.Namespace) -> int:
    from ._inputs import UsageError

    if args.plot is not None:
        from ._plot import check_matplotlib

        check_matplotlib()
        if not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
            raise UsageError(f"cannot write {args.plot}: its folder does not exist")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        raise UsageError(f"--repeat must be >= 1, got {repeat}")
    cases: tuple[Case, ...] = CASES
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in {c.workload for c in CASES}]
        if unknown or not wanted:
            raise UsageError(
                f"--only: unknown workload {', '.join(unknown) or '(none)'}; choose from "
                + ", ".join(c.workload for c in CASES)
            )
        cases = tuple(c for c in CASES if c.workload in wanted)
    t0 = time.perf_counter()
    rows = run_bench(quick=args.quick, repeat=repeat, log=None if args.json else sys.stderr, cases=cases)
    took = time.perf_counter() - t0
    report = {"machine": machine(), "quick": args.quick, "repeat": repeat, "seconds": round(took, 2)}
    report["results"] = [row.as_json() for row in rows]
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(rows, sys.stdout, header=_header(report))
    if args.plot is not None:
        from ._plot import plot_bench

        plot_bench(report, args.plot)
        if not args.json:
            sys.stdout.write(f"chart written to {args.plot}\n")
    return 0


def machine() -> dict[str, Any]:
    return {
        "cpus": usable_cpus(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "gearshift": __version__,
    }


def _header(report: dict[str, Any]) -> str:
    m = report["machine"]
    kind = "quick" if report["quick"] else "full"
    runs = f"median of {report['repeat']}, up to {SHORT_REPEATS} for runs under {SHORT:g} s"
    return (
        f"gearshift {m['gearshift']} bench ({kind}, {runs}) on {m['cpus']} usable CPUs, "
        f"{m['implementation']} {m['python']}, {m['platform']}: {report['seconds']:.1f} s"
    )


def run_bench(*, quick: bool, repeat: int = 1, log: TextIO | None = None, cases: tuple[Case, ...] = CASES) -> list[Row]:
    """Run every case under every mode; return the rows (in the order of ``cases``)."""
    from .._bench import get
    from .._bench.servers import aio_server, http_server
    from .._bench.workloads import square_plus_one

    warm_pools(square_plus_one)
    budget = 1.0 if quick else 10.0
    rows = []
    for case in cases:
        workload = get(case.workload)
        n = case.quick_items if quick else case.items
        server: contextlib.AbstractContextManager[str | None] = contextlib.nullcontext(None)
        if workload.server == "http":
            server = http_server()
        elif workload.server == "aio":
            # The aiohttp server holds thousands of connections; the threaded one is the fallback.
            server = aio_server() if importlib.util.find_spec("aiohttp") else http_server()
        with server as url:
            items = workload.items(n, url)
            if log is not None:
                log.write(f"  {case.title}: {n:,} items ...")
                log.flush()
            cells = {}
            for mode in MODES:
                runs = [_timed(workload.fn, items, mode, budget=budget, check=workload.check) for _ in range(repeat)]
                while len(runs) < SHORT_REPEATS and max(r.seconds for r in runs) < SHORT:
                    runs.append(_timed(workload.fn, items, mode, budget=budget, check=workload.check))
                rounds = tuple(r.seconds for r in runs)
                runs.sort(key=lambda c: c.seconds)
                cells[mode] = dataclasses.replace(runs[len(runs) // 2], rounds=rounds)
            if log is not None:
                log.write(" done\n")
        rows.append(Row(case, workload.description, n, cells))
    return rows


def _pid(_: object) -> int:
    return os.getpid()


def warm_pools(fn: Any) -> None:
    """Start every mode's pool, and wait until every worker process has booted.

    A worker still starting (an interpreter and its imports) takes a CPU away
    from whatever is timed next, so the first timed mode would be penalised.
    """
    for mode in MODES:
        _timed(fn, list(range(8)), mode, budget=60)
    run = _prepare(_pid, [0], CALL_ONE, None, mode="process")
    workers = run.current_plan.workers if run.current_plan is not None else usable_cpus()
    for _ in range(50):
        pids = {pid for batch in _prepare(_pid, range(4 * workers), CALL_ONE, None, mode="process", chunksize=1)
                .batches(range(4 * workers)) for pid in batch}  # fmt: skip
        if len(pids) >= workers:
            return


def _timed(fn: Any, items: list[Any], mode: str, *, budget: float, check: Any = None) -> Cell:
    """Time one run of ``fn`` over ``items``; a sync run past ``budget`` seconds is stopped and extrapolated."""
    run = _prepare(fn, items, CALL_ONE, None, mode=mode)
    results: list[Any] = []
    t0 = time.perf_counter()
    batches = run.batches(items)
    estimated = False
    for batch in batches:
        results.extend(batch)
        if time.perf_counter() - t0 > budget and len(results) < len(items) and _runs_sync(run):
            estimated = True
            break
    seconds = time.perf_counter() - t0
    if estimated:
        seconds = seconds * len(items) / max(1, len(results))
    elif check is not None:
        check(items, results)
    plan = run.current_plan
    ran = run.report.summary() if run.report is not None else ""
    if plan is None:  # auto stopped before it chose (a short input): it ran everything while measuring
        return Cell(mode, seconds, estimated, 1, "sync", ("the input ended while auto was still measuring",), ran=ran)
    return Cell(mode, seconds, estimated, plan.workers, plan.mode, plan.reasons, ran=ran)


def _runs_sync(run: Any) -> bool:
    """True when the items run one chunk after the other on this thread (so time is linear in items)."""
    plan = run.current_plan
    return plan is not None and plan.mode == "sync"


def print_table(rows: list[Row], out: TextIO, *, header: str = "") -> None:
    if header:
        out.write(header + "\n\n")
    name_w = max(len(r.case.title) for r in rows)
    head = f"{'workload':<{name_w}}  {'items':>9}  " + "".join(f"{m:>13}" for m in MODES)
    head += f"  {'winner':<8} auto chose"
    out.write(head + "\n" + "-" * len(head) + "\n")
    for row in rows:
        line = f"{row.case.title:<{name_w}}  {row.items:>9,}  "
        for mode in MODES:
            cell = row.cells[mode]
            mark = "~" if cell.estimated else " "
            line += f"{mark}{_fmt_seconds(cell.seconds):>6} {row.speedup(mode):>5.1f}x"
        auto = row.cells["auto"]
        line += f"  {row.winner:<8} {auto.chosen} x{auto.workers}"
        out.write(line + "\n")
    out.write(
        "\ntime per mode, then speed-up over sync (higher is better); ~ = stopped at the time budget and "
        "extrapolated from the items done\n"
    )
    for row in rows:
        auto = row.cells["auto"]
        reasons = "; ".join(auto.reasons) or "-"
        out.write(f"  auto on {row.case.workload}: {auto.ran}; {reasons}\n")


def _fmt_seconds(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f}s"
    if seconds >= 1:
        return f"{seconds:.2f}s"
    return f"{seconds * 1000:.0f}ms"
