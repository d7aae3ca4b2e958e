"""Run CPython's own ``concurrent.futures`` test suite against gearshift's executors.

Usage (Python 3.13, with gearshift and cloudpickle importable)::

    python tests/cpython/run_cpython_futures_tests.py [-v] [-k SUBSTRING]

The standard library ships its tests as ``test.test_concurrent_futures``.  This
runner swaps ``concurrent.futures.ThreadPoolExecutor`` and
``ProcessPoolExecutor`` for gearshift's classes (in this process, and through
``GEARSHIFT_SWAP_FUTURES=1`` plus a ``.pth`` hook in child interpreters the
tests start, see ``run.sh``), loads the executor, wait, as_completed,
shutdown, init, deadlock, thread-pool and process-pool tests, leaves out the
ones listed in ``excluded.txt`` (each with its reason) and runs the rest.
It exits non-zero if any test fails.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = [
    "test_thread_pool",  # ThreadPoolExecutor + the shared ExecutorTest behaviour
    "test_process_pool",  # ProcessPoolExecutor + the shared ExecutorTest behaviour
    "test_wait",
    "test_as_completed",
    "test_shutdown",
    "test_init",
    "test_deadlock",
]


def swap_executors() -> None:
    """Make ``concurrent.futures`` hand out gearshift's executors."""
    import concurrent.futures
    import concurrent.futures.process
    import concurrent.futures.thread

    import gearshift

    concurrent.futures.ThreadPoolExecutor = gearshift.ThreadPoolExecutor  # type: ignore[misc]
    concurrent.futures.ProcessPoolExecutor = gearshift.ProcessPoolExecutor  # type: ignore[misc]
    concurrent.futures.thread.ThreadPoolExecutor = gearshift.ThreadPoolExecutor  # type: ignore[misc]
    concurrent.futures.process.ProcessPoolExecutor = gearshift.ProcessPoolExecutor  # type: ignore[misc]


def load_exclusions() -> list[tuple[str, str]]:
    """``(pattern, reason)`` pairs from excluded.txt; a pattern matches test ids (fnmatch)."""
    rules = []
    for line in (HERE / "excluded.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        rules.append((pattern.strip(), reason.strip()))
    return rules


def iter_tests(suite: unittest.TestSuite):  # type: ignore[no-untyped-def]
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from iter_tests(test)
        else:
            yield test


def run_module(name: str, only: str | None, verbose: bool) -> dict[str, object]:
    """Run one test module here; a summary of what happened."""
    swap_executors()
    import test.test_concurrent_futures.util as util

    import gearshift

    # Every process mixin builds a gearshift pool; its workers are always fresh
    # interpreters, so the fork and forkserver variants would only repeat spawn.
    for mixin in (util.ProcessPoolForkMixin, util.ProcessPoolForkserverMixin, util.ProcessPoolSpawnMixin):
        mixin.executor_type = gearshift.ProcessPoolExecutor
    util.ThreadPoolMixin.executor_type = gearshift.ThreadPoolExecutor

    rules = load_exclusions()
    selected, excluded = [], []
    module = __import__(f"test.test_concurrent_futures.{name}", fromlist=["*"])
    for test in iter_tests(unittest.TestLoader().loadTestsFromModule(module)):
        test_id = test.id().removeprefix("test.test_concurrent_futures.")
        if only and only not in test_id:
            continue
        reason = next((r for p, r in rules if fnmatch.fnmatchcase(test_id, p)), None)
        if reason is not None:
            excluded.append(test_id)
        else:
            selected.append(test)
    runner = unittest.TextTestRunner(verbosity=2 if verbose else 1, stream=sys.stderr)
    result = runner.run(unittest.TestSuite(selected))
    return {
        "run": result.testsRun,
        "failed": [t.id() for t, _ in result.failures + result.errors],
        "skipped": len(result.skipped),
        "excluded": excluded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-k", dest="only", help="run only tests whose id contains this")
    parser.add_argument("--module", help=argparse.SUPPRESS)  # internal: run one module in this process
    parser.add_argument("--module-timeout", type=float, default=240.0)
    args = parser.parse_args()
    if args.module:
        summary = run_module(args.module, args.only, args.verbose)
        print("\nSUMMARY " + json.dumps(summary), flush=True)
        os._exit(0)  # do not wait on anything a test left behind
    if sys.version_info[:2] != (3, 13):
        print(f"warning: written for CPython 3.13's suite, running {sys.version.split()[0]}", file=sys.stderr)

    # One child interpreter per module: a hang or a leak in one cannot spoil the others.
    started = time.monotonic()
    total_run = total_skipped = 0
    failed: list[str] = []
    excluded: list[str] = []
    env = {**os.environ, "GEARSHIFT_SWAP_FUTURES": "1"}
    for name in MODULES:
        command = [sys.executable, __file__, "--module", name]
        if args.verbose:
            command.append("-v")
        if args.only:
            command += ["-k", args.only]
        t0 = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=args.module_timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            sys.stderr.write(exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or ""))
            print(f"{name}: TIMED OUT after {args.module_timeout:.0f} s")
            failed.append(f"{name} (timed out)")
            continue
        lines = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY ")]
        if not lines:
            sys.stderr.write(done.stderr)
            print(f"{name}: crashed (exit code {done.returncode})")
            failed.append(f"{name} (crashed)")
            continue
        summary = json.loads(lines[-1].removeprefix("SUMMARY "))
        if summary["failed"] or args.verbose:
            sys.stderr.write(done.stderr)
        total_run += summary["run"]
        total_skipped += summary["skipped"]
        failed += summary["failed"]
        excluded += summary["excluded"]
        print(
            f"{name}: {summary['run']} run, {len(summary['failed'])} failed, {summary['skipped']} skipped, "
            f"{len(summary['excluded'])} excluded ({time.monotonic() - t0:.0f} s)",
            flush=True,
        )
    print(
        f"\nCPython {sys.version.split()[0]} concurrent.futures suite against gearshift's executors: "
        f"{total_run} run, {len(failed)} failed, {total_skipped} skipped by the suite itself, "
        f"{len(excluded)} excluded (tests/cpython/excluded.txt), {time.monotonic() - started:.0f} s"
    )
    for test_id in failed:
        print(f"  FAILED {test_id}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
