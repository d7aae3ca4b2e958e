"""gearshift._pause: the main thread's first item waits while a helper thread holds it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from gearshift._pause import SIGNAL, Pause

pytestmark = pytest.mark.skipif(SIGNAL is None, reason="no SIGURG here")


@pytest.fixture
def pause() -> Iterator[Pause]:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are installed from the main thread")
    pause = Pause()
    assert pause.install()
    try:
        yield pause
    finally:
        pause.release()
        pause.uninstall()
    assert signal.getsignal(signal.SIGURG) == signal.SIG_DFL


def _spin_while_held(pause: Pause, hold_for: float) -> list[float]:
    """Spin in Python on this (the main) thread while a helper holds it ``hold_for`` seconds; the
    helper's readings of the spin's progress: before the hold, at its end, and 0.2 s after."""
    progress = [0]
    readings: list[float] = []
    done = threading.Event()

    def helper() -> None:
        time.sleep(0.05)
        readings.append(progress[0])
        assert pause.hold()
        # (the main thread reaches the handler at its next bytecode, once it has a CPU: until its spin
        # stands still for 10 ms, or 2 s)
        at_hold, deadline = -1, time.monotonic() + 2.0
        while time.monotonic() < deadline:
            seen = progress[0]
            time.sleep(0.01)
            if progress[0] == seen:
                at_hold = seen
                break
        time.sleep(hold_for)
        readings.append(progress[0] - at_hold)
        pause.release()
        time.sleep(0.2)
        readings.append(progress[0])
        done.set()

    threading.Thread(target=helper).start()
    while not done.is_set():
        progress[0] += 1
    return readings


def test_a_held_main_thread_runs_no_python_until_released(pause: Pause) -> None:
    before, while_held, after = _spin_while_held(pause, 0.2)
    assert before > 0
    assert while_held == 0
    assert after > before
    assert pause.waited >= 0.2


def test_a_wait_ends_after_max_pause_seconds(pause: Pause, monkeypatch: pytest.MonkeyPatch) -> None:
    # (the item could hold a lock the load needs: the wait is bounded)
    monkeypatch.setattr("gearshift._pause.MAX_PAUSE_SECONDS", 0.05)
    _, while_held, _ = _spin_while_held(pause, 0.5)
    assert while_held > 0
    assert pause.waited < 0.4


def test_nothing_is_held_after_uninstall_and_a_late_signal_does_nothing(pause: Pause) -> None:
    pause.uninstall()
    assert not pause.hold()
    signal.pthread_kill(threading.get_ident(), signal.SIGURG)  # (SIGURG's default action: ignored)
    time.sleep(0.01)
    assert pause.waited == 0.0


def test_a_program_that_handles_sigurg_keeps_its_handler() -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers are installed from the main thread")
    seen: list[int] = []

    def mine(signum: int, frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGURG, mine)
    try:
        pause = Pause()
        assert not pause.install()
        assert not pause.hold()
        pause.uninstall()
        assert signal.getsignal(signal.SIGURG) is mine
    finally:
        signal.signal(signal.SIGURG, previous)


def test_no_handler_is_installed_from_another_thread() -> None:
    out: list[bool] = []
    thread = threading.Thread(target=lambda: out.append(Pause().install()))
    thread.start()
    thread.join()
    assert out == [False]


def test_ctrl_c_while_held_raises_in_the_item() -> None:
    code = textwrap.dedent(
        """
        import os, signal, threading, time
        from gearshift._pause import Pause
        pause = Pause()
        assert pause.install()
        def helper():
            time.sleep(0.05)
            pause.hold()
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGINT)
        threading.Thread(target=helper, daemon=True).start()
        t0 = time.perf_counter()
        try:
            while True:
                pass
        except KeyboardInterrupt:
            print("KeyboardInterrupt", round(pause.waited, 1), time.perf_counter() - t0 < 5)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "KeyboardInterrupt 0.2 True", out.stderr


def test_ctrl_c_while_a_first_item_waits_for_auto_raises_with_no_results_and_exits() -> None:
    # A script's first auto map, whose first item computes in Python: it waits while auto loads, and a
    # real SIGINT sent to the process as that wait begins ends the call (C8): no result had completed.
    code = textwrap.dedent(
        """
        import os, signal, sys, time
        import gearshift
        import gearshift._pause as pause

        sent = []
        handler = pause.Pause._handler

        def interrupted(self, *args):
            if self._holding and not sent:
                sent.append(time.perf_counter())
                os.kill(os.getpid(), signal.SIGINT)
            handler(self, *args)

        pause.Pause._handler = interrupted

        def f(x):
            end = time.thread_time() + (5.0 if x == 0 else 0.001)
            while time.thread_time() < end:
                pass
            return x

        try:
            gearshift.map(f, range(8))
        except KeyboardInterrupt as exc:
            print("KeyboardInterrupt", exc.partial_results, bool(sent) and time.perf_counter() - sent[0] < 0.5)
        sys.stdout.flush()
        """
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "KeyboardInterrupt [] True", out.stderr
    assert time.perf_counter() - started < 5, "the item ran on, or the exit waited for it"
    assert "Traceback" not in out.stderr, out.stderr


def test_ctrl_c_taken_by_another_thread_ends_the_wait_within_a_slice() -> None:
    # A lock wait is woken only by a signal its own thread took: the wait comes back to Python every
    # SLICE_SECONDS, where the main thread handles a SIGINT that another thread took.
    code = textwrap.dedent(
        """
        import signal, threading, time
        from gearshift._pause import Pause
        pause = Pause()
        assert pause.install()
        sent = []
        def other():
            time.sleep(0.3)
            sent.append(time.perf_counter())
            signal.pthread_kill(threading.get_ident(), signal.SIGINT)  # (taken here, not by the main thread)
            time.sleep(5)
        def helper():
            time.sleep(0.05)
            pause.hold()
            threading.Thread(target=other, daemon=True).start()
            time.sleep(5)
        threading.Thread(target=helper, daemon=True).start()
        try:
            while True:
                pass
        except KeyboardInterrupt:
            print("KeyboardInterrupt", time.perf_counter() - sent[0] < 0.5)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "KeyboardInterrupt True", out.stderr
