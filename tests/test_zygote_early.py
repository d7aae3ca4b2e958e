"""A script's first process pool takes a zygote started before the process backend loaded (``_zygote.start_early``).

Each case runs in a fresh interpreter, as a user's script does: the early start
happens only on an interpreter's first ``mode="process"`` call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gearshift._backends._zygote import available
from gearshift._cpu import usable_cpus

pytestmark = pytest.mark.skipif(not available(), reason="zygotes need Linux pidfds and SCM_RIGHTS")

#: counts the zygotes started, notes whether the process backend was loaded at each start
PRELUDE = """
import os, sys, threading
import psutil
import gearshift
from gearshift._backends import _zygote

starts = []
_init = _zygote.Zygote.__init__

def counted(self, *args, **kwargs):
    starts.append("gearshift._backends._process" in sys.modules)
    _init(self, *args, **kwargs)

_zygote.Zygote.__init__ = counted

def f(x):
    return x * x + 1

def zygotes():
    # this interpreter's children that serve as zygotes (their command line says so)
    return [p for p in psutil.Process().children() if "_zygote import serve" in " ".join(p.cmdline())]
"""


def _run(body: str) -> str:
    script = PRELUDE + textwrap.dedent(body)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_first_pool_takes_the_zygote_started_before_the_backend_loaded() -> None:
    out = _run(
        """
        assert gearshift.map(f, range(50), mode="process") == [f(x) for x in range(50)]
        assert gearshift.map(f, range(50), mode="process") == [f(x) for x in range(50)]
        print(starts, _zygote._early is None, len(zygotes()))
        """
    )
    # one zygote, started while the backend was not yet loaded, and in use (not left over)
    assert out == "[False] True 1"


def test_a_run_that_fails_before_its_pool_starts_leaves_no_zygote() -> None:
    out = _run(
        """
        lock = threading.Lock()

        def holds_a_lock(x):
            return lock, x

        try:
            gearshift.map(holds_a_lock, range(3), mode="process")
        except gearshift.UnpicklableError as exc:
            print("refused", "pickle" in str(exc))
        gone = psutil.wait_procs(zygotes(), timeout=10)[1] == []
        print(starts, _zygote._early is None, gone)
        # and the next run works, with a zygote of its own
        assert gearshift.map(f, range(5), mode="process") == [f(x) for x in range(5)]
        print(len(starts))
        """
    )
    assert out.splitlines() == ["refused True", "[False] True True", "2"]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ('gearshift.map(f, range(3), mode="process", workers=0)', "ValueError"),
        ('gearshift.imap(f, 5, mode="process")', "TypeError"),
        ('gearshift.starmap(f, [(1,)], mode="process", wrokers=2)', "TypeError"),
    ],
    ids=["bad-option", "bad-items", "unknown-keyword"],
)
def test_a_call_refused_for_its_arguments_leaves_no_zygote(call: str, error: str) -> None:
    # The entry points start the zygote before the arguments are checked (gearshift._quick.start_early).
    out = _run(
        f"""
        try:
            {call}
        except {error} as exc:
            print("refused")
        gone = psutil.wait_procs(zygotes(), timeout=10)[1] == []
        print(starts, _zygote._early is None, gone)
        """
    )
    assert out.splitlines() == ["refused", "[False] True True"]


def test_off_the_main_thread_nothing_starts_early() -> None:
    # A zygote dies with the thread that started it: only the main thread lives as long as a pool.
    out = _run(
        """
        result = []
        t = threading.Thread(target=lambda: result.append(gearshift.map(f, range(20), mode="process")))
        t.start()
        t.join()
        assert result == [[f(x) for x in range(20)]]
        print(starts)
        """
    )
    assert out == "[True]"  # the pool's own zygote, started by its manager thread once the backend loaded


def test_auto_boots_the_zygote_while_its_first_item_computes() -> None:
    # The lookahead's watcher (a thread as long-lived as the interpreter) starts it, before the
    # process backend loads: the pool of the items started on processes takes it.  (1.5 s of CPU
    # time: with four busy loops on two CPUs, a first item of 0.5 s ended before they had started.)
    out = _run(
        """
        import time

        def g(x):
            end = time.thread_time() + (1.5 if x == 0 else 0.001)
            while time.thread_time() < end:
                pass
            return x

        with gearshift.reporting() as reports:
            assert gearshift.map(g, range(4), mode="auto") == list(range(4))
        assert [(s.what, s.mode) for s in reports[0].segments][:2] == [("measuring", "sync"), ("lookahead", "process")]
        print(starts)
        """
    )
    assert out == "[False]"  # one zygote, started before the process backend loaded


@pytest.mark.skipif(usable_cpus() < 2, reason="with one CPU nothing starts beside the first item")
def test_the_zygote_booted_beside_a_first_item_outlives_the_helper_that_booted_it() -> None:
    # As a user's script runs it (nothing imported before gearshift: not the prelude's threading),
    # the lean start's helper boots the zygote while the first item computes, then stays, parked, as
    # its parent: a zygote dies with the thread that started it (PR_SET_PDEATHSIG).  A park that did
    # not hold let it die once auto had loaded, and the pool booted a second one: every first worker
    # ~0.1 s later in the cold benchmarks (cpu-loop, coarse).  Counted with an audit hook, which
    # imports nothing.
    script = textwrap.dedent(
        """
        import os, sys, time
        booted = []

        def hook(event, args):
            if event == "subprocess.Popen" and "_zygote import serve" in " ".join(map(str, args[1])):
                booted.append(args[1])

        sys.addaudithook(hook)
        import gearshift

        def g(x):
            end = time.thread_time() + 0.3
            while time.thread_time() < end:
                pass
            return os.getpid()

        # (not inside gearshift.reporting(): a report is not kept by the lean start, which is tested)
        pids = gearshift.map(g, range(6), mode="auto")
        assert set(pids) - {os.getpid()}, pids  # the rest (some at least) on worker processes
        import psutil
        from gearshift._cpu import usable_cpus
        from gearshift._pools import is_warm
        alive = [p for p in psutil.Process().children() if "_zygote import serve" in " ".join(p.cmdline())]
        print(len(booted), len(alive), is_warm("process", usable_cpus()))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    booted, alive, warm = out.stdout.split()
    # One zygote booted (a second one is what the pool boots once the first has died), alive to the end
    # while its pool is (a plan that is not on processes lets the pool go, and its zygote with it: once on
    # a loaded host)
    assert booted == "1", out.stdout
    assert alive == "1" or warm == "False", out.stdout


def test_an_auto_plan_on_processes_boots_the_zygote_before_the_backend_loads() -> None:
    # Items of a few ms that no early look caught: the plan is made after the measuring, and the
    # zygote then boots while the process backend loads, not after (it is forced to processes:
    # what is tested is the order of the two, not the plan).
    out = _run(
        """
        import time
        import gearshift._auto.decide as decide
        from gearshift._plan import Plan

        def g(x):
            end = time.thread_time() + 0.003
            while time.thread_time() < end:
                pass
            return x

        decide.decide = lambda *a, **k: Plan("process", 2, 1, ("forced by the test",))
        with gearshift.reporting() as reports:
            assert gearshift.map(g, range(60), mode="auto") == list(range(60))
        assert [p.mode for p in reports[0].plans] == ["process"], reports[0]
        print(starts)
        """
    )
    assert out == "[False]"  # started before the process backend loaded, and the pool took it


def test_auto_boots_the_zygote_once_a_coroutine_computed_on_its_loop() -> None:
    # Coroutines that compute are judged on the loop, then re-planned on processes: the zygote boots
    # as the first one completes, on the loop's judging time, not at the re-plan.
    out = _run(
        """
        import time

        async def g(x):
            end = time.thread_time() + 0.03
            while time.thread_time() < end:
                pass
            return x

        plans_at_boot = []
        _counted = _zygote.Zygote.__init__

        def noted(self, *args, **kwargs):
            plans_at_boot.append([p.mode for p in reports[0].plans])
            _counted(self, *args, **kwargs)

        _zygote.Zygote.__init__ = noted
        with gearshift.reporting() as reports:
            assert gearshift.map(g, range(16), mode="auto") == list(range(16))
        assert [p.mode for p in reports[0].plans] == ["async", "process"], reports[0]
        print(starts, plans_at_boot)
        """
    )
    assert out == "[False] [['async']]"  # booted before the re-plan to processes, and the pool took it


def test_an_environment_changed_since_the_early_start_gets_a_zygote_of_its_own() -> None:
    out = _run(
        """
        from gearshift._backends import prepare
        prepare("process")
        os.environ["GEARSHIFT_TEST_CHANGED"] = "1"
        out = gearshift.map(os.environ.get, ["GEARSHIFT_TEST_CHANGED"], mode="process")
        print(starts, out, len(zygotes()))
        """
    )
    # the early one (started before the change) is let go; the pool's workers see the change
    assert out == "[False, True] ['1'] 1"


def test_no_early_zygote_when_zygotes_are_turned_off() -> None:
    out = _run(
        """
        os.environ["GEARSHIFT_ZYGOTE"] = "0"
        assert gearshift.map(f, range(10), mode="process") == [f(x) for x in range(10)]
        print(starts, len(zygotes()))
        """
    )
    assert out == "[] 0"
