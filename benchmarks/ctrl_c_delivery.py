"""How often a Ctrl-C reaches a script late, while auto's first item sleeps on a busy host.

Each round is a fresh interpreter (a script as users run it) calling
``gearshift.map(fn, range(40), mode="auto")`` where every item sleeps
``--sleep`` seconds; 0.1 s after the first item starts, SIGINT goes to the
script's process group, as a terminal's Ctrl-C does.  The round records how
long the ``KeyboardInterrupt`` took to reach the script; one past ``--late``
seconds means the signal was taken by a thread other than the main one, which
then slept on to the end of its item (see ``gearshift/_sigmask.py``).
``--spinners`` busy loops run beside it the whole time: the steal needs a
signal that waits to be taken, which a busy host makes last.

Peers: this tree's gearshift and, with ``--baseline``, another tree's
``src/`` (e.g. a ``git archive`` of an earlier commit, with a file ``COMMIT``
beside ``src/``), taking turns round by round.  A correctness rate, not a
timing: the machine's load is the condition, not the noise.

    python benchmarks/ctrl_c_delivery.py --rounds 40 --baseline /tmp/before/src --name ctrl-c-delivery
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _meta import ROOT, run_meta

RESULTS = ROOT / "benchmarks" / "results"

_CHILD = """
import os, sys, time
import gearshift

MARK = sys.argv[1]
SLEEP = float(sys.argv[2])

def fn(x):
    if x == 0:
        with open(MARK, "w") as f:
            f.write("started")
    time.sleep(SLEEP)
    return 2 * x

try:
    gearshift.map(fn, range(40), mode="auto")
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="rounds per tree (default 40)")
    parser.add_argument("--spinners", type=int, default=4, help="busy loops beside it (default 4)")
    parser.add_argument("--sleep", type=float, default=8.0, help="seconds each item sleeps (default 8)")
    parser.add_argument("--late", type=float, default=1.5, help="a report later than this is late (default 1.5 s)")
    parser.add_argument("--baseline", help="another tree's src/: its gearshift takes turns with this one")
    parser.add_argument("--name", default="ctrl-c-delivery", help="results go to benchmarks/results/<name>.json")
    args = parser.parse_args(argv)
    # Started in the background (``cmd &``), this process ignores SIGINT and its scripts would too (an
    # ignored signal stays ignored across exec): give them a terminal's default, a KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    meta = run_meta(argv)
    trees = {"gearshift": str(ROOT / "src")}
    if args.baseline:
        trees["baseline"] = args.baseline
    rounds: dict[str, list[float | None]] = {name: [] for name in trees}
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.spinners)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp, "child.py")
            script.write_text(_CHILD)
            for i in range(args.rounds):
                for name, src in trees.items():
                    after = _round(script, Path(tmp, "mark"), src, args.sleep)
                    rounds[name].append(after)
                    shown = "no KeyboardInterrupt" if after is None else f"{after:.2f} s"
                    print(f"round {i + 1} {name}: {shown}", flush=True)
    finally:
        for proc in spinners:
            proc.kill()
            proc.wait()
    record: dict[str, Any] = {"meta": meta, "settings": vars(args), "rounds": rounds, "late": {}}
    if args.baseline:
        commit = Path(args.baseline).parent / "COMMIT"
        record["baseline_commit"] = commit.read_text().strip() if commit.exists() else None
    for name, times in rounds.items():
        late = sum(1 for t in times if t is None or t > args.late)
        record["late"][name] = late
        print(f"{name}: {late} of {len(times)} late (over {args.late} s or never)")
    path = RESULTS / f"{args.name}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"-> {path.relative_to(ROOT)}")
    return 0


def _round(script: Path, mark: Path, src: str, sleep: float) -> float | None:
    """Seconds from the SIGINT to the script's report of its KeyboardInterrupt (None: it never came)."""
    mark.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=src)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(mark), str(sleep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the SIGINT goes to it and its workers, as from a terminal
    )
    try:
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the script's first item never started")
            time.sleep(0.005)
        time.sleep(0.1)
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        after = time.monotonic() - sent
        _, err = proc.communicate(timeout=sleep + 60)
        if line.strip() != "interrupted":
            print(f"  no report; the script's stderr ends: {err[-500:]!r}", flush=True)
            return None
        return after
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
