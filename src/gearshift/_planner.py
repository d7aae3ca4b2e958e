"""The plan for an explicit mode: ``mode=`` as asked, ``workers`` as asked or the backend's default.

``mode="auto"`` decides in :mod:`gearshift._auto` (measure, then
:func:`gearshift._auto.decide.decide`); this module is all a fixed-mode run
loads of the policy layer.
"""

from __future__ import annotations

from ._backends import backend_class
from ._options import Options
from ._plan import Plan

__all__ = ["plan_fixed"]


def plan_fixed(options: Options, *, is_async: bool) -> Plan:
    """The plan for an explicit mode (or for ``auto`` when nothing was measured)."""
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
