"""The caller's own modules travel with the work to a real dask cluster started elsewhere.

A ``dask scheduler`` and a ``dask worker`` run on 127.0.0.1 from another directory, with none of
the test's files on their path: a function from a module file written here runs there only
because gearshift sends that module by value.  A module that looks installed here but is missing
on the worker fails with an error naming it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType

import pytest

import gearshift
from local_clusters import dask_cluster

distributed = pytest.importorskip("distributed", reason="distributed is not installed: pip install gearshift[dask]")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and one worker started by the CLI in a directory of their own; the scheduler's address."""
    with dask_cluster(tmp_path_factory.mktemp("elsewhere")) as address:
        yield address


@pytest.fixture(scope="module")
def own_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """A module of the user's own: a file in a folder on this process's path only."""
    folder = tmp_path_factory.mktemp("project")
    name = f"mymod_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(
        "import dataclasses\n"
        "FACTOR = 3\n"
        "@dataclasses.dataclass\n"
        "class Box:\n"
        "    value: int\n"
        "def triple(x):\n"
        "    return Box(FACTOR * x)\n"
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def needs_missing_dependency(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, str]]:
    """A module of the user's own that imports a package installed here (it has a dist-info) but not on the worker."""
    folder = tmp_path_factory.mktemp("installed_here")
    dep = f"fakedep_{uuid.uuid4().hex[:8]}"
    (folder / dep).mkdir()
    (folder / dep / "__init__.py").write_text("VALUE = 100\n")
    info = folder / f"{dep}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dep}\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{dep}\n")
    user = tmp_path_factory.mktemp("project2")
    name = f"usesdep_{uuid.uuid4().hex[:8]}"
    (user / f"{name}.py").write_text(f"import {dep}\ndef use(x):\n    return {dep}.VALUE + x\n")
    sys.path[:0] = [str(folder), str(user)]
    try:
        yield importlib.import_module(name), dep
    finally:
        sys.path.remove(str(folder))
        sys.path.remove(str(user))
        for module in (name, dep):
            sys.modules.pop(module, None)


def test_the_worker_cannot_import_the_module_itself(cluster: str, own_module: ModuleType) -> None:
    # What makes the next tests mean something: the module exists only on this side.
    with distributed.Client(cluster, set_as_default=False) as client:
        # (a function of the standard library: the worker cannot import this test module either)
        assert list(client.run(importlib.util.find_spec, own_module.__name__).values()) == [None]
        assert set(client.run(os.getcwd).values()) != {os.getcwd()}


def test_map_runs_a_function_from_the_users_own_module(cluster: str, own_module: ModuleType) -> None:
    results = gearshift.map(own_module.triple, range(8), mode="dask", address=cluster)
    assert [r.value for r in results] == [3 * x for x in range(8)]
    # cloudpickle gives back this process's own class, so the results are its instances
    assert all(isinstance(r, own_module.Box) for r in results)


def test_executor_submit_runs_a_function_from_the_users_own_module(cluster: str, own_module: ModuleType) -> None:
    with gearshift.Executor("dask", 1, address=cluster) as executor:
        assert executor.submit(own_module.triple, 5).result(timeout=60) == own_module.Box(15)


def test_the_module_goes_by_value_only_for_the_call(cluster: str, own_module: ModuleType) -> None:
    import cloudpickle

    gearshift.map(own_module.triple, range(2), mode="dask", address=cluster)
    assert own_module.__name__ not in cloudpickle.list_registry_pickle_by_value()


def test_a_dependency_missing_on_the_worker_is_named(
    cluster: str, needs_missing_dependency: tuple[ModuleType, str]
) -> None:
    module, dep = needs_missing_dependency
    assert module.use(1) == 101  # it works here
    with pytest.raises(gearshift.MissingDependencyError) as info:
        gearshift.map(module.use, [1, 2], mode="dask", address=cluster)
    message = str(info.value)
    assert f"a dask worker cannot import {dep!r}" in message
    assert f"Install {dep!r} in the workers' environment" in message
    failures = gearshift.map(module.use, [1, 2], mode="dask", address=cluster, errors="return")
    assert all(isinstance(f, gearshift.Failure) for f in failures)


def test_joblib_backend_in_dask_mode_runs_the_users_own_module(cluster: str, own_module: ModuleType) -> None:
    joblib = pytest.importorskip("joblib", reason="joblib is not installed: pip install gearshift[joblib]")
    import gearshift.joblib  # noqa: F401 - registers the backend

    with joblib.parallel_config(backend="gearshift", mode="dask", address=cluster, n_jobs=2):
        results = joblib.Parallel()(joblib.delayed(own_module.triple)(x) for x in range(6))
    assert results == [own_module.Box(3 * x) for x in range(6)]
