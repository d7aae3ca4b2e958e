"""The caller's own modules travel with the work to a Ray cluster started elsewhere (on demand: pytest -m ray).

A Ray head (``ray start --head --block``) runs on 127.0.0.1 from another directory, in a process
group of its own that the fixture stops; a function from a module file written here runs there
only because gearshift sends that module by value.
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import gearshift
from helpers import stop_group

ray = pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ray_elsewhere")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="gsray", dir="/tmp")  # short: Ray's socket paths have a length limit
    log = (home / "head.log").open("wb")
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
         "--temp-dir", temp_dir],
        cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # poll until the head listens: `ray start` prints nothing we could wait on
            assert head.poll() is None, (home / "head.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
                time.sleep(0.2)
        yield address
    finally:
        from gearshift._pools import shutdown_shared

        shutdown_shared()
        if ray.is_initialized():
            ray.shutdown()
        stop_group(head, 30)
        shutil.rmtree(temp_dir, ignore_errors=True)


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
