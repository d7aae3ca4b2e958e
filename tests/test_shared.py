"""``shared=``: read-only data handed to each worker once, as ``fn(shared, item)``, in every mode."""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

import gearshift
from helpers import CountedTable, alookup, freed_here, lookup, unpickles_here, unpickles_of

TABLE = {k: k * k for k in range(100)}
LOCAL_MODES = ["sync", "thread", "async", "process", "auto"]


@pytest.mark.parametrize("mode", LOCAL_MODES)
def test_map_calls_fn_with_the_shared_object_first(mode: str) -> None:
    assert gearshift.map(lookup, range(50), mode=mode, shared=TABLE) == [k * k for k in range(50)]


@pytest.mark.parametrize("mode", ["sync", "thread", "async"])
def test_in_process_modes_get_the_object_itself_not_a_copy(mode: str) -> None:
    table = {"big": list(range(1000))}
    assert all(gearshift.map(lambda t, _x: t is table, range(30), mode=mode, shared=table))


def test_async_functions_get_the_shared_object() -> None:
    assert gearshift.map(alookup, range(20), mode="async", shared=TABLE) == [k * k for k in range(20)]


def test_starmap_passes_shared_before_the_arguments() -> None:
    got = gearshift.starmap(lambda t, a, b: t[a] + b, [(1, 10), (2, 20)], mode="process", shared=TABLE)
    assert got == [11, 24]


def test_imap_and_amap_take_shared() -> None:
    assert list(gearshift.imap(lookup, range(5), mode="thread", shared=TABLE)) == [0, 1, 4, 9, 16]

    async def main() -> list[int]:
        return await gearshift.amap(alookup, range(5), mode="async", shared=TABLE)

    assert asyncio.run(main()) == [0, 1, 4, 9, 16]


def test_process_workers_unpickle_the_shared_object_once_each() -> None:
    table = CountedTable(uuid.uuid4().hex, b"x" * (1 << 20))
    got = gearshift.map(unpickles_here, range(60), mode="process", workers=2, chunksize=1, shared=table)
    assert {size for _pid, _n, size in got} == {1 << 20}
    per_worker: dict[int, int] = {}
    for pid, count, _size in got:
        per_worker[pid] = max(per_worker.get(pid, 0), count)
    assert per_worker and all(n == 1 for n in per_worker.values()), per_worker


def test_contrast_a_table_passed_with_every_item_is_unpickled_per_chunk() -> None:
    # What shared= avoids: the same counter climbs with every chunk (the test above can fail).
    table = CountedTable(uuid.uuid4().hex, b"x" * 1024)
    got = gearshift.map(unpickles_of, [(table, k) for k in range(30)], mode="process", workers=2, chunksize=1)
    assert max(count for _pid, count in got) > 1


def test_workers_free_the_shared_object_when_the_run_ends() -> None:
    token = uuid.uuid4().hex
    table = CountedTable(token, b"x" * 1024)
    holders = {
        pid
        for pid, _n, _s in gearshift.map(
            unpickles_here, range(40), mode="process", workers=2, chunksize=1, shared=table
        )
    }
    after = dict(gearshift.map(freed_here, [token] * 40, mode="process", workers=2, chunksize=1))
    assert all(after.get(pid, 1) == 1 for pid in holders), (holders, after)
    assert any(pid in after for pid in holders)


def test_big_bytes_shared_object_reaches_every_worker() -> None:
    blob = bytes(range(256)) * (32 << 10)  # 8 MiB
    got = gearshift.map(lambda b, k: (len(b), b[k]), range(100), mode="process", workers=2, chunksize=1, shared=blob)
    assert got == [(len(blob), k % 256) for k in range(100)]


def test_executor_initializer_still_serves_per_worker_state() -> None:
    with gearshift.ProcessPoolExecutor(max_workers=1, initializer=print, initargs=()) as ex:
        assert list(ex.map(lookup, [TABLE], [3])) == [9]


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dask", "ray"])
def test_engine_modes_refuse_shared_and_say_what_to_do(mode: str) -> None:
    with pytest.raises(ValueError, match=rf"shared= is not supported with mode='{mode}'.*mode='process'"):
        gearshift.map(lookup, range(3), mode=mode, shared=TABLE)


def test_unpicklable_shared_object_is_refused_before_any_work() -> None:
    import threading

    with pytest.raises(gearshift.UnpicklableError, match="cannot pickle the shared object 'lock'"):
        gearshift.map(lookup, range(3), mode="process", shared=threading.Lock())


def test_function_without_a_parameter_for_the_shared_object_is_refused() -> None:
    def one(item: int) -> int:
        return item

    with pytest.raises(
        TypeError, match=r"called as fn\(shared, item\), but one\(item.*add a first parameter.*def one\(table, item\)"
    ):
        gearshift.map(one, range(3), mode="thread", shared=TABLE)


def test_awaitable_shared_object_is_refused() -> None:
    async def load() -> dict[int, int]:
        return TABLE

    with pytest.raises(TypeError, match="shared must be a plain object, got an awaitable"):
        gearshift.map(lookup, range(3), mode="thread", shared=load())


def _spy_on_pack_object(monkeypatch: pytest.MonkeyPatch) -> tuple[list[bool], list[bool]]:
    """Record whether each function blob went through shared memory, and each release of its files."""
    from gearshift._backends import _shm

    if not _shm.available:
        pytest.skip("no /dev/shm here")
    packed_flags: list[bool] = []
    released: list[bool] = []
    real = _shm.pack_object

    def spy(obj: object) -> object:
        packed = real(obj)
        packed_flags.append(packed is not None)
        if packed is None:
            return None
        blob, release = packed

        def counted() -> None:
            released.append(True)
            release()

        return blob, counted

    monkeypatch.setattr(_shm, "pack_object", spy)
    return packed_flags, released


def test_big_bytes_shared_go_through_shared_memory_released_when_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    packed, released = _spy_on_pack_object(monkeypatch)
    blob = os.urandom(4 << 20)
    got = gearshift.map(lambda b, k: b[k], range(20), mode="process", workers=2, chunksize=1, shared=blob)
    assert got == list(blob[:20])
    assert packed == [True] and released == [True]


def test_numpy_arrays_inside_the_shared_object_go_through_shared_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    np = pytest.importorskip("numpy")
    packed, released = _spy_on_pack_object(monkeypatch)
    table = {"weights": np.arange(1 << 20, dtype=np.int64), "name": "w"}
    got = gearshift.map(lambda t, k: int(t["weights"][k]), range(0, 1 << 20, 1 << 16), mode="process", shared=table)
    assert got == list(range(0, 1 << 20, 1 << 16))
    assert packed == [True] and released == [True]


def test_small_shared_objects_take_the_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    packed, _released = _spy_on_pack_object(monkeypatch)
    assert gearshift.map(lookup, range(5), mode="process", shared=TABLE) == [0, 1, 4, 9, 16]
    assert packed == [False]
