"""The caller's own modules travel with the work to a Ray cluster started elsewhere (on demand: pytest -m ray).

A Ray head (``ray start --head --block``) runs on 127.0.0.1 from another directory, in a process
group of its own that the fixture stops; a function from a module file written here runs there
only because gearshift sends that module by value.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import gearshift
from local_clusters import ray_head as local_ray_head

ray = pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_ray_head(tmp_path_factory.mktemp("ray_elsewhere")) as address:
        try:
            yield address
        finally:  # this process's Ray client and gearshift's pools, before the head stops
            from gearshift._pools import shutdown_shared

            shutdown_shared()
            if ray.is_initialized():
                ray.shutdown()


@pytest.fixture(scope="module")
def own_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("project")
    name = f"raymod_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text("OFFSET = 1000\ndef shift(x):\n    return OFFSET + x\n")
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(name, None)


def test_a_function_from_the_users_own_module_runs_on_a_ray_started_elsewhere(
    ray_head: str, own_module: ModuleType, tmp_path: Path
) -> None:
    # What makes the test mean something: the workers cannot import the module themselves.
    assert gearshift.map(importlib.util.find_spec, [own_module.__name__], mode="ray", address=ray_head) == [None]
    assert gearshift.map(own_module.shift, range(6), mode="ray", address=ray_head) == [1000 + x for x in range(6)]
