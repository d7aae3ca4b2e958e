"""Bad input gets a clear error before any work starts; each message is checked."""

from __future__ import annotations

import asyncio
import threading

import pytest

import gearshift
from helpers import adouble, double

API = [gearshift.map, gearshift.imap, gearshift.starmap]


@pytest.mark.parametrize("entry", API)
def test_fn_not_callable(entry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="fn must be callable, got int: 42"):
        entry(42, [1, 2])


@pytest.mark.parametrize("entry", API)
def test_items_not_iterable(entry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=r"items must be iterable \(a list, generator, \.\.\.\), got int: 5"):
        entry(double, 5)


def test_coroutine_object_instead_of_function() -> None:
    with pytest.raises(TypeError, match=r"got a coroutine object \(adouble\(\.\.\.\) was called\)") as info:
        gearshift.map(adouble(1), [1])
    assert "gearshift.map(adouble, items)" in str(info.value)


def test_async_iterable_given_to_sync_map() -> None:
    async def agen():  # type: ignore[no-untyped-def]
        yield 1

    with pytest.raises(TypeError, match="use gearshift.amap or gearshift.aimap"):
        gearshift.map(double, agen())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mode": "gpu"}, ValueError, "mode must be one of 'auto', 'sync', 'async', 'thread', 'process'.*got 'gpu'"),
        ({"workers": 0}, ValueError, r"workers must be >= 1 or None \(None picks a good value\), got 0"),
        ({"workers": -3}, ValueError, "workers must be >= 1 or None"),
        ({"workers": 2.5}, TypeError, "workers must be an int >= 1 or None, got float: 2.5"),
        ({"workers": True}, TypeError, "workers must be an int >= 1 or None, got bool"),
        ({"chunksize": 0}, ValueError, "chunksize must be >= 1 or None"),
        ({"timeout": 0}, ValueError, r"timeout must be > 0 seconds \(or None for no limit\), got 0"),
        ({"timeout": -1.5}, ValueError, "timeout must be > 0 seconds"),
        ({"timeout": float("nan")}, ValueError, "timeout must be > 0 seconds"),
        ({"timeout": "5"}, TypeError, "timeout must be a number of seconds or None, got str"),
        ({"retries": -1}, ValueError, "retries must be an int >= 0, got -1"),
        ({"errors": "ignore"}, ValueError, "errors must be 'raise' or 'return', got 'ignore'"),
        (
            {"buffer_bytes": 0},
            ValueError,
            r"buffer_bytes must be >= 1 \(bytes of results held ahead .*default 64 MiB\), got 0",
        ),
        ({"buffer_bytes": 1.5e6}, TypeError, r"buffer_bytes must be an int \(a number of bytes.*got float"),
        ({"buffer_bytes": True}, TypeError, "buffer_bytes must be an int.*got bool"),
    ],
)
@pytest.mark.parametrize("entry", API)
def test_bad_options(entry, kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    calls = []

    def fn(x: int) -> int:
        calls.append(x)
        return x

    with pytest.raises(error, match=message):
        entry(fn, [(1,), (2,)], **kwargs)
    assert calls == [], "no work may start before the options are checked"


def test_bad_options_in_amap_and_aimap() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        gearshift.aimap(double, [1], workers=0)
    with pytest.raises(ValueError, match="buffer_bytes must be >= 1"):
        gearshift.aimap(double, [1], buffer_bytes=-1)
    with pytest.raises(ValueError, match="mode must be one of"):
        asyncio.run(gearshift.amap(double, [1], mode="fast"))


def test_unpicklable_function_in_process_mode_names_it() -> None:
    lock = threading.Lock()

    def holds_a_lock(x: int) -> object:
        return lock

    with pytest.raises(
        gearshift.UnpicklableError, match="cannot pickle the function 'test_unpicklable_function"
    ) as info:
        gearshift.imap(holds_a_lock, [1], mode="process")
    assert "Define it at module level" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_unpicklable_item_in_process_mode_names_it() -> None:
    items = [1, 2, threading.Lock()]
    with pytest.raises(gearshift.UnpicklableError, match=r"cannot pickle item 2 \(lock") as info:
        gearshift.map(double, items, mode="process", chunksize=3)
    assert "use mode='thread'" in str(info.value)


def test_unpicklable_item_with_errors_return_fails_only_that_item() -> None:
    items = [1, 2, threading.Lock(), 4]
    result = gearshift.map(str, items, mode="process", chunksize=4, errors="return")
    assert result[:2] == ["1", "2"] and result[3] == "4"
    assert isinstance(result[2], gearshift.Failure)
    assert isinstance(result[2].exception, gearshift.UnpicklableError)


def test_unpicklable_result_fails_only_that_item() -> None:
    result = gearshift.map(_lock_or_value, range(4), mode="process", errors="return")
    assert result[0] == 0 and result[2:] == [2, 3]
    assert isinstance(result[1], gearshift.Failure)
    assert "cannot be pickled" in str(result[1].exception)


def _lock_or_value(x: int) -> object:
    return threading.Lock() if x == 1 else x


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mode": "auto"}, ValueError, "Executor mode must be one of .* got 'auto'"),
        ({"mode": "process", "workers": 0}, ValueError, "workers must be >= 1"),
        ({"mode": "thread", "initializer": 3}, TypeError, "initializer must be a callable, got int"),
        ({"mode": "sync", "initializer": print}, ValueError, "initializer applies to mode='thread' or 'process'"),
        (
            {"mode": "thread", "max_tasks_per_child": 2},
            ValueError,
            "max_tasks_per_child applies only to mode='process'",
        ),
        ({"mode": "process", "max_tasks_per_child": 0}, ValueError, "max_tasks_per_child must be an int >= 1"),
    ],
)
def test_bad_executor_arguments(kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        gearshift.Executor(**kwargs)


@pytest.mark.parametrize("cls", [gearshift.ThreadPoolExecutor, gearshift.ProcessPoolExecutor])
def test_drop_in_executors_reject_bad_max_workers(cls) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        cls(max_workers=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"mode": "thread", "address": "tcp://h:8786"},
            ValueError,
            "address= .* needs mode='dask', mode='ray' or mode='auto', not mode='thread'",
        ),
        ({"mode": "auto", "address": "h:8786"}, ValueError, "with mode='auto', address= must say which engine"),
        ({"mode": "auto", "address": "h:6379"}, ValueError, "set GEARSHIFT_RAY_ADDRESS=h:6379 or pass mode='ray'"),
        ({"mode": "auto", "address": "h:8786"}, ValueError, "write 'tcp://h:8786' or pass mode='dask'"),
        ({"mode": "thread", "client": object()}, ValueError, "needs mode='dask' or mode='auto', not mode='thread'"),
        ({"mode": "dask", "address": 8786}, TypeError, "address must be a non-empty string .* got int"),
        ({"mode": "ray", "address": ""}, TypeError, "address must be a non-empty string"),
        ({"mode": "ray", "client": object()}, ValueError, "client= takes a distributed.Client and needs mode='dask'"),
        ({"mode": "auto", "address": "tcp://h:1", "client": object()}, ValueError, "either address= or client="),
        ({"mode": "dask", "address": "tcp://h:1", "client": object()}, ValueError, "either address= or client="),
    ],
)
@pytest.mark.parametrize("entry", API)
def test_bad_engine_options(entry, kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        entry(double, [(1,), (2,)], **kwargs)


def test_engine_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._options import make_options

    monkeypatch.setenv("GEARSHIFT_DASK_ADDRESS", "tcp://10.1.2.3:8786")
    monkeypatch.setenv("GEARSHIFT_RAY_ADDRESS", "10.1.2.3:6379")
    assert make_options(mode="dask").engine_options == {"address": "tcp://10.1.2.3:8786"}
    assert make_options(mode="ray").engine_options == {"address": "10.1.2.3:6379"}
    assert make_options(mode="dask", address="tcp://other:1").engine_options == {"address": "tcp://other:1"}
    assert make_options(mode="process").engine_options == {}


@pytest.mark.parametrize(
    ("kwargs", "cluster"),
    [
        ({"address": "tcp://10.0.0.1:8786"}, "dask"),
        ({"address": "tls://10.0.0.1:8786"}, "dask"),
        ({"address": "ray://10.0.0.1:10001"}, "ray"),
        ({"address": "auto"}, "ray"),  # Ray's word for the Ray started on this machine
        ({"client": object()}, "dask"),  # a client is dask's (the backend checks its type when used)
        ({}, None),
    ],
)
def test_auto_with_a_cluster_configured(kwargs, cluster, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from gearshift._options import make_options

    monkeypatch.delenv("GEARSHIFT_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("GEARSHIFT_RAY_ADDRESS", raising=False)
    options = make_options(mode="auto", **kwargs)
    assert options.cluster == cluster
    assert options.engine_options == kwargs


def test_auto_finds_a_cluster_in_the_environment_dask_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift._options import make_options

    monkeypatch.setenv("GEARSHIFT_RAY_ADDRESS", "10.1.2.3:6379")  # no scheme needed: the variable names the engine
    assert make_options().cluster == "ray"
    assert make_options().engine_options == {"address": "10.1.2.3:6379"}
    monkeypatch.setenv("GEARSHIFT_DASK_ADDRESS", "tcp://10.1.2.3:8786")
    assert make_options().cluster == "dask"
    assert make_options(address="ray://other:10001").cluster == "ray"  # address= wins over the environment
    assert make_options(mode="process").cluster is None
    assert make_options(mode="dask").cluster is None  # an explicit mode needs no choosing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "dask", "initializer": print}, "initializer applies to mode='thread' or 'process'"),
        ({"mode": "process", "address": "tcp://h:1"}, "needs mode='dask', mode='ray' or mode='auto'"),
    ],
)
def test_bad_executor_engine_arguments(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        gearshift.Executor(**kwargs)
