"""Validate what the caller passed, once, before any work starts.

Each check names the bad parameter, what it got, and what to pass instead.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable
from typing import Any, Literal

from ._backends import BACKENDS
from ._trace import check_trace

Mode = Literal["auto", "sync", "async", "thread", "process", "dask", "ray"]
ErrorPolicy = Literal["raise", "return"]

MODES: tuple[str, ...] = ("auto", *BACKENDS)
#: default ``buffer_bytes``: results held for the caller before reading stops
BUFFER_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    """The caller's choices for one run, checked."""

    mode: str = "auto"
    workers: int | None = None
    chunksize: int | None = None
    ordered: bool = True
    timeout: float | None = None
    retries: int = 0
    errors: ErrorPolicy = "raise"
    progress: bool = False
    #: exception types that are retried (None: every failure, crashes and timeouts included)
    retry_on: tuple[type[BaseException], ...] | None = None
    #: how to reach a distributed engine (``address=``, ``client=``): passed as
    #: keywords to the backend's constructor; pairs, so Options stays hashable
    engine: tuple[tuple[str, Any], ...] = ()
    #: for ``mode="auto"``: the engine ("dask" or "ray") of the configured cluster
    #: that auto may choose when the work pays for the network; None: none configured
    cluster: str | None = None
    #: bytes of results completed but not yet handed out to the caller (and expected from the
    #: work in flight) above which no more input is read; at least one chunk always runs
    buffer_bytes: int = BUFFER_BYTES
    trace: Any = None  # trace=PATH: the run's _trace.Recorder (checked: the file can be written)

    @property
    def engine_options(self) -> dict[str, Any]:
        """The engine keywords for the backend constructor (empty for local modes)."""
        return dict(self.engine)


#: modes that run on a distributed engine and accept ``address=`` (and, for dask, ``client=``)
ENGINE_MODES: tuple[str, ...] = ("dask", "ray")
#: where an engine mode finds its cluster's address when ``address=`` is not given
#: (``mode="auto"`` looks at both, dask first)
ADDRESS_ENV: dict[str, str] = {"dask": "GEARSHIFT_DASK_ADDRESS", "ray": "GEARSHIFT_RAY_ADDRESS"}
#: address schemes that name a dask scheduler / a Ray cluster, for ``mode="auto"``
DASK_SCHEMES: tuple[str, ...] = ("tcp://", "tls://", "ucx://", "ws://", "wss://", "inproc://")
RAY_SCHEMES: tuple[str, ...] = ("ray://",)


def check_function(fn: Any, *, where: str = "fn") -> Callable[..., Any]:
    """Refuse anything that is not a callable, with a hint for the usual slips."""
    if inspect.iscoroutine(fn):
        fn.close()  # it will never run; closing it avoids a "never awaited" warning
        raise TypeError(
            f"{where} must be a function, got a coroutine object ({fn.__qualname__}(...) was called). "
            f"Pass the async function itself: gearshift.map({fn.__qualname__}, items), "
            f"not gearshift.map({fn.__qualname__}(...), items)."
        )
    if not callable(fn):
        raise TypeError(f"{where} must be callable, got {type(fn).__name__}: {fn!r:.80}")
    return fn  # type: ignore[no-any-return]


def check_items(items: Any) -> None:
    """Refuse non-iterables before the run starts (the items are consumed lazily later)."""
    if isinstance(items, (str, bytes)):
        return  # iterable, if unusual; the builtin map accepts them too
    if hasattr(items, "__aiter__") and not hasattr(items, "__iter__"):
        raise TypeError(
            f"items is an async iterable ({type(items).__name__}); use gearshift.amap or gearshift.aimap, "
            "which accept async iterables, or pass a regular iterable."
        )
    try:
        iter(items)
    except TypeError:
        raise TypeError(
            f"items must be iterable (a list, generator, ...), got {type(items).__name__}: {items!r:.80}"
        ) from None


def _positive_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1 or None, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1 or None (None picks a good value), got {value}")
    return value


def make_options(
    *,
    mode: str = "auto",
    workers: int | None = None,
    chunksize: int | None = None,
    ordered: bool = True,
    timeout: float | None = None,
    retries: int = 0,
    errors: str = "raise",
    progress: bool = False,
    retry_on: Any = None,
    address: str | None = None,
    client: Any = None,
    buffer_bytes: int = BUFFER_BYTES,
    trace: Any = None,
) -> Options:
    """Check every option and return them as :class:`Options`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    workers = _positive_int("workers", workers)
    chunksize = _positive_int("chunksize", chunksize)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds or None, got {type(timeout).__name__}")
        if not timeout > 0 or math.isnan(timeout):
            raise ValueError(f"timeout must be > 0 seconds (or None for no limit), got {timeout}")
        timeout = float(timeout)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    retry_on = _exception_types(retry_on)
    if retry_on is not None and retries == 0:
        raise ValueError(f"retry_on={_names(retry_on)} has no effect with retries=0: pass retries=N (N >= 1) as well")
    engine, cluster = _engine_options(mode, address, client)
    if isinstance(buffer_bytes, bool) or not isinstance(buffer_bytes, int):
        raise TypeError(
            f"buffer_bytes must be an int (a number of bytes, e.g. 256 * 2**20 for 256 MiB), "
            f"got {type(buffer_bytes).__name__}: {buffer_bytes!r:.80}"
        )
    if buffer_bytes < 1:
        raise ValueError(
            f"buffer_bytes must be >= 1 (bytes of results held ahead of the consumer; default "
            f"{BUFFER_BYTES // 2**20} MiB), got {buffer_bytes}"
        )
    return Options(
        mode=mode,
        workers=workers,
        chunksize=chunksize,
        ordered=bool(ordered),
        timeout=timeout,
        retries=retries,
        errors=errors,  # type: ignore[arg-type]
        progress=bool(progress),
        retry_on=retry_on,
        engine=engine,
        cluster=cluster,
        buffer_bytes=buffer_bytes,
        trace=check_trace(trace),
    )


def _exception_types(value: Any) -> tuple[type[BaseException], ...] | None:
    """``retry_on`` as a tuple of exception classes (one class alone is accepted too)."""
    if value is None:
        return None
    types = value if isinstance(value, tuple) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise TypeError(
                f"retry_on must be an exception class or a tuple of them (e.g. retry_on=(ConnectionError, "
                f"gearshift.TaskTimeout)), got {type(t).__name__}: {t!r:.80}"
            )
    if not types:
        raise ValueError("retry_on=() retries nothing: pass retries=0 instead, or name the exception types")
    return types


def _names(types: tuple[type[BaseException], ...]) -> str:
    return "(" + ", ".join(t.__qualname__ for t in types) + ")"


def _engine_options(mode: str, address: Any, client: Any) -> tuple[tuple[tuple[str, Any], ...], str | None]:
    """Check ``address=`` and ``client=`` against the mode; only the ones given are kept.

    Without either, an engine mode takes its address from the environment
    (``GEARSHIFT_DASK_ADDRESS``, ``GEARSHIFT_RAY_ADDRESS``), if set.  With
    ``mode="auto"`` they configure a cluster that auto may choose; the second
    value returned is its engine (None for other modes, or when none is configured).
    """
    engine: list[tuple[str, Any]] = []
    cluster: str | None = None
    if address is None and client is None:
        for name in ADDRESS_ENV if mode == "auto" else (mode,) if mode in ADDRESS_ENV else ():
            address = os.environ.get(ADDRESS_ENV[name]) or None
            if address is not None:
                cluster = name
                break
    if address is not None:
        if mode not in (*ENGINE_MODES, "auto"):
            raise ValueError(
                f"address= says where a dask scheduler or Ray cluster listens; it needs mode='dask', "
                f"mode='ray' or mode='auto', not mode={mode!r}"
            )
        if not isinstance(address, str) or not address:
            raise TypeError(
                f"address must be a non-empty string such as 'tcp://host:8786' (dask) or 'host:6379' (ray), "
                f"got {type(address).__name__}: {address!r:.80}"
            )
        if mode == "auto" and cluster is None:
            cluster = _engine_of(address)
        engine.append(("address", address))
    if client is not None:
        if mode not in ("dask", "auto"):
            raise ValueError(
                f"client= takes a distributed.Client and needs mode='dask' or mode='auto', not mode={mode!r}"
            )
        if address is not None:
            raise ValueError("pass either address= or client=, not both (a client is already connected somewhere)")
        engine.append(("client", client))
        if mode == "auto":
            cluster = "dask"
    return tuple(engine), (cluster if mode == "auto" else None)


def _engine_of(address: str) -> str:
    """The engine an ``address=`` given with ``mode="auto"`` belongs to, from its form.

    ``"auto"`` is Ray's own word for "the Ray cluster running on this machine"
    (what ``ray start --head`` leaves behind); a bare ``host:port`` could be
    either engine, so it is refused with the forms that are not ambiguous.
    """
    if address.startswith(DASK_SCHEMES):
        return "dask"
    if address.startswith(RAY_SCHEMES) or address == "auto":
        return "ray"
    raise ValueError(
        f"with mode='auto', address= must say which engine listens there: 'tcp://host:8786' for a dask "
        f"scheduler; for Ray, 'auto' (the Ray started on this machine by `ray start --head`) or "
        f"'ray://host:10001' (Ray Client: pip install 'ray[client]'); got {address!r:.80}. For a Ray "
        f"head's host:6379, set GEARSHIFT_RAY_ADDRESS={address:.80} or pass mode='ray'; for a dask "
        f"scheduler, write 'tcp://{address:.80}' or pass mode='dask'"
    )


#: modes whose engine moves data itself: ``shared=`` is refused there with directions
_NO_SHARED_MODES = {
    "dask": "scatter it to every worker yourself (future = client.scatter(obj, broadcast=True)) and pass the "
    "future to tasks you submit with client.submit",
    "ray": "put it in Ray's object store yourself (ref = ray.put(obj)), bind the reference "
    "(functools.partial(fn, ref)) and call ray.get(ref) inside fn: Ray caches it on each node",
}


def check_shared(shared: Any, mode: str) -> None:
    """Refuse ``shared=`` where gearshift cannot hand it to each worker once."""
    if mode in _NO_SHARED_MODES:
        raise ValueError(
            f"shared= is not supported with mode={mode!r}: {_NO_SHARED_MODES[mode]}. "
            "Or use mode='process', which sends the shared object once to each worker process."
        )
    if inspect.isawaitable(shared):
        if inspect.iscoroutine(shared):
            shared.close()  # it will never run; closing it avoids a "never awaited" warning
        raise TypeError(
            f"shared must be a plain object, got an awaitable ({type(shared).__name__}): await it first "
            "and pass its result"
        )


def check_takes_shared(fn: Callable[..., Any], shared: Any) -> None:
    """Refuse a function that cannot be called as ``fn(shared, item)``, before any work starts."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: let the call itself tell
        return
    try:
        signature.bind(shared, None)
    except TypeError:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(
            f"with shared=, fn is called as fn(shared, item), but {name}{signature} does not take two "
            f"positional arguments: add a first parameter for the shared object, e.g. def {name}(table, item)"
        ) from None


def is_async_function(fn: Callable[..., Any]) -> bool:
    """True for ``async def`` functions, also behind ``functools.partial`` or a callable object."""
    while True:
        if inspect.iscoroutinefunction(fn):
            return True
        inner = getattr(fn, "func", None)  # functools.partial
        if inner is None or inner is fn:
            break
        fn = inner
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - we want the method, not a yes/no
    return call is not None and inspect.iscoroutinefunction(call)
