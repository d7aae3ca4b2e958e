"""The cost model of a dask or Ray cluster, beside :mod:`.costs` (its constants are in that table).

Pure arithmetic, like the rest of the model: :mod:`.decide` weighs a
configured cluster against the best local estimate with these.  A job of
``n`` items of ``w`` seconds takes ``n*w/W`` over the cluster's ``W`` workers
plus one round trip per ~100 ms chunk plus the bytes moved; it is chosen under
0.8x the local estimate and 1 s less (:func:`cluster_worthwhile`).
"""

from __future__ import annotations

import math

from .._record import Record
from .costs import (
    CLUSTER_BREAK_EVEN_SECONDS,
    CLUSTER_CHUNK_SECONDS,
    CLUSTER_MARGIN,
    CLUSTER_MIN_SAVING_SECONDS,
    CLUSTER_SECONDS_PER_BYTE,
    CLUSTER_TASK_SECONDS,
)

__all__ = ["Cluster", "cluster_may_pay", "cluster_seconds", "cluster_worthwhile"]


class Cluster(Record, frozen=True, slots=True):
    """A configured dask or Ray cluster, as the planner sees it.

    The caller gathers the facts (connecting is not the planner's business):
    ``workers`` is what the cluster itself reports (dask: its worker threads,
    Ray: its CPUs), or None when it was not asked because
    :func:`cluster_may_pay` said the work is too small for any cluster.
    """

    engine: str
    address: str
    workers: int | None = None
    startup_seconds: float = 0.0


# -- clusters ----------------------------------------------------------------------


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


def cluster_may_pay(per_item_seconds: float, *, items: int, local_workers: int, engine: str = "dask") -> bool:
    """False when no cluster, however big, could pass :func:`cluster_worthwhile`.

    Items lighter than the break-even never go; and since the local time is
    taken no higher than ``items * per_item_seconds / local_workers``, a job
    shorter than :data:`CLUSTER_MIN_SAVING_SECONDS` there cannot save that much.
    """
    return (
        per_item_seconds >= CLUSTER_BREAK_EVEN_SECONDS[engine]
        and items * per_item_seconds / max(1, local_workers) >= CLUSTER_MIN_SAVING_SECONDS
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
    local_seconds: float | None = None,
) -> bool:
    """True when ``items`` items of ``per_item_seconds`` of work and ``payload_bytes``
    of item plus result each should run faster on the cluster than on ``local_workers``
    local processes, by the margin :data:`CLUSTER_MARGIN` and at least
    :data:`CLUSTER_MIN_SAVING_SECONDS`.

    ``startup_seconds`` is what connecting costs (a running cluster: ~0; a
    LocalCluster or local Ray to start: seconds, see the benchmark).  Local
    processes are credited with no overhead at all, so a cluster is chosen only
    when its extra workers clearly pay for the network; ``local_seconds``, the
    best local mode's estimate, lowers that further (threads overlapping waits).
    Items lighter than the measured break-even (:data:`CLUSTER_BREAK_EVEN_SECONDS`)
    always stay local.
    """
    if items <= 0 or cluster_workers <= local_workers or per_item_seconds < CLUSTER_BREAK_EVEN_SECONDS[engine]:
        return False
    local = items * per_item_seconds / max(1, local_workers)
    if local_seconds is not None:
        local = min(local, local_seconds)
    remote = cluster_seconds(
        per_item_seconds,
        payload_bytes,
        items=items,
        cluster_workers=cluster_workers,
        engine=engine,
        startup_seconds=startup_seconds,
    )
    return remote < CLUSTER_MARGIN * local and local - remote >= CLUSTER_MIN_SAVING_SECONDS
