"""``gearshift run --store redis://...``: a run killed with SIGKILL resumes from its Redis checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("gearshift._cli._run", reason="needs the `gearshift run` command")

from gearshift._store._redis import RedisStore

JOBS = textwrap.dedent(
    """
    import os, time

    def slow_square(x):
        with open(os.environ["GS_CALL_LOG"], "a") as log:
            log.write(f"{os.environ['GS_ATTEMPT']} {x}\\n")
        time.sleep(0.004)
        return x * x
    """
)


def _start(work: Path, url: str, attempt: int, resume: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "gearshift", "run", "jobs_redis:slow_square", "-i", "many.jsonl", "-o", "out.jsonl",
            "--store", url, "--mode", "thread", "--quiet"] + (["--resume"] if resume else [])  # fmt: skip
    env = {**os.environ, "GS_CALL_LOG": str(work / "calls.log"), "GS_ATTEMPT": str(attempt)}
    return subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.timeout(180)
def test_sigkill_then_resume_from_redis(tmp_path: Path, redis_url: str) -> None:
    n = 2000
    (tmp_path / "jobs_redis.py").write_text(JOBS)
    (tmp_path / "many.jsonl").write_text("".join(f"{i}\n" for i in range(n)))
    store = RedisStore(redis_url)

    first = _start(tmp_path, redis_url, 1, resume=False)
    deadline = time.monotonic() + 60
    while first.poll() is None and len(store.done_indices()) < 200 and time.monotonic() < deadline:
        time.sleep(0.02)  # polling the checkpoint: the run commits a batch every so often
    assert first.poll() is None, "the run finished before it could be killed: make the work longer"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done = store.done_indices()
    assert 200 <= len(done) < n

    second = _start(tmp_path, redis_url, 2, resume=True)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()

    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(n))
    assert [r["value"] for r in records] == [i * i for i in range(n)]
    calls = [line.split() for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert not {int(x) for a, x in calls if a == "2"} & done, "an item checkpointed before the kill ran again"
    store.delete()
    store.close()
