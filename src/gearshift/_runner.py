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

Failures: a chunk that fails as a whole is split into single items to find the
culprit; a chunk cut short keeps what finished and the rest is resubmitted;
retries wait a back-off that is scheduled, never slept (``_run_outcomes.py``).

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

``Runner`` is one class cut by job into a stack of modules, each a class that
uses only those below it (``InlineRun`` stands beside the others on
``RunState``).  Every field is set once, by ``RunState``'s constructor, so the
per-item paths pay no call through another object::

    Runner         _runner.py        start, batches, waiting, stopping, Ctrl-C
    Feeding        _run_feed.py      read the input, fill the window, submit
    Completion     _run_outcomes.py  a submission is back: results, failures, retries
    Reporting      _run_report.py    results observers (checkpoints, progress) as items end
    HandOut        _run_order.py     results in input order; what an error drops
    InlineRun      _run_inline.py    sync with nothing to supervise: chunks run right here
    RunState       _run_state.py     the run's fields, its chunks and submissions

Chunk sizes are ``_chunker.py``'s (pure arithmetic over measured times).
"""

from __future__ import annotations

import operator
import queue
import time
from collections.abc import Callable, Generator, Iterable

from ._backends._base import Aborts, CachesFunctions
from ._gated import GatedInput
from ._run_feed import Feeding
from ._run_inline import InlineRun
from ._run_state import _STOP, _TICK
from ._run_state import ResultsObserver as ResultsObserver  # the runner's face: _api and _auto import them here
from ._run_state import Stopped as Stopped
from ._task import is_fatal

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: seconds running work may take to finish once the run is stopped, before it is aborted
GRACE = 0.5
#: how often admission is reconsidered while memory is low
MEMORY_RECHECK = 0.25


class Runner(Feeding, InlineRun):
    """Runs ``fn`` over items on ``backend`` under ``options``; see the module docstring."""

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
