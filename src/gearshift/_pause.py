"""The lean start's first item waits on the main thread while auto loads beside it.

Auto loads beside a first item that is still running after the lean start's
first look (:mod:`gearshift._lean_first`).  Two threads that both want the GIL
take turns with it, and every file the load reads hands the GIL back to an
item that computes in Python: in a job of four such items of 0.5 s on 2 CPUs,
the second item started on a worker process 0.30-0.35 s into the call, and
0.16-0.18 s with the first item waiting 67 ms (medians of 9 fresh interpreters,
interleaved, in two runs: ``benchmarks/lean_pause.py``,
``benchmarks/results/lean-pause-14a.json`` and ``-14b.json``).  The
GIL's work is the same either way: the item's share of it only comes after the
load instead of beside it, and its next items start on another CPU that much
sooner.

So the item's thread is asked to wait: a signal whose Python handler blocks
on a lock that the helper releases once auto has loaded and its lookahead's
first look, which starts the next items on processes, is over.  Only the main
thread runs Python signal handlers, at its next bytecode; a first item on
another thread runs on, as does one under a free-threaded interpreter without
its GIL.  An item that computes in C with the GIL released (hashing a big
buffer) loses the wait's time, which it would have run beside the load.

* :data:`SIGNAL` is ``SIGURG``, whose default action is to ignore it: a
  signal still on its way when the handler is given back does nothing.  It is
  used only while its handler is the default one (a program that handles
  ``SIGURG`` keeps it), with system calls restarted rather than interrupted.
* The handler does not wait inside an import (the load could need that
  module's lock), and waits at most :data:`MAX_PAUSE_SECONDS` (the item could
  hold a lock the load takes, such as logging's).
* The helper can also ask the item's thread to run something of its own
  first (:meth:`Pause.ask`): before Python 3.13, to import :mod:`threading`,
  which must be the main thread's doing (see :mod:`gearshift._lean_first`).
* Ctrl-C reaches the waiting thread as it reaches the item: the wait ends with
  ``KeyboardInterrupt``, raised in the item (within :data:`SLICE_SECONDS` when
  another thread took the signal: a lock wait is woken only by one of its own).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # (signal's C half: ``import signal`` takes 6 ms, for its enums)
import _thread
import sys
import time

from . import _importing

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MAX_PAUSE_SECONDS", "SIGNAL", "SLICE_SECONDS", "Pause"]

#: the signal that asks the item's thread to wait (None where the platform lacks it)
SIGNAL: int | None = getattr(_signal, "SIGURG", None)
#: the longest wait: about ten times the longest of 9 in ``benchmarks/results/lean-pause-14b.json`` (28-91 ms)
MAX_PAUSE_SECONDS = 1.0
#: the wait's slices: a Ctrl-C taken by another thread ends it within one (C8 allows 0.5 s in all)
SLICE_SECONDS = 0.05


class Pause:
    """Has the main thread's first item wait while a helper thread holds it (see the module)."""

    def __init__(self) -> None:
        self._hold = _thread.allocate_lock()
        self._holding = False  # the helper holds _hold: a handler that runs now waits for it
        self._ident: int | None = None  # the item's thread, once the handler is installed
        self._asked: Callable[[], object] | None = None  # what the handler runs first (see ask)
        #: seconds the item waited (0.0 when it did not)
        self.waited = 0.0

    def install(self) -> bool:
        """Install the handler (on the item's thread, before the item starts); False where it cannot be."""
        # (a free-threaded interpreter without its GIL: nothing to take turns with)
        if SIGNAL is None or not getattr(sys, "_is_gil_enabled", lambda: True)():
            return False
        try:
            if _signal.getsignal(SIGNAL) != _signal.SIG_DFL:
                return False
            _signal.signal(SIGNAL, self._handler)  # (ValueError on a thread other than the main one)
            _signal.siginterrupt(SIGNAL, False)
        except (ValueError, OSError):
            return False
        self._ident = _thread.get_ident()
        return True

    def uninstall(self) -> None:
        """Give the signal its default handler back (on the item's thread, once the item is over)."""
        if self._ident is not None and SIGNAL is not None:
            self._ident = None
            _signal.signal(SIGNAL, _signal.SIG_DFL)

    def hold(self) -> bool:
        """Ask the item's thread to wait until :meth:`release` (from the helper); False when it cannot be asked."""
        ident = self._ident
        if ident is None or SIGNAL is None or self._holding:
            return False
        self._hold.acquire()
        self._holding = True
        try:
            _signal.pthread_kill(ident, SIGNAL)
        except OSError:  # (the thread is gone)
            self.release()
            return False
        return True

    def ask(self, call: Callable[[], object]) -> bool:
        """Have the item's thread run ``call`` at its next bytecode (from the helper); False when it cannot be asked.

        The handler runs it even inside an import; a thread blocked in a system
        call that is restarted, or in C code that holds no Python frame, runs it
        once that call comes back.
        """
        ident = self._ident
        if ident is None or SIGNAL is None:
            return False
        self._asked = call
        try:
            _signal.pthread_kill(ident, SIGNAL)
        except OSError:  # (the thread is gone)
            self._asked = None
            return False
        return True

    def release(self) -> None:
        """Let the item's thread go on (from the helper; nothing when it was not held)."""
        if self._holding:
            self._holding = False
            self._hold.release()

    def _handler(self, signum: int, frame: object) -> None:
        asked, self._asked = self._asked, None
        if asked is not None:
            asked()
        if not self._holding or _importing.importing(_thread.get_ident()):
            return
        started = now = time.perf_counter()
        try:
            # In slices: a Ctrl-C that another thread took wakes no lock wait of this one; it is handled
            # (KeyboardInterrupt, here) as the wait comes back to Python between two slices.
            while now - started < MAX_PAUSE_SECONDS:
                if self._hold.acquire(timeout=min(SLICE_SECONDS, MAX_PAUSE_SECONDS - (now - started))):
                    self._hold.release()
                    break
                now = time.perf_counter()
        finally:  # (Ctrl-C ends the wait with KeyboardInterrupt)
            self.waited += time.perf_counter() - started
