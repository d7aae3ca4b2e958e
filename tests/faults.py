"""Functions that misbehave on purpose, for the fault-injection tests.

They live in an importable module (not a test file) so worker processes load
them by reference.  Items are ``(index, fault)`` pairs; ``fault`` is None for a
well-behaved sibling, whose result is ``index * 10``.  With ``marks`` (a
directory) every execution leaves a file behind, so tests can count how often
each item really ran and make a fault happen on the first attempt only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any


class ExitWhenUnpickled:
    """Unpickling this in a worker ends the worker (a crash while reading the task)."""

    def __reduce__(self) -> Any:
        return (os._exit, (5,))


class ExitWhenPickled:
    """Pickling this in a worker ends the worker (a crash while sending the result)."""

    def __reduce__(self) -> Any:
        os._exit(6)


class UnpicklableError(Exception):
    """An exception that cannot travel back: it holds a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def _seen(marks: str | None, index: int) -> int:
    """Record one execution of ``index``; how many happened before this one."""
    if marks is None:
        return 0
    folder = Path(marks)
    before = len(list(folder.glob(f"{index}-*")))
    (folder / f"{index}-{before}-{os.getpid()}-{time.monotonic_ns()}").touch()
    return before


def executions(marks: Path, index: int) -> int:
    return len(list(marks.glob(f"{index}-*")))


def act(fault: str | None) -> Any:
    if fault is None:
        return None
    if fault == "raise":
        raise ValueError("bad item")
    if fault == "connection":
        raise ConnectionError("flaky")
    if fault == "segfault":
        ctypes.string_at(0)
    if fault == "exit":
        os._exit(3)
    if fault == "c_exit":
        ctypes.CDLL(None).exit(4)
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "hang":
        time.sleep(60)
    if fault == "unpicklable_result":
        return threading.Lock()
    if fault == "crash_pickling_result":
        return ExitWhenPickled()
    if fault == "unpicklable_exception":
        raise UnpicklableError("cannot travel")
    raise AssertionError(f"unknown fault {fault!r}")


def faulty(item: tuple[int, str | None], marks: str | None = None) -> Any:
    index, fault = item
    _seen(marks, index)
    returned = act(fault)
    return index * 10 if returned is None else returned


def first_time(item: tuple[int, str | None], marks: str) -> Any:
    """The fault happens on the item's first execution only; a retry succeeds."""
    index, fault = item
    if _seen(marks, index) == 0:
        act(fault)
    return index * 10


def slow(x: int) -> int:
    time.sleep(0.05)
    return x


def sleeper(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def crash_on_start() -> None:
    os._exit(9)


def pid_after(seconds: float) -> int:
    """Sleep, then say which process ran this."""
    time.sleep(seconds)
    return os.getpid()


def report_pid(folder: str, seconds: float) -> int:
    """Leave this worker's pid in ``folder``, then sleep."""
    (Path(folder) / str(os.getpid())).touch()
    time.sleep(seconds)
    return os.getpid()


# -- the pickle boundary (contract C11) and BaseExceptions from fn (C10) ----------------------


def _explode(message: str) -> Any:
    raise ValueError(message)


class RaisesWhenPickled:
    """Pickling this raises (in the worker: the result cannot be sent)."""

    def __reduce__(self) -> Any:
        raise ValueError("refuses to be pickled")


class RaisesWhenUnpickled:
    """Pickles fine; unpickling it raises, wherever that happens."""

    def __reduce__(self) -> Any:
        return (_explode, ("refuses to be unpickled",))


class ExitsWhenUnpickled:
    """Pickles fine; unpickling it calls sys.exit(0) (SystemExit), wherever that happens."""

    def __reduce__(self) -> Any:
        return (sys.exit, (0,))


class CustomBaseException(BaseException):
    """A BaseException that is not an Exception, of the user's own."""


def pickle_fault(item: tuple[int, str | None], marks: str | None = None) -> Any:
    """Items are ``(index, fault)``; the faults happen at the pickle steps of the result, or in fn as BaseExceptions."""
    index, fault = item
    _seen(marks, index)
    if fault == "result_pickling_raises":
        return RaisesWhenPickled()
    if fault == "result_unpickling_raises":
        return RaisesWhenUnpickled()
    if fault == "result_unpickling_exits":
        return ExitsWhenUnpickled()
    if fault == "keyboard_interrupt":
        raise KeyboardInterrupt
    if fault == "system_exit":
        raise SystemExit(7)
    if fault == "custom_base":
        raise CustomBaseException("mine")
    if fault == "exit":
        os._exit(1)
    act(fault)
    return index * 10


def item_index(item: tuple[int, Any], marks: str | None = None) -> int:
    """For items that carry a payload (which may fail to unpickle in the worker): ``index * 10``."""
    _seen(marks, item[0])
    return item[0] * 10


def fork_and_return(x: int) -> str:
    """Forks; the child returns from fn (it must never be taken for the worker)."""
    pid = os.fork()
    if pid == 0:
        return "child"
    os.waitpid(pid, 0)
    return "parent"


def fork_sleeper(arg: tuple[int, str]) -> int:
    """Leaves a grandchild behind that notes its pid in ``folder`` and sleeps a minute."""
    x, folder = arg
    pid = os.fork()
    if pid == 0:
        try:
            (Path(folder) / str(os.getpid())).touch()
            time.sleep(60)
        finally:
            os._exit(0)
    while not (Path(folder) / str(pid)).exists():
        time.sleep(0.01)
    return x


def logged(item: tuple[int, str | None], log: str) -> int:
    """Appends the item's index to ``log`` (one O_APPEND write per execution, which survives a crash), then acts."""
    index, fault = item
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"%d\n" % index)
    finally:
        os.close(fd)
    if fault == "exit":
        os._exit(1)
    act(fault)
    return index * 10


def odd_results(item: tuple[int, str | None], log: str) -> Any:
    """Like :func:`logged`, but item 1 returns a lambda (only cloudpickle takes it) and item 2 a cyclic list."""
    index = item[0]
    if index == 1:
        logged(item, log)
        return lambda: 10
    if index == 2:
        logged(item, log)
        cycle: list[Any] = [20]
        cycle.append(cycle)
        return cycle
    return logged(item, log)


class ExitsWhenPickled:
    """Pickling this calls sys.exit(0) (SystemExit), in whichever process pickles it."""

    def __reduce__(self) -> Any:
        sys.exit(0)
