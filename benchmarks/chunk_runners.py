"""The chunk runners' own cost, per chunk and per item: this tree against a baseline (main by default).

``run_chunk`` (sync and thread mode, the engines' workers), ``run_chunk_each``
(per-item timeouts), ``run_chunk_recorded`` (process workers: ints packed, other
outcomes pickled into the outcome log) and an async chunk on the thread's own
loop, each on a trivial function so that the runner's loop is the whole cost.
Each interpreter times every case as the fastest of many repeats (a busy machine
only ever adds time); the two trees alternate, round by round, and the summary is
the ratio of the minimums and the median of the per-round ratios.  Written to
check that moving the runners out of ``_task.py`` (issue 21) cost nothing.
Writes every round with the commits, host and Python to
``benchmarks/results/chunk_runners.json``.  Usage::

    python benchmarks/chunk_runners.py [--baseline REF] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from _meta import best_of_children, run_meta, write

HERE = os.path.dirname(os.path.abspath(__file__))
#: (case, calls per timing, timings): each timing is the mean of its calls; the fastest timing counts
CASES = {
    "run_chunk_1000_items": (20, 40),
    "run_chunk_1_item": (2000, 40),
    "run_chunk_each_1000_items": (20, 40),
    "run_chunk_recorded_1000_ints": (20, 40),
    "run_chunk_recorded_1000_strs": (20, 40),
    "run_chunk_async_100_items": (20, 40),
}


async def _echo(x: int) -> int:
    return x


def child() -> None:
    """In a child interpreter: print the fastest time per call of each case, in seconds, as JSON."""
    import timeit

    import gearshift
    from gearshift._task import Task
    from gearshift._worker_log import OutcomeLog

    try:
        from gearshift._task_recorded import run_chunk_recorded
        from gearshift._task_run import run_chunk, run_chunk_each
    except ImportError:  # a baseline from before _task was split (issue 21)
        from gearshift._task import run_chunk, run_chunk_each, run_chunk_recorded  # type: ignore[attr-defined,no-redef]

    items = list(range(-500, 500))
    log = OutcomeLog(os.memfd_create("chunk-runners-log"))
    ids = iter(range(10**9))

    def no_rescue(out: list[object], exc: BaseException) -> object:
        raise AssertionError(f"nothing here fails to record: {exc!r}")

    def recorded(task: Task) -> object:
        log.begin(next(ids))
        return run_chunk_recorded(task, log, no_rescue)

    calls = {
        "run_chunk_1000_items": (run_chunk, Task(abs, items)),
        "run_chunk_1_item": (run_chunk, Task(abs, items[:1])),
        "run_chunk_each_1000_items": (lambda t: run_chunk_each(t, lambda k, o: None), Task(abs, items)),
        "run_chunk_recorded_1000_ints": (recorded, Task(abs, items)),
        "run_chunk_recorded_1000_strs": (recorded, Task(str, items)),
        "run_chunk_async_100_items": (run_chunk, Task(_echo, items[:100], is_async=True)),
    }
    best = {}
    for name, (number, repeat) in CASES.items():
        run, task = calls[name]
        run(task)  # warm: the async case makes its loop here
        best[name] = min(timeit.repeat(lambda run=run, task=task: run(task), number=number, repeat=repeat)) / number
    print(json.dumps({"best": best, "gearshift": gearshift.__file__}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git ref to compare with (default main)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "chunk_runners.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    meta = run_meta(None, "benchmarks/chunk_runners.py")
    rounds = best_of_children(__file__, args.baseline, args.rounds, meta)
    summary = {}
    for name in CASES:
        base, this = rounds["baseline"][name], rounds["this_tree"][name]
        summary[name] = {
            "min_baseline_s": min(base),
            "min_this_tree_s": min(this),
            "ratio_of_mins": min(this) / min(base),
            "median_round_ratio": statistics.median(t / b for b, t in zip(base, this)),
        }
        print(
            f"{name}: {args.baseline} {min(base) * 1e6:.2f} us, this tree {min(this) * 1e6:.2f} us, "
            f"ratio of minimums {min(this) / min(base):.3f}, median round ratio {summary[name]['median_round_ratio']:.3f}"
        )
    write(args.out, meta, rounds=rounds, summary=summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
