"""A real dask scheduler + worker, and a real Ray head, started on 127.0.0.1 for the tests that need one.

Each is started by its own command line, in a directory of its own and a process group of its own
(stopped with everything it started when the ``with`` block ends), as a user's cluster would be:
the tests' files are not on its path. Used by the shipping tests and the docs' example runner.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import stop_group


def _start(args: list[str], cwd: Path, log: Path, env: dict[str, str] | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=cwd,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: a worker's nanny and child go with it
    )


@contextmanager
def dask_cluster(home: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """A ``dask scheduler`` and one single-threaded ``dask worker`` run from ``home``; yields the scheduler's address."""
    import distributed

    scheduler_file = home / "scheduler.json"
    scheduler = _start(
        ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)],
        home, home / "scheduler.log", env,
    )  # fmt: skip
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():  # the CLI writes it once it listens
            assert scheduler.poll() is None, (home / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the dask scheduler did not start in 60 s"
            time.sleep(0.05)
        worker = _start(
            ["distributed.cli.dask_worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
             "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--local-directory", str(home)],
            home, home / "worker.log", env,
        )  # fmt: skip
        procs.append(worker)
        with distributed.Client(scheduler_file=str(scheduler_file), set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
            address = str(client.scheduler.address)
        yield address
    finally:
        for proc in reversed(procs):
            stop_group(proc)


def ray_auth() -> dict[str, str]:
    """The environment a Ray head and its clients share: Ray's token authentication, as this process has it.

    Recent Ray (2.60 here) enables token authentication on a head when ~/.ray/auth_token exists (any
    local ray.init() writes one), but on a client given an explicit address only when RAY_AUTH_MODE says so;
    and a process reads the mode once, when it imports Ray (a local ray.init() sets it to "token" in this
    process's environment). So the head is told the mode this process connects with: unset means disabled.
    """
    return {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}


@contextmanager
def ray_head(home: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``ray start --head --block`` on 127.0.0.1 (2 CPUs), run from ``home``; yields its address, host:port.

    Its authentication mode is this process's (:func:`ray_auth`): a client in another process needs the same.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="gsray", dir="/tmp")  # short: Ray's socket paths have a length limit
    head = _start(
        ["ray.scripts.scripts", "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
         "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir],
        home, home / "head.log", dict(env or os.environ, **ray_auth()),
    )  # fmt: skip
    log = home / "head.log"
    try:
        deadline = time.monotonic() + 120
        # Its own line says it runs: a port that merely accepts connections could be another program's
        # (the port was free when picked, not necessarily when the head bound it).
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert head.poll() is None, f"the Ray head exited:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, "the Ray head did not start in 120 s"
            time.sleep(0.2)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        yield f"127.0.0.1:{port}"
    finally:
        stop_group(head, 30)
        shutil.rmtree(temp_dir, ignore_errors=True)


def with_src_first(src: Path) -> dict[str, str]:
    """This environment with ``src`` first on PYTHONPATH: a cluster's processes import this tree's gearshift."""
    path = os.pathsep.join(p for p in [str(src), os.environ.get("PYTHONPATH", "")] if p)
    return dict(os.environ, PYTHONPATH=path)
