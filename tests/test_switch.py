"""The short switch interval gearshift holds while a thread must get the GIL promptly (``gearshift._switch``)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import warnings
from collections.abc import Iterator

import pytest

import gearshift
from gearshift import _switch
from gearshift._switch import PROMPT_SECONDS


@pytest.fixture
def interval() -> Iterator[float]:
    """The program's own interval for the test (2 ms, not the default: it must come back as it was)."""
    before = sys.getswitchinterval()
    assert _switch.held() == 0
    sys.setswitchinterval(0.002)
    yield 0.002
    sys.setswitchinterval(before)


def test_a_holder_lowers_it_and_puts_back_what_it_found(interval: float) -> None:
    _switch.lower()
    try:
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SECONDS)
        assert _switch.held() == 1
    finally:
        _switch.restore()
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert _switch.held() == 0


def test_overlapping_holders_in_two_threads_never_leave_it_low(interval: float) -> None:
    # A lowers, B lowers, A lets go (B still needs it: still low), B lets go (back to the program's).
    a_holds, b_holds, a_done = threading.Event(), threading.Event(), threading.Event()
    seen: list[float] = []

    def a() -> None:
        _switch.lower()
        a_holds.set()
        b_holds.wait(10)
        _switch.restore()
        seen.append(sys.getswitchinterval())
        a_done.set()

    def b() -> None:
        a_holds.wait(10)
        _switch.lower()
        b_holds.set()
        a_done.wait(10)
        _switch.restore()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [pytest.approx(PROMPT_SECONDS)]
    assert sys.getswitchinterval() == pytest.approx(interval)


def test_a_lower_interval_the_program_set_is_kept() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(PROMPT_SECONDS / 5)
    try:
        _switch.lower()
        try:
            assert sys.getswitchinterval() == pytest.approx(PROMPT_SECONDS / 5)
        finally:
            _switch.restore()
        assert sys.getswitchinterval() == pytest.approx(PROMPT_SECONDS / 5)
    finally:
        sys.setswitchinterval(before)


def test_an_unpaired_restore_changes_nothing(interval: float) -> None:
    _switch.restore()
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert _switch.held() == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_with_the_interval_and_no_holders(interval: float) -> None:
    _switch.lower()
    try:
        with warnings.catch_warnings():
            # (3.12+ warns that forking a threaded process may deadlock the child: this one only reads two values)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: the parent's holders are not there to let go
            ok = _switch.held() == 0 and abs(sys.getswitchinterval() - interval) < 1e-9
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        _switch.restore()
    assert os.waitstatus_to_exitcode(status) == 0


# -- amap and aimap hold it for their run -------------------------------------------------------


def _interval_seen(_: int) -> float:
    return sys.getswitchinterval()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["sync", "thread", "async"])
def test_amap_holds_a_short_interval_while_it_runs_and_gives_it_back(interval: float, mode: str) -> None:
    async def main() -> list[float]:
        return await gearshift.amap(_interval_seen, range(4), mode=mode)

    assert asyncio.run(main()) == [pytest.approx(PROMPT_SECONDS)] * 4
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert _switch.held() == 0


def _fails_on_2(x: int) -> int:
    if x == 2:
        raise ValueError("item 2")
    return x


@pytest.mark.timeout(60)
def test_amap_gives_it_back_when_the_run_raises(interval: float) -> None:
    async def main() -> list[int]:
        return await gearshift.amap(_fails_on_2, range(4), mode="thread")

    with pytest.raises(ValueError, match="item 2"):
        asyncio.run(main())
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert _switch.held() == 0


@pytest.mark.timeout(60)
def test_aimap_gives_it_back_when_the_consumer_stops_early(interval: float) -> None:
    async def main() -> list[float]:
        out: list[float] = []
        results = gearshift.aimap(_interval_seen, range(100), mode="thread")
        async for value in results:
            out.append(value)
            if len(out) == 3:
                break
        await results.aclose()  # type: ignore[attr-defined]
        return out

    assert asyncio.run(main()) == [pytest.approx(PROMPT_SECONDS)] * 3
    assert sys.getswitchinterval() == pytest.approx(interval)
    assert _switch.held() == 0
