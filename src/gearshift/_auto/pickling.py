"""Pickle costs: what moving ``fn``, the items and the results to worker processes would cost.

Measured on the sampled function, items and results (a few of each, pickled
together as the process backend ships a chunk), into the sampler's
``pickles``; items holding big buffers may be left for later, when the
measurement matters (see :func:`measure_pickling`).
"""

from __future__ import annotations

import time

from .costs import typical
from .gate import PICKLE_SAMPLE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

    from .sampler import Sampler

__all__ = ["buffer_bytes", "copy_bound", "measure_deferred", "measure_pickling", "pickle_cost"]

#: a value that takes longer than this to pickle is measured alone
BIG_PICKLE_SECONDS = 1e-3
#: items holding buffers this big may have their pickling measured only when it matters
#: (see :func:`measure_pickling`): copying megabytes is milliseconds of page faults
DEFER_PICKLE_BYTES = 1 << 20


def measure_pickling(sampler: Sampler, fn: Any, items: list[Any], results: list[Any]) -> None:
    """Pickled size and time of ``fn``, the sampled items and the sampled results.

    With the sampler's ``defer_buffers``, items holding big buffers (:data:`DEFER_PICKLE_BYTES`,
    bytes, bytearrays, NumPy arrays...) whose mere copying at pipe speed
    would cost over a tenth of an item's time are not pickled now: their
    size is their buffers', and the time is measured by
    :func:`measure_deferred` only if processes could still win after the
    thread probe (which that cost makes sure runs).  Pickling one 8 MiB
    buffer takes 6 ms, mostly page faults: 2 % of a job of 48 items of
    12 ms that two threads finish in 0.3 s, paid while nothing else runs.
    """
    import pickle  # here: auto loads this module whether or not it measures pickling

    import cloudpickle

    try:
        t0 = time.perf_counter()
        blob = cloudpickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        sampler.pickles["fn"] = (len(blob), time.perf_counter() - t0)
    except Exception as exc:
        sampler.pickles["unpicklable"] = f"fn does not pickle ({type(exc).__name__}: {exc})"[:200]
        return
    if sampler.defer_buffers and items and sampler.wall:
        size = buffer_bytes(items[0])
        if copy_bound(size, typical(sampler.wall)):
            sampler.deferred_items, sampler.deferred_bytes = items[:PICKLE_SAMPLE], size
            items = []
    for what, values in (("item", items[:PICKLE_SAMPLE]), ("result", results[:PICKLE_SAMPLE])):
        if not values:
            continue
        try:
            size, seconds = pickle_cost(values)
        except Exception as exc:
            sampler.pickles["unpicklable"] = f"an {what} does not pickle ({type(exc).__name__}: {exc})"[:200]
            return
        sampler.pickles[what] = (size, seconds)


def measure_deferred(sampler: Sampler) -> None:
    """Measure the item pickling :func:`measure_pickling` left for later (if any)."""
    items, sampler.deferred_items = sampler.deferred_items, None
    if not items:
        return
    try:
        sampler.pickles["item"] = pickle_cost(items)
    except Exception as exc:
        sampler.pickles["unpicklable"] = f"an item does not pickle ({type(exc).__name__}: {exc})"[:200]


# -- the record -------------------------------------------------------------------


def buffer_bytes(value: Any) -> int:
    """Bytes of the buffers ``value`` exposes (bytes, bytearray, memoryview, NumPy arrays...),
    directly or as elements of a tuple or list (``starmap`` arguments); 0 for anything else."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    total = 0
    for v in values:
        if isinstance(v, (str, int, float, type(None))):
            continue
        try:
            total += memoryview(v).nbytes
        except TypeError:
            pass
    return total


def copy_bound(size: int, wall: float) -> bool:
    """Whether buffers of ``size`` bytes are big and would take over a tenth of ``wall`` just to
    copy at pipe speed: such items are probed on threads, whatever their pickling costs."""
    return size >= DEFER_PICKLE_BYTES and size / 1e9 > 0.1 * wall


def _dumps(values: list[Any]) -> bytes:
    import pickle

    import cloudpickle

    try:
        return pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        blob: bytes = cloudpickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
        return blob


def pickle_cost(values: list[Any]) -> tuple[int, float]:
    """Bytes and seconds per value when ``values`` are pickled together, as a chunk is.

    The process backend pickles a whole chunk at once, so what counts is the
    marginal cost of one more value, not the fixed cost of a ``dumps`` call
    (a few microseconds, more than a short string's own cost): the time for
    all values less the time for one, divided among the others.  Cheap
    measurements are repeated and the fastest kept (a timer's noise is of the
    order of what is measured).
    """
    n = len(values)
    t0 = time.perf_counter()
    one_blob = _dumps(values[:1])
    one = time.perf_counter() - t0
    if n < 2 or one > BIG_PICKLE_SECONDS:
        # One value is all it takes for big ones (megabytes: the call's fixed cost is lost
        # in it), and pickling every sampled value would cost as much as the work.
        return len(one_blob), one
    t0 = time.perf_counter()
    blob = _dumps(values)
    full = time.perf_counter() - t0
    size = max(1, (len(blob) - len(one_blob)) // (n - 1))
    if full < 1e-3:  # repeat only what is cheap to repeat
        for _ in range(3):
            t0 = time.perf_counter()
            _dumps(values)
            full = min(full, time.perf_counter() - t0)
            t0 = time.perf_counter()
            _dumps(values[:1])
            one = min(one, time.perf_counter() - t0)
    return size, max(full - one, 0.0) / (n - 1) if full > one else full / n
