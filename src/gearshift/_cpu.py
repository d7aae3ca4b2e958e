"""How many CPUs this process may really use.

``os.cpu_count()`` counts the machine's CPUs, not the ones a container or a
``taskset`` leaves us.  The usable count is the smallest of: the CPUs in this
process's affinity mask, and the cgroup CPU quota (v2 ``cpu.max`` or v1
``cpu.cfs_quota_us / cpu.cfs_period_us``) rounded up.

Paths are strings (``os.path``), not :mod:`pathlib`: the process backend and
auto read this in a script's first call, and pathlib costs ~3 ms to load.
"""

from __future__ import annotations

import functools
import math
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from os import PathLike

    StrPath = str | PathLike[str]


@functools.cache
def usable_cpus() -> int:
    """Number of CPUs this process can run on at once (at least 1)."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        try:
            counts.append(len(os.sched_getaffinity(0)))
        except OSError:  # pragma: no cover - platform quirk
            pass
    quotas = [q for q in (cgroup_cpu_quota(d) for d in cgroup_dirs()) if q is not None]
    if quotas:
        counts.append(max(1, math.ceil(min(quotas))))
    return max(1, min(counts))


def cgroup_dirs(root: StrPath = "/sys/fs/cgroup", self_cgroup: StrPath = "/proc/self/cgroup") -> list[str]:
    """The cgroup v2 directories whose quota applies to this process: its own and every parent.

    A quota set on a parent (a systemd slice, a pod) limits the children too;
    the mount root comes first, so without ``/proc/self/cgroup`` it is the only one.
    """
    path = os.fspath(root)
    dirs = [path]
    try:
        lines = _read(self_cgroup).splitlines()
    except OSError:
        return dirs
    for line in lines:
        if line.startswith("0::"):
            for part in line[3:].strip().split("/"):
                if part:
                    path = os.path.join(path, part)
                    dirs.append(path)
    return dirs


def cgroup_cpu_quota(root: StrPath = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup quota, or None when there is no quota."""
    try:
        text = _read(os.path.join(root, "cpu.max")).split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(_read(os.path.join(root, "cpu", "cpu.cfs_quota_us")))
        period = int(_read(os.path.join(root, "cpu", "cpu.cfs_period_us")))
    except (OSError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def _read(path: StrPath) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
