"""gearshift._schedstat: a thread's scheduler facts, read from /proc (Linux)."""

from __future__ import annotations

import sys
import threading

import pytest

from gearshift._schedstat import runnable, runqueue_seconds

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@linux
def test_a_running_thread_is_runnable_and_a_sleeping_one_is_not() -> None:
    assert runnable(threading.get_native_id()) is True
    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), release.wait(30)))
    thread.start()
    try:
        started.wait(30)
        assert thread.native_id is not None
        # (until it blocks in release.wait, which it reaches at once: a few tries are allowed)
        for _ in range(1000):
            if runnable(thread.native_id) is False:
                break
            threading.Event().wait(0.001)
        assert runnable(thread.native_id) is False
    finally:
        release.set()
        thread.join()


@linux
def test_a_thread_that_is_not_there_reads_none() -> None:
    # (no thread can have an id past the kernel's pid_max; a thread just joined can: its OS thread
    # may still be exiting, and its id may be another thread's by now)
    with open("/proc/sys/kernel/pid_max") as f:
        beyond = int(f.read()) + 1
    assert runnable(beyond) is None
    assert runqueue_seconds(beyond) is None


@linux
def test_the_run_queue_time_is_a_nondecreasing_count_of_seconds() -> None:
    first = runqueue_seconds()
    assert first is not None and first >= 0
    second = runqueue_seconds(threading.get_native_id())
    assert second is not None and second >= first
