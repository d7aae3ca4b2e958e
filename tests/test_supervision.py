"""Stopping work that is no longer wanted, no orphans, bounded memory."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import faults
import gearshift
from gearshift import _memory
from helpers import alive

HERE = Path(__file__).parent
SRC = HERE.parent / "src"


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def _wait_files(folder: Path, count: int, seconds: float = 20.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pids = [int(p.name) for p in folder.iterdir()]
        if len(pids) >= count:
            return pids
        time.sleep(0.02)
    raise AssertionError(f"only {list(folder.iterdir())} appeared")


# -- no orphans ------------------------------------------------------------------------


@pytest.mark.timeout(40)
@pytest.mark.parametrize("api", ["map", "executor"])
def test_workers_exit_when_the_parent_is_killed(api: str, tmp_path: Path) -> None:
    program = textwrap.dedent(
        f"""
        import functools, gearshift
        from faults import report_pid
        fn = functools.partial(report_pid, {str(tmp_path)!r})
        if {api!r} == "map":
            gearshift.map(fn, [60] * 4, mode="process", workers=2, chunksize=1)
        else:
            ex = gearshift.ProcessPoolExecutor(2)
            futures = [ex.submit(fn, 60) for _ in range(4)]
            futures[0].result()
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}
    parent = subprocess.Popen([sys.executable, "-c", program], env=env)
    try:
        workers = _wait_files(tmp_path, 2)
        assert all(alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_gone(workers, 5.0) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# -- stopping early ----------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_breaking_out_of_imap_kills_running_process_work(tmp_path: Path) -> None:
    import functools

    fn = functools.partial(faults.report_pid, str(tmp_path))
    items = [0.0, 0.0] + [60.0] * 6
    results = gearshift.imap(fn, items, mode="process", workers=2, chunksize=1)
    assert next(results) > 0
    busy = _wait_files(tmp_path, 2)  # both workers are on the long items now
    results.close()  # what `break` does when the loop's generator goes away
    assert _wait_gone(busy, 15.0) == []  # 0.5 s grace, then killed; slack for a loaded machine


@pytest.mark.timeout(40)
def test_cancelling_amap_kills_running_process_work(tmp_path: Path) -> None:
    import functools

    fn = functools.partial(faults.report_pid, str(tmp_path))

    async def main() -> None:
        task = asyncio.ensure_future(gearshift.amap(fn, [60.0] * 4, mode="process", workers=2, chunksize=1))
        while len(list(tmp_path.iterdir())) < 2:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _wait_gone(_wait_files(tmp_path, 2), 15.0) == []


@pytest.mark.timeout(40)
def test_a_failed_map_leaves_unrelated_executor_work_alone(tmp_path: Path) -> None:
    import functools

    fn = functools.partial(faults.faulty, marks=None)
    pids = tmp_path / "pids"
    pids.mkdir()
    slow = functools.partial(faults.report_pid, str(pids))
    with gearshift.Executor("process", 2) as ex:
        hang = ex.submit(slow, 60.0)
        _wait_files(pids, 1)
        # A map on the same pool that raises: its own running work is aborted,
        # the executor's unrelated call is not.
        with pytest.raises(ValueError, match="bad item"):
            list(ex.map(fn, [(0, "raise")]))
        assert not hang.done()
        hang.cancel()
        ex._backend.abort([hang], 0.0)


# -- bounded memory -------------------------------------------------------------------------


class Counting:
    """An endless input that counts how many items were taken from it."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self) -> Iterator[int]:
        for i in itertools.count():
            self.taken = i + 1
            yield i


@pytest.mark.timeout(40)
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_imap_back_pressure_with_a_slow_consumer(mode: str) -> None:
    source = Counting()
    results = gearshift.imap(faults.slow, source, mode=mode, workers=2, chunksize=2)
    consumed = 0
    for _ in range(40):
        next(results)
        consumed += 1
        time.sleep(0.01)  # a slow consumer
    ahead = source.taken - consumed
    # window = workers * prefetch chunks in flight, at most twice that held: 2*2*2*2 items
    assert ahead <= 2 * 2 * 2 * 2 + 2, ahead
    results.close()


@pytest.mark.timeout(40)
def test_ordered_results_do_not_pile_up_behind_a_slow_item() -> None:
    source = Counting()

    def fn(x: int) -> int:
        if x == 0:
            time.sleep(1.0)
        return x

    results = gearshift.imap(fn, source, mode="thread", workers=2, chunksize=1)
    assert next(results) == 0
    # While item 0 ran, the others finished but could not be handed out:
    # at most 2 * window chunks were taken meanwhile.
    assert source.taken <= 2 * (2 * 2) + 1, source.taken
    results.close()


@pytest.fixture
def low_memory() -> Iterator[None]:
    """Make the machine look short of memory (a reserve larger than all of it)."""
    saved = _memory.reserve
    _memory.reserve = 1 << 62
    _memory.forget()
    try:
        yield
    finally:
        _memory.reserve = saved
        _memory.forget()


@pytest.mark.timeout(40)
def test_no_new_work_is_admitted_while_memory_is_low(low_memory: None) -> None:
    assert _memory.memory_low()
    lock = threading.Lock()
    running = peak = 0

    def fn(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return x

    assert gearshift.map(fn, range(20), mode="thread", workers=4, chunksize=1) == list(range(20))
    assert peak == 1  # one chunk at a time: the run still progresses


@pytest.mark.timeout(40)
def test_admission_resumes_when_memory_recovers(low_memory: None) -> None:
    lock = threading.Lock()
    running = peak = 0
    gate = threading.Event()

    def fn(x: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if x == 0:
            gate.wait(10)
        time.sleep(0.05)
        with lock:
            running -= 1
        return x

    def recover() -> None:
        time.sleep(0.3)
        _memory.reserve = 0
        gate.set()

    threading.Thread(target=recover).start()
    assert gearshift.map(fn, range(40), mode="thread", workers=4, chunksize=1) == list(range(40))
    assert peak > 1


def test_memory_info_reads_the_machine() -> None:
    info = _memory.memory_info()
    assert info is not None
    available, total = info
    assert 0 < available <= total
