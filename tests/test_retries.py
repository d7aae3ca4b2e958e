"""Retries: which failures are retried, how long between attempts, what is recorded."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import pytest

import faults
import gearshift
from gearshift import _run_outcomes
from gearshift._options import make_options
from gearshift._run_outcomes import backoff_delay


def _call(api: str, **kw: Any) -> Any:
    items = [(1,), (2,)]
    if api == "map":
        return gearshift.map(abs, [1, 2], **kw)
    if api == "imap":
        return list(gearshift.imap(abs, [1, 2], **kw))
    if api == "starmap":
        return gearshift.starmap(abs, items, **kw)
    if api == "amap":
        return asyncio.run(gearshift.amap(abs, [1, 2], **kw))

    async def collect() -> list[Any]:
        return [r async for r in gearshift.aimap(abs, [1, 2], **kw)]

    return asyncio.run(collect())


APIS = ["map", "imap", "starmap", "amap", "aimap"]


@pytest.mark.parametrize("api", APIS)
def test_every_entry_point_takes_retry_on(api: str) -> None:
    assert _call(api, mode="thread", retries=1, retry_on=ValueError) == [1, 2]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("retry_on", "error", "match"),
    [
        ("ValueError", TypeError, "retry_on must be an exception class or a tuple"),
        ((ValueError, 3), TypeError, "retry_on must be an exception class"),
        (int, TypeError, "got type: <class 'int'>"),
        ((), ValueError, r"retry_on=\(\) retries nothing"),
    ],
)
def test_bad_retry_on_is_refused(api: str, retry_on: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _call(api, mode="thread", retries=1, retry_on=retry_on)


def test_retry_on_without_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="no effect with retries=0"):
        make_options(retry_on=ValueError)


def test_retry_on_is_kept_as_a_tuple() -> None:
    assert make_options(retries=1, retry_on=OSError).retry_on == (OSError,)
    assert make_options(retries=1, retry_on=(OSError, KeyError)).retry_on == (OSError, KeyError)
    assert make_options().retry_on is None


@pytest.mark.parametrize("attempt", range(1, 12))
def test_backoff_grows_exponentially_with_jitter_and_a_cap(attempt: int) -> None:
    ceiling = min(_run_outcomes.BACKOFF_MAX, _run_outcomes.BACKOFF_BASE * 2 ** (attempt - 1))
    delays = [backoff_delay(attempt) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 100  # jittered, not fixed


@pytest.mark.timeout(30)
def test_backoff_does_not_hold_up_other_items(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_run_outcomes, "BACKOFF_BASE", 2.0)  # the retry waits 1..2 s
    fn = functools.partial(faults.first_time, marks=str(tmp_path))
    data = [(0, "raise")] + [(i, None) for i in range(1, 10)]
    order = [r for r in gearshift.imap(fn, data, mode="thread", workers=2, chunksize=1, retries=1, ordered=False)]
    assert sorted(order) == [i * 10 for i in range(10)]
    assert order[-1] == 0  # everything else finished while item 0 waited for its retry


@pytest.mark.timeout(30)
def test_retries_in_raise_mode_recover_before_raising(tmp_path: Path) -> None:
    fn = functools.partial(faults.first_time, marks=str(tmp_path))
    data = [(i, "raise" if i % 3 == 0 else None) for i in range(12)]
    assert gearshift.map(fn, data, mode="process", workers=2, chunksize=4, retries=1) == [i * 10 for i in range(12)]
