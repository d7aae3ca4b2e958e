"""Is the machine short of memory?  The runner asks before admitting new work.

When available memory falls under a reserve, the runner stops submitting new
chunks (work in flight carries on) until it recovers, so a run slows down
instead of inviting the OOM killer.  Reading ``/proc/meminfo`` costs tens of
microseconds, so the answer is cached for a short while.  On systems without
``/proc/meminfo`` psutil is used when installed; otherwise the gate stays open.
"""

from __future__ import annotations

import os
import time

#: how long an answer is reused, in seconds
CACHE_SECONDS = 0.1
_MIB = 1024 * 1024

#: bytes of available memory to keep free; None: max(256 MiB, 5% of the total).
#: Set ``GEARSHIFT_MEMORY_RESERVE`` (bytes) in the environment, or assign here.
reserve: int | None = int(os.environ["GEARSHIFT_MEMORY_RESERVE"]) if "GEARSHIFT_MEMORY_RESERVE" in os.environ else None

_checked_at = -1.0
_low = False


def memory_info() -> tuple[int, int] | None:
    """(available, total) bytes of memory, or None when it cannot be known."""
    try:
        with open("/proc/meminfo", "rb") as f:
            text = f.read(4096)
    except OSError:
        return _psutil_info()
    available = total = None
    for line in text.splitlines():
        if line.startswith(b"MemAvailable:"):
            available = int(line.split()[1]) * 1024
        elif line.startswith(b"MemTotal:"):
            total = int(line.split()[1]) * 1024
    if available is None or total is None:
        return _psutil_info()
    return available, total


def _psutil_info() -> tuple[int, int] | None:
    try:
        import psutil  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    vm = psutil.virtual_memory()
    return int(vm.available), int(vm.total)


def memory_low() -> bool:
    """True while available memory is under the reserve (cached for ``CACHE_SECONDS``)."""
    global _checked_at, _low
    now = time.monotonic()
    if now - _checked_at < CACHE_SECONDS:
        return _low
    info = memory_info()
    if info is None:
        _low = False
    else:
        available, total = info
        limit = reserve if reserve is not None else max(256 * _MIB, total // 20)
        _low = available < limit
    _checked_at = now
    return _low


def forget() -> None:
    """Drop the cached answer (after changing :data:`reserve`)."""
    global _checked_at
    _checked_at = -1.0
