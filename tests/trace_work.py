"""Module-level functions for the trace tests: picklable by reference in worker processes."""

from __future__ import annotations

import asyncio
import os
import time


def nap(x: int) -> int:
    """A short blocking wait: threads overlap such items whatever the machine's load."""
    time.sleep(0.03)
    return x


async def anap(x: int) -> int:
    await asyncio.sleep(0.03)
    return x


def nap_fail_on_3(x: int) -> int:
    time.sleep(0.005)
    if x == 3:
        raise ValueError("three is bad")
    return x


def tiny(x: int) -> int:
    return x + 1


def stuck_on_2(x: int) -> int:
    if x == 2:
        time.sleep(30)
    return x


def exit_on_2(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x


def clock_here(_: object) -> tuple[int, int]:
    """This process's pid and its reading of time.monotonic_ns."""
    return os.getpid(), time.monotonic_ns()


def add(a: int, b: int) -> int:
    return a + b
