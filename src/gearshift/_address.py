"""Where a distributed engine is: ``address=`` and ``client=`` checked against the mode, or the environment.

Part of the options' checks (:mod:`gearshift._options`): an engine mode
(``dask``, ``ray``) takes its cluster from ``address=``/``client=`` or the
environment; ``mode="auto"`` may be given one, whose engine it works out here.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: modes that run on a distributed engine and accept ``address=`` (and, for dask, ``client=``)
ENGINE_MODES: tuple[str, ...] = ("dask", "ray")
#: where an engine mode finds its cluster's address when ``address=`` is not given
#: (``mode="auto"`` looks at both, dask first)
ADDRESS_ENV: dict[str, str] = {"dask": "GEARSHIFT_DASK_ADDRESS", "ray": "GEARSHIFT_RAY_ADDRESS"}
#: address schemes that name a dask scheduler / a Ray cluster, for ``mode="auto"``
DASK_SCHEMES: tuple[str, ...] = ("tcp://", "tls://", "ucx://", "ws://", "wss://", "inproc://")
RAY_SCHEMES: tuple[str, ...] = ("ray://",)


def engine_options(mode: str, address: Any, client: Any) -> tuple[tuple[tuple[str, Any], ...], str | None]:
    """Check ``address=`` and ``client=`` against the mode; only the ones given are kept.

    Without either, an engine mode takes its address from the environment
    (``GEARSHIFT_DASK_ADDRESS``, ``GEARSHIFT_RAY_ADDRESS``), if set.  With
    ``mode="auto"`` they configure a cluster that auto may choose; the second
    value returned is its engine (None for other modes, or when none is configured).
    """
    engine: list[tuple[str, Any]] = []
    cluster: str | None = None
    if address is None and client is None:
        for name in ADDRESS_ENV if mode == "auto" else (mode,) if mode in ADDRESS_ENV else ():
            address = os.environ.get(ADDRESS_ENV[name]) or None
            if address is not None:
                cluster = name
                break
    if address is not None:
        if mode not in (*ENGINE_MODES, "auto"):
            raise ValueError(
                f"address= says where a dask scheduler or Ray cluster listens; it needs mode='dask', "
                f"mode='ray' or mode='auto', not mode={mode!r}"
            )
        if not isinstance(address, str) or not address:
            raise TypeError(
                f"address must be a non-empty string such as 'tcp://host:8786' (dask) or 'host:6379' (ray), "
                f"got {type(address).__name__}: {address!r:.80}"
            )
        if mode == "auto" and cluster is None:
            cluster = _engine_of(address)
        engine.append(("address", address))
    if client is not None:
        if mode not in ("dask", "auto"):
            raise ValueError(
                f"client= takes a distributed.Client and needs mode='dask' or mode='auto', not mode={mode!r}"
            )
        if address is not None:
            raise ValueError("pass either address= or client=, not both (a client is already connected somewhere)")
        engine.append(("client", client))
        if mode == "auto":
            cluster = "dask"
    return tuple(engine), (cluster if mode == "auto" else None)


def _engine_of(address: str) -> str:
    """The engine an ``address=`` given with ``mode="auto"`` belongs to, from its form.

    ``"auto"`` is Ray's own word for "the Ray cluster running on this machine"
    (what ``ray start --head`` leaves behind); a bare ``host:port`` could be
    either engine, so it is refused with the forms that are not ambiguous.
    """
    if address.startswith(DASK_SCHEMES):
        return "dask"
    if address.startswith(RAY_SCHEMES) or address == "auto":
        return "ray"
    raise ValueError(
        f"with mode='auto', address= must say which engine listens there: 'tcp://host:8786' for a dask "
        f"scheduler; for Ray, 'auto' (the Ray started on this machine by `ray start --head`) or "
        f"'ray://host:10001' (Ray Client: pip install 'ray[client]'); got {address!r:.80}. For a Ray "
        f"head's host:6379, set GEARSHIFT_RAY_ADDRESS={address:.80} or pass mode='ray'; for a dask "
        f"scheduler, write 'tcp://{address:.80}' or pass mode='dask'"
    )
