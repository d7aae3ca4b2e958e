"""Which callables are certainly not coroutine functions, told without loading :mod:`inspect` or :mod:`types`.

The quick path, the lean start and the argument checks ask it of every call's
function; :func:`inspect.iscoroutinefunction` would cost a script about 7 ms
to load (with the ast, dis and tokenize it imports).  This module imports
nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["plain"]

#: inspect.CO_COROUTINE, the code flag of an ``async def`` function (inspect itself costs ~5 ms to load)
_CO_COROUTINE = 0x80


def _function() -> None:
    """(Its type is a ``def`` function's: ``types`` is not loaded for it.)"""


class _Method:
    def method(self) -> None:
        """(Its bound form's type is a bound method's.)"""


_BUILTIN, _FUNCTION, _METHOD = type(len), type(_function), type(_Method().method)


def plain(fn: Any) -> bool:
    """Whether ``fn`` is certainly no coroutine function: a builtin, a class, a ``def`` function or bound method.

    Anything else (a ``functools.partial``, a callable object...) goes the
    general way, which looks further (``_arguments.is_async_function``).
    """
    kind = type(fn)
    if kind is _BUILTIN or kind is type:
        return True
    if kind is _METHOD:
        fn = fn.__func__
        kind = type(fn)
    # (inspect.markcoroutinefunction, 3.12+, marks a plain function with _is_coroutine_marker)
    return kind is _FUNCTION and not fn.__code__.co_flags & _CO_COROUTINE and not hasattr(fn, "_is_coroutine_marker")
