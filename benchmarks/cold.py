"""Cold one-shot runs: whole fresh processes, as a user's script runs (issue 21, item 4).

    python benchmarks/cold.py                       # every case, 9 rounds
    python benchmarks/cold.py --cases sync,process --rounds 15 --label after

Each peer is a small script run by a fresh interpreter; the time is the whole
process, from just before it is started to its exit (interpreter start,
imports, pool start, the work, shutdown).  Peers of a case take turns in every
round (the order rotates, so none always runs first after a pause), and the
report is the median over rounds of each peer's time and of the per-round
ratios to the reference peer.  Cases and their targets:

* ``sync``: ``import gearshift`` and a first ``mode="sync"`` map of 10 items,
  against a bare interpreter doing the same with the builtin ``map``:
  target within 15 ms (median of the per-round differences).
* ``auto``: ``mode="auto"`` on a million trivial items against a list
  comprehension: target at most 1.10x.
* ``process``: ``mode="process"`` on 200 small items against
  ``ProcessPoolExecutor(mp_context=forkserver)`` (and fork, for reference):
  target at most 1.0x forkserver.
* ``coarse``: 2 x workers CPU jobs of about 1.5 s each, ``mode="process"``
  and ``mode="auto"`` against the best process pool (``ProcessPoolExecutor``
  with fork or forkserver, mpire when installed): target at most 1.03x.
* ``load``: loading auto (``gearshift._call`` and ``gearshift._auto``) after
  ``import gearshift``, against ``import gearshift`` alone: no target; the
  difference is the cost the lean start (``gearshift._lean``) saves a short
  auto job, ``COSTS["load_auto_seconds"]``.
* ``pool``: process mode's fixed cost over sync, in a fresh interpreter: a
  ~10 ms pure-Python job 4 and 24 times in each mode; per round, the
  difference of the two modes' intercepts (``pool_fixed_cost``): auto's
  ``COSTS["process_start_seconds"]``.  No target.
* ``native``: NumPy linear algebra (24 ``eigvalsh`` of 300 x 300 products)
  in sync, thread, process and auto mode, and in process mode with every
  worker's BLAS at one thread per CPU (as before the caps): what the caps change.

Results go to ``benchmarks/results/cold-<label>-<case>.json`` with the git
commit, the host, the Python and every round.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from _meta import compile_bytecode

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SRC = os.path.join(ROOT, "src")
RESULTS = os.path.join(HERE, "results")

#: the work of a coarse job: iterations of the loop below (calibrated to ~1.5 s at start)
COARSE_SECONDS = 1.5
#: the pool case: seconds per job, and the two numbers of jobs each mode runs
POOL_JOB_SECONDS = 0.01
POOL_JOBS = (4, 24)

_COARSE_FN = """
def job(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total
"""

_NATIVE = "import gearshift\nfrom gearshift._bench.workloads_more import eigvalsh_product\n\n"

# Every script reads its parameters from argv, so the same text serves every round.
SCRIPTS: dict[str, dict[str, str]] = {
    "sync": {
        "bare": "import sys\nresult = list(map(abs, range(10)))\n",
        "gearshift-sync": "import gearshift\nresult = gearshift.map(abs, range(10), mode='sync')\n",
    },
    "auto": {
        "listcomp": "def f(x):\n    return x + 1\n\nresult = [f(x) for x in range(1_000_000)]\n",
        "gearshift-auto": (
            "import gearshift\n\ndef f(x):\n    return x + 1\n\n"
            "result = gearshift.map(f, range(1_000_000), mode='auto')\n"
        ),
    },
    "process": {
        "cf-forkserver": (
            "import multiprocessing, os\nfrom concurrent.futures import ProcessPoolExecutor\n\n"
            "def f(x):\n    return x * x + 1\n\n"
            "if __name__ == '__main__':\n"
            "    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=multiprocessing.get_context('forkserver')) as ex:\n"
            "        result = list(ex.map(f, range(200)))\n"
        ),
        "cf-fork": (
            "import multiprocessing, os\nfrom concurrent.futures import ProcessPoolExecutor\n\n"
            "def f(x):\n    return x * x + 1\n\n"
            "if __name__ == '__main__':\n"
            "    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=multiprocessing.get_context('fork')) as ex:\n"
            "        result = list(ex.map(f, range(200)))\n"
        ),
        "gearshift-process": (
            "import gearshift\n\ndef f(x):\n    return x * x + 1\n\n"
            "result = gearshift.map(f, range(200), mode='process')\n"
        ),
        # the same, every worker a fresh interpreter (no zygote): what the zygote saves
        "gearshift-process-nozygote": (
            "import os\nos.environ['GEARSHIFT_ZYGOTE'] = '0'\nimport gearshift\n\ndef f(x):\n    return x * x + 1\n\n"
            "result = gearshift.map(f, range(200), mode='process')\n"
        ),
    },
    "coarse": {
        "cf-fork": (
            "import multiprocessing, os, sys\nfrom concurrent.futures import ProcessPoolExecutor\n"
            + _COARSE_FN
            + "\nif __name__ == '__main__':\n"
            "    n, jobs = int(sys.argv[1]), int(sys.argv[2])\n"
            "    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=multiprocessing.get_context('fork')) as ex:\n"
            "        result = list(ex.map(job, [n] * jobs))\n"
        ),
        "cf-forkserver": (
            "import multiprocessing, os, sys\nfrom concurrent.futures import ProcessPoolExecutor\n"
            + _COARSE_FN
            + "\nif __name__ == '__main__':\n"
            "    n, jobs = int(sys.argv[1]), int(sys.argv[2])\n"
            "    with ProcessPoolExecutor(len(os.sched_getaffinity(0)), mp_context=multiprocessing.get_context('forkserver')) as ex:\n"
            "        result = list(ex.map(job, [n] * jobs))\n"
        ),
        "mpire": (
            "import os, sys\nfrom mpire import WorkerPool\n" + _COARSE_FN + "\nif __name__ == '__main__':\n"
            "    n, jobs = int(sys.argv[1]), int(sys.argv[2])\n"
            "    with WorkerPool(len(os.sched_getaffinity(0))) as pool:\n"
            "        result = pool.map(job, [n] * jobs, chunk_size=1)\n"
        ),
        "gearshift-process": (
            "import sys\nimport gearshift\n" + _COARSE_FN + "\nn, jobs = int(sys.argv[1]), int(sys.argv[2])\n"
            "result = gearshift.map(job, [n] * jobs, mode='process')\n"
        ),
        "gearshift-auto": (
            "import sys\nimport gearshift\n" + _COARSE_FN + "\nn, jobs = int(sys.argv[1]), int(sys.argv[2])\n"
            "result = gearshift.map(job, [n] * jobs, mode='auto')\n"
        ),
    },
    # Process mode's fixed cost over sync in a fresh interpreter (auto's COSTS["process_start_seconds"]):
    # a ~10 ms pure-Python job, few and more times in each mode; each mode's line through its two
    # points, and the difference of their intercepts (pool_fixed_cost below).
    "pool": {
        f"{mode}-{k}": (
            "import sys\nimport gearshift\n" + _COARSE_FN + "\nn = int(sys.argv[1])\n"
            f"result = gearshift.map(job, [n] * {k}, mode='{mode}')\n"
        )
        for mode in ("sync", "process")
        for k in POOL_JOBS
    },
    # Work with its own threads (issue 21, item 5): 24 eigvalsh of 300x300 products, NumPy's BLAS.
    "load": {
        "import-gearshift": "import gearshift\n",
        "load-auto": "import gearshift\nimport gearshift._call\nimport gearshift._auto\n",
    },
    "native": {
        "np-sync": _NATIVE + "result = gearshift.map(eigvalsh_product, range(24), mode='sync')\n",
        "np-thread": _NATIVE + "result = gearshift.map(eigvalsh_product, range(24), mode='thread')\n",
        "np-process": _NATIVE + "result = gearshift.map(eigvalsh_product, range(24), mode='process')\n",
        # as before the caps: every worker's BLAS one thread per CPU (a variable the user sets is kept)
        "np-process-uncapped": (
            "import os\nfor v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):\n"
            "    os.environ[v] = str(len(os.sched_getaffinity(0)))\n"
            + _NATIVE
            + "result = gearshift.map(eigvalsh_product, range(24), mode='process')\n"
        ),
        "np-auto": _NATIVE + "result = gearshift.map(eigvalsh_product, range(24), mode='auto')\n",
    },
}
#: the peer each case compares against (``coarse``: the fastest pool, chosen after the run)
REFERENCE = {
    "sync": "bare",
    "auto": "listcomp",
    "process": "cf-forkserver",
    "coarse": None,
    "load": "import-gearshift",
    "pool": f"sync-{POOL_JOBS[0]}",
    "native": "np-sync",
}
#: target per case: a difference in seconds (``sync``) or a ratio to the reference
TARGETS = {
    "sync": ("difference", 0.015),
    "auto": ("ratio", 1.10),
    "process": ("ratio", 1.0),
    "coarse": ("ratio", 1.03),
    "load": ("difference", 0.0),  # (no target: what loading auto costs)
    "pool": ("difference", 0.0),  # (no target: process mode's fixed cost, auto's process_start_seconds)
    "native": ("ratio", 1.0),  # (no target: what the caps change)
}
#: peers that are gearshift (held to the target); the rest are references
GEARSHIFT = ("gearshift-sync", "gearshift-auto", "gearshift-process", "gearshift-process-nozygote")
NEEDS = {
    "mpire": "mpire",
    **{p: "numpy" for p in ("np-sync", "np-thread", "np-process", "np-process-uncapped", "np-auto")},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(SCRIPTS), help=f"comma-separated subset of: {', '.join(SCRIPTS)}")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per case (default 9)")
    parser.add_argument("--label", default="now", help="results go to benchmarks/results/cold-<label>-<case>.json")
    parser.add_argument("--peers", help="comma-separated subset of the peers (default: all that are installed)")
    parser.add_argument("--jobs", type=int, help="coarse case: number of jobs (default 2 x CPUs)")
    parser.add_argument(
        "--baseline", help="another tree's src/ (e.g. a git archive of main): its gearshift runs in the same rounds"
    )
    args = parser.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    bytecode = compile_bytecode(SRC, *filter(None, [args.baseline]))
    for case in args.cases.split(","):
        if case not in SCRIPTS:
            parser.error(f"no case {case!r}; choose from {', '.join(SCRIPTS)}")
        extra: list[str] = []
        if case == "coarse":
            n = calibrate(COARSE_SECONDS)
            extra = [str(n), str(args.jobs or 2 * cpus)]
        if case == "pool":
            extra = [str(calibrate(POOL_JOB_SECONDS))]
        record = run_case(case, args.rounds, extra, args.peers.split(",") if args.peers else None, args.baseline)
        if case == "pool":
            record["pool_fixed_cost"] = pool_fixed_cost(record)
        if args.baseline:
            record["baseline"] = {"src": args.baseline, "commit": _commit_of(args.baseline)}
        record["meta"] = meta(cpus)
        record["meta"]["bytecode"] = bytecode
        path = os.path.join(RESULTS, f"cold-{args.label}-{case}.json")
        with open(path, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(summary(record), flush=True)
        print(f"-> {os.path.relpath(path)}", flush=True)
    return 0


def pool_fixed_cost(record: dict[str, Any]) -> dict[str, Any]:
    """Process mode's fixed cost over sync: per round, each mode's line through its two job counts, and the
    difference of the intercepts (what a cold pool costs before its first job, whatever the jobs take)."""
    k1, k2 = POOL_JOBS
    times = {peer: entry["times_s"] for peer, entry in record["peers"].items()}

    def intercept(mode: str, r: int) -> float:
        t1, t2 = times[f"{mode}-{k1}"][r], times[f"{mode}-{k2}"][r]
        return t1 - k1 * (t2 - t1) / (k2 - k1)

    rounds = len(times[f"sync-{k1}"])
    fixed = [intercept("process", r) - intercept("sync", r) for r in range(rounds)]
    per_job = [(times[f"sync-{k2}"][r] - times[f"sync-{k1}"][r]) / (k2 - k1) for r in range(rounds)]
    return {
        "process_over_sync_s": [round(v, 5) for v in fixed],
        "median_s": round(statistics.median(fixed), 5),
        "sync_seconds_per_job_median": round(statistics.median(per_job), 5),
        "jobs": list(POOL_JOBS),
    }


def _commit_of(src: str) -> str:
    """The commit a baseline tree was made from, if it says (a file COMMIT beside its src/)."""
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(src)), "COMMIT")) as f:
            return f.read().strip()
    except OSError:
        return ""


def calibrate(seconds: float) -> int:
    """Iterations of the coarse job's loop that take about ``seconds`` here (best of 3 short tries)."""
    namespace: dict[str, Any] = {}
    exec(_COARSE_FN, namespace)
    n = 200_000
    best = min(_timed(namespace["job"], n) for _ in range(3))
    return int(n * seconds / best)


def _timed(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return time.perf_counter() - t0


def run_case(
    case: str, rounds: int, extra: list[str], only: list[str] | None, baseline: str | None = None
) -> dict[str, Any]:
    peers = [p for p in SCRIPTS[case] if only is None or p in only or p == REFERENCE[case]]
    skipped = {
        p: f"{NEEDS[p]} is not installed" for p in peers if p in NEEDS and not importlib.util.find_spec(NEEDS[p])
    }
    peers = [p for p in peers if p not in skipped]
    envs = {p: _env(SRC) for p in peers}
    if baseline:  # the same scripts against another tree's gearshift, in the same rounds: before and after
        for peer in [p for p in peers if (p in GEARSHIFT or case == "load") and "nozygote" not in p]:
            peers.append(f"{peer}@baseline")
            envs[peers[-1]] = _env(baseline)
    times: dict[str, list[float]] = {p: [] for p in peers}
    cpu: dict[str, list[float]] = {p: [] for p in peers}
    with tempfile.TemporaryDirectory(prefix="gearshift-cold-") as tmp:
        paths = {}
        for peer in peers:
            paths[peer] = os.path.join(tmp, f"peer_{peer.replace('-', '_')}.py")  # never shadows a module
            with open(paths[peer], "w") as f:
                f.write(SCRIPTS[case][peer.split("@")[0]])
        # One untimed run of each: the page cache holds the interpreter and the modules afterwards,
        # as it does for a user who runs scripts.
        for peer in peers:
            _run(paths[peer], extra, envs[peer])
        for r in range(rounds):
            order = peers[r % len(peers) :] + peers[: r % len(peers)]
            for peer in order:
                wall, used = _run(paths[peer], extra, envs[peer])
                times[peer].append(wall)
                cpu[peer].append(used)
            print(f"{case} round {r + 1}/{rounds}: " + "  ".join(f"{p} {times[p][-1]:.3f}" for p in peers), flush=True)
    return analyse(case, times, cpu, extra, skipped)


def _env(src: str) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]))


def _run(path: str, extra: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of the whole process, and the CPU seconds of it and the descendants it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, path, *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600
    )
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{path} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-1000:]}")
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, used


def analyse(
    case: str, times: dict[str, list[float]], cpu: dict[str, list[float]], extra: list[str], skipped: dict[str, str]
) -> dict[str, Any]:
    medians = {p: statistics.median(t) for p, t in times.items()}
    reference = REFERENCE[case]
    if reference is None:  # the best of the non-gearshift pools
        reference = min((p for p in times if p.split("@")[0] not in GEARSHIFT), key=medians.__getitem__)
    kind, target = TARGETS[case]
    peers: dict[str, Any] = {}
    for peer, values in times.items():
        entry: dict[str, Any] = {
            "times_s": [round(v, 5) for v in values],
            "median_s": round(medians[peer], 5),
            "spread_s": [round(min(values), 5), round(max(values), 5)],
            # CPU of the process and of the descendants it waited for (a forkserver outlives its
            # script and is not counted): steadier than wall time on a loaded machine
            "cpu_s": [round(v, 5) for v in cpu[peer]],
            "median_cpu_s": round(statistics.median(cpu[peer]), 5),
        }
        if peer != reference:
            ratios = [v / ref for v, ref in zip(values, times[reference])]
            diffs = [v - ref for v, ref in zip(values, times[reference])]
            entry["ratio_per_round_median"] = round(statistics.median(ratios), 4)
            entry["ratio_of_medians"] = round(medians[peer] / medians[reference], 4)
            entry["difference_per_round_median_s"] = round(statistics.median(diffs), 5)
            if peer.split("@")[0] in GEARSHIFT:
                figure = entry["difference_per_round_median_s"] if kind == "difference" else entry["ratio_of_medians"]
                entry["target"] = {"kind": kind, "at_most": target, "figure": figure, "met": figure <= target}
        peers[peer] = entry
    return {"case": case, "reference": reference, "args": extra, "skipped": skipped, "peers": peers}


def meta(cpus: int) -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "host": platform.node(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpus": cpus,
        "loadavg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": sys.version,
        "executable": sys.executable,
    }


def summary(record: dict[str, Any]) -> str:
    lines = [f"{record['case']} (reference {record['reference']}):"]
    for peer, entry in record["peers"].items():
        line = f"  {peer:<18} median {entry['median_s'] * 1000:8.1f} ms  spread {entry['spread_s'][0] * 1000:.1f}-{entry['spread_s'][1] * 1000:.1f}  CPU {entry['median_cpu_s'] * 1000:.1f} ms"
        if "ratio_of_medians" in entry:
            line += f"  x{entry['ratio_of_medians']:.3f} (per round {entry['ratio_per_round_median']:.3f}, +{entry['difference_per_round_median_s'] * 1000:.1f} ms)"
        if "target" in entry:
            t = entry["target"]
            line += f"  target {t['kind']} <= {t['at_most']}: {'met' if t['met'] else 'MISSED'}"
        lines.append(line)
    for peer, why in record["skipped"].items():
        lines.append(f"  {peer:<18} skipped: {why}")
    if "pool_fixed_cost" in record:
        fixed = record["pool_fixed_cost"]
        lines.append(
            f"  process mode's fixed cost over sync: median {fixed['median_s'] * 1000:.1f} ms"
            f" (a job {fixed['sync_seconds_per_job_median'] * 1000:.1f} ms in sync)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
