"""Choose a plan.  Pure decision logic: no work is run here.

``mode="auto"`` currently follows a fixed rule (coroutine functions go to the
event loop, everything else runs synchronously, which is never slower than
``sync``); measuring the work to choose better is the profiler's job.
Options the caller passed explicitly are always kept.
"""

from __future__ import annotations

import math

from ._backends import backend_class
from ._options import Options
from ._plan import Plan


def plan_fixed(options: Options, *, is_async: bool) -> Plan:
    """The plan for an explicit mode (or for ``auto`` by the fixed rule)."""
    reasons: list[str] = []
    mode = options.mode
    if mode == "auto":
        if is_async:
            mode = "async"
            reasons.append("fn is a coroutine function: its awaits overlap on one event loop")
        else:
            mode = "sync"
            reasons.append("fn is a plain function and nothing was measured: sync never adds overhead")
    else:
        reasons.append(f"mode={mode!r} was asked for")
    cls = backend_class(mode)
    if options.workers is not None:
        workers = options.workers
        reasons.append(f"workers={workers} was asked for")
    else:
        workers = cls.default_workers(is_async)
    if options.chunksize is not None:
        reasons.append(f"chunksize={options.chunksize} was asked for")
    return Plan(mode=mode, workers=workers, chunksize=options.chunksize, reasons=tuple(reasons))


# -- clusters -----------------------------------------------------------------
#
# When is handing work to a dask or Ray cluster worth it?  The cluster's workers
# add parallelism, but every task pays a round trip through the engine
# (client -> scheduler -> worker -> back) and every byte of items and results
# crosses the network.  The constants are measured by benchmarks/cluster.py on
# a 2-worker local cluster (results/cluster.md): a LocalCluster or local Ray is
# the best case of a real network, so the rule errs on the side of staying local.

#: seconds one task's round trip costs through gearshift and the engine
#: (``overhead per task``: a function that does nothing, one item per task;
#: measured 6.95 ms for dask, 1.47 ms for ray, 0.10 ms for process mode)
CLUSTER_TASK_SECONDS: dict[str, float] = {"dask": 6.95e-03, "ray": 1.47e-03}
#: seconds per byte of items plus results moved between this process and the workers
#: (``transfer per MiB``, a round trip: measured 9.7 ms for dask, 5.6 ms for ray, / 2 MiB)
CLUSTER_SECONDS_PER_BYTE: dict[str, float] = {"dask": 4.63e-09, "ray": 2.68e-09}
#: seconds of work the runner puts in one automatic chunk on a cluster (the backends' target)
CLUSTER_CHUNK_SECONDS = 0.1
#: the cluster must be predicted at least this much faster than local processes ...
CLUSTER_MARGIN = 0.8
#: ... and save at least this many seconds: a real network's latency is above a
#: local cluster's, so smaller predicted gains are within the estimate's error
CLUSTER_MIN_SAVING_SECONDS = 1.0


def cluster_seconds(
    per_item_seconds: float,
    payload_bytes: float,
    *,
    items: int,
    cluster_workers: int,
    engine: str = "dask",
    startup_seconds: float = 0.0,
) -> float:
    """Predicted wall time of ``items`` items on a cluster of ``cluster_workers`` workers.

    The work divides among the workers; the round trips (one per automatic
    chunk of ~``CLUSTER_CHUNK_SECONDS``) and the transfers go through this one
    client, so they do not.
    """
    per_chunk = max(1, int(CLUSTER_CHUNK_SECONDS / per_item_seconds)) if per_item_seconds > 0 else items
    tasks = math.ceil(items / max(1, per_chunk))
    return (
        items * per_item_seconds / cluster_workers
        + tasks * CLUSTER_TASK_SECONDS[engine]
        + items * payload_bytes * CLUSTER_SECONDS_PER_BYTE[engine]
        + startup_seconds
    )


def cluster_worthwhile(
    per_item_seconds: float,
    payload_bytes: float,
    *,
    items: int,
    local_workers: int,
    cluster_workers: int,
    engine: str = "dask",
    startup_seconds: float = 0.0,
) -> bool:
    """True when ``items`` items of ``per_item_seconds`` of work and ``payload_bytes``
    of item plus result each should run faster on the cluster than on ``local_workers``
    local processes, by the margin :data:`CLUSTER_MARGIN` and at least
    :data:`CLUSTER_MIN_SAVING_SECONDS`.

    ``startup_seconds`` is what connecting costs (a running cluster: ~0; a
    LocalCluster or local Ray to start: seconds, see the benchmark).  Local
    processes are credited with no overhead at all, so a cluster is chosen only
    when its extra workers clearly pay for the network.
    """
    if items <= 0 or cluster_workers <= local_workers:
        return False
    local = items * per_item_seconds / max(1, local_workers)
    remote = cluster_seconds(
        per_item_seconds,
        payload_bytes,
        items=items,
        cluster_workers=cluster_workers,
        engine=engine,
        startup_seconds=startup_seconds,
    )
    return remote < CLUSTER_MARGIN * local and local - remote >= CLUSTER_MIN_SAVING_SECONDS
