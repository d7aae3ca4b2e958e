"""The quick path: ``map``/``starmap`` in ``mode="sync"`` with nothing else asked, at a plain loop's cost.

A script's first sync map would otherwise load the options, the planner, the
runner and the sync backend, and :mod:`typing`, :mod:`dataclasses` and
:mod:`inspect` with them (about 30 ms on a 2-CPU host, measured by
``benchmarks/cold.py --cases sync``), to supervise nothing: there is no time
limit, no retry, no observer, no worker.  So a call that asks for nothing but
``mode="sync"`` (``errors="raise"``, no ``shared=``, a plain function; options
given their defaults, such as ``workers=None``, ask for nothing) runs here,
importing nothing, and everything else goes the general way.

The outcomes are the general path's, as docs/semantics.md states them (its
harness runs sync mode over both paths):

* results equal the builtin ``map``'s (C1); items run one at a time (C6);
* fn raises an Exception: that exception, as it is, once the items before it
  ran (C2; a collecting entry point hands out no list); a ``StopIteration`` is
  a ``RuntimeError`` naming fn instead, as PEP 479 has it for generators;
* fn raises another BaseException (``KeyboardInterrupt``, ``SystemExit``), or
  Ctrl-C arrives: it reaches the caller with the completed results as its
  ``partial_results`` (C8, C10);
* the input raises an Exception: the items read before it run, then the
  input's exception is raised with their results as ``partial_results`` (C9).
"""

from __future__ import annotations

from ._fn_kind import plain

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["DEFAULTS", "asks_nothing", "collect", "start_early"]

#: options a call may give at their defaults (``gearshift._options.Options``'s; tests/test_quick.py checks the
#: copy) and still ask for nothing: ``workers=None`` is what a script passing its own setting through writes
DEFAULTS: dict[str, object] = {
    "workers": None,
    "chunksize": None,
    "ordered": True,
    "timeout": None,
    "retries": 0,
    "retry_on": None,
    "progress": False,
}


def collect(
    fn: Callable[..., Any], items: Any, errors: str, shared: Any, options: Mapping[str, object], *, star: bool
) -> list[Any] | None:
    """Every result of a sync ``map`` (``star``: ``starmap``), or None when the call is not one for here."""
    if errors != "raise" or shared is not None or not asks_nothing(options, "sync") or not plain(fn):
        return None
    try:
        source = iter(items)
    except TypeError:
        return None  # the general path says what is wrong with items
    out: list[Any] = []
    append = out.append
    fn_raised = False
    # Nothing but the call per item: a try costs nothing until something raises (3.11+).
    try:
        if star:
            for args in source:
                try:
                    append(fn(*args))
                except BaseException:
                    fn_raised = True
                    raise
        else:
            for item in source:
                try:
                    append(fn(item))
                except BaseException:
                    fn_raised = True
                    raise
    except StopIteration:  # only fn's: the input's own ends the loop
        from ._task import fn_name

        raise RuntimeError(f"{fn_name(fn)} raised StopIteration") from None
    except Exception as exc:
        if not fn_raised:  # the input's: the items read before it ran (C9)
            exc.partial_results = out  # type: ignore[attr-defined]
        raise
    except BaseException as exc:  # KeyboardInterrupt, SystemExit...: from fn or the input, or Ctrl-C
        exc.partial_results = out  # type: ignore[attr-defined]
        raise
    return out


def asks_nothing(options: Mapping[str, object], mode: str) -> bool:
    """Whether keyword ``options`` ask for ``mode`` (``"auto"``, the default, may go unnamed) and for
    nothing else: every other option left out or given its default (of the same type)."""
    if options.get("mode", "auto") != mode:
        return False
    for name, value in options.items():
        if name != "mode":
            default = DEFAULTS.get(name, asks_nothing)  # (a function: no option's value)
            if value != default or type(value) is not type(default):
                return False
    return True


def start_early(options: Mapping[str, object]) -> None:
    """For ``mode="process"``: start the first pool's zygote now, before the general path loads (see _call).

    The zygote boots on another CPU while this interpreter imports the
    options, the runner and the process backend (``_backends.prepare``);
    :mod:`gearshift._call` lets it go if the call fails before its pool takes it.
    """
    if options.get("mode") == "process":
        from ._backends import prepare

        prepare("process")
