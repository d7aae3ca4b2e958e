"""gearshift's own threads block the terminal signals; the user's function never runs with them blocked.

Why (``gearshift/_sigmask.py``): a thread that starts a thread or a process, or
changes its mask, while a Ctrl-C waits to be taken, takes it itself, and the
main thread sleeping in the user's function then sees it only when that sleep
ends.  How often that happened under load, before and after, is measured by
``benchmarks/ctrl_c_delivery.py``, not here: these tests check the masks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import gearshift
from gearshift import _sigmask
from gearshift._sigmask import TERMINAL, blocked_here

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no signal masks here")


def _in_thread(target: object) -> object:
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(target()))  # type: ignore[operator]
    thread.start()
    thread.join(30)
    return box[0]


def test_the_terminal_signals_are_the_ones_a_terminal_or_a_process_manager_sends() -> None:
    assert {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT} == TERMINAL


def test_a_service_thread_blocks_the_terminal_signals_and_nothing_else() -> None:
    def look() -> tuple[frozenset[int], set[int]]:
        return blocked_here(), signal.pthread_sigmask(signal.SIG_BLOCK, [])

    seen, whole = _in_thread(_sigmask.service(look))  # type: ignore[misc]
    assert seen == TERMINAL
    assert whole == set(TERMINAL)


def test_a_thread_for_the_users_function_started_from_a_service_thread_has_the_terminal_signals_back() -> None:
    def start_one() -> frozenset[int]:
        return _in_thread(_sigmask.user(blocked_here))  # type: ignore[return-value]

    assert _in_thread(_sigmask.service(start_one)) == frozenset()


def test_what_the_users_thread_blocked_stays_blocked_in_the_threads_for_its_function() -> None:
    def users_thread() -> frozenset[int]:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGQUIT])  # (its own choice: kept)

        def service() -> frozenset[int]:
            # a service thread started by another one still knows what the user's thread blocked
            return _in_thread(_sigmask.service(lambda: _in_thread(_sigmask.user(blocked_here))))  # type: ignore[return-value]

        return _in_thread(_sigmask.service(service))  # type: ignore[return-value]

    assert _in_thread(users_thread) == frozenset({signal.SIGQUIT})


def test_a_thread_started_from_the_users_thread_is_left_as_it_is() -> None:
    def target() -> None:
        pass

    assert _sigmask.user(target) is target


def test_a_terminal_signal_waiting_to_be_taken_goes_to_the_main_thread_not_to_the_new_thread() -> None:
    # Every thread blocks SIGHUP when it is sent, so it waits in the process's queue; the thread for
    # the user's function, started then from a service thread, would take it by unblocking: it must
    # pass it on to the main thread instead (where it waits, the main thread blocking it, until the end).
    code = """
import os, signal, threading
from gearshift import _sigmask
got = []
signal.signal(signal.SIGHUP, lambda *_: got.append(threading.current_thread().name))
ready, go = threading.Event(), threading.Event()
def service():
    os.kill(os.getpid(), signal.SIGHUP)
    assert signal.SIGHUP in signal.sigpending()  # every thread blocks it: it waits to be taken
    user = threading.Thread(target=_sigmask.user(lambda: got.append(sorted(_sigmask.blocked_here()))))
    user.start(); user.join()
def users_thread():  # (SIGHUP unblocked when it starts the service thread: so for the user's function too)
    wrapped = _sigmask.service(service)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])
    ready.set(); go.wait()
    s = threading.Thread(target=wrapped); s.start(); s.join()
t = threading.Thread(target=users_thread); t.start()
ready.wait(); signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP]); go.set(); t.join()
print(got, signal.SIGHUP in signal.sigpending())
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGHUP])
print(got)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.splitlines()
    assert before == "[[]] True"  # the new thread unblocked it, yet did not take it: the main thread has it
    assert after == "[[], 'MainThread']"


def _masked(_: int) -> list[int]:
    return sorted(blocked_here())


_EARLY_ZYGOTE = (
    "import threading\n"
    "from gearshift import _sigmask\n"
    "from gearshift._backends import _zygote\n"
    "started, done = threading.Event(), threading.Event()\n"
    "def boot():\n    _zygote.start_early(lifelong=True); started.set(); done.wait()\n"
    "threading.Thread(target=_sigmask.service(boot), daemon=True).start(); started.wait()\n"
)


@pytest.mark.parametrize(
    ("zygote", "start"),
    [("1", ""), ("0", ""), ("1", _EARLY_ZYGOTE)],
    ids=["from-a-zygote", "fresh-interpreters", "zygote-started-by-a-service-thread"],
)
def test_worker_processes_run_the_function_with_the_terminal_signals_unblocked(zygote: str, start: str) -> None:
    # Their manager thread, which starts them, blocks them, as does the lean start's helper, which may
    # start the zygote: a process inherits its starter's mask.  (A fresh interpreter, so that its pool
    # starts here.)
    code = (
        "import gearshift\n"
        "from gearshift._sigmask import blocked_here\n"
        "def masked(_):\n    return sorted(blocked_here())\n"
        "if __name__ == '__main__':\n"
        + "".join(f"    {line}\n" for line in start.splitlines())
        + "    print(gearshift.map(masked, range(4), mode='process', workers=2))\n"
    )
    env = {**os.environ, "GEARSHIFT_ZYGOTE": zygote}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[[], [], [], []]"


def test_thread_mode_runs_the_function_with_the_callers_mask() -> None:
    assert gearshift.map(_masked, range(8), mode="thread", workers=4) == [[]] * 8


def _waits(x: int) -> list[int]:
    time.sleep(0.02)
    return sorted(blocked_here())


def test_auto_runs_the_function_with_the_terminal_signals_unblocked_on_every_thread_it_uses() -> None:
    # items that wait: the lookahead's watcher (a service thread) has the shared pool start threads for them
    assert gearshift.map(_waits, range(40), mode="auto") == [[]] * 40


def test_the_input_auto_reads_on_its_own_thread_is_read_with_the_users_mask() -> None:
    # The first item waits: the lookahead's watcher takes the next items from the input for threads,
    # running the input's generator there (which may start a process: it would inherit the mask).
    def masks() -> Iterator[list[int]]:
        for _ in range(40):
            yield sorted(blocked_here())

    assert gearshift.map(_waits_and_returns, masks(), mode="auto") == [[]] * 40


def _waits_and_returns(item: list[int]) -> list[int]:
    time.sleep(0.02)
    return item
