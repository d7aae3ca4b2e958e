"""Shared benchmark workloads and the local servers they talk to.

Used by ``benchmarks/`` (the suite comparing gearshift with its peers), the
planner's benchmark and ``gearshift bench``: every workload is defined once,
in :mod:`gearshift._bench.workloads`.  Nothing here is imported by
``import gearshift``.
"""

from __future__ import annotations

from .workloads import WORKLOADS as WORKLOADS
from .workloads import Workload as Workload
from .workloads import get as get
from .workloads_more import MORE

WORKLOADS.update((w.name, w) for w in MORE)  # the same dict get() reads

__all__ = ["WORKLOADS", "Workload", "get"]
