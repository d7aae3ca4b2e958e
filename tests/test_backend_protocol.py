"""The backend protocol says what the runner and auto use: the required members, and each optional capability."""

from __future__ import annotations

import pytest

from gearshift._backends import backend_class
from gearshift._backends._base import Aborts, CachesFunctions, StartsWorkers

CAPABILITIES = {
    "sync": {Aborts},
    "async": {Aborts},
    "thread": {Aborts},
    "process": {Aborts, CachesFunctions, StartsWorkers},
    "dask": set(),  # dask cancels through its futures
}


@pytest.mark.parametrize("mode", sorted(CAPABILITIES))
def test_each_backend_has_the_capabilities_it_claims_and_no_others(mode: str) -> None:
    cls = backend_class(mode)
    for member in ("name", "prefetch", "target_chunk_seconds", "concurrent_items", "default_workers", "submit"):
        assert hasattr(cls, member), (mode, member)
    assert hasattr(cls, "shutdown")
    has = {cap for cap in (Aborts, CachesFunctions, StartsWorkers) if issubclass(cls, cap)}
    assert has == CAPABILITIES[mode]


def test_the_runner_uses_no_getattr_on_backends() -> None:
    # Optional capabilities are protocols checked with isinstance (see _backends/_base.py).
    import inspect

    from gearshift import _run_feed, _run_inline, _run_order, _run_outcomes, _run_report, _run_state, _runner

    for part in (_runner, _run_feed, _run_outcomes, _run_report, _run_order, _run_inline, _run_state):
        assert "getattr(self.backend" not in inspect.getsource(part), part.__name__
