"""gearshift's executors stand in where the standard library's are required by type.

They subclass :class:`concurrent.futures.ThreadPoolExecutor` / ``ProcessPoolExecutor`` so that
``isinstance`` checks, ``loop.set_default_executor`` and libraries that read ``_max_workers``
accept them, while every method stays gearshift's and the standard library's pool never starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import threading
import time

import pytest

import gearshift
from gearshift._cpu import usable_cpus


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(gearshift.ThreadPoolExecutor, cf.ThreadPoolExecutor), (gearshift.ProcessPoolExecutor, cf.ProcessPoolExecutor)],
)
def test_subclass_of_the_standard_library_class(ours: type, theirs: type) -> None:
    assert issubclass(ours, theirs)
    assert issubclass(ours, gearshift.Executor)
    with ours(2) as executor:
        assert isinstance(executor, theirs)
        assert executor._max_workers == 2
        assert executor.submit(abs, -3).result(timeout=30) == 3
        # The standard library's pool machinery is never built: its __init__ did not run.
        for attribute in ("_work_queue", "_threads", "_processes", "_executor_manager_thread", "_call_queue"):
            assert not hasattr(executor, attribute), attribute


def test_no_standard_library_threads_start() -> None:
    with gearshift.ThreadPoolExecutor(3) as executor:
        assert list(executor.map(abs, range(-20, 0))) == list(range(20, 0, -1))
        names = [t.name for t in threading.enumerate()]
    assert not [n for n in names if n.startswith("ThreadPoolExecutor-")], names


def test_max_workers_defaults_like_the_standard_library() -> None:
    with gearshift.ThreadPoolExecutor() as executor:
        assert executor._max_workers == min(32, usable_cpus() + 4)
    for mode, workers in [("thread", 3), ("sync", None)]:
        with gearshift.Executor(mode, workers) as executor:
            assert executor._max_workers == executor.workers
            if workers is not None:
                assert executor._max_workers == workers


def _thread_name() -> str:
    return threading.current_thread().name


def test_asyncio_default_executor_runs_to_thread_and_run_in_executor_on_gearshift() -> None:
    executor = gearshift.ThreadPoolExecutor(4, thread_name_prefix="dropin")

    async def main() -> tuple[str, str, int]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(executor)  # TypeError for a non-ThreadPoolExecutor on 3.12+
        via_to_thread = await asyncio.to_thread(_thread_name)
        via_run_in_executor = await loop.run_in_executor(None, _thread_name)
        concurrent_results = await asyncio.gather(*(asyncio.to_thread(abs, -i) for i in range(20)))
        return via_to_thread, via_run_in_executor, sum(concurrent_results)

    # asyncio.run shuts the default executor down at the end, through gearshift's shutdown.
    to_thread, run_in_executor, total = asyncio.run(main())
    assert to_thread.startswith("dropin")
    assert run_in_executor.startswith("dropin")
    assert total == sum(range(20))
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(abs, 1)


def test_process_pool_in_run_in_executor() -> None:
    async def main(executor: cf.Executor) -> int:
        return await asyncio.get_running_loop().run_in_executor(executor, os.getpid)

    with gearshift.ProcessPoolExecutor(1) as executor:
        assert asyncio.run(main(executor)) != os.getpid()


@pytest.mark.parametrize("method", ["terminate_workers", "kill_workers"])
def test_terminate_workers_stops_running_calls_now(method: str) -> None:
    # Python 3.14 added these methods to the standard library's class; ours must not reach for its pool.
    executor = gearshift.ProcessPoolExecutor(1)
    futures = [executor.submit(time.sleep, 60) for _ in range(3)]
    start = time.monotonic()
    getattr(executor, method)()
    assert time.monotonic() - start < 30  # far less than the 60 s call: it was stopped, not awaited
    for future in futures:
        with pytest.raises(cf.CancelledError):
            future.result(timeout=30)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(abs, 1)
