"""What the typing checks cost, and pyright's completeness figure: benchmarks/results/typing.json.

Times the typing suite's mypy run (tests/typecheck/, as tests/test_api_typing.py runs it) with an
empty cache and with a warm one, ROUNDS times each, interleaved; runs ``pyright --verifytypes
gearshift`` once (if pyright is installed: ``pip install pyright``) for its completeness figure
and its time.  Run from the repository root:

    python benchmarks/typing_check.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MYPY = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "tests/typecheck/uses.py"]
MYPY += ["tests/typecheck/misuse.py"]


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - start, done


def mypy_rounds(rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "MYPYPATH": str(ROOT / "src"), "MYPY_CACHE_DIR": cache}
            for kind in ("cold", "warm"):  # the same cache: empty, then filled by the cold run
                seconds, done = _timed(MYPY, env)
                if done.returncode != 1 or "misuse.py" not in done.stdout:  # the misuses must fail, nothing else
                    raise RuntimeError(f"mypy did not check the typing suite:\n{done.stdout}{done.stderr}")
                times[kind].append(round(seconds, 2))
    return times


def pyright_completeness() -> dict[str, Any] | None:
    pyright = shutil.which("pyright") or str(Path(sys.executable).with_name("pyright"))
    if not Path(pyright).exists():
        return None
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [pyright, "--pythonpath", sys.executable, "--verifytypes", "gearshift", "--ignoreexternal"]
    seconds, done = _timed([*command, "--outputjson"], env)
    report = json.loads(done.stdout)["typeCompleteness"]
    version = subprocess.run([pyright, "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "command": " ".join(["pyright", *command[1:]]).replace(sys.executable, "python"),
        "version": version,
        "seconds": round(seconds, 2),
        "score": report["completenessScore"],
        "exported": report["exportedSymbolCounts"],
        "other": report["otherSymbolCounts"],
        "missing_docstrings": report["missingFunctionDocStringCount"] + report["missingClassDocStringCount"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "typing.json"))
    args = parser.parse_args(argv)
    load_start = [round(x, 2) for x in os.getloadavg()]
    mypy = mypy_rounds(args.rounds)
    result = {
        "command": "python benchmarks/typing_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip(),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "mypy": subprocess.run(
            [sys.executable, "-m", "mypy", "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        # The machine may be shared: the load average says how much else was running.
        "loadavg_start": load_start,
        "typing_suite_seconds": mypy,
        "typing_suite_median": {kind: statistics.median(times) for kind, times in mypy.items()},
        "pyright_verifytypes": pyright_completeness(),
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
