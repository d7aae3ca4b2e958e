"""How long a thread has waited for a CPU, from the scheduler's statistics (Linux).

Apart from :mod:`gearshift._auto.clocks`, which re-exports it, so that the lean
start (:mod:`gearshift._lean`) reads it before auto loads.
"""

from __future__ import annotations

__all__ = ["runnable", "runqueue_seconds"]


def runqueue_seconds(native_id: int | None = None) -> float | None:
    """Seconds a thread has spent ready to run but waiting for a CPU (Linux), or None.

    The calling thread by default; another thread of this process by its OS id
    (``threading.get_native_id()``).
    """
    path = "/proc/thread-self/schedstat" if native_id is None else f"/proc/self/task/{native_id}/schedstat"
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def runnable(native_id: int) -> bool | None:
    """Whether a thread of this process is running or ready to run (not sleeping, not blocked), or None.

    The scheduler counts a wait for a CPU in :func:`runqueue_seconds` only once
    it is over; a thread kept waiting right now shows here, as runnable while
    its CPU clock stands still.
    """
    try:
        with open(f"/proc/self/task/{native_id}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] == b"R"
    except (OSError, IndexError):
        return None
