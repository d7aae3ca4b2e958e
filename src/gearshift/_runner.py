"""The one runner: everything about a run that does not depend on the backend.

It reads the input lazily, cuts it into chunks, keeps a bounded window of
chunks in flight on the backend, puts results back in input order (or not),
retries, applies the error policy and cancels what is left when the run ends
early.  Backends only execute chunks (see ``_backends/_base.py``).

``window`` may be changed while the run goes on (the adaptive concurrency
limiter does, from an ``observer`` that sees every chunk's measured cost).
Memory is bounded in items and in bytes.  Items: at most ``window`` chunks
(for coroutines in async mode, ``window`` items, ``workers`` unless the adaptive
limiter steers it) are in flight and, when ordered, at most ``2 * window`` chunks are held
between the first one not yet yielded and the last one submitted, whatever the
input's length.  Bytes: results completed but not handed out, plus what the
chunks in flight are expected to return, stay under ``Options.buffer_bytes``
(see :meth:`Runner._room`); at least one chunk is always in flight, so the run
goes on.  Until a result was sized the budget cannot count what is in flight:
chunks then hold one item each, and concurrent items are at most ``window``
(or ``unsized``, see :meth:`Runner._concurrent_room`).  While the machine is
short of memory (``_memory.py``) no new chunk is admitted.

Failures: a chunk that fails as a whole (a crash without per-item progress) is
split into single items to find the culprit; a chunk that comes back short
(a worker killed for a timeout after some items finished) keeps what finished
and the rest is resubmitted.  Retries wait an exponential back-off with jitter,
scheduled (never slept) so other work goes on meanwhile.

An input that raises: the items read before it run and are handed out, then
its exception is raised (never a Failure: it is no item's).  A BaseException
that is not an Exception (KeyboardInterrupt, SystemExit) raised by ``fn`` is
never retried nor a Failure: the run stops as on Ctrl-C, below.

Stopping: when the run ends early (an error, ``break``, a stop request), work
not started is cancelled and running work is aborted after a short grace
(``Backend.abort``).  On ``KeyboardInterrupt`` the runner waits that grace for
running chunks (a second Ctrl-C cuts it short), then aborts them and attaches
the results that completed but were not handed out to the exception as
``partial_results``.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import operator
import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any

from . import _memory
from ._backends._base import Aborts, Backend, CachesFunctions
from ._errors import Failure, RemoteTraceback, UnpicklableError, WorkerCrashed
from ._gated import GatedInput
from ._options import Options
from ._plan import Plan
from ._task import CALL_ONE, ChunkResult, Raised, Task, is_fatal, run_chunk
from ._trace import Recorder

#: the largest automatic chunk, whatever the measurements say
MAX_CHUNK = 65536
#: with a known length, a chunk may hold up to 1 / (workers x this) of the items left ...
GUIDED_SHARES = 4
#: ... as long as that is at most this many seconds of work
GUIDED_SECONDS = 0.25
#: with a results observer (checkpoints, progress), the most work a chunk holds: the results of
#: its first items reach the observer only when the whole chunk is back (see Chunker ``hold``)
REPORT_SECONDS = 0.05
#: on an event loop (async mode), chunks hold ``window // ASYNC_CHUNKS_IN_FLIGHT``
#: items: thousands of concurrent items then cost tens of cross-thread hand-offs,
#: not thousands, while every item still starts as soon as the window allows
ASYNC_CHUNKS_IN_FLIGHT = 64

#: retry back-off: the first retry waits about BACKOFF_BASE s, doubling up to BACKOFF_MAX
BACKOFF_BASE = 0.05
BACKOFF_MAX = 5.0
#: seconds running work may take to finish once the run is stopped, before it is aborted
GRACE = 0.5
#: how often admission is reconsidered while memory is low
MEMORY_RECHECK = 0.25

#: backends that run a task in this process, so its ``on_item`` may be called (the others ship the task)
_ON_ITEM = frozenset({"sync", "async", "thread"})

_fn_ids = itertools.count()
_STOP = object()
_TICK = object()
#: a result slot not filled yet (None is a result like any other)
_EMPTY: Any = object()


#: pickle steps (see UnpicklableError.step) that fail an item before fn gets it
_NEVER_RAN = frozenset(
    {"pickling the item", "pickling the function", "unpickling the item in the worker",
     "unpickling the function in the worker"}
)  # fmt: skip


def _pickle_step(exc: BaseException) -> str | None:
    """The pickle step ``exc`` failed at (C11), or None when it is not a pickle fault."""
    if isinstance(exc, UnpicklableError):
        return exc.step or "?"
    if isinstance(exc, WorkerCrashed):
        return exc.step  # set when the worker died unpickling its task
    return None


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): exponential, full of jitter."""
    ceiling: float = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + random.random() / 2)


#: ``on_results(start, outcomes, failed)``: the items ``start, start + 1, ...`` reached
#: their final outcome (a value, or a :class:`Failure` of which there are ``failed``).
#: Called on the thread that consumes the results, as they complete, in any order
#: (progress display, checkpoints).  A runner that was started but whose results
#: nobody consumes yet (auto's items started early) reports its clean chunks from
#: the backend's thread as they come back, and the items of a chunk that run at
#: once on an event loop are reported there as each one ends, one call at a time
#: (never two of this runner's calls at once; the consumer may report meanwhile).
ResultsObserver = Callable[[int, list[Any], int], None]


class Stopped(Exception):
    """Raised inside the runner when another thread asked it to stop."""


class Chunker:
    """Picks chunk sizes: fixed when asked, otherwise from measured item times.

    Sizes start at 1 (the first result comes fast and the first measurement is
    cheap), double while nothing is measured, then aim at ``target`` seconds
    per chunk.  With a known input length, chunks stay small enough that every
    worker gets several, so the work spreads evenly to the end; and while much
    input remains they are guided (as in guided self-scheduling): each takes a
    share of what remains, up to ``GUIDED_SECONDS`` of work, so coarse items do
    not pay one round trip each (the parent's CPU per chunk is taken from the
    workers on a busy machine), then they shrink back to ``target`` at the end,
    where small chunks keep the workers finishing together.
    """

    def __init__(
        self, fixed: int | None, target: float, workers: int, length: int | None, hold: float | None = None
    ) -> None:
        #: at most this many seconds of work per chunk, and 1 item until one was measured (None: no bound):
        #: someone watches results as they complete, and a chunk holds its finished items until it is back
        self.hold = hold
        self.fixed = fixed
        self.target = target
        self.workers = workers
        self.length = length or None
        self.cap = MAX_CHUNK
        if length:
            self.cap = max(1, min(MAX_CHUNK, math.ceil(length / (workers * 4))))
        self._per_item: float | None = None
        self._ramp = 1

    def seed(self, per_item: float) -> None:
        """Start from a time per item measured beforehand (auto's sample) instead of ramping up from 1."""
        if self.fixed is None and per_item > 0:
            self._per_item = per_item
            self._ramp = self.cap

    def next_size(self, taken: int = 0) -> int:
        """The size of the next chunk; ``taken`` is how many items were read already."""
        if self.fixed is not None:
            return self.fixed
        if self._per_item is None:
            if self.hold is not None:
                return 1  # the items may take long: no growing before one was measured
            size = self._ramp
            self._ramp = min(self._ramp * 2, self.cap)
            return min(size, self.cap)
        if self._per_item <= 0:
            return max(1, min(self.cap, self._ramp))
        wanted = self.target / self._per_item
        if self.length is not None and self.workers > 1:
            # Guided sizes save round trips between workers; one inline worker (sync, and
            # auto's measuring phase, which must look at its measurements often) has none.
            share = (self.length - taken) / (self.workers * GUIDED_SHARES)
            wanted = max(wanted, min(share, GUIDED_SECONDS / self._per_item))
        if self.hold is not None:
            wanted = min(wanted, self.hold / self._per_item)
        return max(1, min(self.cap, int(wanted), self._ramp))

    def observe(self, items: int, elapsed: float) -> None:
        if self.fixed is not None or items <= 0:
            return
        per_item = elapsed / items
        self._per_item = per_item if self._per_item is None else 0.7 * self._per_item + 0.3 * per_item
        # Grow at most 4x per measurement so one lucky chunk does not jump to the cap.
        self._ramp = min(self.cap, max(self._ramp, 1) * 4)


class _Chunk:
    """A run of consecutive input items and their results as they arrive."""

    __slots__ = ("attempts", "items", "missing", "nbytes", "results", "seq", "start")

    def __init__(self, seq: int, start: int, items: list[Any]) -> None:
        self.seq, self.start, self.items = seq, start, items
        self.results: list[Any] = [_EMPTY] * len(items)
        self.missing = len(items)
        self.attempts: dict[int, int] = {}
        self.nbytes = 0  # estimated size of its results held here (ordered runs)


class _Sub:
    """One submission: ``length`` items of ``chunk`` from ``offset``."""

    __slots__ = ("chunk", "early", "future", "length", "offset", "reported")

    def __init__(self, chunk: _Chunk, offset: int, length: int) -> None:
        self.chunk, self.offset, self.length = chunk, offset, length
        self.future: Future[Any] | None = None
        #: on_results was told already (True), or raised this, when it came back (see Runner._back)
        self.reported: bool | BaseException = False
        #: items of a concurrent chunk reported as each one ended (offset in the sub -> value; see Runner._item_back)
        self.early: dict[int, Any] | None = None


class Runner:
    """Runs ``fn`` over items on ``backend`` under ``options``; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        fn: Callable[..., Any],
        options: Options,
        plan: Plan,
        *,
        call: int = CALL_ONE,
        is_async: bool = False,
        deadline: float | None = None,
        window: int | None = None,
        observer: Callable[[int, float, float, int], None] | None = None,
        on_results: ResultsObserver | None = None,
        per_item: float | None = None,
        unsized: int | None = None,
        first_index: int = 0,
    ) -> None:
        self.backend = backend
        #: input index of this runner's first item (a later segment of an auto run): the
        #: indices that reach the caller (Failure, timeout and crash errors) count from it
        self.first_index = first_index
        self.fn = fn
        self.options = options
        self.plan = plan
        self.call = call
        self.is_async = is_async
        self.deadline = deadline
        self.on_results = on_results
        #: seconds per item measured beforehand: automatic chunks start from it (see Chunker.seed)
        self._per_item_hint = per_item
        #: concurrent items allowed in flight until a result was sized (None: the window)
        self._unsized = unsized
        self._fn_id = next(_fn_ids)
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._inflight: set[_Sub] = set()
        self._retry: list[_Sub] = []
        self._later: list[tuple[float, int, _Sub]] = []  # retries waiting out their back-off
        self._later_seq = itertools.count()
        self._gated = False  # new work held back because memory is low
        self.partial_results: list[Any] = []  # filled when interrupted: completed, not handed out
        self._held: dict[int, _Chunk] = {}  # ordered: chunks waiting for their turn
        self._finished: list[Any] = []  # unordered: results ready to hand out
        self._next_seq = 0
        self._next_yield = 0
        self._next_index = 0
        self._exhausted = False
        self._error: tuple[int, BaseException] | None = None
        #: what the input raised: raised once the items read before it are handed out
        self._input_error: Exception | None = None
        #: a BaseException that is not an Exception, raised by fn: the run stops
        self._fatal: BaseException | None = None
        #: estimated bytes of results completed but not handed out, and items in flight
        self._buffered = 0
        self._inflight_items = 0
        #: estimated bytes per result (None until a chunk came back)
        self._item_bytes: float | None = None
        self.completed = 0  # items that reached a final outcome (value or Failure)
        self._consuming = False  # batches() consumes the results: on_results is called from there
        self._report_lock = threading.Lock()  # reports made before that, one at a time
        self.failed = 0
        chunksize = plan.chunksize
        # A chunk's items run at once only for coroutines on a loop (async mode); elsewhere
        # (threads, processes, sync; plain functions on async mode's threads) one after another.
        concurrent = backend.concurrent_items and is_async
        self._chunksize = chunksize
        self._concurrent = concurrent
        #: how much may be in flight: chunks, or for concurrent items (coroutines in async
        #: mode) items, which the adaptive limiter steers; see :meth:`_may_submit`
        self.window = backend.workers if concurrent else max(1, backend.workers * backend.prefetch)
        if window is not None:
            self.window = window
        #: called with (items, elapsed, cpu, nbytes) for every chunk that ran (``elapsed`` as if its
        #: items ran one after another); it may change ``window``
        self.observer = observer
        self._stop_on_error = options.errors == "raise" and options.retries == 0
        #: trace=: records what is handed out and taken back (see _trace.py); None: nothing to do
        self.trace = options.trace if isinstance(options.trace, Recorder) else None

    # -- public ----------------------------------------------------------------

    def start(self, items: Iterable[Any], length: int | None = None) -> None:
        """Begin reading ``items`` and fill the window, without waiting for anything.

        ``length`` is the input's length when ``items`` cannot tell it (a zip).
        """
        length = length or operator.length_hint(items, 0) or None
        self._chunker = self._new_chunker(self.backend.workers, length)
        self._source = iter(items)
        # Auto's gate hands out whole chunks itself: no per-item cost.
        source = self._source
        self._take: Callable[[int], list[Any]] = source.take if isinstance(source, GatedInput) else self._islice
        try:
            self._fill(self._source)
        except KeyboardInterrupt as exc:  # as in batches(): what completed rides on the exception
            self._interrupted(exc)
            raise
        except BaseException:
            self._cancel_all()
            raise

    def batches(
        self, items: Iterable[Any] | None = None, sink: list[Any] | None = None
    ) -> Generator[list[Any], None, None]:
        """Yield lists of results (values, or :class:`Failure` with ``errors="return"``).

        Pass ``items`` unless :meth:`start` was called already.  With a ``sink``
        list, a run on the inline path appends its results to it instead of
        yielding them (its batches are then empty); other runs ignore it.
        """
        if items is not None:
            if self.runs_inline():
                yield from self._inline(items, sink)
                return
            self.start(items)
        source = self._source
        with self._report_lock:
            self._consuming = True  # from now on, results are reported here
        try:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                # Hand out first, then refill: an inline backend (sync) then runs
                # the next chunk only when the caller asks for more.
                ready = self._take_ready()
                if ready:
                    yield ready
                    continue
                self._fill(source)
                idle = not self._inflight and not self._retry and not self._later
                if self._error is not None and (idle or self._may_raise()):
                    raise self._error[1]
                if idle:
                    if self._exhausted:
                        # _fill may have completed items itself (a pickle fault fails an item before it is
                        # sent): with nothing in flight, hand them out now, or they would be lost.
                        ready = self._take_ready()
                        if ready:
                            yield ready
                            continue
                        if self._input_error is not None and self._fatal is None:
                            # Every item read before the input raised was handed out.
                            self._input_error.partial_results = []  # type: ignore[attr-defined]
                            raise self._input_error
                        return
                    continue
                got = self._wait()
                if got is not _TICK:
                    self._complete(got)
        except BaseException as exc:
            if is_fatal(exc) and not isinstance(exc, GeneratorExit):
                # Ctrl-C, or fn raised KeyboardInterrupt, SystemExit...: keep what completed.
                self._interrupted(exc)
            raise
        finally:
            self._cancel_all()

    def _new_chunker(self, workers: int, length: int | None) -> Chunker:
        hold = REPORT_SECONDS if self.on_results is not None else None
        chunker = Chunker(self._chunksize, self.backend.target_chunk_seconds, workers, length, hold)
        if self._per_item_hint is not None:
            chunker.seed(self._per_item_hint)
        return chunker

    # -- inline: one chunk after another on this thread ------------------------------

    def runs_inline(self) -> bool:
        """Whether chunks can simply run here in turn: a sync backend, with nothing to supervise.

        No time limits and no retries: nothing is ever waited for or run again,
        so the chunk, future and hand-out bookkeeping of the general path would
        only add to the cost of cheap items.
        """
        return (
            self.backend.name == "sync"
            and not self.is_async
            and self.options.timeout is None
            and self.options.retries == 0
            and self.deadline is None
        )

    def _inline(self, items: Iterable[Any], sink: list[Any] | None = None) -> Iterator[list[Any]]:
        """The results of each chunk, run on this thread straight from the input.

        The input is read in chunks without copying it (the function iterates a
        slice of it).  Each chunk's outcomes are handed out as they are, or, with
        a ``sink``, appended to it (nothing to copy afterwards; the batches
        yielded are then empty).  Failures and Ctrl-C behave as on the general
        path: ``errors="raise"`` hands out the results before the failing item,
        then raises; an interrupted chunk's completed results ride on the exception.
        """
        length = operator.length_hint(items, 0) or None
        chunker = self._new_chunker(1, length)
        source = iter(items)
        # Auto's gate lends its items (see GatedInput.lend) and is told how many were read.
        gate = source if isinstance(source, GatedInput) else None
        take: Callable[[int], Any] = gate.lend if gate is not None else (lambda size: itertools.islice(source, size))
        settle: Callable[[int], None] | None = gate.settle if gate is not None else None
        start = 0
        while True:
            if not self._done.empty() and self._done.get() is _STOP:
                raise Stopped
            size = chunker.next_size(start)
            if self._item_bytes and self._chunksize is None:
                # One chunk's results are what this path holds: keep them within the budget.
                size = max(1, min(size, int(self.options.buffer_bytes // self._item_bytes)))
            out = sink if sink is not None else []
            base = len(out)
            task = Task(
                self.fn, take(size), self.call, stop_on_error=self._stop_on_error, start=self.first_index + start
            )
            if self.trace is not None:
                task.trace = self.trace.level(size, chunker._per_item)
            try:
                result = run_chunk(task, out)
            except BaseException as exc:  # Ctrl-C between two items
                self._settle_inline(start, out, base)
                self.partial_results = out if sink is not None else out[base:]
                exc.partial_results = self.partial_results  # type: ignore[attr-defined]
                raise
            ran = len(out) - base
            if self.trace is not None:
                self.trace.ran(result, self.first_index + start, out, base)
            if settle is not None:
                settle(ran)
            input_error = result.input_error
            if ran:
                chunker.observe(ran, result.elapsed)
                self._item_bytes = _estimate(result) / ran
                if self.observer is not None:
                    self.observer(ran, result.elapsed, result.cpu, 0)
            failure, failed = self._settle_inline(start, out, base) if result.failures else (None, 0)
            if not result.failures:
                self.completed += ran
            if self.on_results is not None and len(out) > base:
                self.on_results(start, out if sink is None else out[base:], failed)  # never the growing sink
            if failure is not None:
                if is_fatal(failure):
                    # fn raised KeyboardInterrupt, SystemExit...: as Ctrl-C, the results ride on it.
                    self.partial_results = out if sink is not None else out[base:]
                    failure.partial_results = self.partial_results  # type: ignore[attr-defined]
                    raise failure
                if sink is None and len(out):
                    yield out
                raise failure
            if ran:
                yield out if sink is None else []
            if input_error is not None:
                if gate is not None:
                    # Auto's gate: other runners may hold earlier items still; auto raises it after them.
                    gate.error = input_error
                    return
                input_error.partial_results = []  # type: ignore[attr-defined]  # all handed out
                raise input_error
            if ran < size:
                return
            start += ran

    def _settle_inline(self, start: int, out: list[Any], base: int) -> tuple[BaseException | None, int]:
        """Turn the chunk's :class:`Raised` outcomes (from ``out[base]`` on) into what the caller gets.

        ``errors="return"``: :class:`Failure` records in place.  Otherwise the
        outcomes stop before the first failure, whose exception is returned.
        Counts the outcomes that are final; returns (exception, failures kept).
        """
        failed = 0
        for k in range(base, len(out)):
            outcome = out[k]
            if type(outcome) is not Raised:
                continue
            if self.options.errors != "return" or is_fatal(outcome.exception):
                del out[k:]
                self.completed += k - base
                return outcome.exception, 0
            out[k] = Failure(self.first_index + start + k - base, outcome.exception, outcome.traceback_text(), 1)
            failed += 1
        self.completed += len(out) - base
        self.failed += failed
        return None, failed

    @property
    def took_all(self) -> bool:
        """Whether every item of the input has been taken (some may still be running)."""
        return self._exhausted

    @property
    def running(self) -> int:
        """Submissions not yet back (retries waiting out their back-off included)."""
        return len(self._inflight) + len(self._retry) + len(self._later)

    def stop(self) -> None:
        """Ask the runner, from any thread, to stop; ``batches`` then raises :class:`Stopped`."""
        self._done.put(_STOP)

    def nudge(self) -> None:
        """Look again, from any thread, at what may start: ``window`` was raised while nothing completed."""
        self._done.put(_TICK)

    def cancel(self) -> None:
        """Drop the work of a runner that was started but will not be iterated (see :meth:`start`)."""
        self._cancel_all()

    # -- feeding -----------------------------------------------------------------

    def _fill(self, source: Iterator[Any]) -> None:
        if self._later:
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                self._retry.append(heapq.heappop(self._later)[2])
        while self._retry and self._may_submit():
            self._submit(self._retry.pop(0))
        if self._error is not None:
            return
        self._gated = False
        while not self._exhausted and self._may_submit() and self._may_read_ahead():
            if self._inflight and _memory.memory_low():
                self._gated = True  # admit nothing new until memory recovers
                return
            if self._concurrent:
                size = self._room(min(self._concurrent_size(), self._concurrent_room()))
            else:
                size = self._room(self._chunker.next_size(self._next_index))
            if size <= 0:
                return  # the byte budget is spent: wait for the consumer (something is in flight)
            try:
                items = self._take(size)
            except Exception as exc:  # the input raised: run what was read, then raise it
                self._input_error = exc
                self._exhausted = True
                return
            if not items:
                self._exhausted = True
                return
            chunk = _Chunk(self._next_seq, self._next_index, items)
            self._next_seq += 1
            self._next_index += len(items)
            if self.options.ordered:
                self._held[chunk.seq] = chunk
            self._submit(_Sub(chunk, 0, len(items)))
            if len(items) < size:
                self._exhausted = True

    def _may_submit(self) -> bool:
        """Whether the window has room: ``window`` chunks, or for concurrent items ``window`` items."""
        if self._concurrent:
            return self._inflight_items < self.window
        return len(self._inflight) < self.window

    def _may_read_ahead(self) -> bool:
        """Ordered runs also bound what is held behind a slow chunk: ``2 x window`` chunks (or items)."""
        if not self.options.ordered:
            return True
        if not self._concurrent:
            return self._next_seq - self._next_yield < 2 * self.window
        first = self._held.get(self._next_yield)
        return first is None or self._next_index - first.start < 2 * self.window

    def _concurrent_room(self) -> int:
        """Concurrent items that may join those in flight: up to ``window``.

        Until a result was sized the byte budget cannot count them: then up to
        ``unsized`` too (auto passes it: its window is its own unmeasured guess;
        a window the caller chose as ``workers`` runs whole at once, as asked).
        """
        cap = self.window
        if self._unsized is not None and self._item_bytes is None:
            cap = min(cap, self._unsized)
        return cap - self._inflight_items

    def _concurrent_size(self) -> int:
        """Items per chunk of concurrent items: the caller's chunksize, else a share of the window."""
        return self._chunksize or max(1, self.window // ASYNC_CHUNKS_IN_FLIGHT)

    def _room(self, size: int) -> int:
        """``size``, or fewer items, so buffered results stay within ``buffer_bytes``; 0: admit nothing now.

        Counts the results completed but not handed out and what the chunks in
        flight should return (estimated bytes per result, see :func:`_estimate`).
        Until a chunk came back that estimate is unknown: automatic chunks then
        hold one item each, and concurrent items are capped by the window in
        items (and ``unsized``, see :meth:`_concurrent_room`).  With nothing in
        flight, a chunk is always admitted.
        """
        per_item = self._item_bytes
        if per_item is None:
            unsized = self._chunksize is None and self._per_item_hint is None and not self._concurrent
            return 1 if unsized else size
        if per_item <= 0:
            return size
        fit = int((self.options.buffer_bytes - self._buffered) / per_item) - self._inflight_items
        if fit >= size:
            return size
        if not self._inflight:
            return size if self._chunksize is not None else max(1, fit)
        return 0 if fit < 1 or self._chunksize is not None else fit

    def _islice(self, size: int) -> list[Any]:
        items: list[Any] = []
        try:
            items.extend(itertools.islice(self._source, size))  # keeps what was read if the input raises
        except Exception as exc:
            self._input_error = exc
        return items

    def _submit(self, sub: _Sub) -> None:
        chunk = sub.chunk
        items = chunk.items if sub.length == len(chunk.items) else chunk.items[sub.offset : sub.offset + sub.length]
        task = Task(
            self.fn,
            items,
            self.call,
            self.is_async,
            self._stop_on_error,
            start=self.first_index + chunk.start + sub.offset,
            fn_id=self._fn_id,
            timeout=self.options.timeout,
        )
        if self.on_results is not None and self.is_async and sub.length > 1 and self.backend.name in _ON_ITEM:
            task.on_item = functools.partial(self._item_back, sub)
        try:
            future = self.backend.submit(task) if self.trace is None else self.trace.submit(self, task, sub)
        except UnpicklableError as exc:
            # Not the run's fault, one item's: find it and fail only that one.
            if sub.length > 1:
                self._retry[:0] = [_Sub(chunk, sub.offset + k, 1) for k in range(sub.length)]
            else:
                self._item_failed(chunk, sub.offset, exc, None, retry=False)
            return
        sub.future = future
        self._inflight.add(sub)
        self._inflight_items += sub.length
        future.add_done_callback(lambda f, sub=sub: self._back(sub, f))  # type: ignore[misc]

    def _back(self, sub: _Sub, future: Future[Any]) -> None:
        """On the backend's thread: ``sub`` is back.  Reported at once while nobody consumes the results.

        Auto starts runners whose results are handed out only later (items
        started while it measures); a checkpoint must not wait for that.
        """
        if self.on_results is not None and not self._consuming:
            with self._report_lock:
                if not self._consuming and not future.cancelled() and future.exception() is None:
                    result: ChunkResult = future.result()
                    chunk = sub.chunk
                    clean = not result.failures and len(result.outcomes) == sub.length == len(chunk.items)
                    if clean and sub.reported is False:
                        try:
                            self._report(sub, result.outcomes)
                            sub.reported = True
                        except BaseException as exc:  # raised on the consuming thread (see _complete)
                            sub.reported = exc
        self._done.put(sub)

    def _item_back(self, sub: _Sub, k: int, outcome: Any) -> None:
        """Item ``k`` of an async chunk ended (on the loop that runs it); its siblings may run on for long."""
        if type(outcome) is Raised or sub.reported is not False or self.on_results is None:
            return  # failures take the usual way (retries, the error policy) once the chunk is back
        with self._report_lock:
            try:
                self.on_results(sub.chunk.start + sub.offset + k, [outcome], 0)
            except BaseException as exc:  # raised on the consuming thread (see _complete)
                sub.reported = exc
                return
            if sub.early is None:
                sub.early = {}
            sub.early[k] = outcome

    def _report(self, sub: _Sub, outcomes: list[Any]) -> None:
        """Tell on_results about ``outcomes`` (of ``sub``), but for the items it was told about already."""
        assert self.on_results is not None
        start, early = sub.chunk.start + sub.offset, sub.early
        if not early:
            self.on_results(start, outcomes, 0)
            return
        for k, value in enumerate(outcomes):
            if k not in early:
                self.on_results(start + k, [value], 0)

    def _wait(self) -> Any:
        """The next finished submission, or ``_TICK`` when a back-off or memory recheck is due."""
        now = time.monotonic()
        timeout = None if self.deadline is None else self.deadline - now
        wake = None
        if self._later:
            wake = self._later[0][0] - now
        if self._gated:
            wake = MEMORY_RECHECK if wake is None else min(wake, MEMORY_RECHECK)
        tick = wake is not None and (timeout is None or wake < timeout)
        if tick and wake is not None:
            timeout = max(0.0, wake)
        try:
            got = self._done.get(timeout=timeout) if timeout is None or timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            if tick:
                return _TICK
            raise TimeoutError("the results did not arrive within the timeout given to map()") from None
        if got is _STOP:
            raise Stopped
        return got

    # -- completing ----------------------------------------------------------------

    def _landed(self, sub: _Sub) -> None:
        """``sub`` is no longer in flight."""
        if sub in self._inflight:
            self._inflight.discard(sub)
            self._inflight_items -= sub.length

    def _complete(self, sub: _Sub) -> None:
        self._landed(sub)
        future = sub.future
        assert future is not None
        sub.future = None  # break the future -> callback -> sub -> future cycle now, not at the next GC
        if isinstance(sub.reported, BaseException):
            raise sub.reported  # on_results raised on the backend's thread
        early = sub.early or {}
        try:
            result: ChunkResult = future.result()
        except CancelledError:
            if self.trace is not None:
                self.trace.dropped(sub)
            return
        except Exception as exc:  # the submission failed as a whole
            if self.trace is not None:
                self.trace.lost(sub, exc)
            for k, value in early.items():  # reported as they ended: final, never run again
                self._item_done(sub.chunk, sub.offset + k, value, report=False)
            if sub.length > 1:
                # Find the item at fault: run each one alone.
                self._retry.extend(_Sub(sub.chunk, sub.offset + k, 1) for k in range(sub.length) if k not in early)
                return
            self._item_failed(sub.chunk, sub.offset, exc, _remote_text(exc))
            return
        outcomes = result.outcomes
        if self.trace is not None:
            self.trace.back(self, sub, result)
        self._chunker.observe(len(outcomes), result.elapsed)
        if self.observer is not None:
            # Concurrent items each took about the chunk's time: report it as if they ran one
            # after another, so elapsed / items is an item's latency whatever the chunk's size.
            elapsed = result.elapsed * len(outcomes) if self._concurrent else result.elapsed
            self.observer(len(outcomes), elapsed, result.cpu, result.nbytes)
        chunk, offset = sub.chunk, sub.offset
        if outcomes:
            nbytes = _estimate(result)
            per_item = nbytes / len(outcomes)
            self._item_bytes = per_item if self._item_bytes is None else 0.7 * self._item_bytes + 0.3 * per_item
            self._buffered += nbytes
            chunk.nbytes += nbytes
        if not result.failures and len(outcomes) == len(chunk.items) and sub.length == len(chunk.items):
            # The common case: a whole chunk, no failure.  No per-item Python work.
            chunk.results = outcomes
            chunk.missing = 0
            self.completed += len(outcomes)
            if not self.options.ordered:
                self._finished.extend(outcomes)
            if self.on_results is not None and not sub.reported:
                self._report(sub, outcomes)
            return
        for k, outcome in enumerate(outcomes):
            if type(outcome) is Raised:
                if is_fatal(outcome.exception):
                    self._fatal_error(outcome.exception, outcome.tb)
                    return
                self._item_failed(chunk, offset + k, outcome.exception, outcome.tb)
            else:
                self._item_done(chunk, offset + k, outcome, report=k not in early)
        ran = len(outcomes)
        if ran < sub.length and not self._stop_on_error:
            # The chunk was cut short (its worker was killed for a timeout or
            # crashed): what finished is kept, the rest runs again.
            self._retry.append(_Sub(chunk, offset + ran, sub.length - ran))

    def _item_done(self, chunk: _Chunk, offset: int, value: Any, *, report: bool = True) -> None:
        chunk.results[offset] = value
        chunk.missing -= 1
        self.completed += 1
        if not self.options.ordered:
            self._finished.append(value)
        if self.on_results is not None and report:
            self.on_results(chunk.start + offset, [value], int(type(value) is Failure))

    def _fatal_error(self, exc: BaseException, remote_tb: str | None) -> None:
        """fn raised a BaseException that is not an Exception: no retry, no Failure, the run stops."""
        if remote_tb is not None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(remote_tb)
        if self._fatal is None:
            self._fatal = exc
        self._exhausted = True

    def _item_failed(
        self, chunk: _Chunk, offset: int, exc: BaseException, remote_tb: str | None, *, retry: bool = True
    ) -> None:
        if is_fatal(exc):
            self._fatal_error(exc, remote_tb)
            return
        step = _pickle_step(exc)
        if step is not None:  # a pickle fault is not the item's bad luck: running it again cannot help
            retry = False
        # attempts counts the times the item ran: not one whose item or function never reached the worker's fn
        attempts = chunk.attempts.get(offset, 0) + (0 if step in _NEVER_RAN else 1)
        chunk.attempts[offset] = attempts
        retry_on = self.options.retry_on
        if retry and attempts <= self.options.retries and (retry_on is None or isinstance(exc, retry_on)):
            if self.trace is not None:
                self.trace.retry(self.first_index + chunk.start + offset, attempts, exc)
            when = time.monotonic() + backoff_delay(attempts)
            heapq.heappush(self._later, (when, next(self._later_seq), _Sub(chunk, offset, 1)))
            return
        index = chunk.start + offset
        if remote_tb is not None and exc.__cause__ is None:
            exc.__cause__ = RemoteTraceback(remote_tb)
        if self.options.errors == "return":
            text = remote_tb if remote_tb is not None else Raised(exc).traceback_text()
            self.failed += 1
            self._item_done(chunk, offset, Failure(self.first_index + index, exc, text, attempts))
            return
        if self._error is None or index < self._error[0]:
            self._error = (index, exc)
        self._cancel_after(chunk.seq)

    # -- handing out ---------------------------------------------------------------

    def _take_ready(self) -> list[Any]:
        if not self.options.ordered:
            finished, self._finished = self._finished, []
            self._buffered = 0
            return finished
        ready: list[Any] = []
        limit = self._error[0] if self._error is not None else None
        while True:
            chunk = self._held.get(self._next_yield)
            if chunk is None:
                break
            if limit is not None and chunk.start >= limit:
                break  # past the failing item: nothing more is handed out
            if limit is not None and chunk.start + len(chunk.items) > limit:
                # The failing chunk: hand out what precedes the failure, then raise.
                cut = limit - chunk.start
                if not self._pending_before(chunk, cut):
                    ready.extend(chunk.results[:cut])
                    self._handed_out(chunk)
                break
            if chunk.missing:
                break
            results = chunk.results
            self._handed_out(chunk)
            if ready:
                ready.extend(results)
            else:
                ready = results  # handed out as it is: one chunk needs no copy
        return ready

    def _handed_out(self, chunk: _Chunk) -> None:
        """The next chunk in order left for the caller."""
        del self._held[self._next_yield]
        self._next_yield += 1
        self._buffered -= chunk.nbytes
        chunk.results = []  # the chunk may outlive this (future callbacks): drop the values

    def _pending_before(self, chunk: _Chunk, cut: int) -> bool:
        later = (entry[2] for entry in self._later)
        return any(s.chunk is chunk and s.offset < cut for s in itertools.chain(self._inflight, self._retry, later))

    def _may_raise(self) -> bool:
        if not self.options.ordered:
            return True
        assert self._error is not None
        # Ordered: raise once everything before the failing item was handed out.
        pending = [c for c in self._held.values() if c.start < self._error[0]]
        return not pending

    # -- stopping ------------------------------------------------------------------

    def _cancel_after(self, seq: int) -> None:
        """An error will be raised: drop the work that comes after it."""
        keep = (lambda s: s.chunk.seq <= seq) if self.options.ordered else (lambda s: False)
        for sub in list(self._inflight):
            if not keep(sub) and sub.future is not None:
                sub.future.cancel()
        self._retry = [s for s in self._retry if keep(s)]
        self._later = [e for e in self._later if keep(e[2])]
        heapq.heapify(self._later)
        self._exhausted = True

    def _cancel_all(self, grace: float | None = None) -> None:
        """Cancel what has not started; running chunks get ``grace`` seconds, then are aborted."""
        if grace is None:
            grace = GRACE
        running = [s.future for s in self._inflight if s.future is not None and not s.future.cancel()]
        running = [f for f in running if not f.done()]
        if running and isinstance(self.backend, Aborts):  # engines that cancel on their own do not
            self.backend.abort(running, grace)
        self._inflight.clear()
        self._inflight_items = 0
        self._retry.clear()
        self._later.clear()
        self._held.clear()
        self._buffered = 0
        if isinstance(self.backend, CachesFunctions):
            self.backend.forget(self._fn_id)

    def _interrupted(self, exc: BaseException) -> None:
        """Ctrl-C: stop feeding, let running chunks finish for ``GRACE`` s, keep what completed."""
        self._exhausted = True
        self._retry.clear()
        self._later.clear()
        for sub in list(self._inflight):
            if sub.future is not None and sub.future.cancel():
                self._landed(sub)
        deadline = time.monotonic() + GRACE
        try:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    got = self._done.get(timeout=left)
                except queue.Empty:
                    break
                if got is not _STOP and got is not _TICK and got in self._inflight:
                    self._complete(got)
                    self._retry.clear()
                    self._later.clear()
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: abort at once
        self.partial_results = self._salvage()
        self._cancel_all(grace=0.0)
        exc.partial_results = self.partial_results  # type: ignore[attr-defined]

    def _salvage(self) -> list[Any]:
        """Results completed but not handed out (ordered: only those next in line, an input prefix)."""
        ready: list[Any] = []
        if not self.options.ordered:
            ready, self._finished = self._finished, []
            return ready
        limit = self._error[0] if self._error is not None else sys.maxsize
        while True:
            chunk = self._held.get(self._next_yield)
            if chunk is None or chunk.start >= limit:
                break
            results = chunk.results
            if chunk.missing or chunk.start + len(results) > limit:
                # The first incomplete chunk: its leading results that completed still count.
                end = min(len(results), limit - chunk.start)
                k = 0
                while k < end and results[k] is not _EMPTY and type(results[k]) is not Raised:
                    k += 1
                ready.extend(results[:k])
                break
            self._handed_out(chunk)
            if ready:
                ready.extend(results)
            else:
                ready = results  # handed out as it is: one chunk needs no copy
        return ready


def _estimate(result: ChunkResult) -> int:
    """Bytes a chunk's results take: measured when they crossed a process boundary, else estimated.

    The estimate is ``sys.getsizeof`` of the first result times their number:
    exact for bytes, str and NumPy arrays owning their data; a container counts
    only its own table, not what it holds.  One call per chunk: cheap.
    """
    if result.nbytes:
        return result.nbytes
    outcomes = result.outcomes
    if not outcomes:
        return 0
    return sys.getsizeof(outcomes[0]) * len(outcomes)


def _remote_text(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return cause.traceback if isinstance(cause, RemoteTraceback) else None
