"""``isinstance`` and ``issubclass`` against a protocol, as ``@typing.runtime_checkable`` gives them, without typing.

The backend protocol's optional capabilities (:mod:`gearshift._backends._base`)
are checked with ``isinstance`` by the runner and by auto on every run.  With
:class:`typing.Protocol`, that module would load :mod:`typing` (and the ``re``
and ``enum`` it imports: about 5 ms of a script's start on a 2-CPU host) for
the four checks.  So type checkers see :class:`typing.Protocol` there, and the
interpreter this :class:`Protocol`, whose checks are typing's: an object
follows a protocol when it has every member the protocol's body names
(methods, properties, annotated attributes; a method not None), and
``issubclass`` is refused for a protocol with members other than methods.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T", bound=type)

__all__ = ["Protocol", "runtime_checkable"]


class _ProtocolType(type):
    """Makes a protocol class's checks structural (see the module)."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _ProtocolType:
        cls = super().__new__(mcls, name, bases, namespace)
        declared = [n for n in (*namespace, *namespace.get("__annotations__", {})) if not n.startswith("_")]
        methods = [n for n in declared if callable(namespace.get(n)) or isinstance(namespace.get(n), _WRAPPERS)]
        cls.__protocol_members__ = tuple(dict.fromkeys(declared))  # type: ignore[attr-defined]
        cls.__protocol_methods__ = frozenset(methods)  # type: ignore[attr-defined]
        return cls

    def __instancecheck__(cls, instance: object) -> bool:
        methods = cls.__protocol_methods__  # type: ignore[attr-defined]
        for member in cls.__protocol_members__:  # type: ignore[attr-defined]
            if not hasattr(instance, member) or (member in methods and getattr(instance, member) is None):
                return False
        return True

    def __subclasscheck__(cls, subclass: type) -> bool:
        members = cls.__protocol_members__  # type: ignore[attr-defined]
        if set(members) != cls.__protocol_methods__:  # type: ignore[attr-defined]
            raise TypeError("Protocols with non-method members don't support issubclass()")
        return all(getattr(subclass, member, None) is not None for member in members)


_WRAPPERS = (property, classmethod, staticmethod)


class Protocol(metaclass=_ProtocolType):
    """Base of a protocol checked structurally at run time (see the module)."""

    __slots__ = ()


def runtime_checkable(cls: T) -> T:
    """:func:`typing.runtime_checkable`'s place: every :class:`Protocol` here is checked at run time already."""
    return cls
