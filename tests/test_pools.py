"""Warm shared pools: reused between calls, and never inherited by a forked child."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest

import gearshift
from gearshift import _pools
from helpers import getpid

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only"),
    # Python 3.12+ warns that forking a process with threads may deadlock: what is tested here.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


def in_forked_child(work: Callable[[], Any], seconds: int = 30) -> tuple[int, Any]:
    """Run ``work`` in a forked child (killed by SIGALRM after ``seconds``): its exit status and JSON result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        status = 1
        try:
            os.close(read)
            signal.alarm(seconds)
            out = json.dumps(work()).encode()
            os.write(write, out)
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    return status, json.loads(out) if out else None


@pytest.mark.timeout(60)
def test_a_forked_child_gets_its_own_thread_pool() -> None:
    assert gearshift.map(abs, range(-50, 0), mode="thread", workers=2)[0] == 50
    # The parent's pool threads did not come along: reusing that pool would wait forever.
    status, out = in_forked_child(lambda: gearshift.map(abs, range(-60, 0), mode="thread", workers=2))
    assert status == 0, "the child hung (killed by its alarm) or failed"
    assert out == list(range(60, 0, -1))


@pytest.mark.timeout(120)
def test_a_forked_child_neither_uses_nor_stops_its_parents_worker_processes() -> None:
    parent_workers = set(gearshift.map(getpid, range(40), mode="process", workers=2))

    def child() -> list[int]:
        pids = sorted(set(gearshift.map(getpid, range(40), mode="process", workers=2)))
        # What a normal exit would run: it must stop only the child's own workers.
        from gearshift._backends._process_pool import _shutdown_all
        from gearshift._threads import _join_at_exit

        _pools.shutdown_shared()
        _shutdown_all()
        _join_at_exit()
        return pids

    status, child_workers = in_forked_child(child)
    assert status == 0, "the child hung (killed by its alarm) or failed"
    assert child_workers and not set(child_workers) & parent_workers
    assert set(gearshift.map(getpid, range(40), mode="process", workers=2)) <= parent_workers  # still serving
