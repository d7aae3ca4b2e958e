"""Whether a thread is loading a module right now (auto's first item, watched from another thread).

A function's first call often imports what it uses (NumPy: 90 ms of CPU time
in a fresh interpreter).  Auto's first looks at that item would take those
imports for its work: for computing, and start worker processes, each of which
then pays them again.  An item whose thread is inside an import is not judged
yet (:mod:`gearshift._auto.lookahead`, :mod:`gearshift._lean_first`).
"""

from __future__ import annotations

import sys

__all__ = ["importing"]

#: the frame every import that is not already loaded passes through (CPython 3.11 to 3.13)
_LOADER = ("_find_and_load", "<frozen importlib._bootstrap>")


def importing(ident: int) -> bool:
    """Whether thread ``ident`` is inside an import now (False for a thread that is gone)."""
    frame = sys._current_frames().get(ident)
    while frame is not None:
        code = frame.f_code
        if (code.co_name, code.co_filename) == _LOADER:
            return True
        frame = frame.f_back
    return False
