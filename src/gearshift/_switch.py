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
:data:`PROMPT_SECONDS`, the last one puts back what the first found.  The
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
_holders = 0
#: the interval the first holder found, when it had to lower it (None: it was short enough already)
_saved: float | None = None


def lower() -> None:
    """Hold a short switch interval (the first holder lowers it); pair with :func:`restore`."""
    global _holders, _saved
    with _lock:
        if _holders == 0:
            found = sys.getswitchinterval()
            # (set only when lower: the interpreter keeps whole microseconds, so writing back
            # what it read can shift it by one)
            _saved = found if found > PROMPT_SECONDS else None
            if _saved is not None:
                sys.setswitchinterval(PROMPT_SECONDS)
        _holders += 1


def restore() -> None:
    """Let go of a :func:`lower` (the last holder puts the interval back as the first found it)."""
    global _holders
    with _lock:
        if _holders == 0:
            return  # (unpaired: nothing held)
        _holders -= 1
        if _holders == 0 and _saved is not None:
            sys.setswitchinterval(_saved)


def held() -> int:
    """How many holders the short interval has now (for tests)."""
    return _holders


def _forget_in_child() -> None:
    # A forked child has only the forking thread: the other holders are not there to let go.
    global _holders
    if _holders:
        _holders = 0
        if _saved is not None:
            sys.setswitchinterval(_saved)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
