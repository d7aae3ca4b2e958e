"""Run joblib's own ``test_parallel.py`` with ``"gearshift"`` as the backend under test.

Usage (joblib, pytest and gearshift importable)::

    python tests/joblib_suite/run_joblib_suite.py [-k EXPR] [-x] [--json FILE] [--ci]

joblib ships its tests inside its wheel (``joblib/test/``).  This driver imports
:mod:`gearshift.joblib` first, so the backend is in ``joblib.parallel.BACKENDS`` when
the test module builds its parameter lists; adds ``"gearshift"`` to the module's
process-backend lists (its default mode runs worker processes), keeps only the tests
that run with ``"gearshift"`` (by name or as a backend instance), skips the ones listed
in ``excluded.txt`` (each with its reason) and prints the counts: passed, failed,
skipped by joblib itself, excluded by us.  It exits non-zero if a test fails.
``--ci`` runs only the tests named in ``ci.txt`` (the share that fits CI's budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
MODULE = "joblib.test.test_parallel"


def load_rules(name: str) -> list[tuple[str, str]]:
    """``(pattern, reason)`` pairs of a list file; a pattern matches test names (* and ? wildcards)."""
    rules = []
    for line in (HERE / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            pattern, _, reason = line.partition("#")
            rules.append((pattern.strip(), reason.strip()))
    return rules


def uses_gearshift(item: pytest.Item) -> bool:
    from gearshift.joblib import GearshiftBackend

    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(value == "gearshift" or isinstance(value, GearshiftBackend) for value in params.values())


def _matches(names: tuple[str, str], pattern: str) -> bool:
    """Shell-style ``*`` and ``?`` only: brackets are literal, as in parametrized names ``test_x[loky-2]``."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return any(re.fullmatch(regex, name) for name in names)


class GearshiftUnderTest:
    """pytest plugin: selects the gearshift tests, applies the exclusions, counts the outcomes."""

    def __init__(self, ci: bool) -> None:
        self.excluded = load_rules("excluded.txt")
        # ci.txt: patterns to run, then "!pattern" lines for the ones left out of CI
        rules = [pattern for pattern, _ in load_rules("ci.txt")] if ci else None
        self.ci = None if rules is None else [p for p in rules if not p.startswith("!")]
        self.ci_out = [] if rules is None else [p[1:] for p in rules if p.startswith("!")]
        self.outcomes: dict[str, str] = {}

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep, drop = [], []
        for item in items:
            # a pattern matches the test's name with its parameters ("test_x[gearshift-2]") or without
            names = (item.name, getattr(item, "originalname", item.name))
            selected = uses_gearshift(item) and (
                self.ci is None
                or (any(_matches(names, p) for p in self.ci) and not any(_matches(names, p) for p in self.ci_out))
            )
            (keep if selected else drop).append(item)
            for pattern, reason in self.excluded:
                if selected and _matches(names, pattern):
                    item.add_marker(pytest.mark.skip(reason=f"excluded: {reason}"))
                    self.outcomes[item.nodeid] = "excluded"
                    break
        items[:] = keep
        config.hook.pytest_deselected(items=drop)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.outcomes.get(report.nodeid) == "excluded":
            return
        if report.failed:
            self.outcomes[report.nodeid] = "failed"
        elif report.skipped:
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call":
            self.outcomes.setdefault(report.nodeid, "passed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default=None, help="pytest -k expression over the selected tests")
    parser.add_argument("-x", action="store_true", help="stop at the first failure")
    parser.add_argument("-v", action="store_true")
    parser.add_argument("--ci", action="store_true", help="only the tests named in ci.txt")
    parser.add_argument("--json", type=Path, help="write the counts and every outcome here")
    args = parser.parse_args()

    # Child interpreters register the backend too (see child_site/sitecustomize.py).
    os.environ["GEARSHIFT_JOBLIB_REGISTER"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE / "child_site"), os.environ.get("PYTHONPATH")]))

    import joblib

    import gearshift.joblib  # registers "gearshift" before the test module reads joblib's BACKENDS

    module: Any = __import__(MODULE, fromlist=["_"])
    for name in ("PROCESS_BACKENDS", "PARALLEL_BACKENDS", "all_backends_for_context_manager"):
        getattr(module, name).append("gearshift")

    plugin = GearshiftUnderTest(args.ci)
    pytest_args = [
        "--pyargs", MODULE, "-c", str(HERE / "pytest.ini"), "--rootdir", str(HERE), "-p", "no:cacheprovider",
        "-q" if not args.v else "-v", "-rfE", "--durations=40",
    ]  # fmt: skip
    if args.k:
        pytest_args += ["-k", args.k]
    if args.x:
        pytest_args.append("-x")
    start = time.monotonic()
    code = pytest.main(pytest_args, plugins=[plugin])
    counts = {
        k: sum(1 for v in plugin.outcomes.values() if v == k) for k in ("passed", "failed", "skipped", "excluded")
    }
    commit = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    summary = {
        "commit": commit,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "joblib": joblib.__version__,
        "gearshift": gearshift.__version__,
        "python": sys.version.split()[0],
        "seconds": round(time.monotonic() - start, 1),
        **counts,
    }
    print("joblib test_parallel.py with backend 'gearshift':", json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps({**summary, "outcomes": plugin.outcomes}, indent=1) + "\n")
    return 1 if counts["failed"] or code not in (0, 5) else 0


if __name__ == "__main__":
    sys.exit(main())
