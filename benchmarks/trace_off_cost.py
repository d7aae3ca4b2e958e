"""What do the recording hooks cost when ``trace=`` is NOT given?  (The aim: nothing measurable.)

Runs the same ``gearshift.map`` (process mode, 300,000 md5-sized items, no
trace) with this tree's gearshift and with a baseline's (a git ref, main by
default, exported to a temporary folder), each in its own interpreter with its
pool warmed, interleaved round by round, and reports the medians and their
ratio.  Each interpreter also times, as the fastest of many repeats (what a busy
machine blurs least), one 1,000-item chunk, one 1-item chunk and a sync map of
10,000 items: where the hooks' cost would show first.  Writes every round with the commits, host and Python to
``benchmarks/results/trace_off_cost.json``.  Usage::

    python benchmarks/trace_off_cost.py [--baseline REF] [--items N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _meta import baseline_src, finish, run_meta

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.join(os.path.dirname(HERE), "src")


def child(items: int, repeat: int) -> None:
    """In a child interpreter: warm the pool, time ``repeat`` runs, print them as JSON."""
    import gearshift
    from gearshift._bench.workloads import md5_matches, word_at

    words = [word_at(i) for i in range(items)]
    gearshift.map(md5_matches, words[:1000], mode="process")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        gearshift.map(md5_matches, words, mode="process")
        times.append(time.perf_counter() - start)
    # The hooks' own cost, where a busy machine blurs it least: the fastest of many short
    # runs (preemption only ever adds time) of one chunk, and of a sync map through the runner.
    import timeit

    from gearshift._task import Task

    try:
        from gearshift._task_run import run_chunk
    except ImportError:  # a baseline tree from before _task was split (issue 21)
        from gearshift._task import run_chunk  # type: ignore[attr-defined,no-redef]

    chunk, one = Task(md5_matches, words[:1000]), Task(md5_matches, words[:1])
    micro = {
        "run_chunk_1000_items_min_s": min(timeit.repeat(lambda: run_chunk(chunk), number=20, repeat=30)) / 20,
        "run_chunk_1_item_min_s": min(timeit.repeat(lambda: run_chunk(one), number=2000, repeat=30)) / 2000,
        "sync_map_10000_items_min_s": min(
            timeit.repeat(lambda: gearshift.map(md5_matches, words[:10000], mode="sync"), number=1, repeat=30)
        ),
    }
    print(json.dumps({"times": times, "micro": micro, "gearshift": gearshift.__file__}))


def _run(src: str, items: int, repeat: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--items", str(items), "--repeat", str(repeat)],
        env=env, capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="main", help="git ref to compare with (default main)")
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeat", type=int, default=3, help="runs per interpreter per round (its median counts)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "trace_off_cost.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.items, args.repeat)
        return 0
    meta = run_meta(argv, "benchmarks/trace_off_cost.py")
    base: list[float] = []
    this: list[float] = []
    micro: dict[str, dict[str, list[float]]] = {"baseline": {}, "this_tree": {}}
    with tempfile.TemporaryDirectory() as tmp:
        base_src, meta["baseline"] = baseline_src(args.baseline, tmp)
        for k in range(args.rounds):
            order = [(base_src, base, "baseline"), (TREE, this, "this_tree")]
            for src, into, which in order if k % 2 == 0 else reversed(order):
                got = _run(src, args.items, args.repeat)
                assert str(got["gearshift"]).startswith(src), got  # the tree meant, not an installed copy
                into.append(statistics.median(got["times"]))  # type: ignore[arg-type]
                for name, value in got["micro"].items():  # type: ignore[attr-defined]
                    micro[which].setdefault(name, []).append(value)
    m_base, m_this = statistics.median(base), statistics.median(this)
    ratios = [b / a for a, b in zip(base, this)]
    finish(meta)
    result = {
        "workload": f"md5_matches x {args.items:,}, process mode, trace off",
        "baseline_s": base,
        "this_tree_s": this,
        "median_baseline_s": m_base,
        "median_this_tree_s": m_this,
        "ratio_of_medians": m_this / m_base,
        "median_round_ratio": statistics.median(ratios),
        "micro": micro,
        "micro_min_ratio": {n: min(micro["this_tree"][n]) / min(micro["baseline"][n]) for n in micro["baseline"]},
    }
    print(
        f"{result['workload']}: {args.baseline} {m_base * 1e3:.1f} ms, this tree {m_this * 1e3:.1f} ms, "
        f"ratio of medians {m_this / m_base:.3f}, median round ratio {result['median_round_ratio']:.3f}"
    )
    for name, ratio in result["micro_min_ratio"].items():  # type: ignore[attr-defined]
        base_min = min(micro["baseline"][name]) * 1e6
        print(f"  {name}: {args.baseline} {base_min:.1f} us, this tree {base_min * ratio:.1f} us, ratio {ratio:.3f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "results": [result]}, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
