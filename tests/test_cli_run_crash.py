"""``gearshift run`` killed with SIGKILL mid-run, in every mode (contract C12, issue 17 defect 8).

The function records each execution in a side-effect log (one ``O_APPEND``
write per line, so lines from threads and processes never mix): when it
started and when it finished, by wall clock.  The run is killed with SIGKILL
(its whole process group, workers included, as a crash would) while items
are finishing all the time.  Then:

* every item the log says finished more than ``LAG`` s before the kill is in the
  checkpoint (at most ``LAG`` s of finished work is lost);
* ``--resume`` runs no item that was checkpointed, and the output equals the
  builtin ``map``;
* ``--resume`` of the finished run runs nothing at all, and says so.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from gearshift._cli._run import checkpoint_path

# Grids over gearshift's own semantics, not over its dependencies' APIs: run once, on the newest
# versions (.ci/run's lowest-versions step leaves slow tests out to stay within CI's 15 minutes).
pytestmark = [pytest.mark.slow, pytest.mark.alone]  # alone: what a kill -9 may lose is a time bound

#: the contract: finished work older than this at the kill is checkpointed
LAG = 0.25

JOBS = textwrap.dedent(
    """
    import asyncio, os, time

    SECONDS = float(os.environ["GS_SECONDS"])
    FIRST = float(os.environ.get("GS_FIRST_SECONDS") or SECONDS)  # item 0 alone may take longer
    HANG = int(os.environ.get("GS_HANG_FROM") or -1)  # items from this index on never finish
    MIXED = bool(os.environ.get("GS_MIXED"))  # one item in 7 takes 20 times longer

    def _seconds(x):
        if 0 <= HANG <= x:
            return 600.0
        if MIXED and x % 7 == 3:
            return 20 * SECONDS  # a slow one among fast ones
        return FIRST if x == 0 else SECONDS

    def _log(kind, x):
        fd = os.open(os.environ["GS_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.environ['GS_ATTEMPT']} {kind} {x} {time.time():.6f}\\n".encode())
        finally:
            os.close(fd)

    def work(x):
        _log("start", x)
        time.sleep(_seconds(x))
        _log("end", x)
        return x * x

    def busy(x):
        _log("start", x)
        end = time.perf_counter() + _seconds(x)
        while time.perf_counter() < end:
            pass
        _log("end", x)
        return x * x

    async def awork(x):
        _log("start", x)
        await asyncio.sleep(_seconds(x))
        _log("end", x)
        return x * x
    """
)


@dataclass
class Case:
    mode: str
    fn: str
    seconds: float  # per item
    items: int
    workers: int | None
    run_for: float  # seconds of finishing items before the kill
    first: float | None = None  # item 0's seconds, when it is slower than the others
    hang_from: int | None = None  # items from this index on never finish: the run goes quiet
    chunksize: int | None = None
    mixed: bool = False  # one item in 7 much slower: a chunk must not hold the fast ones until it ends


CASES = {
    "sync": Case("sync", "work", 0.01, 3000, None, 1.5),
    "async": Case("async", "awork", 0.05, 20000, 32, 1.5),
    "thread": Case("thread", "work", 0.05, 8000, 16, 1.5),
    "thread-64": Case("thread", "work", 0.25, 8000, 64, 1.8),  # waves of 64 items at once
    "process": Case("process", "work", 0.05, 3000, 2, 1.5),
    "auto": Case("auto", "work", 0.5, 5000, None, 3.0),  # the first items are measured, then threads
    "auto-short": Case("auto", "work", 0.05, 60000, None, 1.5),
    # The run goes quiet (every worker stuck on an item that never ends): what finished before must
    # not wait for the next result to be committed.  Chunks of 1, so no finished item shares a chunk
    # with a stuck one (a chunk reports when all of it is back).
    "sync-quiet": Case("sync", "work", 0.01, 200, None, 1.0, hang_from=10),
    "async-quiet": Case("async", "awork", 0.05, 500, 32, 1.0, hang_from=40),
    "thread-quiet": Case("thread", "work", 0.05, 500, 16, 1.0, hang_from=30, chunksize=1),
    "process-quiet": Case("process", "work", 0.05, 500, 2, 1.0, hang_from=6, chunksize=1),
    # async chunks of 1000 // 64 items running at once (and auto's, bigger): each item reports as it ends.
    # At most workers / seconds items end per second, so these runs cannot end before the kill
    # (under 20,000 and 40,000 items in the 1.5 s and the start); the resume runs the rest.
    "async-mixed": Case("async", "awork", 0.1, 60000, 1000, 1.5, mixed=True),
    "auto-async-mixed": Case("auto", "awork", 0.1, 100000, 2000, 1.5, mixed=True),
    "thread-async-mixed": Case("thread", "awork", 0.05, 60000, 4, 2.0, mixed=True),  # 32 at once per worker
    "sync-async-mixed": Case("sync", "awork", 0.01, 20000, None, 1.5, mixed=True),
    "thread-mixed": Case("thread", "work", 0.01, 20000, 8, 1.5, mixed=True),
    "process-mixed": Case("process", "work", 0.002, 20000, 2, 1.5, mixed=True),
    "auto-cpu": Case("auto", "busy", 0.005, 20000, None, 2.0),  # computes: measured, probed, then processes
    "auto-1s": Case("auto", "work", 1.0, 20000, None, 4.5),  # the report: 1,793 finished, 0 checkpointed
    # auto measures item 0 alone; the next ones start on threads meanwhile (the lookahead) and finish first
    "auto-slow-first": Case("auto", "work", 0.05, 20000, None, 2.5, first=4.0),
}


def _log(work: Path) -> list[tuple[int, str, int, float]]:
    path = work / "calls.log"
    if not path.exists():
        return []
    rows = []
    text = path.read_text()
    # The run may be writing a line as it is read: one without its newline is not complete yet.
    for line in text[: text.rfind("\n") + 1].splitlines():
        attempt, kind, x, when = line.split()
        rows.append((int(attempt), kind, int(x), float(when)))
    return rows


def _sqlite_done(db: Path) -> set[int]:
    conn = sqlite3.connect(db)
    try:
        return {i for (i,) in conn.execute("SELECT idx FROM results")}
    finally:
        conn.close()


def _start(
    work: Path, case: Case, attempt: int, store: str | None, *, resume: bool, seconds: float
) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "gearshift", "run", f"jobs_crash:{case.fn}", "-i", "in.jsonl", "-o", "out.jsonl",
            "--mode", case.mode]  # fmt: skip
    if case.workers is not None:
        args += ["--workers", str(case.workers)]
    if case.chunksize is not None:
        args += ["--chunksize", str(case.chunksize)]
    if store is not None:
        args += ["--store", store]
    if resume:
        args.append("--resume")
    env = {
        **os.environ,
        "GS_LOG": str(work / "calls.log"),
        "GS_ATTEMPT": str(attempt),
        "GS_SECONDS": str(seconds),
        "GS_FIRST_SECONDS": str(case.first if case.first is not None and seconds else ""),
        "GS_HANG_FROM": str(case.hang_from if case.hang_from is not None and seconds else ""),
        "GS_MIXED": "1" if case.mixed and seconds else "",
    }
    # Its own process group: the kill takes the workers down with it, as a crash of the machine would.
    return subprocess.Popen(
        args, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _kill_mid_run(work: Path, proc: subprocess.Popen[str], case: Case) -> float:
    """Let items finish for ``case.run_for`` s, then SIGKILL the run's process group; the time of the kill."""
    deadline = time.monotonic() + 60
    while not any(kind == "end" for _, kind, _, _ in _log(work)):
        assert proc.poll() is None, f"the run ended before finishing an item: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, "no item finished within 60 s"
        time.sleep(0.02)  # polling another process's log: there is no event to wait on
    time.sleep(case.run_for)  # the run goes on: this is the time it has to checkpoint
    assert proc.poll() is None, "the run finished before it could be killed: give it more items"
    killed_at = time.time()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return killed_at


def _check(work: Path, case: Case, done: set[int], killed_at: float) -> None:
    ends = {x: when for attempt, kind, x, when in _log(work) if attempt == 1 and kind == "end"}
    assert len(ends) < case.items, "killed mid-run"
    if case.hang_from is not None:
        assert set(ends) == set(range(case.hang_from)), "every item before the stuck ones finished"
    lost = {x: killed_at - when for x, when in ends.items() if x not in done and when < killed_at - LAG}
    assert not lost, (
        f"{len(lost)} of {len(ends)} finished items are not checkpointed though they finished more than {LAG} s "
        f"before the kill ({len(done)} checkpointed); the oldest finished {max(lost.values()):.2f} s before it"
    )
    assert done <= set(ends), "only finished items are checkpointed"


def _resume_and_check(work: Path, case: Case, done: set[int], store: str | None) -> None:
    proc = _start(work, case, 2, store, resume=True, seconds=0.0)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    rerun = {x for attempt, kind, x, _ in _log(work) if attempt == 2 and kind == "start"} & done
    assert not rerun, f"{len(rerun)} items checkpointed before the kill ran again: {sorted(rerun)[:10]}"
    records = [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()]
    assert records == [{"index": i, "value": v} for i, v in enumerate(map(lambda x: x * x, range(case.items)))]

    # The run is finished: --resume runs nothing, and says so.
    before = len(_log(work))
    proc = _start(work, case, 3, store, resume=True, seconds=0.0)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert len(_log(work)) == before, "--resume of a finished run ran items again"
    assert "nothing to run" in err, err
    assert [json.loads(line) for line in (work / "out.jsonl").read_text().splitlines()] == records


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "jobs_crash.py").write_text(JOBS)
    return tmp_path


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(CASES))
def test_sigkill_loses_at_most_a_quarter_second_then_resume(work: Path, name: str) -> None:
    case = CASES[name]
    (work / "in.jsonl").write_text("".join(f"{i}\n" for i in range(case.items)))
    proc = _start(work, case, 1, None, resume=False, seconds=case.seconds)
    killed_at = _kill_mid_run(work, proc, case)
    done = _sqlite_done(checkpoint_path(work / "out.jsonl"))
    _check(work, case, done, killed_at)
    _resume_and_check(work, case, done, None)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["thread-64", "process"])
def test_sigkill_with_a_redis_store(work: Path, name: str, redis_url: str) -> None:
    from gearshift._store._redis import RedisStore

    case = CASES[name]
    (work / "in.jsonl").write_text("".join(f"{i}\n" for i in range(case.items)))
    proc = _start(work, case, 1, redis_url, resume=False, seconds=case.seconds)
    killed_at = _kill_mid_run(work, proc, case)
    store = RedisStore(redis_url)
    try:
        done = store.done_indices()
        _check(work, case, done, killed_at)
        _resume_and_check(work, case, done, redis_url)
    finally:
        store.delete()
        store.close()
