"""Warm, shared backends for ``map`` and friends.

Starting processes costs tens of milliseconds (a local dask or Ray cluster,
seconds), so ``gearshift.map`` keeps one pool per mode alive between calls and
reuses it; they are shut down at interpreter exit.  Runs given an engine
``address=`` or ``client=`` get a private backend instead.  A call made from inside a shared pool's own worker thread
gets a private pool instead, so nested calls can never wait on themselves.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Mapping
from typing import Any

from ._backends import backend_class
from ._backends._base import Backend

_SHARED_PREFIX = "gearshift-shared"
_lock = threading.Lock()
_shared: dict[tuple[str, int], Backend] = {}


def shared_backend(mode: str, workers: int) -> Backend | None:
    """The warm backend for ``mode`` with ``workers`` workers, or None if one must be private.

    None is returned for modes with nothing worth keeping warm (``sync``), and
    when called from a thread that belongs to a shared pool.
    """
    if mode not in ("thread", "process", "dask", "ray"):
        return None
    if threading.current_thread().name.startswith(_SHARED_PREFIX):
        return None
    with _lock:
        backend = _shared.get((mode, workers))
        if backend is None:
            cls = backend_class(mode)
            if mode == "thread":
                backend = cls(workers, thread_name_prefix=_SHARED_PREFIX)  # type: ignore[call-arg]
            else:
                backend = cls(workers)  # type: ignore[call-arg]
            _shared[(mode, workers)] = backend
        return backend


def create_backend(mode: str, workers: int, engine_options: Mapping[str, Any] | None = None) -> Backend:
    """A private backend for one run (shut down by the run when it ends).

    ``engine_options`` (``address=``, ``client=``) go to the constructor of a
    distributed engine's backend.
    """
    return backend_class(mode)(workers, **(engine_options or {}))  # type: ignore[call-arg]


@atexit.register
def shutdown_shared() -> None:
    with _lock:
        backends = list(_shared.values())
        _shared.clear()
    for backend in backends:
        backend.shutdown(wait=True, cancel_futures=True)
