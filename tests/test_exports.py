"""The public API is exactly what ``gearshift/__init__.py`` re-exports; this locks it."""

from __future__ import annotations

import subprocess
import sys

import gearshift

PUBLIC = {
    "Alternative",
    "Executor",
    "Failure",
    "GearshiftError",
    "MissingDependencyError",
    "Plan",
    "Profile",
    "ProcessPoolExecutor",
    "RemoteError",
    "RemoteTraceback",
    "TaskTimeout",
    "ThreadPoolExecutor",
    "UnpicklableError",
    "WorkerCrashed",
    "__version__",
    "advise",
    "aimap",
    "amap",
    "imap",
    "map",
    "profile",
    "starmap",
}


def test_all_is_locked() -> None:
    assert set(gearshift.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(gearshift, name), name


def test_public_names_are_documented() -> None:
    for name in PUBLIC - {"__version__"}:
        assert getattr(gearshift, name).__doc__, f"{name} has no docstring"


def test_errors_are_named_and_typed() -> None:
    assert issubclass(gearshift.TaskTimeout, TimeoutError)
    assert issubclass(gearshift.UnpicklableError, TypeError)
    assert issubclass(gearshift.MissingDependencyError, ImportError)
    for cls in (gearshift.TaskTimeout, gearshift.WorkerCrashed, gearshift.UnpicklableError):
        assert issubclass(cls, gearshift.GearshiftError)


def test_import_is_light() -> None:
    code = (
        "import sys, gearshift; heavy = [m for m in ('multiprocessing', 'cloudpickle', 'concurrent.futures.process',"
        " 'rich', 'dask', 'distributed', 'ray', 'redis', 'numpy') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
