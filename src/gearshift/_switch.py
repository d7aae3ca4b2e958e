"""The interpreter's switch interval, short while gearshift needs the GIL handed over promptly.

CPython lets a thread that waits for the GIL ask for it only after the
switch interval (``sys.getswitchinterval()``, 5 ms by default); with several
threads computing, a waiting thread can lose the hand-over several times in a
row.  Some of gearshift's threads must get it promptly while others compute
Python code beside them: the caller's event loop during ``amap``/``aimap``
(contract C7: never stalled over 50 ms; with 100 offload threads computing it
waited up to 68 ms at 5 ms, 20 ms at 0.5 ms on a quiet 2-CPU host:
docs/results/c7-loop-lag-2026-12-05.txt), and the threads that start worker
processes while auto runs items on the calling thread.  Each holds the short
interval (:func:`lower`, then :func:`restore`) for as
long as it needs it; the first holder lowers the interval to
:data:`PROMPT_SECONDS` (or what it asks, the least of the holders' asks
applies), the last one puts back what the first found.  The
holders are counted, so runs that overlap in different threads never leave it
low, and a value the program set itself comes back.  A shorter interval costs
work that computes a switch every 0.5 ms instead of every 5 ms.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["PROMPT_SECONDS", "held", "lower", "restore"]

#: the switch interval while someone holds it (:func:`lower`) (never raised: a lower one set is kept)
PROMPT_SECONDS = 0.0005

_lock = threading.Lock()
#: what each holder asked for (the interval is the least of them while any is held)
_held: list[float] = []
#: the interval the first holder found
_saved = 0.0
#: whether the interval was lowered (the interpreter keeps whole microseconds: writing back what it
#: read can shift it by one, so it is set only when lower, and put back only if it was)
_lowered = False


def lower(seconds: float = PROMPT_SECONDS) -> None:
    """Hold a switch interval of at most ``seconds`` (the first holder saves the one it finds); pair
    with :func:`restore` of the same ``seconds``."""
    global _saved
    with _lock:
        if not _held:
            _saved = sys.getswitchinterval()
        _held.append(seconds)
        _apply()


def restore(seconds: float = PROMPT_SECONDS) -> None:
    """Let go of a :func:`lower` of ``seconds`` (the last holder puts the interval back as the first found it)."""
    with _lock:
        if seconds not in _held:
            return  # (unpaired: nothing held)
        _held.remove(seconds)
        _apply()


def _apply() -> None:
    global _lowered
    want = min(_held, default=_saved)
    if want < _saved:
        sys.setswitchinterval(want)
        _lowered = True
    elif _lowered:
        sys.setswitchinterval(_saved)
        _lowered = False


def held() -> int:
    """How many holders the short interval has now (for tests)."""
    return len(_held)


def _forget_in_child() -> None:
    # A forked child has only the forking thread: the other holders are not there to let go.
    global _lowered
    if _held:
        _held.clear()
        if _lowered:
            sys.setswitchinterval(_saved)
            _lowered = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
