"""Survey the matrix: run many drawn configurations and list each distinct contract violation once.

The harness (test_semantics.py) stops at the first failure per invariant and shrinks it; this
script keeps going, so a report can list every *distinct* defect with the smallest configuration
that showed it.  A violation's signature is its message with numbers and reprs blanked, plus the
mode, entry point and function kind.

    cd tests && PYTHONPATH=../src python semantics_survey.py [EXAMPLES] [SEED] [KEYWORD=VALUE ...]

Keywords narrow the strategy as in ``test_semantics.configs`` (e.g. ``modes=process,auto``).
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

import semantics_model as sm
import semantics_oracle as so
from test_semantics import configs


def signature(cfg: sm.Config, problem: str) -> str:
    text = re.sub(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\([^)]*\)|\d+(\.\d+)?", "_", problem.split("\n")[0])
    kind = "async" if cfg.is_async else "plain"
    return f"{cfg.mode:>18} {cfg.entry:<12} {kind:<5} | {text}"


def size(cfg: sm.Config) -> tuple[int, ...]:
    return (len(cfg.faults), cfg.n, cfg.retries, cfg.workers, int(cfg.input_fault is not None))


def main(argv: list[str]) -> None:
    examples = int(argv[0]) if argv else 200
    chosen_seed = int(argv[1]) if len(argv) > 1 else 0
    kw: dict[str, Any] = {}
    for arg in argv[2:]:
        key, value = arg.split("=", 1)
        kw[key] = tuple(value.split(",")) if key in ("modes", "entries", "kinds", "errors", "consumers") else int(value)
    folder = Path(tempfile.mkdtemp(prefix="gearshift-survey-"))
    found: dict[str, tuple[sm.Config, str]] = {}
    ran = 0
    t0 = time.monotonic()

    @seed(chosen_seed)
    @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(cfg=configs(**kw))
    def survey(cfg: sm.Config) -> None:
        nonlocal ran
        ran += 1
        _, _, problems = so.check(cfg, str(folder))
        for p in problems:
            sig = signature(cfg, p)
            if sig not in found or size(cfg) < size(found[sig][0]):
                found[sig] = (cfg, p)

    try:
        survey()
    finally:
        sm.shutdown_executors()
        print(f"{ran} configurations in {time.monotonic() - t0:.0f} s, seed {chosen_seed}: "
              f"{len(found)} distinct violations")  # fmt: skip
        for sig in sorted(found):
            cfg, p = found[sig]
            print(f"\n{sig}\n    {p}\n    {cfg!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
