"""gearshift._lean_first: the lean start's first item, watched from a helper thread.

How the watch hands a long first item over to auto is tested with the rest of the lean
start (tests/test_lean.py); here: a first item still loading modules is not judged by its
imports, one kept off the CPU is not judged by the wall, and one that computes waits while auto
loads beside it (the mechanism itself: tests/test_pause.py); before Python 3.13, threading is
imported by the item's thread, and only when auto is to load (fresh interpreters).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import gearshift


def _importing_first(where: Path, monkeypatch: pytest.MonkeyPatch, then: float) -> Any:
    """A function whose first item imports a module new to this process (150 ms, as NumPy's first
    import takes about half that), then waits ``then`` seconds; every other item is cheap."""
    monkeypatch.syspath_prepend(str(where))
    name = f"gearshift_test_slow_{uuid.uuid4().hex}"
    (where / f"{name}.py").write_text("import time\ntime.sleep(0.15)\n")

    def f(x: int) -> int:
        if x == 0:
            __import__(name)
            time.sleep(then)
        return x + 1

    return f


def test_a_first_item_that_only_imports_is_not_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fifteen looks inside an import, then it returns: not work auto could spread, so auto does not
    # load beside it, and the cheap items after it stay on the calling thread.
    assert gearshift.map(_importing_first(tmp_path, monkeypatch, 0.0), range(50)) == list(range(1, 51))
    assert lean == []


def test_a_first_item_that_runs_on_after_its_imports_is_taken_over(
    lean: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same import, then 300 ms of waiting: judged once a whole look passed without an import.
    assert gearshift.map(_importing_first(tmp_path, monkeypatch, 0.3), range(50)) == list(range(1, 51))
    (run,) = lean
    assert run.auto.report.segments[0].what == "measuring"


@pytest.mark.parametrize(
    ("cpu", "runnable", "expected"),
    [
        (0.0, False, 0.0),  # sleeping or blocked: its waits are its own, judged by the wall
        (0.0, None, 0.0),  # no clocks to tell: judged
        (None, True, 0.0),
        (0.0, True, 0.007),  # runnable and no CPU yet: kept off the CPU, look again
        (0.005, True, 0.002),
        (0.0095, True, 0.0),  # computed through the look: judged
    ],
)
def test_a_runnable_item_is_judged_once_it_computed_most_of_a_look(
    cpu: float | None, runnable: bool | None, expected: float
) -> None:
    from gearshift._lean_first import owed

    assert owed(cpu, runnable) == pytest.approx(expected)


def test_a_first_item_kept_off_the_cpu_is_not_taken_over(lean: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # A fake busy machine: the item's thread is always ready to run and never given a CPU. Its 50 ms
    # would be taken over at the first look on a free machine; here it never computed a look's worth.
    from gearshift import _lean_first

    monkeypatch.setattr(_lean_first, "runnable", lambda native: True)
    monkeypatch.setattr(_lean_first, "_cpu_clock", lambda ident: 0.0)

    def f(x: int) -> int:
        if x == 0:
            time.sleep(0.05)
        return x + 1

    assert gearshift.map(f, range(20)) == list(range(1, 21))
    assert lean == []


def _computes_first(x: int) -> int:
    end = time.thread_time() + (1.0 if x == 0 else 0.001)
    while time.thread_time() < end:
        pass
    return x


def test_a_first_item_that_computes_waits_while_auto_loads_then_items_start_on_processes(
    lean: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Auto's load would take turns with the item for the GIL: the item waits until auto has loaded and
    # the lookahead's first look has started the next items on processes (gearshift._pause).  (A busy
    # host can keep the watch from seeing it compute, its time waiting for a CPU not yet counted: the
    # watch is told it computes, and the lookahead, unpatched, judges it on the same clocks.)
    from gearshift import _lean_first

    if threading.current_thread() is not threading.main_thread():
        pytest.skip("only the main thread's item can be asked to wait")
    monkeypatch.setattr(_lean_first, "COMPUTES_SHARE", 0.0)
    pauses: list[Any] = []

    class Spy(_lean_first.Pause):
        """(The helper lets go only once the item's thread has come to the wait: in this process auto is
        loaded already, and a busy host can keep that thread off the CPU while the rest takes place.)"""

        def __init__(self) -> None:
            super().__init__()
            self.asked: list[bool] = []
            self.came = threading.Event()
            pauses.append(self)

        def install(self) -> bool:
            self.installed = super().install()
            return self.installed

        def hold(self) -> bool:
            self.asked.append(super().hold())
            return self.asked[-1]

        def release(self) -> None:
            if self.asked == [True]:
                self.came.wait(30)
            super().release()

        def _handler(self, signum: int, frame: object) -> None:
            self.came.set()
            super()._handler(signum, frame)

    monkeypatch.setattr(_lean_first, "Pause", Spy)
    assert gearshift.map(_computes_first, range(4)) == list(range(4))
    (run,) = lean
    (pause,) = pauses
    assert pause.installed and pause.asked == [True], (pause.installed, pause.asked, run.auto.state.first)
    assert pause.waited > 0
    assert [(s.what, s.mode) for s in run.auto.report.segments][:2] == [("measuring", "sync"), ("lookahead", "process")]


def test_a_first_item_that_waits_is_not_asked_to(lean: list[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift import _lean_first

    pauses: list[Any] = []

    class Spy(_lean_first.Pause):
        def __init__(self) -> None:
            super().__init__()
            pauses.append(self)

    monkeypatch.setattr(_lean_first, "Pause", Spy)

    def f(x: int) -> int:
        time.sleep(0.1 if x == 0 else 0)
        return x

    assert gearshift.map(f, range(4)) == list(range(4))
    assert len(lean) == 1
    (pause,) = pauses
    assert pause.waited == 0.0


def _fresh(code: str, *, after: bool = False) -> str:
    text = textwrap.dedent(code) + (_AFTER if after else "")
    out = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    return out.stdout.strip()


#: printed by a child after its map: whether auto loaded, threading's main thread is this one (two ways), and
#: whether any item after the first ran on another thread or process (``where``: each result's pid and thread)
_AFTER = """
import threading
print("gearshift._auto" in sys.modules, threading.current_thread() is threading.main_thread(),
      threading.main_thread().ident == main, any(w != (os.getpid(), main) for w in where[1:]))
"""


def test_a_first_item_over_within_the_watch_loads_no_threading() -> None:
    # (before 3.13 the lean start imported it for every call: 3 ms of a million trivial items' 10-13 over a
    # list comprehension; 3.13 and later never needed it)
    code = """
        import sys, gearshift
        def f(x):
            return x + 1
        assert gearshift.map(f, range(100_000)) == [x + 1 for x in range(100_000)]
        assert gearshift.starmap(divmod, [(7, 2)] * 10) == [(3, 1)] * 10
        print("threading" in sys.modules)
        """
    assert _fresh(code) == "False"


@pytest.mark.parametrize("first", ["computes", "sleeps"])
def test_a_first_item_taken_over_leaves_the_main_thread_the_main_one(first: str) -> None:
    # The item's thread imports threading when the helper asks (in the middle of the item's Python, or of
    # its sleep), before auto loads: then auto runs the next items elsewhere, and the main thread is main.
    code = """
        import _thread, os, sys, time, gearshift
        main = _thread.get_ident()
        def computes():
            end = time.thread_time() + 0.4
            while time.thread_time() < end:
                pass
        def f(x):
            if x == 0:
                computes() if FIRST == "computes" else time.sleep(0.3)
            else:
                time.sleep(0.01)
            return x, (os.getpid(), _thread.get_ident())
        results = gearshift.map(f, range(40))
        assert [x for x, _ in results] == list(range(40))
        where = [w for _, w in results]
        """.replace("FIRST", repr(first))
    assert _fresh(code, after=True) == "True True True True"


def test_a_first_item_blocked_where_it_cannot_be_asked_runs_through_then_auto_loads_from_the_caller() -> None:
    # A read from a pipe is restarted after the signal, not interrupted: the item's thread cannot import
    # threading until the read returns. The helper takes nothing over; the calling thread loads auto after
    # the item (its next items wait 0.01 s each, 39 of them), as for a short first item.
    code = """
        import _thread, os, sys, time, gearshift
        main = _thread.get_ident()
        r, w = os.pipe()
        def later():
            time.sleep(0.3)
            os.write(w, b"x")
        def f(x):
            if x == 0:
                _thread.start_new_thread(later, ())
                x = os.read(r, 1)
            else:
                time.sleep(0.01)
            return x, (os.getpid(), _thread.get_ident())
        started = time.perf_counter()
        results = gearshift.map(f, range(40))
        assert [x for x, _ in results] == [b"x", *range(1, 40)]
        assert time.perf_counter() - started < 30
        where = [w for _, w in results]
        """
    out = _fresh(code, after=True).split()
    assert out[:3] == ["True", "True", "True"], out


def test_a_program_with_its_own_sigurg_handler_keeps_it_and_its_main_thread() -> None:
    # The item's thread cannot be asked: it imports threading before the item, as it always did.
    code = """
        import _thread, os, signal, sys, time, gearshift
        main = _thread.get_ident()
        def mine(signum, frame):
            pass
        signal.signal(signal.SIGURG, mine)
        def f(x):
            time.sleep(0.3 if x == 0 else 0.01)
            return x, (os.getpid(), _thread.get_ident())
        results = gearshift.map(f, range(20))
        assert [x for x, _ in results] == list(range(20))
        assert signal.getsignal(signal.SIGURG) is mine
        where = [w for _, w in results]
        """
    assert _fresh(code, after=True) == "True True True True"


def test_the_item_thread_imports_threading_only_outside_an_import(tmp_path: Path) -> None:
    # Asked inside an import (one of threading's own could be the module half loaded there), it declines
    # and the helper asks again; outside one it imports threading and says so.
    (tmp_path / "importing_now.py").write_text("import __main__\n__main__.watch._import_threading()\n")
    code = f"""
        import _thread, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from gearshift._lean_first import FirstWatch
        watch = FirstWatch("map", abs, {{}}, iter(()), 0, 1)
        watch._threading = _thread.allocate_lock()
        watch._threading.acquire()
        import importing_now
        print("threading" in sys.modules, watch._threading.locked())
        watch._import_threading()
        print("threading" in sys.modules, watch._threading.locked())
        """
    assert _fresh(code).split("\n") == ["False True", "True False"]
