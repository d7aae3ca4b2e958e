"""C5 before any result's size is known: auto starts few coroutines (docs/semantics.md C5).

Coroutines in async mode run a whole window at once.  Until one result is back, the byte budget
cannot count what they will return, so auto's starting window for a coroutine function (1,024,
a guess made without measuring) of items returning 100 KB each read about 1,000 items ahead of
a slow consumer: 100 MB against a 64 MiB budget.  Auto now starts at most ``UNSIZED_COROUTINES``
(512) until a result was sized.  (mode="async" runs the ``workers`` the caller asked for at once.)
"""

from __future__ import annotations

import asyncio
import time

import pytest

import gearshift
from helpers import CountedInput

RESULT_BYTES = 100_000
BUFFER_BYTES = 64 * 2**20
#: the byte budget in results, plus a few chunks (the items in flight before the first result was
#: sized count against the budget once it is: no more is admitted until the consumer catches up)
ALLOWED_AHEAD = BUFFER_BYTES // RESULT_BYTES + 128
#: the input ends itself this far ahead: a broken bound fails the test without exhausting memory
HARD_STOP = 1200


async def apayload(x: int) -> bytes:
    await asyncio.sleep(0.01)  # every item of the window starts before the first one ends
    return b"x" * RESULT_BYTES


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [None, 2000])
def test_auto_window_of_coroutines_is_bounded_before_results_are_sized(workers: int | None) -> None:
    mode = "auto"
    source = CountedInput(HARD_STOP)
    results = gearshift.imap(apayload, source, mode=mode, workers=workers)
    try:
        for _ in range(50):
            assert len(next(results)) == RESULT_BYTES
            source.took_one()
            time.sleep(0.002)
    finally:
        results.close()  # type: ignore[attr-defined]
    print(f"{mode}, workers={workers}: {source.most_ahead} items ahead")
    assert source.most_ahead <= ALLOWED_AHEAD, (
        f"C5: imap(mode={mode!r}, workers={workers}) read {source.most_ahead} items of 100 KB ahead "
        f"(allowed {ALLOWED_AHEAD}: 64 MiB of results plus a few chunks)"
    )


@pytest.mark.parametrize("mode", ["auto", "async"])
def test_results_sized_then_the_whole_window_runs(mode: str) -> None:
    # Auto's rule holds only until a result is sized: small results then fill the window
    # (mode="async" runs the window the caller asked for at once).
    peak = 0
    running = 0

    async def nap(x: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        return x

    assert gearshift.map(nap, range(3000), mode=mode, workers=1000) == list(range(3000))
    assert 512 < peak <= 1000  # past auto's UNSIZED_COROUTINES


@pytest.mark.timeout(60)
@pytest.mark.parametrize("entry", ["map", "starmap"])
def test_map_runs_more_than_the_unsized_cap_before_any_result_is_back(entry: str) -> None:
    # map and starmap keep every result in the list they return: the cap would bound nothing and
    # cost a round trip (2,000 GETs answered after 1 s took 2.57 s against 1.60 s all at once).
    # No coroutine ends before 600 started (or 10 s passed): with the cap, 512 wait out the 10 s.
    started = 0
    at_first_end: list[int] = []

    async def rendezvous(x: int) -> int:
        nonlocal started
        started += 1
        waited = 0.0
        while started < 600 and waited < 10:
            await asyncio.sleep(0.01)
            waited += 0.01
        if not at_first_end:
            at_first_end.append(started)
        return x

    if entry == "map":
        out = gearshift.map(rendezvous, range(1000))
    else:
        out = gearshift.starmap(rendezvous, [(x,) for x in range(1000)])
    assert out == list(range(1000))
    first = at_first_end[0]
    assert first >= 600, f"{entry}: {first} coroutines started before the first result (the unsized cap is 512)"
