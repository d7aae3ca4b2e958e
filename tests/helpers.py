"""Module-level functions for tests: picklable by reference in worker processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path


def double(x: int) -> int:
    return x * 2


def add(a: int, b: int) -> int:
    return a + b


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


class Boom(ValueError):
    """A user exception type that must arrive with its own type."""


def fail_on_3(x: int) -> int:
    if x == 3:
        raise Boom(f"item {x} is bad")
    return x


async def afail_on_3(x: int) -> int:
    await asyncio.sleep(0)
    return fail_on_3(x)


def fail_once(arg: tuple[int, str]) -> int:
    """Fails the first time it sees an item, succeeds the next (state in a file, so it works across processes)."""
    x, folder = arg
    marker = Path(folder) / f"seen-{x}"
    if not marker.exists():
        marker.touch()
        raise Boom(f"first attempt at {x}")
    return x


def getpid(_: object) -> int:
    return os.getpid()


def slow_identity(x: int) -> int:
    time.sleep(0.01)
    return x


def record_and_sleep(arg: tuple[int, str]) -> int:
    x, path = arg
    with open(path, "a") as f:
        f.write(f"{x}\n")
    time.sleep(0.02)
    return x
