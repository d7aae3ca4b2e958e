"""``gearshift run``'s checkpoint writer: each result as its output record, committed to the store in batches.

The runner reports results as items complete (``on_results``); a committer
thread writes what waits to the checkpoint store as one atomic batch, at most
every ``COMMIT_SECONDS``, so a ``kill -9`` loses little finished work.  Apart
from ``_run.py`` (the command: claiming the store, running, writing the
output) because it is the one part that runs on several threads.
"""

from __future__ import annotations

import json
import threading
import time
from array import array
from typing import Any

from .._errors import Failure
from .._store import Store

#: the shortest time between two commits to the checkpoint (each one syncs the disk): a finished
#: item is in the store about this long (plus one commit) after the runner reports it
COMMIT_SECONDS = 0.05
#: ... unless this many records wait: they are committed at once
CHECKPOINT_RECORDS = 5000


class _ItemFailed(Exception):
    """``--errors raise``: the first failure ends the run (the failure is not checkpointed)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure)
        self.failure = failure


def failure_record(index: int, failure: Failure) -> dict[str, Any]:
    exc = failure.exception
    return {
        "index": index,
        "error": f"{type(exc).__name__}: {exc}",
        "traceback": failure.traceback,
        "attempts": failure.attempts,
    }


class Checkpointer:
    """Results observer (``on_results``): turns outcomes into output records; a thread commits them.

    The runner calls it on the thread that consumes the results, as items
    complete; it encodes each outcome as its output line (so a result that is
    not JSON fails at once, on that thread) and puts it in a buffer.  A
    committer thread writes the buffer to the store as one atomic batch as soon
    as records wait, at most every ``COMMIT_SECONDS`` (each commit is a disk
    sync).  A record therefore reaches the store within about ``COMMIT_SECONDS``
    plus one commit of being reported, even when no other result follows it
    (the run goes quiet, or is killed).

    The runner numbers the items it was given; on a resumed run those are only
    the unfinished ones, so ``pending`` maps the runner's index back to the
    input's (None: the same numbers).  Call :meth:`close` when the run ends:
    it commits what is left; the store may be used by others only after it.
    """

    def __init__(self, store: Store, pending: array[int] | None, *, stop_on_failure: bool) -> None:
        self.store = store
        self.pending = pending
        self.stop_on_failure = stop_on_failure
        self.buffer: list[tuple[int, str]] = []
        self.failed = 0
        self._calls = threading.Lock()  # one report at a time
        self._lock = threading.Lock()  # guards buffer, _error, _closed
        self._wake = threading.Condition(self._lock)
        self._committing = threading.Lock()  # one commit at a time; taken before _lock, never after
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._commit_loop, name="gearshift-checkpoint", daemon=True)
        self._thread.start()

    def __call__(self, start: int, outcomes: list[Any], failed: int) -> None:
        with self._calls:  # runners may report from their backend's threads (see ResultsObserver)
            self._record(start, outcomes)

    def _record(self, start: int, outcomes: list[Any]) -> None:
        pending = self.pending
        records: list[tuple[int, str]] = []
        for k, value in enumerate(outcomes):
            index = start + k if pending is None else pending[start + k]
            if type(value) is Failure:
                if self.stop_on_failure:
                    self._add(records)
                    self.flush()
                    raise _ItemFailed(Failure(index, value.exception, value.traceback, value.attempts))
                self.failed += 1
                text = json.dumps(failure_record(index, value))
            else:
                try:
                    text = json.dumps({"index": index, "value": value}, ensure_ascii=False, allow_nan=False)
                except (TypeError, ValueError) as exc:
                    failure = Failure(index, exc, f"the result cannot be written as JSON: {exc}\n", 1)
                    if self.stop_on_failure:
                        self._add(records)
                        self.flush()
                        raise _ItemFailed(failure) from None
                    self.failed += 1
                    text = json.dumps(failure_record(index, failure))
            records.append((index, text))
        self._add(records)

    def _add(self, records: list[tuple[int, str]]) -> None:
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error  # the store failed: the run stops (what is committed stays)
            waiting = len(self.buffer)
            self.buffer.extend(records)
            if not waiting or len(self.buffer) >= CHECKPOINT_RECORDS:
                self._wake.notify()

    def _commit_loop(self) -> None:
        due = 0.0  # monotonic time before which the next commit waits
        while True:
            with self._lock:
                while not self.buffer and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return  # close() commits the rest on its own thread
                while not self._closed and len(self.buffer) < CHECKPOINT_RECORDS:
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    self._wake.wait(left)
            began = time.monotonic()
            try:
                self._commit()
            except BaseException as exc:  # kept for the consumer's thread, which raises it
                with self._lock:
                    self._error = exc
                return
            due = began + COMMIT_SECONDS  # a commit that took longer is followed by the next at once

    def _commit(self) -> None:
        with self._committing:
            with self._lock:
                batch, self.buffer = self.buffer, []
            if not batch:
                return
            try:
                self.store.put_many(batch)  # atomic: all of it or none of it
            except BaseException:
                with self._lock:
                    self.buffer[:0] = batch  # nothing of it was recorded: keep it for the next attempt
                raise

    def flush(self) -> None:
        """Commit every record given so far, on this thread; when it returns they are in the store."""
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error
        self._commit()

    def close(self) -> None:
        """Stop the committer thread and commit what is left."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        self._thread.join()
        self.flush()
