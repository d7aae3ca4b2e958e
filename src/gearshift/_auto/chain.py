"""Runners started one after another on consecutive stretches of the input, handed out as one.

The lookahead starts the next items on processes while auto's first item
computes, one per CPU that item leaves idle; when they are all back and the
first item still computes, it starts as many again (a worker left idle until
the first item ends was a CPU lost: on 4 jobs of 1.5 s on 2 CPUs, up to a
third of a second).  Each start is a :class:`~gearshift._runner.Runner` of its
own over the items it took from the gate, which are the ones right after the
previous start's; a :class:`Chain` hands their results out in that order, so
the caller sees one runner, as before.

What a runner promises holds for the chain: results in input order (one
stretch after another), the first error raised as the runner raises it (the
later stretches are cancelled by the lookahead's ``close``), and on Ctrl-C the
results of the stretch being handed out ride on the exception (a prefix of
what completed: the later stretches' are dropped, as the contract allows).
"""

from __future__ import annotations

from collections.abc import Iterator

from .._runner import Runner

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Chain"]


class Chain:
    """The runners of consecutive stretches of the input, in input order (see the module docstring)."""

    def __init__(self, first: Runner) -> None:
        self.runners = [first]

    def add(self, runner: Runner) -> None:
        """A runner of the items right after the last one's (only before :meth:`batches`)."""
        self.runners.append(runner)

    @property
    def backend(self) -> Any:
        return self.runners[0].backend

    @property
    def returned(self) -> int:
        """Submissions back so far, over every runner (counted on the backends' threads)."""
        return sum(r.returned for r in self.runners)

    @property
    def running(self) -> int:
        return sum(r.running for r in self.runners)

    @property
    def last_back(self) -> float:
        return max(r.last_back for r in self.runners)

    def batches(self) -> Iterator[list[Any]]:
        for runner in self.runners:
            yield from runner.batches()

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop()

    def cancel(self) -> None:
        for runner in self.runners:
            runner.cancel()
