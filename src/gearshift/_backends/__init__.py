"""Backend registry, by convention: mode ``name`` lives in ``_backends/_{name}.py``.

A module is imported only when its mode is first used, so ``import gearshift``
stays cheap and optional engines (dask, ray) are needed only by those who ask.
Adding a backend: write ``_backends/_{name}.py`` with a class named ``Backend``
following :class:`~gearshift._backends._base.Backend`, add the name below, and
the shared contract tests pick it up.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from ._base import Backend

#: every execution mode, in order of increasing isolation (then the distributed engines)
BACKENDS: tuple[str, ...] = ("sync", "async", "thread", "process", "dask", "ray")

#: modes served by an optional engine: the package to import and the install command
OPTIONAL: dict[str, tuple[str, str]] = {
    "dask": ("distributed", "pip install gearshift[dask]"),
    "ray": ("ray", "pip install gearshift[ray]"),
}


@functools.cache
def backend_class(name: str) -> type[Backend]:
    """The backend class for mode ``name``, imported on first use.

    Raises :class:`~gearshift.MissingDependencyError` with the install command
    when the mode's engine is not installed.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(BACKENDS)}")
    require_engine(name)
    module = importlib.import_module(f"{__name__}._{name}")
    return module.Backend  # type: ignore[no-any-return]


def require_engine(name: str) -> None:
    """Check, without importing it, that the engine behind mode ``name`` is installed."""
    if name not in OPTIONAL:
        return
    package, hint = OPTIONAL[name]
    if importlib.util.find_spec(package) is None:
        from .._errors import MissingDependencyError

        raise MissingDependencyError(
            f"mode={name!r} needs the {package!r} package, which is not installed. Install it with: {hint}"
        )


def prepare(name: str) -> None:
    """Start, ahead of time, what mode ``name`` takes long to start, before its module first loads.

    For ``process``: the first pool's zygote (see ``_zygote.start_early``), which
    then boots while this interpreter imports the process backend.  Later calls
    find the module loaded and do nothing.  Call :func:`unprepare` if the run
    fails before its backend starts.
    """
    if name == "process" and f"{__name__}._process" not in sys.modules:
        from ._zygote import start_early

        start_early()


def unprepare(name: str) -> None:
    """Let go of what :func:`prepare` started, if no backend took it."""
    if name == "process" and f"{__name__}._zygote" in sys.modules:
        from ._zygote import drop_early

        drop_early()
