"""The one watcher thread of the process: it looks at every armed lookahead when its time comes.

Each :class:`~.lookahead.Lookahead` asks for a look after a delay
(:meth:`_Watcher.watch`); its :meth:`~.lookahead.Lookahead.look` says when to look
again (None: no more).  One thread for the whole process, started on first use:
arming a lookahead costs no thread start.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from .. import _sigmask

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from .lookahead import Lookahead

__all__ = ["FORGET_WAIT", "_watcher"]

#: how long :meth:`_Watcher.forget` waits at most for the watcher to go back to sleep
FORGET_WAIT = 0.02  # it takes microseconds, unless the machine keeps the watcher from a CPU


class _Watcher(threading.Thread):
    """The one thread that looks at every armed :class:`Lookahead` of the process when its time comes."""

    def __init__(self) -> None:
        # gearshift's own thread: Ctrl-C must find the main thread, not this one (see _sigmask)
        super().__init__(name="gearshift-lookahead", daemon=True, target=_sigmask.service(self._loop))
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Lookahead]] = []  # a heap: (when, tie-break, lookahead)
        self._seq = itertools.count()
        self._asleep = threading.Event()  # set while it waits for the next look

    def watch(self, lookahead: Lookahead, delay: float, *, again: bool = False) -> None:
        with self._cond:
            if again and not lookahead.armed:
                return  # disarmed while being looked at: its forget() found nothing to take back
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), lookahead))
            self._cond.notify()

    def forget(self, lookahead: Lookahead) -> None:
        """Take back ``lookahead``'s pending look; return once the watcher sleeps again.

        Left in place, the look would wake the watcher later, in the middle of
        items being measured.  Woken now, it goes back to sleep within
        microseconds while the caller waits here (at most :data:`FORGET_WAIT`).
        """
        with self._cond:
            kept = [entry for entry in self._due if entry[2] is not lookahead]
            if len(kept) == len(self._due):
                return  # none pending: being looked at right now, it will not be put back (disarmed)
            heapq.heapify(kept)
            self._due = kept
            self._asleep.clear()
            self._cond.notify()
        self._asleep.wait(FORGET_WAIT)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._due:
                    self._asleep.set()
                    self._cond.wait()
                    continue
                when, _, lookahead = self._due[0]
                left = when - time.monotonic()
                if left > 0:
                    self._asleep.set()
                    self._cond.wait(left)
                    continue
                self._asleep.clear()
                heapq.heappop(self._due)
            try:
                delay = lookahead.look()
            except Exception:  # never let one run's trouble end the watching for every other
                delay = None
            lookahead.looked.set()
            if delay is not None:
                self.watch(lookahead, delay, again=True)


_the_watcher: _Watcher | None = None
_watcher_lock = threading.Lock()


def _watcher() -> _Watcher:
    """The process's watcher thread, started on first use (and again in a forked child)."""
    global _the_watcher
    with _watcher_lock:
        if _the_watcher is None or not _the_watcher.is_alive():
            _the_watcher = _Watcher()
            _the_watcher.start()
        return _the_watcher
