"""The per-task timeout watchdog (gearshift._watch): one thread, asleep when there is nothing to watch."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import gearshift
from helpers import sleeps_of

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def nap(x: int) -> int:
    time.sleep(0.001)
    return x


@pytest.mark.timeout(30)
def test_the_watchdog_does_not_wake_with_nothing_to_watch() -> None:
    # A thread that wakes takes the GIL from whatever computes, which auto's measuring
    # would take for waiting; with no deadline to keep, the watchdog must stay asleep.
    assert gearshift.map(nap, range(20), mode="thread", workers=2, timeout=5) == list(range(20))
    (dog,) = [t for t in threading.enumerate() if t.name == "gearshift-watchdog"]
    time.sleep(1.2)  # the wait it began while a chunk was watched lasts up to a second
    before = sleeps_of(dog)
    time.sleep(1.5)  # it used to look every second
    assert sleeps_of(dog) == before
    assert gearshift.map(nap, range(5), mode="thread", workers=2, timeout=5) == list(range(5))  # still watches
