"""The joblib backend "gearshift" (``import gearshift.joblib``): joblib and scikit-learn on gearshift's workers.

joblib's own test_parallel.py also runs against it: tests/joblib_suite/run_joblib_suite.py.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

joblib = pytest.importorskip("joblib", reason="joblib is not installed: pip install gearshift[joblib]")

from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

import gearshift.joblib  # noqa: E402 - registers the backend
from gearshift import WorkerCrashed  # noqa: E402
from gearshift._cpu import usable_cpus  # noqa: E402

Parallel, delayed, parallel_config = joblib.Parallel, joblib.delayed, joblib.parallel_config


def where(x: int) -> tuple[int, str, int]:
    return os.getpid(), threading.current_thread().name, x * x


def environment(names: tuple[str, ...]) -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in names}


def crash_on(x: int) -> int:
    if x == 3:
        os._exit(7)
    return x


def fail_on(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def test_importing_registers_the_backend() -> None:
    assert joblib.parallel.BACKENDS["gearshift"] is gearshift.joblib.GearshiftBackend


def test_missing_joblib_names_the_install_command() -> None:
    code = "import sys; sys.modules['joblib'] = None\nimport gearshift.joblib"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "MissingDependencyError" in proc.stderr
    assert "pip install gearshift[joblib]" in proc.stderr


def test_process_mode_is_the_default_and_runs_elsewhere() -> None:
    with parallel_config(backend="gearshift", n_jobs=2):
        results = Parallel()(delayed(where)(i) for i in range(20))
    assert [r[2] for r in results] == [i * i for i in range(20)]
    pids = {r[0] for r in results}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_thread_mode_by_backend_parameter() -> None:
    with parallel_config(backend="gearshift", n_jobs=3, mode="thread"):
        results = Parallel()(delayed(where)(i) for i in range(20))
        shared: list[int] = []
        # threads share memory, so require="sharedmem" keeps this backend
        Parallel(require="sharedmem")(delayed(shared.append)(i) for i in range(10))
    assert {r[0] for r in results} == {os.getpid()}
    assert all(r[1] != threading.current_thread().name for r in results)
    assert sorted(shared) == list(range(10))


@pytest.mark.parametrize("return_as", ["generator", "generator_unordered"])
@pytest.mark.parametrize("mode", ["process", "thread"])
def test_return_as_generator(mode: str, return_as: str) -> None:
    with parallel_config(backend="gearshift", n_jobs=2, mode=mode):
        results = Parallel(return_as=return_as)(delayed(abs)(-i) for i in range(30))
        assert not isinstance(results, list)
        values = list(results)
    assert values == list(range(30)) if return_as == "generator" else sorted(values) == list(range(30))


def test_effective_n_jobs() -> None:
    with parallel_config(backend="gearshift"):
        assert joblib.effective_n_jobs(-1) == usable_cpus()
        assert joblib.effective_n_jobs(3) == 3
        assert joblib.effective_n_jobs(None) == 1
    with pytest.raises(ValueError, match="n_jobs == 0"):
        gearshift.joblib.GearshiftBackend().effective_n_jobs(0)


def test_one_job_runs_in_the_caller() -> None:
    # As joblib's own backends do: n_jobs=1 starts no pool.
    with parallel_config(backend="gearshift", n_jobs=1):
        assert Parallel()(delayed(where)(i) for i in range(3))[0][0] == os.getpid()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "auto"}, "runs in mode 'thread', 'process', 'dask', 'ray', got mode='auto'"),
        ({"mode": "sync"}, "use n_jobs=1"),
        ({"mode": "thread", "address": "tcp://127.0.0.1:1"}, "address= and client= apply to mode='dask' or 'ray'"),
    ],
)
def test_bad_backend_parameters(params: dict[str, Any], message: str) -> None:
    with (
        pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")),
        parallel_config(backend="gearshift", n_jobs=2, **params),
    ):
        pass


def test_initializer_with_mode_dask_is_refused() -> None:
    backend = gearshift.joblib.GearshiftBackend(mode="dask")
    with pytest.raises(ValueError, match="initializer= applies to mode='thread' or 'process'"):
        backend.configure(n_jobs=2, initializer=print)


def test_a_task_error_keeps_its_type_and_the_pool_works_after() -> None:
    with parallel_config(backend="gearshift", n_jobs=2):
        with pytest.raises(ValueError, match="bad item 3"):
            Parallel()(delayed(fail_on)(i) for i in range(8))
        assert Parallel()(delayed(abs)(-i) for i in range(8)) == list(range(8))


def test_a_crashing_task_fails_with_worker_crashed_and_the_pool_goes_on() -> None:
    start = time.monotonic()
    with parallel_config(backend="gearshift", n_jobs=2):
        with pytest.raises(WorkerCrashed):
            Parallel(batch_size=1)(delayed(crash_on)(i) for i in range(8))
        assert Parallel()(delayed(abs)(-i) for i in range(8)) == list(range(8))
    assert time.monotonic() - start < 50  # it neither hung nor waited for a timeout


def test_timeout_stops_the_call() -> None:
    start = time.monotonic()
    with parallel_config(backend="gearshift", n_jobs=2):
        with pytest.raises(multiprocessing.TimeoutError):  # joblib's timeout error
            Parallel(timeout=0.5)(delayed(time.sleep)(s) for s in [30, 30, 30])
        assert Parallel()(delayed(abs)(-i) for i in range(4)) == list(range(4))
    assert time.monotonic() - start < 25  # the 30 s sleeps were stopped, not awaited


BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def test_blas_threads_are_capped_in_workers() -> None:
    with parallel_config(backend="gearshift", n_jobs=2, inner_max_num_threads=1):
        (seen,) = Parallel()(delayed(environment)(BLAS_VARIABLES) for _ in range(1))
    assert seen == dict.fromkeys(BLAS_VARIABLES, "1")
    with parallel_config(backend="gearshift", n_jobs=2):
        (seen,) = Parallel()(delayed(environment)(BLAS_VARIABLES) for _ in range(1))
    default = str(max(joblib.cpu_count() // 2, 1))
    assert seen == {name: os.environ.get(name, default) for name in BLAS_VARIABLES}
    assert os.environ.get("OMP_NUM_THREADS") != "1" or "OMP_NUM_THREADS" in os.environ  # the parent is untouched


def blas_threads(_: int) -> list[int]:
    import numpy  # noqa: F401 - loads the BLAS library under the worker's environment
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info()]


def test_blas_library_honours_the_cap() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    with parallel_config(backend="gearshift", n_jobs=2, inner_max_num_threads=1):
        (threads,) = Parallel()(delayed(blas_threads)(i) for i in range(1))
    assert threads and set(threads) == {1}


def nested(x: int) -> tuple[str, int, list[int]]:
    backend, _ = joblib.parallel.get_active_backend()
    inner = Parallel(n_jobs=2)(delayed(abs)(-x - i) for i in range(3))
    return type(backend).__name__, backend.nesting_level, inner


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_nested_calls_run_on_threads_then_in_sequence(mode: str) -> None:
    with parallel_config(backend="gearshift", n_jobs=2, mode=mode):
        results = Parallel()(delayed(nested)(x) for x in range(4))
    assert results == [("ThreadingBackend", 1, [x, x + 1, x + 2]) for x in range(4)]


def mark_worker(value: str) -> None:
    os.environ["GEARSHIFT_TEST_INITIALIZED"] = value


def read_mark(_: int) -> str | None:
    return os.environ.get("GEARSHIFT_TEST_INITIALIZED")


def test_initializer_runs_in_every_worker() -> None:
    with parallel_config(backend="gearshift", n_jobs=2, initializer=mark_worker, initargs=("yes",)):
        assert set(Parallel()(delayed(read_mark)(i) for i in range(10))) == {"yes"}
    # the next call without an initializer gets the warm pool, whose workers never ran it
    with parallel_config(backend="gearshift", n_jobs=2):
        assert set(Parallel()(delayed(read_mark)(i) for i in range(4))) == {None}


def test_workers_stay_warm_between_calls() -> None:
    with parallel_config(backend="gearshift", n_jobs=2):
        first = {r[0] for r in Parallel()(delayed(where)(i) for i in range(10))}
        second = {r[0] for r in Parallel()(delayed(where)(i) for i in range(10))}
    assert second <= first | second and first & second


# scikit-learn: in the test extra, so these run in CI; imported here, not skipped when missing, so that a CI
# without it fails instead of passing with them skipped.


class CrashingClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A scikit-learn estimator whose fit kills its process for C=13 (a segfault, as far as the pool can tell)."""

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: Any, y: Any) -> CrashingClassifier:
        if self.C == 13.0:
            os._exit(9)
        self.classes_ = sorted(set(y))
        return self

    def predict(self, X: Any) -> list[int]:
        return [0] * len(X)


def _grid_search(n_jobs: int, **config: Any) -> Any:
    X, y = make_classification(n_samples=150, n_features=8, random_state=0)
    search = GridSearchCV(SVC(), {"C": [0.1, 1, 10], "gamma": ["scale", 0.1]}, cv=3)
    with parallel_config(n_jobs=n_jobs, **config):
        return search.fit(X, y)


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_grid_search_equals_one_job(mode: str) -> None:
    expected = _grid_search(1)
    got = _grid_search(2, backend="gearshift", mode=mode)
    assert got.best_params_ == expected.best_params_
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        assert list(got.cv_results_[key]) == list(expected.cv_results_[key]), key


def fit_pid(_: int) -> int:
    return os.getpid()


def test_tasks_run_in_the_warm_executors_workers() -> None:
    with parallel_config(backend="gearshift", n_jobs=2):
        pids = set(Parallel()(delayed(fit_pid)(i) for i in range(4)))
        executor = gearshift.joblib._executors[next(iter(gearshift.joblib._executors))]
        worker_pids = {w.proc.pid for w in executor._backend._procs}
    assert pids <= worker_pids and os.getpid() not in pids


def test_a_crashing_fit_fails_with_worker_crashed_and_the_next_fit_works() -> None:
    X = [[float(i)] for i in range(30)]
    y = [i % 2 for i in range(30)]
    search = GridSearchCV(CrashingClassifier(), {"C": [1.0, 13.0, 2.0]}, cv=2)
    start = time.monotonic()
    with parallel_config(backend="gearshift", n_jobs=2):
        with pytest.raises(WorkerCrashed):
            search.fit(X, y)
        ok = GridSearchCV(CrashingClassifier(), {"C": [1.0, 2.0]}, cv=2).fit(X, y)
    assert ok.best_params_ == {"C": 1.0}
    assert time.monotonic() - start < 50


def test_concurrent_calls_with_different_n_jobs_do_not_stop_each_others_pool() -> None:
    # A call that needs another pool must not shut down one that a running call still dispatches to.
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        try:
            with parallel_config(backend="gearshift", n_jobs=2):
                results = Parallel(batch_size=1, return_as="generator")(delayed(time.sleep)(0.1) for i in range(20))
                values = [next(results)]
                started.set()  # this call is running on its pool now
                outcome["first"] = values + list(results)
        except BaseException as exc:
            outcome["first"] = exc
            started.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(60)
    with parallel_config(backend="gearshift", n_jobs=3):
        assert Parallel()(delayed(abs)(-i) for i in range(6)) == list(range(6))
    thread.join(60)
    assert outcome["first"] == [None] * 20
