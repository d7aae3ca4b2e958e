"""Ctrl-C, for real: a child program gets SIGINT on its whole process group, as from a terminal.

Each case checks that ``KeyboardInterrupt`` reaches the caller within 2 s, that
nothing is printed by the workers, that the completed results are kept, that no
worker process outlives the program and that the program exits promptly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import alive

pytestmark = pytest.mark.alone  # the times from Ctrl-C to the exit

HERE = Path(__file__).parent
SRC = HERE.parent / "src"

PROGRAM = textwrap.dedent(
    """
    import asyncio, os, sys, threading, time
    import gearshift, gearshift._runner
    from faults import sleeper

    mode, api, grace = sys.argv[1], sys.argv[2], float(sys.argv[3])
    gearshift._runner.GRACE = grace
    items = [0.01] * 4 + [30.0] * 20

    def children():
        me, found = str(os.getpid()), []
        for pid in os.listdir("/proc"):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        found.append(int(pid))
            except (OSError, IndexError, ValueError):
                pass
        return found

    def announce():
        time.sleep(1.5)  # the long items are running by now
        print("started", *children(), flush=True)

    threading.Thread(target=announce, daemon=True).start()
    seen = []
    try:
        if api == "map":
            gearshift.map(sleeper, items, mode=mode, workers=2, chunksize=1)
        elif api == "map-plain":  # nothing but the mode: in sync mode, gearshift._quick runs it
            gearshift.map(sleeper, items, mode=mode)
        elif api == "imap":
            for r in gearshift.imap(sleeper, items, mode=mode, workers=2, chunksize=1):
                seen.append(r)
        elif api == "executor":
            with gearshift.Executor(mode, 2) as ex:
                futures = [ex.submit(sleeper, s) for s in items]
                for f in futures:
                    seen.append(f.result())
        elif api == "amap":
            asyncio.run(gearshift.amap(sleeper, items, mode=mode, workers=2, chunksize=1))
        print("finished without interruption", flush=True)
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "partial_results", [])
        print("interrupted", len(seen) + len(partial), flush=True)
    """
)


def _run(mode: str, api: str, *, grace: float = 0.5, signals: int = 1) -> tuple[float, str, str, list[int]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    child = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, mode, api, str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a terminal job
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().split()
        assert line[:1] == ["started"], line
        workers = [int(p) for p in line[1:]]
        sent = time.monotonic()
        for k in range(signals):
            if k:
                time.sleep(0.2)
            os.killpg(child.pid, signal.SIGINT)
        answer = child.stdout.readline()
        took = time.monotonic() - sent
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return took, answer + out, err, workers


def _wait_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


@pytest.mark.slow
@pytest.mark.timeout(40)
@pytest.mark.parametrize("api", ["map", "imap", "executor", "amap"])
@pytest.mark.parametrize("mode", ["sync", "thread", "process", "async"])
def test_ctrl_c_stops_the_run(mode: str, api: str) -> None:
    took, out, err, workers = _run(mode, api)
    assert out.startswith("interrupted"), (out, err)
    assert took < 2.0, took
    assert "Traceback" not in err, err
    if api in ("map", "imap"):
        # the four short items completed before the interrupt and were kept
        assert int(out.split()[1]) >= 4, out
    if mode == "process":
        assert workers, "the program should have had worker processes"
    assert _wait_gone(workers) == []


@pytest.mark.timeout(40)
@pytest.mark.parametrize("mode", ["sync", "thread"])
def test_ctrl_c_stops_a_map_given_only_its_mode(mode: str) -> None:
    took, out, err, _ = _run(mode, "map-plain")
    assert out.startswith("interrupted"), (out, err)
    assert took < 2.0, took
    assert "Traceback" not in err, err
    assert int(out.split()[1]) >= 4, out  # the four short items completed before the interrupt and were kept


@pytest.mark.timeout(40)
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_second_ctrl_c_cuts_the_grace_short(mode: str) -> None:
    took, out, err, workers = _run(mode, "map", grace=20.0, signals=2)
    assert out.startswith("interrupted"), (out, err)
    assert took < 2.0, took
    assert "Traceback" not in err, err
    assert _wait_gone(workers) == []
