"""Shared benchmark workloads and the local servers they talk to.

Used by ``benchmarks/`` (the suite comparing gearshift with its peers), the
planner's benchmark and ``gearshift bench``: every workload is defined once,
in :mod:`gearshift._bench.workloads`.  Nothing here is imported by
``import gearshift``, and importing a job's own module (what a worker process
does to unpickle it) loads nothing else: the registry loads on first use of
the names below.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .workloads import WORKLOADS as WORKLOADS
    from .workloads import Workload as Workload
    from .workloads import get as get

__all__ = ["WORKLOADS", "Workload", "get"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from . import workloads

        return getattr(workloads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
