"""The caller's own modules travel with the work to a cluster (``mode="dask"`` and ``"ray"``).

A function from a file beside the user's script (a module that is not an installed package)
cannot be imported on a cluster's workers, which run elsewhere: cloudpickle would send it by
reference, and the worker would fail to unpickle it.  :func:`pack` pickles a task with every
such module registered with ``cloudpickle.register_pickle_by_value`` for that one call, so
its functions and classes go by value.  Installed packages (the standard library,
site-packages, a distribution of that name, a folder holding distributions' metadata) still go
by reference: the workers must have them, and :func:`unpack` turns a missing one into an error
that names it and says what to do.
"""

from __future__ import annotations

import importlib.metadata
import os
import pickle
import site
import sys
import sysconfig
import threading

import cloudpickle

from .._errors import MissingDependencyError
from .._task import ChunkResult, Raised, Task

_lock = threading.Lock()
# (sys.path, number of modules) -> the caller's own top-level modules; recomputed when either changes
_cache: tuple[tuple[tuple[str, ...], int], frozenset[str]] | None = None
_distributions: dict[tuple[str, str], bool] = {}
_folders: dict[str, bool] = {}


def _installed_roots() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    paths.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(p), "") for p in paths if p)


def _is_distribution(name: str) -> bool:
    """Whether an installed distribution has this name (an editable install of the project, say).

    Asked only of modules outside the installed paths, the few of the user's own (a scan of
    every distribution's files would cost most of a second).
    """
    key = (os.pathsep.join(sys.path), name)
    if key not in _distributions:
        try:
            importlib.metadata.distribution(name)
            _distributions[key] = True
        except importlib.metadata.PackageNotFoundError:
            _distributions[key] = False
    return _distributions[key]


def _beside_distributions(folder: str) -> bool:
    """Whether ``folder`` holds installed distributions' metadata: a ``pip install --target`` folder, or
    an editable project's ``src`` (its ``.egg-info``), where modules are installed ones under other names."""
    if folder not in _folders:
        try:
            _folders[folder] = any(e.endswith((".dist-info", ".egg-info")) for e in os.listdir(folder))
        except OSError:
            _folders[folder] = False
    return _folders[folder]


def own_modules() -> frozenset[str]:
    """Top-level names of the imported modules that are the caller's own files, not installed packages."""
    global _cache
    key = (tuple(sys.path), len(sys.modules))
    if _cache is not None and _cache[0] == key:
        return _cache[1]
    roots = _installed_roots()
    names = set()
    for name, module in list(sys.modules.items()):
        if "." in name or name in ("__main__", "gearshift") or module is None:
            continue  # __main__ goes by value already; gearshift must be installed on the workers
        file = getattr(module, "__file__", None)
        if not file or os.path.realpath(file).startswith(roots) or _is_distribution(name):
            continue
        if _beside_distributions(
            os.path.dirname(os.path.dirname(file)) if hasattr(module, "__path__") else os.path.dirname(file)
        ):
            continue
        names.add(name)
    _cache = (key, frozenset(names))
    return _cache[1]


def pack(task: Task) -> bytes:
    """``task`` pickled for a worker elsewhere, the caller's own modules by value."""
    with _lock:
        registered = cloudpickle.list_registry_pickle_by_value()
        added = [sys.modules[name] for name in own_modules() - registered if name in sys.modules]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[no-any-return]
        finally:
            for module in added:  # only for this call: other modes keep pickling them by reference
                cloudpickle.unregister_pickle_by_value(module)


def unpack(blob: bytes, start: int, size: int, engine: str) -> Task | ChunkResult:
    """On the worker: the task, or, when a module it needs is missing there, a result failing each item with why."""
    try:
        task: Task = pickle.loads(blob)
    except ImportError as exc:
        name = exc.name or str(exc)
        error = MissingDependencyError(
            f"a {engine} worker cannot import {name!r}, which the function or its items need "
            f"({type(exc).__name__}: {exc}). Install {name!r} in the workers' environment (the same version as "
            "here); your own modules, files that are not installed packages, are sent with the work, installed "
            "packages are not"
        )
        error.name = name
        return ChunkResult([Raised(error, "")] * size, 0.0, 0.0, size)
    return task
