"""Warm, shared backends for ``map`` and friends.

Starting processes costs tens of milliseconds (a local dask or Ray cluster,
seconds), so ``gearshift.map`` keeps one pool per mode alive between calls and
reuses it; they are shut down at interpreter exit.  A run given a cluster
(``address=``, ``client=``) connects for itself and disconnects at its end.
A call made from inside a shared pool's own worker thread gets a private pool
instead, so nested calls can never wait on themselves.  Auto's thread probe
keeps its own warm pools here too, lent to one probe at a time.  A forked
child starts with none of them.
"""

from __future__ import annotations

import atexit
import os
import threading

from ._backends import backend_class
from ._backends._base import Backend

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

_SHARED_PREFIX = "gearshift-shared"
_lock = threading.Lock()
_shared: dict[tuple[str, int], Backend] = {}
_probe: dict[int, Backend] = {}  # thread probe pools by size, each lent to one probe at a time


def shared_backend(mode: str, workers: int, engine: tuple[tuple[str, Any], ...] = ()) -> Backend | None:
    """The warm backend for ``mode`` with ``workers`` workers, or None if one must be private.

    None is returned for modes with nothing worth keeping warm (``sync``),
    when called from a thread that belongs to a shared pool, and for runs
    given an engine ``address=`` or ``client=``: a cluster of someone else's
    may go away, and a cached connection to it would outlive it.
    """
    if mode not in ("thread", "process", "dask", "ray") or engine:
        return None
    if not may_share():
        return None
    with _lock:
        backend = _shared.get((mode, workers))
        if backend is None:
            cls = backend_class(mode)
            if mode == "thread":
                backend = cls(workers, thread_name_prefix=_SHARED_PREFIX)  # type: ignore[call-arg]
            else:
                backend = cls(workers)  # type: ignore[call-arg]
                if mode == "process":  # start the interpreters now: the run's set-up overlaps their start
                    backend.warm()  # type: ignore[attr-defined]
            _shared[(mode, workers)] = backend
        return backend


def discard_shared(backend: Backend) -> None:
    """Shut down a shared backend that turned out not to be needed (auto's early process pool), if still shared."""
    with _lock:
        for key, shared in list(_shared.items()):
            if shared is backend:
                del _shared[key]
                break
        else:
            return
    backend.shutdown(wait=False, cancel_futures=True)


def may_share() -> bool:
    """Whether the calling thread may queue work on the shared pools (not one of their own threads)."""
    return not threading.current_thread().name.startswith(_SHARED_PREFIX)


def create_backend(mode: str, workers: int, engine: tuple[tuple[str, Any], ...] = ()) -> Backend:
    """A private backend for one run (shut down by the run when it ends).

    ``engine`` holds the keywords (``address=``, ``client=``) for the
    constructor of a distributed engine's backend.
    """
    return backend_class(mode)(workers, **dict(engine))  # type: ignore[call-arg]


def borrow_probe_pool(threads: int) -> Backend:
    """A warm pool of ``threads`` threads for auto's thread probe, for that probe alone.

    Kept between runs (starting threads delays the probe's first items, and a
    thread's first item runs slower) but never shared: a probe measures how
    its items scale, and another run's items on the same threads would spoil
    that.  A probe that finds it borrowed gets a fresh one.
    """
    with _lock:
        backend = _probe.pop(threads, None)
    if backend is None:
        backend = backend_class("thread")(threads, thread_name_prefix="gearshift-probe")  # type: ignore[call-arg]
    return backend


def return_probe_pool(backend: Backend, *, clean: bool) -> None:
    """Keep ``backend`` for the next probe if every item it was given is over; else let it go."""
    if clean:
        with _lock:
            if backend.workers not in _probe:
                _probe[backend.workers] = backend
                return
    # Items abandoned by a stopped run may still be running: the next probe must not wait behind them.
    backend.shutdown(wait=False, cancel_futures=True)


def _forget_in_child() -> None:
    """A forked child starts with no warm pools: the parent's threads did not come along, and
    its worker processes answer to the parent (using them, or stopping them at exit, would hang
    the child or break the parent).  The child starts its own on first use."""
    global _lock
    _lock = threading.Lock()  # another thread may have held it at the fork
    _shared.clear()
    _probe.clear()


os.register_at_fork(after_in_child=_forget_in_child)


@atexit.register
def shutdown_shared() -> None:
    with _lock:
        backends = [*_shared.values(), *_probe.values()]
        _shared.clear()
        _probe.clear()
    for backend in backends:
        backend.shutdown(wait=True, cancel_futures=True)


def is_warm(mode: str, workers: int) -> bool:
    """True when a shared backend for ``mode`` with ``workers`` workers exists already."""
    with _lock:
        return (mode, workers) in _shared
