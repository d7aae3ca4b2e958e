"""Feeding the backend: read the input lazily, cut it into chunks and keep the window full.

What may be in flight is bounded in chunks (or, for coroutines on a loop, in
items), in what an ordered run holds behind a slow chunk, and in bytes
(``Options.buffer_bytes``); while the machine is short of memory nothing new
is admitted.  ``_fill`` and ``_submit`` are the per-chunk hot path: no call
through another object here.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import time
from collections.abc import Iterator

from . import _memory
from ._errors import UnpicklableError
from ._run_outcomes import Completion
from ._run_state import _Chunk, _Sub
from ._task import Task

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

#: on an event loop (async mode), chunks hold ``window // ASYNC_CHUNKS_IN_FLIGHT``
#: items: thousands of concurrent items then cost tens of cross-thread hand-offs,
#: not thousands, while every item still starts as soon as the window allows
ASYNC_CHUNKS_IN_FLIGHT = 64

#: backends that run a task in this process, so its ``on_item`` may be called (the others ship the task)
_ON_ITEM = frozenset({"sync", "async", "thread"})


class Feeding(Completion):
    """Reads the input and submits chunks while the window, the read-ahead and the byte budget allow."""

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
