"""The checkpoint store contract: what ``gearshift run`` needs to resume a killed run.

A store is a durable record of the finished items of ONE run, keyed by the
item's index in the input.  ``run`` writes each finished item's output line
(a JSON text) as it completes, in small atomic batches; after a crash,
``--resume`` asks which indices are done, runs only the others, and writes the
output file from the records in index order.  Anything that keeps these few
promises can hold a checkpoint: a local SQLite file (the default), Redis, ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Store(Protocol):
    """Durable record of the finished items of one run, keyed by input index."""

    def get_meta(self) -> dict[str, Any] | None:
        """The identity of the run this store belongs to, or None for a new, empty store.

        It holds the function, the input's path, size and modification time and
        the options, so that ``--resume`` can refuse to mix two different runs.
        """
        ...

    def set_meta(self, meta: dict[str, Any]) -> None:
        """Record (or replace) the identity of the run; durable when it returns."""
        ...

    def done_indices(self) -> set[int]:
        """The indices of every item recorded so far."""
        ...

    def put_many(self, records: Sequence[tuple[int, str]]) -> None:
        """Record ``(index, JSON text)`` pairs, all or none (one atomic batch).

        Durable when it returns.  Recording an index that is already there keeps
        one record for it (so a batch replayed after a crash does no harm).
        """
        ...

    def iter_records(self) -> Iterator[tuple[int, str]]:
        """Every ``(index, JSON text)`` recorded, in ascending index order."""
        ...

    def close(self) -> None:
        """Release the connection; the records stay."""
        ...
