"""Usable CPUs: affinity and cgroup quotas, not the machine's CPU count."""

from __future__ import annotations

import os
from pathlib import Path

from gearshift._cpu import cgroup_cpu_quota, usable_cpus


def test_usable_cpus_within_affinity() -> None:
    n = usable_cpus()
    assert 1 <= n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n <= len(os.sched_getaffinity(0))


def test_cgroup_v2_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5


def test_cgroup_v2_unlimited(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2.0


def test_cgroup_v1_unlimited_and_missing(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) is None


def test_cgroup_v2_fraction_of_a_cpu(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 0.5


def test_cgroup_dirs_walk_from_the_root_to_this_process(tmp_path: Path) -> None:
    from gearshift._cpu import cgroup_dirs

    own = tmp_path / "self_cgroup"
    own.write_text("0::/kubepods/pod1/box\n")
    assert cgroup_dirs(tmp_path, own) == [
        str(tmp_path),
        str(tmp_path / "kubepods"),
        str(tmp_path / "kubepods" / "pod1"),
        str(tmp_path / "kubepods" / "pod1" / "box"),
    ]
    assert cgroup_dirs(tmp_path, tmp_path / "missing") == [str(tmp_path)]


def test_a_parent_quota_limits_the_child(tmp_path: Path) -> None:
    from gearshift._cpu import cgroup_dirs

    own = tmp_path / "self_cgroup"
    own.write_text("0::/slice/app\n")
    (tmp_path / "slice" / "app").mkdir(parents=True)
    (tmp_path / "slice" / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "slice" / "app" / "cpu.max").write_text("max 100000\n")
    quotas = [q for q in (cgroup_cpu_quota(d) for d in cgroup_dirs(tmp_path, own)) if q is not None]
    assert quotas == [1.0]
