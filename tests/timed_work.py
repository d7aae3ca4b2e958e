"""Items that sleep or compute, for the Ctrl-C and event-loop tests; importable by worker processes.

An item is an index.  Indices below ``GEARSHIFT_TEST_QUICK`` (an environment
variable, default 4) are quick: 10 ms (``GEARSHIFT_TEST_QUICK_SECONDS``) of sleep or of computation.  The others
are long (20 s) and first leave a file named after their index in
``GEARSHIFT_TEST_MARKS``, so the test knows the run has reached them.  The
result of item ``x`` is ``2 * x`` (what the partial results are checked against).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

QUICK_SECONDS = 0.01
LONG_SECONDS = 20.0


def _seconds(x: int) -> float:
    if x < int(os.environ.get("GEARSHIFT_TEST_QUICK", "4")):
        return float(os.environ.get("GEARSHIFT_TEST_QUICK_SECONDS", QUICK_SECONDS))
    marks = os.environ.get("GEARSHIFT_TEST_MARKS")
    if marks:
        (Path(marks) / str(x)).touch()
    return LONG_SECONDS


def _compute(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def sleep(x: int) -> int:
    time.sleep(_seconds(x))
    return 2 * x


def compute(x: int) -> int:
    _compute(_seconds(x))
    return 2 * x


async def asleep(x: int) -> int:
    await asyncio.sleep(_seconds(x))
    return 2 * x


async def acompute(x: int) -> int:
    _compute(_seconds(x))  # one synchronous stretch: a coroutine that computes
    return 2 * x


FUNCTIONS = {
    ("plain", "sleep"): sleep,
    ("plain", "compute"): compute,
    ("async", "sleep"): asleep,
    ("async", "compute"): acompute,
}


# -- items that are their own duration (seconds), for the event-loop lag tests ----------------


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin(seconds: float) -> float:
    _compute(seconds)
    return seconds


async def anap(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


async def aspin(seconds: float) -> float:
    _compute(seconds)  # one synchronous stretch
    return seconds


async def which_loop(_: object) -> int:
    """The id of the event loop this coroutine runs on."""
    return id(asyncio.get_running_loop())
