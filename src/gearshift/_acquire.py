"""The one place that picks the backend a run executes on.

Every run (a fixed mode from ``map``, each segment of ``mode="auto"``, auto's
lookahead) asks :func:`acquire_backend` for its backend: the caller's own
event loop (``amap`` in async mode), a warm shared pool (see ``_pools.py``),
or a private one the run shuts down when it ends.  Work that must cross to
worker processes is checked here, before any of it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from ._backends import backend_class
from ._backends._base import Backend
from ._pools import create_backend, shared_backend

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    import asyncio
    from typing import Any

__all__ = ["acquire_backend", "check_shippable"]


def acquire_backend(
    mode: str,
    workers: int,
    engine: tuple[tuple[str, Any], ...] = (),
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    share: bool = True,
    fn: Callable[..., Any] | None = None,
) -> tuple[Backend, bool]:
    """The backend for a run of ``mode`` on ``workers``, and whether the run owns it (shuts it down).

    ``loop``: async mode runs its coroutines there (the caller's, from
    ``amap``/``aimap``).  ``share=False``: never a shared pool (a run started
    from one of their threads).  ``fn``: in process mode, refused now if it
    cannot be pickled (:class:`~gearshift.UnpicklableError`).
    """
    if mode == "async" and loop is not None:
        return backend_class("async")(workers, loop=loop), False  # type: ignore[call-arg]
    if mode == "process" and fn is not None:
        from ._backends._crossing import dumps
        from ._task import SharedCall

        # The shared object was checked on its own already (it may be big: pickle it once).
        dumps(fn.func if type(fn) is SharedCall else fn, "function")
    if mode == "sync":
        return backend_class("sync")(), False
    backend = shared_backend(mode, workers, engine) if share else None
    if backend is not None:
        return backend, False
    return create_backend(mode, workers, engine), True


def check_shippable(value: Any, what: str) -> None:
    """Refuse ``value`` now, naming it, if it cannot be pickled to worker processes."""
    from ._backends._crossing import check_pickles

    check_pickles(value, what)
