"""The strategies compared: gearshift in each mode and the usual peers, each with the same calling shape.

A strategy is a context manager (pools start in ``__enter__``, outside the
timed region, and stop in ``__exit__``) with ``run(fn, items) -> list``.  Each
one belongs to a concurrency ``model`` so that gearshift's fixed modes are
compared with the peers of the same model.  Peers that are not installed are
skipped by the runner with the import error as the note.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
from collections.abc import Callable
from typing import Any

from gearshift._cpu import usable_cpus

CPUS = usable_cpus()
#: the stdlib ThreadPoolExecutor default, also used for the other thread pools
THREADS = min(32, CPUS + 4)
#: concurrency limit of the async strategies (gearshift async and asyncio + semaphore)
ASYNC_LIMIT = 10_000


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)


class Strategy:
    """Base: no setup, nothing to stop."""

    name = ""
    model = ""
    #: None if it can run both plain and ``async def`` functions, else which one
    only: str | None = "plain"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def __enter__(self) -> Strategy:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())


# -- baselines -------------------------------------------------------------------


class Loop(Strategy):
    name, model = "loop", "sync"

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return [fn(x) for x in items]


class AsyncioGather(Strategy):
    """The hand-written reference: every coroutine at once."""

    name, model, only = "asyncio-gather", "async", "async"

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        async def main() -> list[Any]:
            return list(await asyncio.gather(*(fn(x) for x in items)))

        return asyncio.run(main())


class AsyncioSemaphore(Strategy):
    name, model, only = "asyncio-semaphore", "async", "async"

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        limit = self.params.setdefault("limit", ASYNC_LIMIT)

        async def main() -> list[Any]:
            semaphore = asyncio.Semaphore(limit)

            async def one(x: Any) -> Any:
                async with semaphore:
                    return await fn(x)

            return list(await asyncio.gather(*(one(x) for x in items)))

        return asyncio.run(main())


# -- the standard library --------------------------------------------------------


class CfThread(Strategy):
    name, model = "cf-thread", "thread"

    def __enter__(self) -> Strategy:
        self.pool = concurrent.futures.ThreadPoolExecutor(THREADS)
        self.params["workers"] = THREADS
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown()

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return list(self.pool.map(fn, items))


class CfProcess(Strategy):
    """ProcessPoolExecutor.map with chunksize=1 (its default) or a given one."""

    name, model = "cf-process", "process"

    def __enter__(self) -> Strategy:
        self.pool = concurrent.futures.ProcessPoolExecutor(CPUS)
        self.params.setdefault("chunksize", 1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return list(self.pool.map(fn, items, chunksize=self.params["chunksize"]))


class CfProcessBest(CfProcess):
    """ProcessPoolExecutor.map with the best chunk size of a sweep made in the same run."""

    name = "cf-process-best"


class MpPool(Strategy):
    """multiprocessing.Pool.map with its own chunk size heuristic (len / (4 x workers))."""

    name, model = "mp-pool", "process"

    def __enter__(self) -> Strategy:
        import multiprocessing

        self.pool = multiprocessing.Pool(CPUS)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()
        self.pool.join()

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return self.pool.map(fn, items)


# -- third-party peers ---------------------------------------------------------------


class JoblibLoky(Strategy):
    name, model = "joblib-loky", "process"
    backend = "loky"
    workers = CPUS

    def __enter__(self) -> Strategy:
        import joblib

        self.parallel = joblib.Parallel(n_jobs=self.workers, backend=self.backend)
        self.delayed = joblib.delayed
        return self

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        return list(self.parallel(self.delayed(fn)(x) for x in items))


class JoblibThreading(JoblibLoky):
    name, model = "joblib-threading", "thread"
    backend = "threading"
    workers = THREADS


class Mpire(Strategy):
    name, model = "mpire", "process"

    def __enter__(self) -> Strategy:
        from mpire import WorkerPool

        self.pool = WorkerPool(n_jobs=CPUS, keep_alive=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.terminate()

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        # mpire unpacks tuple items into arguments: wrap each so the item arrives whole.
        return self.pool.map(fn, [(x,) for x in items])


class Pebble(Strategy):
    """pebble.ProcessPool.map with the multiprocessing chunk size heuristic."""

    name, model = "pebble", "process"

    def __enter__(self) -> Strategy:
        from pebble import ProcessPool

        self.pool = ProcessPool(max_workers=CPUS)
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.stop()
        self.pool.join()

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        chunksize = max(1, -(-len(items) // (4 * CPUS)))
        self.params["chunksize"] = "len/(4*workers)"
        return list(self.pool.map(fn, items, chunksize=chunksize).result())


class DaskLocal(Strategy):
    """A dask.distributed LocalCluster (one process per core) running a dask.bag; for reference."""

    name, model = "dask-local", "cluster"

    def __enter__(self) -> Strategy:
        from dask.distributed import Client, LocalCluster

        self.cluster = LocalCluster(n_workers=CPUS, threads_per_worker=1, processes=True, dashboard_address=None)
        self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.cluster.close()

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        import dask.bag

        bag = dask.bag.from_sequence(items, npartitions=min(len(items), 4 * CPUS))
        return list(bag.map(fn).compute(scheduler=self.client))


# -- gearshift -------------------------------------------------------------------------


class Gearshift(Strategy):
    """``gearshift.map`` in one mode, default workers and automatic chunking."""

    model = ""
    only = None
    mode = "auto"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.name = f"gearshift-{self.mode}"
        self.model = "auto" if self.mode == "auto" else self.mode

    def run(self, fn: Callable[..., Any], items: list[Any]) -> list[Any]:
        import gearshift

        workers = None
        if self.mode == "async" and _is_async(fn):
            # The same concurrency as the asyncio strategies (the default, 100, is for unknown servers).
            workers = min(len(items), ASYNC_LIMIT)
            self.params["workers"] = f"min(len(items), {ASYNC_LIMIT})"
        return gearshift.map(fn, items, mode=self.mode, workers=workers)


def _gearshift(mode: str) -> type[Gearshift]:
    return type(f"Gearshift{mode.title()}", (Gearshift,), {"mode": mode, "name": f"gearshift-{mode}"})


STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        _gearshift("auto"),
        _gearshift("sync"),
        _gearshift("thread"),
        _gearshift("process"),
        _gearshift("async"),
        Loop,
        CfThread,
        CfProcess,
        CfProcessBest,
        MpPool,
        JoblibLoky,
        JoblibThreading,
        Mpire,
        Pebble,
        AsyncioGather,
        AsyncioSemaphore,
        DaskLocal,
    )
}


def applies(cls: type[Strategy], is_async: bool) -> bool:
    """Whether the strategy can run this kind of function at all."""
    if cls.only is None:
        return True
    return (cls.only == "async") == is_async
