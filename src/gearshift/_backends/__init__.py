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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base import Backend

#: every execution mode, in order of increasing isolation
BACKENDS: tuple[str, ...] = ("sync", "async", "thread", "process")

#: modes served by an optional engine: the package to import and the install command
OPTIONAL: dict[str, tuple[str, str]] = {}


@functools.cache
def backend_class(name: str) -> type[Backend]:
    """The backend class for mode ``name``, imported on first use."""
    if name not in BACKENDS:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(BACKENDS)}")
    module = importlib.import_module(f"{__name__}._{name}")
    return module.Backend  # type: ignore[no-any-return]
