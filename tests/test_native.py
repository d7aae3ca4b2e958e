"""Native thread pools: what ``_native`` reports, and the caps process and thread workers get."""

from __future__ import annotations

import os
from typing import Any

import pytest

import gearshift
from gearshift._cpu import usable_cpus
from gearshift._native import (
    THREAD_VARS,
    NativePool,
    describe,
    native_pools,
    native_threads,
    new_pools,
    thread_share,
    worker_environment,
)
from gearshift._threads import NativeCap

OPENBLAS = NativePool("blas", "openblas", 4, "0.3.27", "/lib/libopenblas.so")
GOMP = NativePool("openmp", "openmp", 2, None, "/lib/libgomp.so")


# -- the pure functions -------------------------------------------------------------


@pytest.mark.parametrize(
    ("workers", "cpus", "share"), [(1, 1, 1), (1, 8, 8), (2, 8, 4), (3, 8, 2), (8, 8, 1), (16, 8, 1), (6, 2, 1)]
)
def test_thread_share_is_the_cpus_split_between_workers_at_least_one(workers: int, cpus: int, share: int) -> None:
    assert thread_share(workers, cpus) == share


@pytest.mark.parametrize(("workers", "cpus"), [(0, 4), (2, 0), (-1, 4)])
def test_thread_share_names_a_bad_count(workers: int, cpus: int) -> None:
    with pytest.raises(ValueError, match=rf"at least 1, got workers={workers}, cpus={cpus}"):
        thread_share(workers, cpus)


def test_worker_environment_sets_every_variable_to_the_share() -> None:
    env = worker_environment(4, 8, {})
    assert env == dict.fromkeys(THREAD_VARS, "2")
    assert {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"} <= set(env)


def test_worker_environment_keeps_what_the_user_set() -> None:
    env = worker_environment(2, 8, {"OMP_NUM_THREADS": "3", "PATH": "/bin"})
    assert "OMP_NUM_THREADS" not in env
    assert env["OPENBLAS_NUM_THREADS"] == "4"


def test_worker_environment_adds_nothing_when_one_worker_may_use_every_cpu() -> None:
    assert worker_environment(1, 4, {}) == {}
    assert worker_environment(1, 1, {}) == {}


def test_no_native_module_imported_means_no_pools_and_no_search() -> None:
    # Nothing that loads a native pool is in this mapping: the answer comes without threadpoolctl.
    assert native_pools({"json": object(), "csv": object()}) == ()


def test_new_pools_are_those_whose_library_was_not_loaded_before() -> None:
    assert new_pools([OPENBLAS], [OPENBLAS, GOMP]) == (GOMP,)
    assert new_pools([], [OPENBLAS]) == (OPENBLAS,)
    assert new_pools([OPENBLAS], [OPENBLAS]) == ()


def test_native_threads_is_the_largest_pool_or_one() -> None:
    assert native_threads([OPENBLAS, GOMP]) == 4
    assert native_threads([]) == 1


def test_describe_says_what_was_loaded_and_what_each_worker_gets() -> None:
    text = describe([OPENBLAS, GOMP], 2, 8)
    assert "openblas 0.3.27 (blas, 4 threads)" in text
    assert "openmp (openmp, 2 threads)" in text
    assert "with 2 workers on 8 CPUs each worker gets 4 native threads" in text
    assert describe([], 2, 8) == "no native thread pools (BLAS, OpenMP) loaded"


# -- process workers ------------------------------------------------------------------


def _env(name: str) -> str | None:
    return os.environ.get(name)


needs_two_cpus = pytest.mark.skipif(usable_cpus() < 2, reason="with one CPU every worker's share is all of it")


@needs_two_cpus
def test_process_workers_get_their_share_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    workers = 2 * usable_cpus()  # a share of 1, below the CPUs
    with gearshift.ProcessPoolExecutor(workers) as ex:
        got = list(ex.map(_env, THREAD_VARS))
    assert got == ["1"] * len(THREAD_VARS)


@needs_two_cpus
def test_process_workers_keep_a_variable_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    with gearshift.ProcessPoolExecutor(2 * usable_cpus()) as ex:
        assert list(ex.map(_env, ["OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"])) == ["3", "1"]


def test_a_single_process_worker_keeps_the_libraries_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with gearshift.ProcessPoolExecutor(1) as ex:
        assert ex.submit(_env, "OMP_NUM_THREADS").result() is None


def _blas_threads(_: object) -> list[int]:
    import numpy  # noqa: F401 - loads the BLAS
    import threadpoolctl

    return [info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]


@needs_two_cpus
def test_numpy_in_a_process_worker_runs_its_share_of_blas_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    for name in THREAD_VARS:
        monkeypatch.delenv(name, raising=False)
    workers = usable_cpus()
    share = thread_share(workers, usable_cpus())
    with gearshift.ProcessPoolExecutor(workers) as ex:
        threads = ex.submit(_blas_threads, None).result()
    assert threads
    assert all(t == share for t in threads)


# -- thread mode ----------------------------------------------------------------------


def _loaded_blas() -> list[NativePool]:
    return [p for p in native_pools() if p.api == "blas"]


def test_thread_mode_caps_numpy_blas_while_it_runs_and_gives_it_back() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    before = _loaded_blas()
    if not before or max(p.threads for p in before) < 2:
        pytest.skip("the loaded BLAS runs one thread already: nothing to cap")
    workers = 2 * usable_cpus()
    seen = gearshift.map(_blas_threads, range(workers * 2), mode="thread", workers=workers)
    assert all(t == [1] * len(t) for t in seen)  # share: max(1, cpus // (2 cpus)) = 1
    assert _loaded_blas() == before  # the library's own size again


def test_the_cap_is_counted_across_pools_and_lifted_by_the_last() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    before = _loaded_blas()
    if not before or max(p.threads for p in before) < 2:
        pytest.skip("the loaded BLAS runs one thread already: nothing to cap")
    cap = NativeCap()
    cap.enter(1)
    cap.enter(1)
    assert cap.capped
    assert {p.threads for p in _loaded_blas()} == {1}
    cap.leave()
    assert cap.capped  # one is still in flight
    cap.leave()
    assert not cap.capped
    assert _loaded_blas() == before


def test_no_cap_when_the_pools_fit_the_share() -> None:
    cap = NativeCap()
    cap.enter(10_000)  # more threads than any pool has
    assert not cap.capped
    cap.leave()


# -- advise -------------------------------------------------------------------------------


def _matmul(n: int) -> float:
    import numpy as np

    a = np.ones((n, n))
    return float((a @ a).sum())


def test_advise_reports_the_native_pools_the_function_loaded() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    from gearshift._cli._advise import collect_advice

    advice: dict[str, Any] = collect_advice(_matmul, [40] * 6, total=100)
    native = advice["native_threads"]
    assert native["pools"], "numpy's BLAS is loaded: advise must say so"
    assert any(p["api"] == "blas" for p in native["pools"])
    assert native["per_worker"] == thread_share(native["workers"], native["cpus"])
    # Said either way: "loaded" when the sampled items were not seen keeping them busy, or with
    # what an item kept busy when they were (which one depends on the host's load: a 40 x 40
    # product may or may not wake the BLAS threads while it is timed).
    assert any(line.startswith("native thread pools") for line in advice["evidence"]), advice["evidence"]
