"""How long a thread has waited for a CPU, from the scheduler's statistics (Linux).

Apart from :mod:`gearshift._auto.clocks`, which re-exports it, so that the lean
start (:mod:`gearshift._lean`) reads it before auto loads.
"""

from __future__ import annotations

__all__ = ["runqueue_seconds"]


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
