"""Ctrl-C for real, over the matrix (contract C8): every mode x entry point x plain/async x sleep/compute.

The deep profile (``GEARSHIFT_HYPOTHESIS_PROFILE=deep``) runs all 96 cells; CI runs a covering
subset of 24 (every mode x entry point, each mode and entry point with all four kinds of work).

A child program runs a job of long items (20 s each, after a few quick
ones); once one long item has started, the test sends SIGINT to the child's
process group, as a terminal does.  Measured in the child: from the signal's
arrival (its handler) to the ``except KeyboardInterrupt`` clause.  Measured
here: from the signal to the child's report, and from the report to its exit.
The results handed out plus ``partial_results`` must be a correct prefix of
the builtin ``map``'s.

The bounds are the contract's (0.5 s to the exception, 1 s more to exit) plus
room for a loaded 2-core machine; the defects they catch took 20 s or more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import gearshift

pytestmark = pytest.mark.alone  # the times from Ctrl-C to the exception and to the exit

HERE = Path(__file__).parent
SRC = Path(gearshift.__file__).resolve().parents[1]  # the code under test, wherever it was imported from

#: contract: 0.5 s to the exception; the rest is room for a loaded machine
RAISE_WITHIN = 1.0
#: contract: exit within 1 s after the exception; the rest is room for a loaded machine
EXIT_WITHIN = 2.0
#: how long the child may take to reach a long item
START_WITHIN = 20.0

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys, threading, time, traceback
    import gearshift
    import timed_work

    if os.environ.get("GEARSHIFT_TEST_LEAN_LOAD"):  # the lean start hands over to auto after this long
        import gearshift._lean
        gearshift._lean.LOAD_SECONDS = float(os.environ["GEARSHIFT_TEST_LEAN_LOAD"])

    mode, api, kind, work = sys.argv[1:5]
    items = list(range(int(sys.argv[5])))
    workers = int(sys.argv[6]) or None
    if work == "compute_here":  # unpicklable (a lock among its globals): measured on threads by auto
        lock = threading.Lock()

        def fn(x):
            with lock:
                pass
            timed_work._compute(timed_work._seconds(x))
            return 2 * x
    else:
        fn = timed_work.FUNCTIONS[kind, work]
    arrived = []

    def on_sigint(signum, frame):
        arrived.append(time.monotonic())
        signal.default_int_handler(signum, frame)

    seen = []

    async def amain():
        if api == "amap":
            seen.extend(await gearshift.amap(fn, items, mode=mode, workers=workers))
        else:
            async for r in gearshift.aimap(fn, items, mode=mode, workers=workers):
                seen.append(r)

    def main():
        if api == "map":
            seen.extend(gearshift.map(fn, items, mode=mode, workers=workers))
        elif api == "imap":
            for r in gearshift.imap(fn, items, mode=mode, workers=workers):
                seen.append(r)
        elif api == "executor":
            with gearshift.Executor(mode, workers) as ex:
                for r in ex.map(fn, items):
                    seen.append(r)
        else:
            asyncio.run(amain())  # asyncio.run installs its own SIGINT handler

    signal.signal(signal.SIGINT, on_sigint)
    try:
        main()
        print("finished", flush=True)
    except KeyboardInterrupt as exc:
        caught = time.monotonic()
        partial = getattr(exc, "partial_results", None)
        frames = [f"{f.filename.rsplit('/', 1)[-1][:-3]}.{f.name}" for f in traceback.extract_tb(exc.__traceback__)]
        print(json.dumps({
            "after": caught - arrived[0] if arrived else None,
            "seen": seen,
            "partial": partial,
            "frames": frames,
        }), flush=True)
    """
)


def run_interrupted(
    tmp_path: Path,
    mode: str,
    api: str,
    kind: str,
    work: str,
    *,
    quick: int = 4,
    quick_seconds: float = 0.01,
    items: int = 40,
    settle: float = 0.1,
    workers: int | None = None,
    lean: float | None = None,
) -> tuple[dict[str, Any], float, float, str]:
    """Run the child until a long item started and ``settle`` s more, SIGINT it.

    Returns its report, the seconds from the signal to the report and from the report to its exit, its stderr.
    """
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)]),
        "GEARSHIFT_TEST_MARKS": str(marks),
        "GEARSHIFT_TEST_QUICK": str(quick),
        "GEARSHIFT_TEST_QUICK_SECONDS": str(quick_seconds),
        "GEARSHIFT_TEST_LEAN_LOAD": "" if lean is None else str(lean),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, mode, api, kind, work, str(items), str(workers or 0)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, like a terminal job
    )
    try:
        deadline = time.monotonic() + START_WITHIN
        while not any(marks.iterdir()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no long item started"
            time.sleep(0.01)
        time.sleep(settle)  # the run settles into waiting for it
        sent = time.monotonic()
        os.killpg(child.pid, signal.SIGINT)
        assert child.stdout is not None
        line = child.stdout.readline()
        reported = time.monotonic() - sent
        child.wait(timeout=30)
        exited = time.monotonic() - sent - reported
        err = child.stderr.read() if child.stderr is not None else ""
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert line.startswith("{"), (line, err)
    return json.loads(line), reported, exited, err


#: the whole matrix runs with the deep profile (docs/semantics.md); CI runs a covering subset
FULL_MATRIX = os.environ.get("GEARSHIFT_HYPOTHESIS_PROFILE", "ci") == "deep"
MODES = ("sync", "async", "thread", "process", "auto")
APIS = ("map", "imap", "amap", "aimap", "executor")
WORKS = (("plain", "sleep"), ("plain", "compute"), ("async", "sleep"), ("async", "compute"))


def _skipped(mode: str, api: str, kind: str, work: str) -> bool:
    # The contract's one exception: in async mode the caller's coroutines run on the caller's
    # loop, and a 20 s synchronous stretch of theirs keeps asyncio.run's SIGINT handling from
    # running.  Not gearshift's wait.
    return mode == "async" and api in ("amap", "aimap") and kind == "async" and work == "compute"


def _cases(full: bool = FULL_MATRIX) -> list[object]:
    """Every mode x entry point x plain/async x sleep/compute, or (``full=False``) a covering subset.

    The subset keeps every mode x entry point cell with one kind of work each, rotated so that
    every mode and every entry point meets all four kinds of work: 24 children instead of 96
    (each one a fresh interpreter that runs until Ctrl-C), which keeps CI within its budget.
    """
    cases: list[object] = []
    met: set[tuple[str, tuple[str, str]]] = set()  # (mode or entry point, kind of work) pairs the subset has
    for mode in MODES:
        for api in APIS:
            if api == "executor" and mode == "auto":
                continue  # an Executor has no auto mode
            if full:
                works = list(WORKS)
            else:  # the kind of work that meets the most pairs not yet met (the first such, so stable)
                allowed = [w for w in WORKS if not _skipped(mode, api, *w)]
                best = max(allowed, key=lambda w: ((mode, w) not in met) + ((api, w) not in met))
                met.update({(mode, best), (api, best)})
                works = [best]
            for kind, work in works:
                marks = []
                if _skipped(mode, api, kind, work):
                    marks.append(pytest.mark.skip(reason="the user's own coroutine holds the caller's loop"))
                cases.append(pytest.param(mode, api, kind, work, marks=marks, id=f"{mode}-{api}-{kind}-{work}"))
    return cases


def test_the_ci_subset_covers_every_mode_and_entry_point_with_every_kind_of_work() -> None:
    subset = {tuple(c.values) for c in _cases(full=False)}  # type: ignore[attr-defined]
    full = {tuple(c.values) for c in _cases(full=True) if not c.marks}  # type: ignore[attr-defined]
    assert len(subset) == len(_cases(full=False)) == 24
    assert subset <= full
    assert {(m, a) for m, a, _, _ in subset} == {(m, a) for m, a, _, _ in full}
    for mode in MODES:
        assert {(k, w) for m, _, k, w in subset if m == mode} == set(WORKS)
    for api in APIS:
        assert {(k, w) for _, a, k, w in subset if a == api} == set(WORKS)


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize(("mode", "api", "kind", "work"), _cases())
def test_ctrl_c_raises_at_once_and_the_program_exits(tmp_path: Path, mode: str, api: str, kind: str, work: str) -> None:
    # Four workers: dozens of threads computing pure Python (async mode's default for plain
    # functions is 32) keep the GIL from the main thread for a second or more, whatever it does.
    report, reported, exited, err = run_interrupted(tmp_path, mode, api, kind, work, workers=4)
    assert report["after"] is not None and report["after"] < RAISE_WITHIN, report
    assert reported < RAISE_WITHIN + 0.5, reported
    assert exited < EXIT_WITHIN, exited
    handed_out = report["seen"] + (report["partial"] or [])
    assert handed_out == [2 * x for x in range(len(handed_out))], report
    if api in ("map", "imap", "executor"):  # asyncio.run raises a KeyboardInterrupt of its own
        assert report["partial"] is not None, report
    assert "Traceback" not in err, err


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("work", "quick", "quick_seconds", "items", "settle", "phase"),
    [
        # the first item is long: Ctrl-C lands in it, on the lean start's first item, which auto took
        # over (a waiting one has the lookahead's items running on threads meanwhile: they must not
        # hold up the exit)
        pytest.param("sleep", 0, 0.01, 40, 0.1, "_lean_first.first", id="sample-sleep"),
        pytest.param("compute", 0, 0.01, 40, 0.1, "_lean_first.first", id="sample-compute"),
        # quick items, then long ones, before the lean start has spent what loading auto costs
        pytest.param("compute", 10, 0.001, 40, 0.1, "_lean._chunks", id="lean-chunks"),
        # the first item waits 0.3 s: the next ones (long) start on threads, and once it is
        # over the run hands out the lookahead's results
        pytest.param("sleep", 1, 0.3, 40, 1.0, "lookahead.batches", id="lookahead"),
        # the first item computes 1.5 s: the next ones (long) start on worker processes, and once
        # it is over the run hands out the lookahead's results while the plan's items run beside them
        # (with four busy loops on two CPUs, a first item of 0.3 s ended before they had started)
        pytest.param("compute", 1, 1.5, 40, 2.5, "lookahead.batches", id="lookahead-processes"),
        # unpicklable work that computes is measured on threads: the probe reaches the long items
        pytest.param("compute_here", 8, 0.01, 40, 0.1, "gil.probe_threads", id="probe"),
        # enough quick items for the measuring to end before the long ones: the plan runs them
        pytest.param("compute", 40, 0.01, 80, 0.1, "run.run", id="plan"),
    ],
)
def test_ctrl_c_in_each_phase_of_auto(
    tmp_path: Path, work: str, quick: int, quick_seconds: float, items: int, settle: float, phase: str
) -> None:
    # (auto's own phases past its first item: the lean start hands over after its first chunk)
    lean = None if phase.startswith("_lean") or phase.startswith("lookahead") else 0.0
    report, reported, exited, err = run_interrupted(
        tmp_path,
        "auto",
        "map",
        "plain",
        work,
        quick=quick,
        quick_seconds=quick_seconds,
        items=items,
        settle=settle,
        lean=lean,
    )
    # (the frames in one short line: pytest cuts a long message, and where Ctrl-C landed is the finding)
    assert phase in report["frames"], " > ".join(report["frames"][3:])
    assert report["after"] is not None and report["after"] < RAISE_WITHIN, report
    assert reported < RAISE_WITHIN + 0.5, reported
    assert exited < EXIT_WITHIN, exited
    handed_out = report["seen"] + report["partial"]
    assert handed_out == [2 * x for x in range(len(handed_out))], report
    assert len(handed_out) <= quick
    assert "Traceback" not in err, err
