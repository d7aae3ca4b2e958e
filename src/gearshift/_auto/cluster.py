"""The facts about a configured cluster that ``mode="auto"`` weighs (the planner stays pure).

With ``address=``, ``client=`` or ``GEARSHIFT_DASK_ADDRESS`` /
``GEARSHIFT_RAY_ADDRESS`` and ``mode="auto"``, :func:`connect` asks the
cluster how many workers it offers, but only when the measured work could pay
for the network (:func:`~gearshift._auto.cluster_costs.cluster_may_pay`): cheap work never
connects.  The connected backend is handed back so that a run that goes to the
cluster does not connect twice.
"""

from __future__ import annotations

from .._backends._base import Backend, ClusterBackend
from .._options import Options
from .._pools import create_backend
from .._profile import Profile
from .cluster_costs import Cluster, cluster_may_pay
from .costs import UNKNOWN_LENGTH, Machine

__all__ = ["configured_address", "connect"]


def configured_address(options: Options) -> str:
    """Where the configured cluster is, in words, before connecting to it."""
    engine = options.engine_options
    if "address" in engine:
        return str(engine["address"])
    client = engine.get("client")
    scheduler = getattr(client, "scheduler", None)
    return str(getattr(scheduler, "address", None) or "the client's scheduler")


def connect(
    options: Options, profile: Profile, remaining: int | None, machine: Machine, connected: Backend | None = None
) -> tuple[Cluster | None, Backend | None]:
    """The cluster's facts for :func:`~gearshift._auto.decide.decide`, and the backend connected to it (or None).

    Returns ``(None, None)`` when no cluster is configured.  ``connected`` is a
    backend from an earlier call (a re-plan), asked again rather than connecting
    anew.  The caller owns the backend: it runs on it or shuts it down.
    """
    engine = options.cluster
    if engine is None:
        return None, None
    address = configured_address(options)
    n = remaining if remaining is not None else UNKNOWN_LENGTH
    if profile.is_async or not profile.wall or profile.unpicklable is not None:
        return Cluster(engine, address), connected
    if not cluster_may_pay(profile.median_wall, items=n, local_workers=machine.cpus, engine=engine):
        return Cluster(engine, address), connected
    backend = connected or create_backend(engine, options.workers or machine.cpus, options.engine)
    assert isinstance(backend, ClusterBackend), f"the {engine} backend has no cluster facts"
    try:
        facts = Cluster(engine, backend.address, workers=backend.cluster_workers())
    except BaseException:
        backend.shutdown(wait=False, cancel_futures=True)
        raise
    return facts, backend
