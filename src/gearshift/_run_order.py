"""Handing results out: in input order (or as they come), and what an error or Ctrl-C leaves out.

Ordered runs hold each chunk until every chunk before it was handed out;
with ``errors="raise"`` the results before the failing item go out, then the
error is raised and the work after it is dropped.  Apart from completion
(``_run_outcomes.py``) because it decides what the caller sees, not what ran.
"""

from __future__ import annotations

import heapq
import itertools
import sys

from ._run_state import _EMPTY, RunState, _Chunk
from ._task import Raised

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any


class HandOut(RunState):
    """What is ready for the caller, and what is dropped when an error will be raised."""

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
