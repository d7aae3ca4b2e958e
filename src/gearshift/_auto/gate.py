"""The gate: auto's input, read by one runner after another without losing, repeating or reordering an item."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator

from .._gated import GatedInput, resumed

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PICKLE_SAMPLE", "Gate"]

#: how many items the gate keeps, for the pickling measurements (see :mod:`.pickling`)
PICKLE_SAMPLE = 32


class Gate(GatedInput):
    """An iterator over ``source`` that can be closed between items, without losing any.

    The runner reads its items through a gate; closing it ends that runner's
    input cleanly (what it took runs to the end), and the rest of ``source``
    stays available for the next runner.

    When ``source`` raises an exception, the gate ends there as if the input
    had (readers never see it: a runner would drop what it has in flight) and
    keeps it in :attr:`error`: the auto driver raises it once the results of
    the items read before it are handed out.

    Over a list, a tuple or a range, a lazy slice lent to the inline runner
    can be ended from another thread between two items (:meth:`cut`): the
    source's iterator is moved to its end, so the slice's next step finds
    nothing, and :meth:`settle` goes on from the first item not reached.
    Nothing is added per item (a sync plan's chunks stay plain slices).
    """

    def __init__(self, source: Iterator[Any], length: int | None, taken: int = 0) -> None:
        """``taken``: items of the input read from ``source`` before the gate (by the lean start, see
        :mod:`gearshift._lean`); ``length`` counts them too."""
        self.source = source
        self.length = length
        self.taken = taken
        self.ended = False
        self.limit: int | None = None  # stop after this many more items
        self.stop: Callable[[], bool] | None = None  # or when this says so
        self.kept: list[Any] = []  # a few items, for pickling measurements
        #: held while taking items: a lookahead thread may take some during the first item
        self.lock = threading.Lock()
        #: :meth:`lend` may hand out lazy slices (nobody else takes items meanwhile)
        self.lazy = False
        self._lent = 0  # items the last lazy slice could hold, until settled
        #: what the source raised (see above); the gate has ended then
        self.error: BaseException | None = None
        #: the list, tuple or range the source iterates (None: other inputs, not cuttable), and
        #: the source's position in it before the gate took anything
        self.sequence, self._offset = _sequence_of(source)
        self._offset -= taken  # (the source's position is past them: offset + taken is where it is)
        #: lazy slices lent so far (a watcher tells the one running from the next by it)
        self.chunks = 0
        self._cut = False  # the slice lent last was cut: settle() resumes the source

    def open(self, *, limit: int | None = None, stop: Callable[[], bool] | None = None, lazy: bool = False) -> Gate:
        """Reopen for the next runner: at most ``limit`` more items, or until ``stop()``.

        ``lazy``: the runner is the only one to take items (no lookahead
        threads), so its inline path may read them straight from the source.
        """
        self.limit = None if limit is None else self.taken + limit
        self.stop = stop
        self.lazy = lazy
        return self

    @property
    def remaining(self) -> int | None:
        return None if self.length is None else max(0, self.length - self.taken)

    def __iter__(self) -> Gate:
        return self

    def __next__(self) -> Any:
        with self.lock:
            return self._next()

    def _next(self) -> Any:
        if self.ended or (self.limit is not None and self.taken >= self.limit) or (self.stop and self.stop()):
            raise StopIteration
        try:
            item = next(self.source)
        except StopIteration:
            self.ended = True
            raise
        except Exception as exc:
            self._keep(exc)
            raise StopIteration from None
        self.taken += 1
        if len(self.kept) < PICKLE_SAMPLE:
            self.kept.append(item)
        return item

    def take(self, size: int) -> list[Any]:
        """Up to ``size`` next items, as a list (the runner's fast path: no per-item call)."""
        with self.lock:
            if self.stop and self.stop():
                return []
            return self.take_locked(size)

    def lend(self, size: int) -> Iterable[Any]:
        """Up to ``size`` next items for the inline runner, which reads them at once and calls :meth:`settle`.

        When :attr:`lazy`, a slice of the source read as the items run: no list
        is built (for a million trivial items that list costs 4 % of the job).
        """
        with self.lock:
            self._lent = 0
            if self.stop and self.stop():
                return []
            if not self.lazy:
                return self.take_locked(size)
            size = self._allowed(size)
            if size <= 0:
                return []
            self._lent = size
            self.chunks += 1
            # A plain slice, no generator around it (that cost ~30 ns an item): when reading the
            # input raises, the inline runner gets it as the chunk's input_error, sets
            # :attr:`error`, and settle() sees the short read.
            return itertools.islice(self.source, size)

    def settle(self, used: int) -> bool:
        """The inline runner read ``used`` items of what :meth:`lend` gave (one outcome each).

        Returns True when the slice was cut (see :meth:`cut`): the source goes
        on from the first item it did not reach, and the runner may go on too.
        """
        if not self._lent:
            return False
        with self.lock:
            self.taken += used
            cut, self._cut = self._cut, False
            if cut:
                self.source = self._resume()
            elif used < self._lent:
                self.ended = True  # (or the chunk stopped at a failure: the run ends then too)
            self._lent = 0
            return cut

    def running(self) -> tuple[int, int]:
        """(number, items) of the lazy slice lent and not yet settled; items is 0 when none is, or it cannot be cut."""
        return self.chunks, (self._lent if self.sequence is not None else 0)

    def cut(self, chunk: int) -> bool:
        """End lent slice number ``chunk`` after the item it is running (from any thread).

        False when that slice is over already, or the input is not a list,
        tuple or range.  One C call under the GIL moves the source's iterator
        to its end: the slice's next step finds nothing, and no item is skipped
        or read twice (:meth:`settle` resumes from the count of items run).
        """
        with self.lock:
            if self.sequence is None or chunk != self.chunks or not self._lent or self._cut:
                return False
            self.source.__setstate__(len(self.sequence))  # type: ignore[attr-defined]
            self._cut = True
            return True

    def _resume(self) -> Iterator[Any]:
        """An iterator over :attr:`sequence` from the first item not taken yet."""
        assert self.sequence is not None
        return resumed(self.sequence, self._offset + self.taken)

    def take_locked(self, size: int) -> list[Any]:
        """:meth:`take` for a caller that holds :attr:`lock`, without asking ``stop``."""
        size = self._allowed(size)
        if size <= 0:
            return []
        items = self._read(size)
        if len(items) < size:
            self.ended = True
        self.taken += len(items)
        if len(self.kept) < PICKLE_SAMPLE:
            self.kept.extend(items[: PICKLE_SAMPLE - len(self.kept)])
        return items

    def _read(self, size: int) -> list[Any]:
        """Up to ``size`` items of the source (fewer if it ends or raises)."""
        items: list[Any] = []
        try:
            items.extend(itertools.islice(self.source, size))
        except Exception as exc:
            self._keep(exc)
        return items

    def _keep(self, exc: Exception) -> None:
        self.error = exc
        self.ended = True

    def _allowed(self, size: int) -> int:
        """How many of ``size`` items may still be taken (0 once ended or at the limit)."""
        if self.ended:
            return 0
        return size if self.limit is None else min(size, self.limit - self.taken)

    def __length_hint__(self) -> int:
        remaining = self.remaining
        if remaining is None:
            return 0
        return remaining if self.limit is None else min(remaining, self.limit - self.taken)


#: iterators whose __setstate__ sets the position (used by :meth:`Gate.cut`), and the sequences they iterate
_CUTTABLE: dict[type, type] = {type(iter([])): list, type(iter(())): tuple, type(iter(range(0))): range}


def _sequence_of(source: Iterator[Any]) -> tuple[list[Any] | tuple[Any, ...] | range | None, int]:
    """The list, tuple or range that ``source`` iterates and its position in it; (None, 0) for other iterators."""
    kind = _CUTTABLE.get(type(source))
    if kind is None:
        return None, 0
    # (iter, (sequence,), position): a range iterator's is None after 3.11 (its range starts where it is);
    # an exhausted list iterator's is (iter, ((),))
    reduced: Any = source.__reduce__()
    sequence = reduced[1][0] if reduced[1] else None
    if not isinstance(sequence, (list, tuple, range)) or not isinstance(sequence, kind):
        return None, 0
    position = reduced[2] if len(reduced) > 2 else None
    return sequence, (position if isinstance(position, int) else 0)
