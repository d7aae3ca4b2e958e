"""Each thread's own event loop (``gearshift._task_async``): kept between runs, closed when its thread ends or at exit.

Left to the garbage collector, an unclosed loop is finalized with its self-pipe
socket in no set order, and when the socket goes first its ``__del__`` prints
"ValueError: Invalid file descriptor: -1" (mostly at exit, after Ctrl-C too).
The child programs show ``ResourceWarning`` ("unclosed event loop"), which
any unclosed loop's finalization prints, whichever order the race takes: a
loop not closed makes them fail every time, not only when the race is lost.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import gearshift
from gearshift._task_run import close_thread_loop

SRC = Path(gearshift.__file__).resolve().parents[1]  # the code under test, wherever it was imported from


def run_child(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", textwrap.dedent(program)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )


async def where(x: int) -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "call",
    [
        'gearshift.map(double, range(20), mode="thread")',  # pool threads, alive (idle) at exit
        'gearshift.map(double, range(20), mode="sync")',  # the main thread's loop
        'gearshift.Executor("thread", 2).submit(double, 4).result()',  # a pool the program never shut down
    ],
    ids=["thread", "sync", "executor"],
)
def test_a_program_that_ran_coroutines_exits_without_a_word(call: str) -> None:
    out = run_child(
        f"""
        import gearshift

        async def double(x):
            return 2 * x

        print({call})
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


@pytest.mark.timeout(60)
def test_a_loop_running_when_the_program_exits_is_closed_by_its_thread_once_its_run_returns() -> None:
    # Exit's hooks run last registered, first: gearshift closes the loops not running (this
    # one is), then `release` lets the coroutine end, then the pool waits for its thread,
    # and the report comes last.
    out = run_child(
        """
        import atexit, asyncio, threading

        loops = []
        atexit.register(lambda: print("closed:", [loop.is_closed() for loop in loops], flush=True))
        import gearshift, gearshift._threads

        release = threading.Event()
        atexit.register(release.set)
        import gearshift._task_async

        inside = threading.Event()

        async def wait(x):
            loops.append(asyncio.get_running_loop())
            inside.set()
            release.wait()
            return x

        ex = gearshift.Executor("thread", 1)  # (kept: exit waits for its threads)
        future = ex.submit(wait, 1)
        inside.wait()
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "closed: [True]\n"
    assert out.stderr == ""


@pytest.mark.timeout(60)
def test_ctrl_c_while_pool_threads_are_inside_their_loops_exits_without_a_word() -> None:
    # The interrupted run leaves its threads blocked inside their running loops: exit neither
    # waits for them nor closes their loops from outside, and nothing is printed.
    out = run_child(
        """
        import signal, threading
        import gearshift

        never, inside = threading.Event(), threading.Semaphore(0)
        main = threading.main_thread().ident

        async def stuck(x):
            inside.release()
            never.wait()

        def interrupt():
            inside.acquire()
            signal.pthread_kill(main, signal.SIGINT)

        threading.Thread(target=interrupt, daemon=True).start()
        try:
            gearshift.map(stuck, range(4), mode="thread", workers=2)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "interrupted\n"
    assert out.stderr == ""


@pytest.mark.timeout(30)
def test_a_pool_threads_loop_is_closed_when_the_pool_shuts_down() -> None:
    with gearshift.Executor("thread", 2) as ex:
        loops = list(ex.map(where, range(6)))
    assert len(loops) == 6
    assert all(loop.is_closed() for loop in loops)


@pytest.mark.timeout(30)
def test_a_thread_keeps_its_loop_between_runs_until_it_is_closed() -> None:
    first = gearshift.map(where, [1, 2], mode="sync")
    again = gearshift.map(where, [3], mode="sync")
    assert first[0] is first[1] is again[0]  # (connections pooled by coroutines survive between runs)
    assert not first[0].is_closed()
    close_thread_loop()
    assert first[0].is_closed()
    fresh = gearshift.map(where, [4], mode="sync")[0]
    assert fresh is not first[0] and not fresh.is_closed()
    close_thread_loop()


@pytest.mark.timeout(30)
def test_the_loop_of_a_thread_that_ended_is_closed_when_another_thread_makes_its_own() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    def run() -> None:
        loops.extend(gearshift.map(where, [1], mode="sync"))

    for _ in range(2):
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    assert loops[0].is_closed()
    assert not loops[1].is_closed()  # (its thread ended too: the next thread to make a loop closes it)
