"""Value classes that behave as dataclasses, defined at a tenth of :func:`dataclasses.dataclass`'s cost.

Auto's load is paid by every script whose first ``mode="auto"`` call loads it
(issue 21's cold runs).  On Python 3.11, ``@dataclass`` spends 0.5-0.8 ms
defining each class (it compiles its ``__init__``, ``__repr__``, ``__eq__``,
``__hash__`` and, frozen, ``__setattr__`` and ``__delattr__`` one by one), and
importing :mod:`dataclasses` loads :mod:`inspect`, :mod:`ast`, :mod:`dis` and
:mod:`tokenize`: 11 ms for the 17 classes on auto's path and 7 ms for the
modules, of auto's 42 (``python -X importtime``, bytecode compiled; the figures
are in docs/performance.md, "Ninth session").  A :class:`Record` compiles only
its ``__init__`` (one ``exec``, about 0.05 ms); the rest is shared code.

What a record class is, from outside, is what ``@dataclass`` would have made of
the same body: keyword ``frozen``, ``eq`` and ``slots`` as the decorator's,
fields from the annotations in order, defaults, :func:`field` with
``default_factory``, ``init``, ``repr``, ``compare`` and ``metadata``,
``__post_init__``, ``__match_args__``, equality and hashing by the compared
fields, the same ``repr``, pickling (frozen and slotted too), and
:class:`dataclasses.FrozenInstanceError` on assignment to a frozen one.  The
functions of :mod:`dataclasses` work on records too (``fields``, ``replace``,
``asdict``, ``is_dataclass``): the first time one of them asks a record class
for ``__dataclass_fields__``, :mod:`dataclasses` is imported and a twin made with
:func:`dataclasses.make_dataclass` lends its fields.  gearshift's own code uses
:func:`fields` and :func:`replace` here, which load nothing.

Not supported, as nothing here needs it: ``InitVar``, ``kw_only``, ordering,
inheriting fields from a record that is not slotted into one that is.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_: object) -> Callable[[type], type]:
        """typing.dataclass_transform's run-time effect that matters here (none), without importing typing."""
        return lambda cls: cls


__all__ = ["MISSING", "Field", "Record", "field", "fields", "replace"]


class _Sentinel:
    """A module-level marker: shown by its ``repr``, pickled as the module's name for it (so one of a kind)."""

    __slots__ = ("_name", "_shown")

    def __init__(self, name: str, shown: str) -> None:
        self._name, self._shown = name, shown

    def __repr__(self) -> str:
        return self._shown

    def __reduce__(self) -> str:
        return self._name


#: a field with no default (dataclasses.MISSING's role; a sentinel of this module's own)
MISSING: Any = _Sentinel("MISSING", "MISSING")
#: the default a field with a default_factory shows in ``__init__``'s signature (as dataclasses' does)
_FACTORY: Any = _Sentinel("_FACTORY", "<factory>")


class Field:
    """One field of a record: its name, annotation, default and what ``@dataclass``'s ``field()`` would say."""

    __slots__ = ("compare", "default", "default_factory", "init", "metadata", "name", "repr", "type")

    def __init__(
        self,
        default: Any = MISSING,
        *,
        default_factory: Callable[[], Any] | None = None,
        init: bool = True,
        repr: bool = True,  # noqa: A002  (dataclasses.field's name)
        compare: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        if default is not MISSING and default_factory is not None:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.compare = init, repr, compare
        self.metadata: Mapping[str, Any] = {} if metadata is None else metadata

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, init={self.init}, repr={self.repr})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | None = None,
    init: bool = True,
    repr: bool = True,  # noqa: A002
    compare: bool = True,
    metadata: Mapping[str, Any] | None = None,
) -> Any:
    """A field with more than a default, as :func:`dataclasses.field` (typed ``Any``, as it is there)."""
    return Field(default, default_factory=default_factory, init=init, repr=repr, compare=compare, metadata=metadata)


def fields(record: Record | type[Record]) -> tuple[Field, ...]:
    """The fields of a record or record class, in order (as :func:`dataclasses.fields`, loading nothing)."""
    return record.__record_fields__


def replace(record: R, /, **changes: Any) -> R:
    """A copy of ``record`` with ``changes`` (as :func:`dataclasses.replace`, loading nothing)."""
    for f in record.__record_fields__:
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(record, f.name)
    return record.__class__(**changes)


def _getstate(self: Record) -> list[Any]:
    """A frozen slotted record's state for pickle and copy: its fields' values, in order."""
    return [getattr(self, f.name, MISSING) for f in self.__record_fields__]


def _setstate(self: Record, state: list[Any]) -> None:
    for f, value in zip(self.__record_fields__, state, strict=True):
        if value is not MISSING:
            object.__setattr__(self, f.name, value)


def _eq(self: Record, other: object) -> object:  # (bool, or NotImplemented)
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self.__record_compared__
    return bool(tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names))


def _hash(self: Record) -> int:
    return hash(tuple(getattr(self, n) for n in self.__record_compared__))


def _frozen_setattr(self: Record, name: str, value: Any) -> None:
    import dataclasses  # (only on the way to an error)

    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Record, name: str) -> None:
    import dataclasses

    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def _inherits_post_init(bases: tuple[type, ...]) -> bool:
    return any(hasattr(base, "__post_init__") for base in bases)


def _make_init(name: str, every: tuple[Field, ...], frozen: bool, post_init: bool) -> Callable[..., None]:
    """The class's ``__init__``, compiled from its fields: one ``exec``, as ``@dataclass`` does for each method."""
    scope: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    params, body, defaulted = [], [], None
    for f in every:
        value = f.name
        if f.default_factory is not None:
            scope[f"_factory_{f.name}"] = f.default_factory
            value = (
                f"_factory_{f.name}()" if not f.init else f"_factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
            )
        elif not f.init and f.default is not MISSING:
            scope[f"_default_{f.name}"] = f.default
            value = f"_default_{f.name}"
        if f.init:
            if f.default is not MISSING:
                scope[f"_default_{f.name}"] = f.default
                params.append(f"{f.name}=_default_{f.name}")
                defaulted = f.name
            elif f.default_factory is not None:
                params.append(f"{f.name}=_FACTORY")
                defaulted = f.name
            elif defaulted is not None:
                raise TypeError(f"{name}: non-default argument {f.name!r} follows default argument {defaulted!r}")
            else:
                params.append(f.name)
        elif f.default is MISSING and f.default_factory is None:
            continue  # (set by __post_init__)
        body.append(f"_set(self, {f.name!r}, {value})" if frozen else f"self.{f.name} = {value}")
    if post_init:
        body.append("self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n    " + ("\n    ".join(body) or "pass") + "\n"
    exec(source, scope)
    init = scope["__init__"]
    init.__qualname__ = f"{name}.__init__"
    init.__annotations__ = {f.name: f.type for f in every if f.init} | {"return": None}  # (for help() and signature)
    return init  # type: ignore[no-any-return]


def _dataclass_twin(cls: Any) -> Any:
    """A dataclass with ``cls``'s fields, whose ``__dataclass_fields__`` the dataclasses module reads for ``cls``."""
    import dataclasses

    spec = []
    for f in cls.__record_fields__:
        options: dict[str, Any] = {"init": f.init, "repr": f.repr, "compare": f.compare, "metadata": f.metadata}
        if f.default_factory is not None:
            options["default_factory"] = f.default_factory
        elif f.default is not MISSING:
            options["default"] = f.default
        spec.append((f.name, f.type, dataclasses.field(**options)))
    frozen, eq = cls.__record_frozen__, cls.__record_eq__
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=frozen, eq=eq)


class _DataclassFacts:
    """``__dataclass_fields__`` or ``__dataclass_params__`` of a record class, made when first asked.

    A non-data descriptor on :class:`Record`: the dataclasses module reads these
    names on the class or on an instance; the first read makes the twin and sets
    both on the record class, where later reads find them directly.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, record: object, cls: type) -> Any:
        twin = _dataclass_twin(cls)
        type.__setattr__(cls, "__dataclass_fields__", twin.__dataclass_fields__)
        type.__setattr__(cls, "__dataclass_params__", twin.__dataclass_params__)
        return getattr(twin, self.name)


@dataclass_transform(field_specifiers=(field, Field))
class _RecordType(type):
    """Makes a record class from its body, as ``@dataclass`` would (see the module)."""

    def __new__(
        mcls,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        *,
        frozen: bool = False,
        eq: bool = True,
        slots: bool = False,
    ) -> _RecordType:
        found: dict[str, Field] = {}
        for base in reversed(bases):
            for f in getattr(base, "__record_fields__", ()):
                found[f.name] = f
        own = []
        for fname, annotation in namespace.get("__annotations__", {}).items():
            if fname.startswith("__") or str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                continue
            value = namespace.pop(fname, MISSING)
            f = value if isinstance(value, Field) else Field(value)
            f.name, f.type = fname, annotation
            found[fname] = f
            own.append(fname)
        every = tuple(found.values())
        namespace["__record_fields__"] = every
        namespace["__record_frozen__"] = frozen
        namespace["__record_eq__"] = eq
        namespace["__record_compared__"] = tuple(f.name for f in every if f.compare)
        namespace["__match_args__"] = tuple(f.name for f in every if f.init)
        if slots:  # (else the class has a __dict__, as any class without __slots__)
            namespace["__slots__"] = tuple(own)
        if slots and frozen:  # (pickle's own way sets slots with setattr, which a frozen class refuses)
            namespace["__getstate__"], namespace["__setstate__"] = _getstate, _setstate
        if eq:
            namespace.setdefault("__eq__", _eq)
            namespace.setdefault("__hash__", _hash if frozen else None)
        if frozen:
            namespace["__setattr__"], namespace["__delattr__"] = _frozen_setattr, _frozen_delattr
        namespace["__init__"] = _make_init(
            name, every, frozen, "__post_init__" in namespace or _inherits_post_init(bases)
        )
        return super().__new__(mcls, name, bases, namespace)


class Record(metaclass=_RecordType, eq=False):
    """Base of gearshift's value classes: subclass with ``frozen=``, ``eq=``, ``slots=``, as ``@dataclass`` has them."""

    __slots__ = ()
    if TYPE_CHECKING:  # (not annotated at run time: typing.get_type_hints would look ClassVar up here)
        __record_fields__: ClassVar[tuple[Field, ...]] = ()
        __record_compared__: ClassVar[tuple[str, ...]]
        __record_frozen__: ClassVar[bool]
        __record_eq__: ClassVar[bool]
    else:
        __record_fields__ = ()
        # (not in __getattr__: a class with one reads every attribute through a slower path)
        __dataclass_fields__ = _DataclassFacts("__dataclass_fields__")
        __dataclass_params__ = _DataclassFacts("__dataclass_params__")

    def __replace__(self, /, **changes: Any) -> Any:
        """:func:`copy.replace` (3.13+), as on a dataclass."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in self.__record_fields__ if f.repr)
        return f"{type(self).__qualname__}({shown})"
