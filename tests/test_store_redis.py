"""The Redis checkpoint store against a real redis-server (the shared contract is in test_store.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gearshift import MissingDependencyError
from gearshift._store import open_store
from gearshift._store._redis import RedisStore

# Writes records for indices 0..total-1 that the store does not hold yet, in
# batches, reporting each committed batch on stdout: the same "skip what is
# done" loop a resumed run performs.
WRITER = textwrap.dedent(
    """
    import json, sys, time
    from gearshift._store._redis import RedisStore

    url, total, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = RedisStore(url)
    done = store.done_indices()
    todo = [i for i in range(total) if i not in done]
    for k in range(0, len(todo), batch):
        store.put_many([(i, json.dumps({"index": i, "value": i * i})) for i in todo[k : k + batch]])
        print(k + batch, flush=True)
        time.sleep(0.005)  # the work of the next batch
    print("finished", flush=True)
    """
)


def _writer(url: str, total: int, batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(total), str(batch)], stdout=subprocess.PIPE, text=True
    )


def test_killed_writer_resumes_with_every_item_exactly_once(redis_url: str) -> None:
    total, batch = 8_000, 50
    first = _writer(redis_url, total, batch)
    assert first.stdout is not None
    for _ in range(40):  # let it commit 40 batches, then kill it without warning
        assert first.stdout.readline().strip() != "finished"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    store = RedisStore(redis_url)
    done = store.done_indices()
    assert 40 * batch <= len(done) < total, "the writer was killed mid-run"
    assert done == set(range(len(done))), "each batch is all or nothing"

    second = _writer(redis_url, total, batch)  # the resume: another connection, as from another machine
    out, _ = second.communicate(timeout=120)
    assert second.returncode == 0 and out.strip().endswith("finished")
    records = list(store.iter_records())
    assert [i for i, _ in records] == list(range(total))
    assert all(json.loads(text) == {"index": i, "value": i * i} for i, text in records)
    store.delete()
    store.close()


def test_runs_under_different_keys_do_not_mix(redis_server: str) -> None:
    a = RedisStore(f"{redis_server}?key=run-a")
    b = RedisStore(f"{redis_server}?key=run-b")
    try:
        a.set_meta({"run": "a"})
        a.put_many([(0, "a0")])
        assert b.get_meta() is None
        assert b.done_indices() == set()
        assert list(a.iter_records()) == [(0, "a0")]
    finally:
        for s in (a, b):
            s.delete()
            s.close()


def test_default_key_is_named_after_the_checkpoint_file(redis_server: str, tmp_path: Path) -> None:
    store = open_store(redis_server, default_path=tmp_path / "out.jsonl.gearshift.sqlite")
    assert isinstance(store, RedisStore)
    assert store.key == "out.jsonl.gearshift"
    assert "key=" not in store.url
    store.close()


def test_failed_batch_applies_nothing(redis_url: str) -> None:
    store = RedisStore(redis_url)
    with pytest.raises(TypeError, match="record 1 must be a str"):
        store.put_many([(0, "ok"), (1, object())])  # type: ignore[list-item]
    assert store.done_indices() == set()
    store.close()


def test_unreachable_server_says_where_and_hides_the_password() -> None:
    with socket.socket() as s:  # a port nothing listens on once this block ends
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=r"redis://:\*\*\*@127\.0\.0\.1") as info:
        RedisStore(f"redis://:secret@127.0.0.1:{port}/0")
    assert "secret" not in str(info.value)


def test_key_with_braces_is_refused(redis_server: str) -> None:
    with pytest.raises(ValueError, match="without braces"):
        RedisStore(f"{redis_server}?key=a{{b}}")


def test_missing_redis_package_names_the_extra(tmp_path: Path) -> None:
    # A fresh interpreter in which `import redis` fails, as on an install without the extra.
    blocker = tmp_path / "redis.py"
    blocker.write_text("raise ImportError('redis is not installed here')\n")
    code = (
        "from pathlib import Path\n"
        "from gearshift._store import open_store\n"
        "open_store('redis://127.0.0.1:1/0', default_path=Path('x.sqlite'))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1
    assert MissingDependencyError.__name__ in out.stderr
    assert "pip install gearshift[redis]" in out.stderr
