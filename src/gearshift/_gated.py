"""What the runner knows of an input shared by several runners in turn (``mode="auto"``'s gate).

The runner reads ordinary iterables one item at a time.  An input that is a
:class:`GatedInput` also hands out whole chunks (:meth:`~GatedInput.take`, no
per-item call), lends slices to the inline path (:meth:`~GatedInput.lend`,
then :meth:`~GatedInput.settle`), and keeps the exception its source raised
(:attr:`~GatedInput.error`) for the driver to raise once every runner's
earlier items are out.  It is defined here, in the run layer, so the runner
needs nothing from the policy layer that implements it (``gearshift._auto.gate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["GatedInput", "resumed"]


class GatedInput(Iterator["Any"]):
    """An input the runner reads in chunks and whose source's exception it leaves to the driver."""

    #: what the source raised; the input has ended then
    error: BaseException | None = None

    def take(self, size: int) -> list[Any]:
        """Up to ``size`` next items, as a list."""
        raise NotImplementedError

    def lend(self, size: int) -> Iterable[Any]:
        """Up to ``size`` next items for the inline path, which reads them at once, then calls :meth:`settle`."""
        raise NotImplementedError

    def settle(self, used: int) -> bool:
        """The inline path read ``used`` items of what :meth:`lend` gave.

        True: the chunk was ended early from outside and its items not reached
        are the next ones again (the inline path goes on); otherwise a short
        chunk means the input ended.
        """
        raise NotImplementedError


def resumed(sequence: list[Any] | tuple[Any, ...] | range, position: int) -> Iterator[Any]:
    """A fresh iterator over a list, tuple or range from ``position`` on (auto's gate; the lean start).

    Not ``__setstate__`` on an iterator already moved: from 3.12 a range
    iterator's counts from where it is, not from the range's start (set on one
    past its first item, it skipped an item); a range's slice is a range.
    """
    if type(sequence) is range:
        return iter(sequence[position:])
    resumed = iter(sequence)
    resumed.__setstate__(position)  # type: ignore[attr-defined]  # (a list's and a tuple's: the index)
    return resumed
