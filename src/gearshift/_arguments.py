"""The entry points' arguments other than the options, checked: the function, the items, ``shared=``.

Each check refuses a bad argument before any work starts, naming what it got
and what to pass instead (a coroutine object where its function was meant,
an async iterable given to ``map``, a ``shared=`` object the mode cannot hand
to its workers, a function that cannot take it).  ``is_async_function`` tells
which calling convention a function needs.  The options themselves are
``_options``'s.

:mod:`inspect` (7 ms of a script's start, with the ast, dis and tokenize it
loads) is imported only where a check needs it: ``shared=`` given, or a
callable that is not a plain ``def`` function, bound method, builtin or class.
"""

from __future__ import annotations

import types
from collections.abc import Callable

from ._fn_kind import plain

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any


def check_function(fn: Any, *, where: str = "fn") -> Callable[..., Any]:
    """Refuse anything that is not a callable, with a hint for the usual slips."""
    if isinstance(fn, types.CoroutineType):  # (inspect.iscoroutine)
        fn.close()  # it will never run; closing it avoids a "never awaited" warning
        raise TypeError(
            f"{where} must be a function, got a coroutine object ({fn.__qualname__}(...) was called). "
            f"Pass the async function itself: gearshift.map({fn.__qualname__}, items), "
            f"not gearshift.map({fn.__qualname__}(...), items)."
        )
    if not callable(fn):
        raise TypeError(f"{where} must be callable, got {type(fn).__name__}: {fn!r:.80}")
    return fn  # type: ignore[no-any-return]


def check_items(items: Any) -> None:
    """Refuse non-iterables before the run starts (the items are consumed lazily later)."""
    if isinstance(items, (str, bytes)):
        return  # iterable, if unusual; the builtin map accepts them too
    if hasattr(items, "__aiter__") and not hasattr(items, "__iter__"):
        raise TypeError(
            f"items is an async iterable ({type(items).__name__}); use gearshift.amap or gearshift.aimap, "
            "which accept async iterables, or pass a regular iterable."
        )
    try:
        iter(items)
    except TypeError:
        raise TypeError(
            f"items must be iterable (a list, generator, ...), got {type(items).__name__}: {items!r:.80}"
        ) from None


#: modes whose engine moves data itself: ``shared=`` is refused there with directions
_NO_SHARED_MODES = {
    "dask": "scatter it to every worker yourself (future = client.scatter(obj, broadcast=True)) and pass the "
    "future to tasks you submit with client.submit",
    "ray": "put it in Ray's object store yourself (ref = ray.put(obj)), bind the reference "
    "(functools.partial(fn, ref)) and call ray.get(ref) inside fn: Ray caches it on each node",
}


def check_shared(shared: Any, mode: str) -> None:
    """Refuse ``shared=`` where gearshift cannot hand it to each worker once."""
    if mode in _NO_SHARED_MODES:
        raise ValueError(
            f"shared= is not supported with mode={mode!r}: {_NO_SHARED_MODES[mode]}. "
            "Or use mode='process', which sends the shared object once to each worker process."
        )
    import inspect

    if inspect.isawaitable(shared):
        if inspect.iscoroutine(shared):
            shared.close()  # it will never run; closing it avoids a "never awaited" warning
        raise TypeError(
            f"shared must be a plain object, got an awaitable ({type(shared).__name__}): await it first "
            "and pass its result"
        )


def check_takes_shared(fn: Callable[..., Any], shared: Any) -> None:
    """Refuse a function that cannot be called as ``fn(shared, item)``, before any work starts."""
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: let the call itself tell
        return
    try:
        signature.bind(shared, None)
    except TypeError:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(
            f"with shared=, fn is called as fn(shared, item), but {name}{signature} does not take two "
            f"positional arguments: add a first parameter for the shared object, e.g. def {name}(table, item)"
        ) from None


def is_async_function(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions, also behind ``functools.partial`` or a callable object."""
    if plain(fn):  # (most functions: told from their code's flags, without loading inspect)
        return False
    import inspect

    while True:
        if inspect.iscoroutinefunction(fn):
            return True
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is None or inner is fn:
            break
        fn = inner
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - we want the method, not a yes/no
    return call is not None and inspect.iscoroutinefunction(call)
