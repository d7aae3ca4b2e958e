"""The results observers' glue: ``on_results`` told as items reach their final outcome.

Checkpoints (``gearshift run``) and the progress display watch results as
they complete, in any order.  Usually the consuming thread reports them (see
``_run_outcomes.py``); a runner started but not consumed yet (auto's items
started early) reports clean chunks from the backend's thread as they come
back, and an async chunk's items are reported on the loop as each one ends, so
a crash loses little finished work.  One report at a time, never two of a
runner's at once; a report that raises is raised on the consuming thread.
"""

from __future__ import annotations

import time

from ._run_order import HandOut
from ._run_state import _Sub
from ._task import ChunkResult, Raised

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from concurrent.futures import Future
    from typing import Any


class Reporting(HandOut):
    """Tells ``on_results`` about finished items from the backend's threads (or its loop)."""

    def _back(self, sub: _Sub, future: Future[Any]) -> None:
        """On the backend's thread: ``sub`` is back.  Reported at once while nobody consumes the results.

        Auto starts runners whose results are handed out only later (items
        started while it measures); a checkpoint must not wait for that.
        """
        self.last_back = time.perf_counter()
        self.returned += 1
        if self.on_results is not None and not self._consuming:
            with self._report_lock:
                if not self._consuming and not future.cancelled() and future.exception() is None:
                    result: ChunkResult = future.result()
                    chunk = sub.chunk
                    clean = not result.failures and len(result.outcomes) == sub.length == len(chunk.items)
                    if clean and sub.reported is False:
                        try:
                            self._report(sub, result.outcomes)
                            sub.reported = True
                        except BaseException as exc:  # raised on the consuming thread (see _complete)
                            sub.reported = exc
        self._done.put(sub)

    def _item_back(self, sub: _Sub, k: int, outcome: Any) -> None:
        """Item ``k`` of an async chunk ended (on the loop that runs it); its siblings may run on for long."""
        if type(outcome) is Raised or sub.reported is not False or self.on_results is None:
            return  # failures take the usual way (retries, the error policy) once the chunk is back
        with self._report_lock:
            try:
                self.on_results(sub.chunk.start + sub.offset + k, [outcome], 0)
            except BaseException as exc:  # raised on the consuming thread (see _complete)
                sub.reported = exc
                return
            if sub.early is None:
                sub.early = {}
            sub.early[k] = outcome

    def _report(self, sub: _Sub, outcomes: list[Any]) -> None:
        """Tell on_results about ``outcomes`` (of ``sub``), but for the items it was told about already."""
        assert self.on_results is not None
        start, early = sub.chunk.start + sub.offset, sub.early
        if not early:
            self.on_results(start, outcomes, 0)
            return
        for k, value in enumerate(outcomes):
            if k not in early:
                self.on_results(start + k, [value], 0)
