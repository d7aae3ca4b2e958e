"""The model behind the contract harness (tests/test_semantics.py): configurations, faults, runs.

One *configuration* is a whole run: mode x entry point x function kind x options x a fault plan x
an input fault x a consumer.  :func:`run` executes it for real (real threads, real worker
processes); ``semantics_oracle`` compares what the caller saw with what the builtin ``map`` and
the contract (docs/semantics.md, C1-C4, C6, C9-C11) say it must see.

Every execution of the user function appends a line to a log file opened with ``O_APPEND``
(``S index attempt pid t`` at the start, ``E index attempt pid t`` at the end), so executions are counted
even in a worker that crashed, and concurrency is the largest overlap of [start, end] intervals.
The functions live here (an importable module) so worker processes load them by reference.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import gearshift

#: how long a plain item works, and a coroutine awaits: long enough for executions to overlap
ITEM_SECONDS = 0.001
#: ...or this long, for auto's lean start: past its watch (10 ms), auto takes the first item over
WATCHED_SECONDS = 0.03
#: ...or, computing, this long for auto's first item: past 50 ms the next items start on worker processes
#: beside it, and more each time those are back (gearshift._auto.lookahead, .chain)
EARLY_SECONDS = 0.25
#: an item that hangs sleeps this long (drawn only with timeout=HANG_TIMEOUT)
HANG_SECONDS = 2.5
HANG_TIMEOUT = 1.0
#: a slow consumer waits this long per result
SLOW_CONSUMER = 0.003

#: faults of the function itself, triggered on the item's first ``times`` executions
RAISE, HANG, CRASH = "raise", "hang", "crash"
#: BaseExceptions raised by the function (first execution); never retried (C10)
KEYBOARD, SYSEXIT, CUSTOM_BASE = "KeyboardInterrupt", "SystemExit", "CustomBase"
BASE_KINDS = (KEYBOARD, SYSEXIT, CUSTOM_BASE)
#: the four pickle steps (C11); they exist only where values cross a process boundary
ITEM_UNPICKLABLE = "item-unpicklable"  # the parent cannot pickle the item
ITEM_UNPICKLE_RAISES = "item-unpickle-raises"  # unpickling the item in the worker raises
ITEM_UNPICKLE_EXITS = "item-unpickle-sys-exit"  # ... calls sys.exit(0)
ITEM_UNPICKLE_CRASHES = "item-unpickle-os-exit"  # ... ends the worker with os._exit
RESULT_PICKLE_RAISES = "result-pickle-raises"  # pickling the result in the worker raises
RESULT_UNPICKLE_RAISES = "result-unpickle-raises"  # unpickling the result in the parent raises
RESULT_UNPICKLE_EXITS = "result-unpickle-sys-exit"  # ... calls sys.exit(0)
ITEM_PICKLE_KINDS = (ITEM_UNPICKLABLE, ITEM_UNPICKLE_RAISES, ITEM_UNPICKLE_EXITS, ITEM_UNPICKLE_CRASHES)
RESULT_PICKLE_KINDS = (RESULT_PICKLE_RAISES, RESULT_UNPICKLE_RAISES, RESULT_UNPICKLE_EXITS)
PICKLE_KINDS = ITEM_PICKLE_KINDS + RESULT_PICKLE_KINDS

ENTRY_POINTS = ("map", "imap", "starmap", "amap", "aimap", "Executor.map")
ITERATOR_ENTRIES = ("imap", "aimap", "Executor.map")
#: Executor classes the package exports, by the name a config shows
EXECUTORS = ("Executor(sync)", "Executor(async)", "Executor(thread)", "Executor(process)",
             "ThreadPoolExecutor", "ProcessPoolExecutor")  # fmt: skip
CONSUMERS = ("drain", "break", "slow", "close")


class Violation(AssertionError):
    """The run broke the contract; the message names the invariant (C1..C11) first."""


class FaultError(Exception):
    """What a ``raise`` fault raises: an ordinary user exception, which carries its item's index."""


class CustomBase(BaseException):
    """A user's own BaseException that is not an Exception."""


class InputError(OSError):
    """What the input iterable raises at its fault position."""


# -- values that misbehave when pickled ---------------------------------------------------------

#: the pid of the process running the harness (items carry it to workers): a crash there would
#: kill the test run instead, so a fault that finds itself in this process raises instead
PARENT_PID = os.getpid()


def _raise_unpickling(what: str) -> Any:
    raise ValueError(f"cannot unpickle {what} (fault injected)")


def _exit_unpickling(what: str) -> Any:
    sys.exit(0)


def _crash_unpickling(what: str, parent: int) -> Any:
    if os.getpid() == parent:
        raise ValueError(f"{what} was unpickled in the parent, which would have crashed it")
    os._exit(5)


@dataclasses.dataclass(frozen=True)
class Item:
    """One input item: its index, the log to write to and its fault plan (kind, times) or None."""

    index: int
    log: str
    kind: str | None = None
    times: int = 0
    parent: int = PARENT_PID
    pause: float = ITEM_SECONDS
    spin: bool = False  # it computes for its pause (in Python, holding the GIL) rather than sleeping

    def __reduce__(self) -> Any:
        fields = (self.index, self.log, self.kind, self.times, self.parent, self.pause, self.spin)
        if self.kind == ITEM_UNPICKLABLE:
            raise TypeError(f"item {self.index} cannot be pickled (fault injected)")
        if self.kind == ITEM_UNPICKLE_RAISES:
            return (_raise_unpickling, (f"item {self.index}",))
        if self.kind == ITEM_UNPICKLE_EXITS:
            return (_exit_unpickling, (f"item {self.index}",))
        if self.kind == ITEM_UNPICKLE_CRASHES:
            return (_crash_unpickling, (f"item {self.index}", self.parent))
        return (Item, fields)

    @property
    def name(self) -> str:
        """``item I of run R``: what its faults say, so an exception from another run shows."""
        return f"item {self.index} of run {run_id(self.log)}"


def run_id(log: str) -> str:
    return os.path.basename(log)[:8]


class Result(int):
    """A result equal to its int value whose pickling misbehaves as ``kind`` says."""

    kind: str

    def __new__(cls, value: int, kind: str) -> Result:
        self = super().__new__(cls, value)
        self.kind = kind
        return self

    def __reduce__(self) -> Any:
        if self.kind == RESULT_PICKLE_RAISES:
            raise ValueError(f"result {int(self)} cannot be pickled (fault injected)")
        if self.kind == RESULT_UNPICKLE_RAISES:
            return (_raise_unpickling, (f"result {int(self)}",))
        return (_exit_unpickling, (f"result {int(self)}",))


def value_of(index: int) -> int:
    """What the function returns for item ``index`` (injective, so a value names its item)."""
    return 3 * index + 1


def index_of(value: Any) -> int | None:
    """The item whose result ``value`` is, or None (a None, a Failure, anything else)."""
    if type(value) not in (int, Result) or value < 1 or (value - 1) % 3:
        return None
    return (int(value) - 1) // 3


# -- the function under test ----------------------------------------------------------------------


def _write(log: str, line: str) -> None:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _starts_before(log: str, index: int) -> int:
    prefix = f"S {index} "
    try:
        with open(log) as f:
            return sum(1 for line in f if line.startswith(prefix))
    except FileNotFoundError:  # the run's first execution
        return 0


def _begin(item: Item) -> int:
    attempt = _starts_before(item.log, item.index)
    _write(item.log, f"S {item.index} {attempt} {os.getpid()} {time.monotonic():.6f}\n")
    return attempt


def _end(item: Item, attempt: int) -> None:
    _write(item.log, f"E {item.index} {attempt} {os.getpid()} {time.monotonic():.6f}\n")


def _fault(item: Item, attempt: int) -> Any:
    """Raise or crash as the item's plan says; the value to return otherwise."""
    kind = item.kind
    if kind in BASE_KINDS and attempt == 0:
        if kind == KEYBOARD:
            raise KeyboardInterrupt(item.name)
        if kind == SYSEXIT:
            raise SystemExit(item.name)
        raise CustomBase(item.name)
    if attempt < item.times:
        if kind == RAISE:
            raise FaultError(f"{item.name} attempt {attempt}")
        if kind == CRASH:
            if os.getpid() == item.parent:
                raise FaultError(f"item {item.index} would have crashed the caller's process")
            os._exit(3)
    if kind in RESULT_PICKLE_KINDS:
        return Result(value_of(item.index), kind)
    return value_of(item.index)


def work(item: Item, bias: int = 0) -> Any:
    """The plain function: log the start, work a moment, misbehave as planned, log the end."""
    attempt = _begin(item)
    try:
        if item.kind == HANG and attempt < item.times:
            time.sleep(HANG_SECONDS)
        elif item.pause and item.spin:
            end = time.thread_time() + item.pause
            while time.thread_time() < end:
                pass
        elif item.pause:
            time.sleep(item.pause)
        return _fault(item, attempt)
    finally:
        _end(item, attempt)


async def awork(item: Item, bias: int = 0) -> Any:
    """The coroutine function: the same, awaiting instead of sleeping."""
    attempt = _begin(item)
    try:
        await asyncio.sleep(HANG_SECONDS if item.kind == HANG and attempt < item.times else item.pause)
        return _fault(item, attempt)
    finally:
        _end(item, attempt)


class Indexed:
    """fn for an input that is a range of the items' indices: :func:`work` (:func:`awork`) of the item there.

    Its methods are bound methods, which gearshift takes for plain functions
    (the quick path and the lean start serve them), and pickle with the items.
    """

    def __init__(self, items: tuple[Item, ...]) -> None:
        self.items = items

    def work(self, index: int, bias: int = 0) -> Any:
        return work(self.items[index], bias)

    async def awork(self, index: int, bias: int = 0) -> Any:
        return await awork(self.items[index], bias)


# -- configurations ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Fault:
    index: int
    kind: str
    times: int = 1  # the item misbehaves on its first `times` executions (pickle faults: always)

    def __repr__(self) -> str:
        return f"Fault({self.index}, {self.kind!r}" + (
            f", times={self.times})" if self.kind in (RAISE, HANG, CRASH) else ")"
        )


@dataclasses.dataclass(frozen=True)
class Config:
    """One run of the matrix; its repr is the repro hypothesis prints."""

    mode: str  # for Executor.map: the executor's name (EXECUTORS)
    entry: str
    is_async: bool
    n: int
    errors: str = "raise"
    ordered: bool = True
    chunksize: int | None = None
    workers: int = 2
    timeout: float | None = None
    retries: int = 0
    faults: tuple[Fault, ...] = ()
    input_fault: int | None = None  # the input raises InputError instead of yielding item p
    consumer: str = "drain"
    stop_after: int = 0  # break / close after this many results
    pause: float = ITEM_SECONDS  # how long each item works (0: trivial items, big automatic chunks)
    #: the call names its mode and nothing else (the other fields keep gearshift's defaults but workers,
    #: which then only counts for the C6 check): a sync map or starmap takes gearshift._quick
    plain: bool = False
    #: an auto map or starmap starts in gearshift._lean as if auto were not loaded yet, which loads auto
    #: once this many seconds were spent there (None: the lean start is not forced; see run())
    lean: float | None = None
    #: the input: a "generator" (no length; the only one that can raise), the items in a "list" or a
    #: "tuple", or a "range" of their indices, which fn looks up (:class:`Indexed`): lists, tuples and
    #: ranges are read in slices and cut where a generator is read item by item
    source: str = "generator"
    #: auto's first item computes EARLY_SECONDS and the others compute their pause: the next items start
    #: on worker processes beside the first, more as they come back, handed out after it
    first_computes: bool = False
    #: an auto run finds this profile remembered for fn by an earlier run (gearshift._auto.memory) and takes
    #: it as confirmed, whatever its items take: REMEMBERED's "sync", "thread" or "process" work (None: as it is)
    remembered: str | None = None

    def __repr__(self) -> str:
        fields = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                  if getattr(self, f.name) != f.default or f.name in ("mode", "entry", "is_async", "n")]  # fmt: skip
        return f"Config({', '.join(fields)})"

    @property
    def crosses(self) -> bool | None:
        """Do values cross a process boundary? None: it depends (auto decides at run time)."""
        if self.mode in ("process", "Executor(process)", "ProcessPoolExecutor"):
            return True
        return None if self.mode == "auto" else False

    @property
    def one_at_a_time(self) -> bool:
        return self.mode in ("sync", "Executor(sync)")

    def fault_of(self, index: int) -> Fault | None:
        for f in self.faults:
            if f.index == index:
                return f
        return None

    def items(self, log: str) -> list[Item]:
        out = []
        spin = self.first_computes
        for i in range(self.n):
            f = self.fault_of(i)
            pause = EARLY_SECONDS if spin and i == 0 else self.pause
            kind, times = (f.kind, f.times) if f else (None, 0)
            out.append(Item(i, log, kind, times, pause=pause, spin=spin))
        return out


def feed(items: list[Item], input_fault: int | None) -> Iterator[Item]:
    """The input: a generator (no length), raising InputError at ``input_fault``."""
    for i, item in enumerate(items):
        if i == input_fault:
            raise InputError(f"input broken at position {i}")
        yield item
    if input_fault is not None and input_fault >= len(items):
        raise InputError(f"input broken at position {input_fault}")


# -- running a configuration -------------------------------------------------------------------------

_EXECUTORS: dict[tuple[str, int], Any] = {}


def executor_mode(name: str) -> str:
    """The mode an executor name of EXECUTORS runs in."""
    if name.startswith("Executor("):
        return name[len("Executor(") : -1]
    return "thread" if name == "ThreadPoolExecutor" else "process"


def executor(name: str, workers: int) -> Any:
    """A warm executor per (class, workers), kept for the session (shut down by shutdown_executors)."""
    key = (name, workers)
    if key not in _EXECUTORS:
        if name == "ThreadPoolExecutor":
            _EXECUTORS[key] = gearshift.ThreadPoolExecutor(max_workers=workers)
        elif name == "ProcessPoolExecutor":
            _EXECUTORS[key] = gearshift.ProcessPoolExecutor(max_workers=workers)
        else:
            _EXECUTORS[key] = gearshift.Executor(name[len("Executor(") : -1], workers=workers)
    return _EXECUTORS[key]


def shutdown_executors() -> None:
    while _EXECUTORS:
        _, ex = _EXECUTORS.popitem()
        ex.shutdown(wait=False, cancel_futures=True)


@dataclasses.dataclass
class Observed:
    delivered: list[Any]  # what the caller got, in the order it got it
    exc: BaseException | None  # what the caller got raised (at the call or while iterating)
    stopped_by_consumer: bool  # the consumer left after stop_after results
    partial: list[Any] | None  # exc.partial_results, when present
    seconds: float
    run: str  # the run's id, in its faults' messages


class Hung(Exception):
    """The run did not end within the harness's deadline."""


def _consume(cfg: Config, results: Iterator[Any], out: list[Any]) -> bool:
    for value in results:
        out.append(value)
        if cfg.consumer == "slow":
            time.sleep(SLOW_CONSUMER)
        if cfg.consumer in ("break", "close") and len(out) >= cfg.stop_after:
            if cfg.consumer == "close":
                results.close()  # type: ignore[attr-defined]
            return True
    return False


async def _aconsume(cfg: Config, results: Any, out: list[Any]) -> bool:
    async for value in results:
        out.append(value)
        if cfg.consumer == "slow":
            await asyncio.sleep(SLOW_CONSUMER)
        if cfg.consumer in ("break", "close") and len(out) >= cfg.stop_after:
            if cfg.consumer == "close":
                await results.aclose()
            return True
    return False


def _options(cfg: Config) -> dict[str, Any]:
    if cfg.plain:
        return {"mode": cfg.mode}
    return {
        "mode": cfg.mode, "workers": cfg.workers, "chunksize": cfg.chunksize, "ordered": cfg.ordered,
        "timeout": cfg.timeout, "retries": cfg.retries, "errors": cfg.errors,
    }  # fmt: skip


#: a run that takes longer has hung (the slowest honest run: 3 hangs of HANG_TIMEOUT plus back-offs)
DEADLINE = 15.0


def _may_poison(exc: BaseException | None, cfg: Config) -> bool:
    """Can this run have left its warm pools unusable for the next one?

    A hung run, a broken process pool and a BaseException from fn did so on aa9af81 (a dead loop
    thread, a pool broken for good, coroutines left pending that raise in the next run: see
    tests/test_semantics_found.py, which proves those without this reset).
    """
    if any(f.kind in BASE_KINDS for f in cfg.faults):
        return True
    return exc is not None and (
        isinstance(exc, Hung) or type(exc).__name__ == "BrokenProcessPool" or not isinstance(exc, Exception)
    )


def reset_pools() -> None:
    """Fresh shared pools and executors for what runs next (a wedged pool may not stop: do not wait long)."""
    import gc

    from gearshift._pools import shutdown_shared

    for stop in (shutdown_executors, shutdown_shared):
        t = threading.Thread(target=stop, daemon=True)
        t.start()
        t.join(5)
    # This thread's own loop (sync mode runs coroutines on it) may hold coroutines a run left
    # pending (aa9af81): a fresh one, so they cannot raise into the next example.
    from gearshift._task_run import close_thread_loop

    try:
        close_thread_loop()
    except BaseException:  # the abandoned coroutines' own exceptions, as they are cancelled
        pass
    # Coroutines a run left pending are finalized now, not in the middle of whatever runs next
    # (on aa9af81 one finalized inside pytest's ast.parse made it fail with a SystemError).
    gc.collect()


def run(cfg: Config, log: str, deadline: float = DEADLINE, isolate: bool = True) -> Observed:
    """Run ``cfg`` for real, writing executions to ``log``; what the caller saw.

    ``isolate``: when the run may have broken its warm pools, replace them, so each example
    stands alone (hypothesis needs that to shrink; the damage itself is tested on its own).
    """
    import signal

    items = cfg.items(log)
    fn: Callable[..., Any] = awork if cfg.is_async else work
    source: Any
    if cfg.source == "range":
        indexed = Indexed(tuple(items))
        fn = indexed.awork if cfg.is_async else indexed.work
        source = range(len(items))
    elif cfg.source in ("list", "tuple"):
        source = list(items) if cfg.source == "list" else tuple(items)
    else:
        source = feed(items, cfg.input_fault)
    out: list[Any] = []
    stopped = False
    exc: BaseException | None = None

    hung: list[Hung] = []

    def alarm(signum: int, frame: Any) -> None:
        hung.append(Hung(f"the run did not end within {deadline} s"))
        raise hung[0]

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, deadline)
    t0 = time.monotonic()
    lean = _forced_lean(cfg.lean)
    forget = _forced_memory(fn, cfg.remembered)
    try:
        if cfg.entry == "map":
            out = gearshift.map(fn, source, **_options(cfg))
        elif cfg.entry == "starmap":
            pairs: Any = ((item, 0) for item in source)
            if cfg.source in ("list", "tuple"):
                pairs = list(pairs) if cfg.source == "list" else tuple(pairs)
            out = gearshift.starmap(fn, pairs, **_options(cfg))
        elif cfg.entry == "imap":
            stopped = _consume(cfg, gearshift.imap(fn, source, **_options(cfg)), out)
        elif cfg.entry == "Executor.map":
            ex = executor(cfg.mode, cfg.workers)
            stopped = _consume(cfg, ex.map(fn, source, _zeros(), chunksize=cfg.chunksize), out)
        elif cfg.entry == "amap":

            async def main() -> list[Any]:
                return await gearshift.amap(fn, source, **_options(cfg))

            out = asyncio.run(main())
        else:

            async def amain() -> bool:
                return await _aconsume(cfg, gearshift.aimap(fn, source, **_options(cfg)), out)

            stopped = asyncio.run(amain())
    except BaseException as e:  # the caller's view of every outcome is the point
        exc = e
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        lean()
        forget()
    seconds = time.monotonic() - t0
    if hung and exc is not hung[0]:  # gearshift turned the interruption into something else
        hung[0].__context__ = exc
        exc = hung[0]
    if isolate and _may_poison(exc, cfg):
        reset_pools()
    partial = getattr(exc, "partial_results", None) if exc is not None else None
    return Observed(out, exc, stopped, None if partial is None else list(partial), seconds, run_id(log))


def _forced_lean(load: float | None) -> Callable[[], None]:
    """Have auto calls start in gearshift._lean as in a fresh interpreter (auto is loaded here), which loads
    auto once ``load`` seconds were spent there (0: after the first chunk); returns what undoes it."""
    from gearshift import _lean

    if load is None:
        return lambda: None
    loaded, budget, rented = _lean.auto_loaded, _lean.LOAD_SECONDS, _lean._rented
    # (as in a fresh interpreter: nothing rented by the calls before)
    _lean.auto_loaded, _lean.LOAD_SECONDS, _lean._rented = (lambda: False), load, 0.0

    def undo() -> None:
        _lean.auto_loaded, _lean.LOAD_SECONDS, _lean._rented = loaded, budget, rented

    return undo


def _remembered(wall: float, cpu: float, **kw: Any) -> Any:
    from gearshift._profile import Profile

    sizes = {"item_bytes": 200, "item_pickle_seconds": 5e-6, "result_bytes": 200, "result_pickle_seconds": 5e-6}
    return Profile(is_async=False, wall=(wall,) * 8, cpu=(cpu,) * 8, **{**sizes, **kw})


#: profiles an auto run may find remembered (Config.remembered), each leading to its mode's plan
REMEMBERED: dict[str, Callable[[], Any]] = {
    "sync": lambda: _remembered(1e-6, 1e-6),  # too cheap to move: sync, confirmed on the items first
    "thread": lambda: _remembered(0.02, 1e-4),  # waiting: threads, too long to confirm (no items run first)
    "process": lambda: _remembered(5e-3, 5e-3, threads=2, thread_scaling=1.0, gil_free=0.0),  # computing, GIL held
}


def _forced_memory(fn: Callable[..., Any], name: str | None) -> Callable[[], None]:
    """Have auto find ``REMEMBERED[name]`` remembered for ``fn`` and take it as confirmed; returns what undoes it."""
    if name is None:
        return lambda: None
    from gearshift._auto import memory, recall

    agrees = recall.agrees
    memory.forget(fn)
    memory.remember(fn, REMEMBERED[name]())
    recall.agrees = lambda profile, w, c: True  # type: ignore[assignment]

    def undo() -> None:
        recall.agrees = agrees  # type: ignore[assignment]
        memory.forget(fn)

    return undo


def _zeros() -> Iterator[int]:
    while True:
        yield 0


# -- the execution log ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Execution:
    index: int
    attempt: int
    pid: int
    start: float
    end: float | None = None


def read_log(log: str) -> list[Execution]:
    runs: list[Execution] = []
    # An end is matched to its start by (index, attempt, pid), not by order: an abandoned attempt
    # (timeout=) may log its end after its retry's, in the same process (found by the deep run
    # of seed 20261227, which read a retry as running on until the abandoned attempt ended).
    open_by_pid: dict[tuple[int, int, int], list[Execution]] = {}
    try:
        with open(log) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return runs
    for line in lines:
        parts = line.split()
        if parts[0] == "S":
            e = Execution(int(parts[1]), int(parts[2]), int(parts[3]), float(parts[4]))
            runs.append(e)
            open_by_pid.setdefault((e.index, e.attempt, e.pid), []).append(e)
        else:
            pending = open_by_pid.get((int(parts[1]), int(parts[2]), int(parts[3])), [])
            if pending:
                pending.pop(0).end = float(parts[4])
    return runs


def max_overlap(runs: list[Execution], timeout: float | None) -> tuple[int, float]:
    """The most executions running at once, and when.

    An execution with no end (its worker crashed or was killed) counts as an instant; one that
    outlived ``timeout`` counts until its deadline only (a late thread cannot be stopped: the
    contract lets the pool replace it).
    """
    events: list[tuple[float, int]] = []
    for r in runs:
        end = r.start if r.end is None else r.end
        if timeout is not None:  # gearshift's clock for the deadline starts a moment before ours
            end = min(end, r.start + 0.9 * timeout)
        events.append((r.start, 1))
        events.append((max(end, r.start), -1))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    best, at, now = 0, 0.0, 0
    for t, d in events:
        now += d
        if now > best:
            best, at = now, t
    return best, at


def imap_for(fn: Any, items: Iterator[Any], mode: str, workers: int, chunksize: int | None) -> Iterator[Any]:
    """``gearshift.imap`` with the harness's options (for the consumer state machine)."""
    return gearshift.imap(fn, items, mode=mode, workers=workers, chunksize=chunksize)
