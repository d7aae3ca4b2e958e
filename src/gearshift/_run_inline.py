"""The inline path: a sync run with nothing to supervise runs its chunks right here, one after another.

No time limit and no retries: nothing is ever waited for or run again, so the
general path's chunk, future and hand-out bookkeeping would only add to the
cost of cheap items (a sync map of tiny items is where that shows first).
Failures, results observers and Ctrl-C behave as on the general path.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator

from ._errors import Failure
from ._gated import GatedInput
from ._run_state import _STOP, RunState, Stopped, _estimate
from ._task import Raised, Task, is_fatal
from ._task_run import run_chunk

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any


class InlineRun(RunState):
    """:meth:`runs_inline` and the loop it allows (:meth:`_inline`)."""

    def runs_inline(self) -> bool:
        """Whether chunks can simply run here in turn: a sync backend, with nothing to supervise.

        No time limits and no retries: nothing is ever waited for or run again,
        so the chunk, future and hand-out bookkeeping of the general path would
        only add to the cost of cheap items.
        """
        return (
            self.backend.name == "sync"
            and not self.is_async
            and self.options.timeout is None
            and self.options.retries == 0
            and self.deadline is None
        )

    def _inline(self, items: Iterable[Any], sink: list[Any] | None = None) -> Iterator[list[Any]]:
        """The results of each chunk, run on this thread straight from the input.

        The input is read in chunks without copying it (the function iterates a
        slice of it).  Each chunk's outcomes are handed out as they are, or, with
        a ``sink``, appended to it (nothing to copy afterwards; the batches
        yielded are then empty).  Failures and Ctrl-C behave as on the general
        path: ``errors="raise"`` hands out the results before the failing item,
        then raises; an interrupted chunk's completed results ride on the exception.
        """
        length = operator.length_hint(items, 0) or None
        chunker = self._new_chunker(1, length)
        source = iter(items)
        # Auto's gate lends its items (see GatedInput.lend) and is told how many were read.
        gate = source if isinstance(source, GatedInput) else None
        take: Callable[[int], Any] = gate.lend if gate is not None else (lambda size: itertools.islice(source, size))
        settle: Callable[[int], bool] | None = gate.settle if gate is not None else None
        start = 0
        while True:
            if not self._done.empty() and self._done.get() is _STOP:
                raise Stopped
            size = chunker.next_size(start)
            if self._item_bytes and self._chunksize is None:
                # One chunk's results are what this path holds: keep them within the budget.
                size = max(1, min(size, int(self.options.buffer_bytes // self._item_bytes)))
            out = sink if sink is not None else []
            base = len(out)
            task = Task(
                self.fn, take(size), self.call, stop_on_error=self._stop_on_error, start=self.first_index + start
            )
            if self.trace is not None:
                task.trace = self.trace.level(size, chunker._per_item)
            try:
                result = run_chunk(task, out)
            except BaseException as exc:  # Ctrl-C between two items
                self._settle_inline(start, out, base)
                self.partial_results = out if sink is not None else out[base:]
                exc.partial_results = self.partial_results  # type: ignore[attr-defined]
                raise
            ran = len(out) - base
            if self.trace is not None:
                self.trace.ran(result, self.first_index + start, out, base)
            cut = settle(ran) if settle is not None else False  # (cut short from outside: more follow)
            input_error = result.input_error
            if ran:
                chunker.observe(ran, result.elapsed)
                self._item_bytes = _estimate(result) / ran
                if self.observer is not None:
                    self.observer(ran, result.elapsed, result.cpu, 0)
            failure, failed = self._settle_inline(start, out, base) if result.failures else (None, 0)
            if not result.failures:
                self.completed += ran
            if self.on_results is not None and len(out) > base:
                self.on_results(start, out if sink is None else out[base:], failed)  # never the growing sink
            if failure is not None:
                if is_fatal(failure):
                    # fn raised KeyboardInterrupt, SystemExit...: as Ctrl-C, the results ride on it.
                    self.partial_results = out if sink is not None else out[base:]
                    failure.partial_results = self.partial_results  # type: ignore[attr-defined]
                    raise failure
                if sink is None and len(out):
                    yield out
                raise failure
            if ran:
                yield out if sink is None else []
            if input_error is not None:
                if gate is not None:
                    # Auto's gate: other runners may hold earlier items still; auto raises it after them.
                    gate.error = input_error
                    return
                input_error.partial_results = []  # type: ignore[attr-defined]  # all handed out
                raise input_error
            if ran < size and not cut:
                return
            start += ran

    def _settle_inline(self, start: int, out: list[Any], base: int) -> tuple[BaseException | None, int]:
        """Turn the chunk's :class:`Raised` outcomes (from ``out[base]`` on) into what the caller gets.

        ``errors="return"``: :class:`Failure` records in place.  Otherwise the
        outcomes stop before the first failure, whose exception is returned.
        Counts the outcomes that are final; returns (exception, failures kept).
        """
        failed = 0
        for k in range(base, len(out)):
            outcome = out[k]
            if type(outcome) is not Raised:
                continue
            if self.options.errors != "return" or is_fatal(outcome.exception):
                del out[k:]
                self.completed += k - base
                return outcome.exception, 0
            out[k] = Failure(self.first_index + start + k - base, outcome.exception, outcome.traceback_text(), 1)
            failed += 1
        self.completed += len(out) - base
        self.failed += failed
        return None, failed
