"""What one run holds between calls: the runner's fields, and the chunks and submissions it tracks.

The runner is one class cut by job into a stack of modules (the list is in
``_runner.py``'s docstring); this is its bottom: every field is set here, once,
so each part reads the same state, with no call through another object.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections.abc import Callable, Iterator

from ._backends._base import Backend
from ._chunker import Chunker
from ._options import Options
from ._plan import Plan
from ._task import CALL_ONE, ChunkResult
from ._trace import Recorder

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any

#: with a results observer (checkpoints, progress), the most work a chunk holds: the results of
#: its first items reach the observer only when the whole chunk is back (see Chunker ``hold``)
REPORT_SECONDS = 0.05

_fn_ids = itertools.count()
_STOP = object()
_TICK = object()
#: a result slot not filled yet (None is a result like any other)
_EMPTY: Any = object()


#: ``on_results(start, outcomes, failed)``: the items ``start, start + 1, ...`` reached
#: their final outcome (a value, or a :class:`Failure` of which there are ``failed``).
#: Called on the thread that consumes the results, as they complete, in any order
#: (progress display, checkpoints).  A runner that was started but whose results
#: nobody consumes yet (auto's items started early) reports its clean chunks from
#: the backend's thread as they come back, and the items of a chunk that run at
#: once on an event loop are reported there as each one ends, one call at a time
#: (never two of this runner's calls at once; the consumer may report meanwhile).
ResultsObserver = Callable[[int, list["Any"], int], None]


class Stopped(Exception):
    """Raised inside the runner when another thread asked it to stop."""


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


class RunState:
    """The state of one run of ``fn`` over items on ``backend`` under ``options`` (see ``_runner.py``)."""

    #: set by Runner.start: the chunk sizes, the input, and how to read ``size`` items of it
    _chunker: Chunker
    _source: Iterator[Any]
    _take: Callable[[int], list[Any]]

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
        #: when the last submission came back (time.perf_counter(); 0.0: none yet), and how many came
        #: back so far, both set on the backend's thread (as they come, consumed or not)
        self.last_back = 0.0
        self.returned = 0
        self._stop_on_error = options.errors == "raise" and options.retries == 0
        #: trace=: records what is handed out and taken back (see _trace.py); None: nothing to do
        self.trace = options.trace if isinstance(options.trace, Recorder) else None

    def _new_chunker(self, workers: int, length: int | None) -> Chunker:
        hold = REPORT_SECONDS if self.on_results is not None else None
        chunker = Chunker(self._chunksize, self.backend.target_chunk_seconds, workers, length, hold)
        if self._per_item_hint is not None:
            chunker.seed(self._per_item_hint)
        return chunker


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
