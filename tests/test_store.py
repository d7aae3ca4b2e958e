"""The checkpoint store contract, run against every store this machine can open."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift._store import Store, StoreURLError, open_store
from gearshift._store._sqlite import SQLiteStore


@pytest.fixture(params=["sqlite-default", "sqlite-url", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite-default":
        s = open_store(None, default_path=tmp_path / "run.sqlite")
    elif request.param == "redis":  # a real redis-server, see conftest.py
        s = open_store(request.getfixturevalue("redis_url"), default_path=tmp_path / "unused.sqlite")
    else:
        s = open_store(f"sqlite:///{tmp_path}/other.sqlite", default_path=tmp_path / "unused.sqlite")
    yield s
    s.close()


def test_new_store_is_empty(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.get_meta() is None
    assert store.done_indices() == set()
    assert list(store.iter_records()) == []


def test_meta_round_trip_and_replace(store: Store) -> None:
    store.set_meta({"fn": "m:f", "size": 3})
    assert store.get_meta() == {"fn": "m:f", "size": 3}
    store.set_meta({"fn": "m:g"})
    assert store.get_meta() == {"fn": "m:g"}


def test_records_come_back_in_index_order(store: Store) -> None:
    store.put_many([(5, '{"index": 5}'), (1, '{"index": 1}')])
    store.put_many([(3, '{"index": 3}')])
    store.put_many([])
    assert store.done_indices() == {1, 3, 5}
    assert list(store.iter_records()) == [(1, '{"index": 1}'), (3, '{"index": 3}'), (5, '{"index": 5}')]


def test_same_index_twice_keeps_one(store: Store) -> None:
    store.put_many([(0, "a"), (0, "b")])
    store.put_many([(0, "c")])
    assert [i for i, _ in store.iter_records()] == [0]


def test_iteration_pages_through_many_records(store: Store) -> None:
    store.put_many([(i, json.dumps(i)) for i in range(5000, -1, -1)])
    assert [i for i, _ in store.iter_records()] == list(range(5001))


def test_sqlite_records_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    s = SQLiteStore(path)
    s.set_meta({"x": 1})
    s.put_many([(2, "two")])
    s.close()
    again = SQLiteStore(path)
    assert again.get_meta() == {"x": 1}
    assert list(again.iter_records()) == [(2, "two")]
    again.close()


def _write_then_die(path: str) -> None:
    s = SQLiteStore(path)
    s.put_many([(0, "zero"), (1, "one")])
    os.kill(os.getpid(), signal.SIGKILL)


def test_sqlite_batch_is_durable_after_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite"
    proc = multiprocessing.get_context("spawn").Process(target=_write_then_die, args=(str(path),))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    s = SQLiteStore(path)
    assert s.done_indices() == {0, 1}
    s.close()


def test_sqlite_failed_batch_is_rolled_back(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "r.sqlite")
    with pytest.raises(sqlite3.Error):
        s.put_many([(0, "ok"), (1, object())])  # type: ignore[list-item]  # cannot be bound: fails mid-batch
    assert s.done_indices() == set()
    s.close()


@pytest.mark.parametrize("url", ["ftp://host/x", "sqlite://", "sqlite:///", "just-a-path.db"])
def test_unknown_urls_are_refused_with_the_accepted_forms(url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreURLError, match="sqlite:///"):
        open_store(url, default_path=tmp_path / "x.sqlite")


def test_sqlite_big_batch_is_one_transaction(tmp_path: Path) -> None:
    """put_many writes many rows per statement: a batch spans statements, and is still all or nothing."""
    s = SQLiteStore(tmp_path / "big.sqlite")
    s.put_many([(7, "first")])
    batch = [(i, f"r{i}") for i in range(1000)] + [(7, "again"), (999, "again")]
    s.put_many(batch)
    assert [i for i, _ in s.iter_records()] == list(range(1000))
    assert dict(s.iter_records())[7] == "first" and dict(s.iter_records())[999] == "r999"
    with pytest.raises(sqlite3.Error):
        s.put_many([(i, "x") for i in range(1000, 1900)] + [(1901, object())])  # type: ignore[list-item]
    assert s.done_indices() == set(range(1000)), "a batch that failed in a later statement left nothing"
    s.close()
