"""Big buffers travel to worker processes through shared memory; everything else is unchanged."""

from __future__ import annotations

import glob
import hashlib
import os
import pickle
from collections.abc import Iterator

import pytest

import gearshift
from gearshift._backends import _shm

pytestmark = pytest.mark.skipif(not _shm.available, reason="no writable /dev/shm")


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(_shm, "THRESHOLD", 1024)
    monkeypatch.setattr(_shm, "_free", {})
    monkeypatch.setattr(_shm, "_pooled", 0)
    before = set(_mine())
    yield 1024
    _shm._remove(sorted(set(_mine()) - before))


def _digest(data: object) -> str:
    return hashlib.sha256(bytes(data)).hexdigest()  # type: ignore[call-overload]


def _digest_pair(data: bytes, tag: int) -> tuple[str, int]:
    return hashlib.sha256(data).hexdigest(), tag


def _mine() -> list[str]:
    return glob.glob(os.path.join(_shm._DIR, f"{_shm._PREFIX}*"))


def test_big_buffers_round_trip_with_their_types(small_threshold: int) -> None:
    big = os.urandom(4 * small_threshold)
    items = [big, bytearray(big), memoryview(big), (big, 7), b"small", "text"]
    packed = _shm.pack(items)
    assert packed is not None
    blob, release = packed
    assert len(blob) < 1024  # the buffers are not in the pickle
    out = pickle.loads(blob)
    assert out[0] == big
    assert type(out[0]) is bytes
    assert out[1] == bytearray(big)
    assert type(out[1]) is bytearray
    assert type(out[2]) is memoryview
    assert bytes(out[2]) == big
    assert out[3] == (big, 7)
    assert out[4:] == [b"small", "text"]
    release(None)


def test_small_items_are_not_packed(small_threshold: int) -> None:
    assert _shm.pack([b"x" * 10, 3, "y"]) is None
    assert _shm.pack([os.urandom(2 * small_threshold)] * (_shm._MAX_ITEMS + 1)) is None


def test_released_files_are_reused_then_bounded(small_threshold: int, monkeypatch: pytest.MonkeyPatch) -> None:
    big = os.urandom(4 * small_threshold)
    earlier = set(_mine())  # files other tests left in the pool
    blob, release = _shm.pack([big])  # type: ignore[misc]
    first = set(_mine()) - earlier
    assert len(first) == 1
    release(None)
    blob, release = _shm.pack([big])  # type: ignore[misc]
    assert set(_mine()) - earlier == first  # the same file, reused
    assert pickle.loads(blob) == [big]
    monkeypatch.setattr(_shm, "POOL_BYTES", 0)
    release(None)  # the pool is full: the file goes
    assert not (set(_mine()) & first)


def test_process_mode_sends_big_arguments_through_shared_memory(small_threshold: int) -> None:
    items = [os.urandom(8 * small_threshold) for _ in range(12)]
    before_run = set(_mine())
    used = []
    real_pack = _shm.pack

    def spy(chunk: object) -> object:
        result = real_pack(chunk)  # type: ignore[arg-type]
        used.append(result is not None)
        return result

    _shm.pack = spy  # type: ignore[assignment]
    try:
        results = gearshift.map(_digest, items, mode="process", workers=2)
        pairs = gearshift.starmap(_digest_pair, [(x, i) for i, x in enumerate(items)], mode="process", workers=2)
    finally:
        _shm.pack = real_pack  # type: ignore[assignment]
    assert results == [_digest(x) for x in items]
    assert pairs == [(_digest(x), i) for i, x in enumerate(items)]
    assert any(used)
    # Nothing is left behind but the bounded pool of idle files.
    assert _shm._pooled <= _shm.POOL_BYTES
    idle = {path for paths in _shm._free.values() for path in paths}
    assert idle
    assert set(_mine()) - before_run <= idle


def test_files_of_dead_processes_are_swept(small_threshold: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = os.path.join(_shm._DIR, f"gearshift-{int(proc.stdout)}-0-4096")
    with open(dead, "wb") as f:
        f.write(b"x")
    monkeypatch.setattr(_shm, "_swept", False)
    _blob, release = _shm.pack([os.urandom(2 * small_threshold)])  # type: ignore[misc]
    assert not os.path.exists(dead)
    release(None)
