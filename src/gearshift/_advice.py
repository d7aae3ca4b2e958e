"""``advise`` and ``profile``: measure a function before running it, typed like the entry points.

The measuring and the decision live in :mod:`gearshift._auto` (``profiling``,
``decide``); this module gives them the public signatures:
the same options as :func:`gearshift.map` (one definition: ``RunOptions``),
``shared=`` included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, Unpack, overload

from ._arguments import check_function, check_takes_shared
from ._call import _with_shared
from ._options import ErrorPolicy, RunOptions, make_options
from ._plan import Plan
from ._profile import Profile

__all__ = ["advise", "profile"]

T = TypeVar("T")  # an item
S = TypeVar("S")  # the shared object


@overload
def advise(
    fn: Callable[[T], object],
    items: Iterable[T],
    *,
    errors: ErrorPolicy = ...,
    shared: None = ...,
    **options: Unpack[RunOptions],
) -> Plan: ...
@overload
def advise(
    fn: Callable[[S, T], object],
    items: Iterable[T],
    *,
    errors: ErrorPolicy = ...,
    shared: S,
    **options: Unpack[RunOptions],
) -> Plan: ...
def advise(
    fn: Callable[..., Any],
    items: Iterable[Any],
    *,
    errors: ErrorPolicy = "raise",
    shared: Any = None,
    **options: Unpack[RunOptions],
) -> Plan:
    """Measure ``fn`` on the first few ``items`` and return the plan ``map(..., mode="auto")`` would follow.

    It takes :func:`gearshift.map`'s keyword arguments; explicit ``mode``,
    ``workers`` and ``chunksize`` are kept as given.  With ``shared=obj``,
    ``fn`` is measured as ``fn(obj, item)``, as ``map`` would call it.  The
    items measured are run (and their results discarded).  With a cluster
    configured (``address=``, ``client=`` or the environment), it is asked for
    its size when the work could pay for it, and the plan says whether it does.
    """
    checked = make_options("gearshift.advise", errors=errors, **options)
    if shared is not None:
        check_function(fn)
        check_takes_shared(fn, shared)
        fn = _with_shared(fn, shared, checked)
    from ._auto import profiling  # the auto stack loads only when asked for

    return profiling.advise(fn, items, errors=errors, **options)


def profile(fn: Callable[[T], object], items: Iterable[T], *, sample: int | None = None) -> Profile:
    """Run ``fn`` on a small sample of ``items`` and return what was measured.

    ``sample`` caps the items run (default: as many as fit in a short time
    budget, at most 32).  Items are run one at a time first, then, for work
    that computes, several at once on threads; exceptions raised by ``fn``
    are counted, not raised.  The results are thrown away: use ``map(...,
    mode="auto")`` to measure and keep them.
    """
    from ._auto import profiling

    return profiling.profile(fn, items, sample=sample)
