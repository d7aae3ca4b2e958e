"""A submission is back: keep its results, and turn its failures into retries, Failures or the error raised.

A chunk that fails as a whole (a crash without per-item progress) is split
into single items to find the culprit; a chunk that comes back short (a
worker killed for a timeout after some items finished) keeps what finished
and the rest is resubmitted.  Retries wait an exponential back-off with
jitter, scheduled (never slept) so other work goes on meanwhile.  A pickle
fault is never retried; a BaseException that is not an Exception stops the run.
"""

from __future__ import annotations

import heapq
import time

from ._errors import Failure, RemoteTraceback, UnpicklableError, WorkerCrashed
from ._run_report import Reporting
from ._run_state import _Chunk, _estimate, _Sub
from ._task import ChunkResult, Raised, is_fatal

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: retry back-off: the first retry waits about BACKOFF_BASE s, doubling up to BACKOFF_MAX
BACKOFF_BASE = 0.05
BACKOFF_MAX = 5.0

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
    import random  # retries only: a run without them never loads it

    ceiling: float = min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + random.random() / 2)


class Completion(Reporting):
    """Takes each submission back: its outcomes, its failures, what runs again."""

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
        except Exception as exc:  # the submission failed as a whole, or was cancelled
            from concurrent.futures import CancelledError  # loaded already: ``future`` is one of its futures

            if isinstance(exc, CancelledError):
                if self.trace is not None:
                    self.trace.dropped(sub)
                return
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


def _remote_text(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return cause.traceback if isinstance(cause, RemoteTraceback) else None
