"""Profile: derived figures and printing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gearshift import Profile
from gearshift._profile import fmt_bytes, fmt_seconds


def test_derived_figures_leave_the_warmup_out() -> None:
    p = Profile(is_async=False, wall=(0.1, 0.01, 0.012, 0.011, 0.2), cpu=(0.09, 0.009, 0.01, 0.01, 0.01))
    assert p.samples == 5
    assert p.median_wall == 0.0115
    assert p.median_cpu == 0.01
    assert abs(p.median_wait - 0.0015) < 1e-12
    assert p.warmup > 8
    assert p.outliers == 1
    assert p.p90_wall == 0.2


def test_ipc_figures_need_both_sides() -> None:
    p = Profile(is_async=False, wall=(1.0,), cpu=(1.0,), item_bytes=10, item_pickle_seconds=1e-6)
    assert p.ipc_seconds is None
    assert p.ipc_bytes is None
    q = Profile(is_async=False, wall=(1.0,), cpu=(1.0,), item_bytes=10, item_pickle_seconds=1e-6,
                result_bytes=5, result_pickle_seconds=2e-6)  # fmt: skip
    assert q.ipc_bytes == 15
    assert q.ipc_seconds is not None
    assert abs(q.ipc_seconds - 6e-6) < 1e-12


def test_str_and_repr_cite_the_figures() -> None:
    p = Profile(is_async=False, wall=(0.042,) * 3, cpu=(0.041,) * 3, threads=2, thread_scaling=1.02,
                threads_cpu=1.0, item_bytes=60, item_pickle_seconds=1e-6, result_bytes=8,
                result_pickle_seconds=1e-6, fn_bytes=500)  # fmt: skip
    text = str(p)
    assert "42 ms" in text
    assert "41 ms" in text
    assert "1.02x" in text
    assert "60 bytes" in text
    assert repr(p).startswith("Profile(is_async=False, items=0, median_wall=0.042")
    assert "thread_scaling=1.02" in repr(p)


def test_empty_profile_prints() -> None:
    p = Profile(is_async=True, wall=(), cpu=())
    assert p.median_wall == 0.0
    assert p.cpu_share == 1.0
    assert p.p90_wall == 0.0
    assert p.warmup == 1.0
    assert "async def" in str(p)


def test_units() -> None:
    assert fmt_seconds(2.5) == "2.5 s"
    assert fmt_seconds(0.041) == "41 ms"
    assert fmt_seconds(0.000041) == "41 µs"
    assert fmt_seconds(4e-7) == "0.4 µs"
    assert fmt_bytes(60) == "60 bytes"
    assert fmt_bytes(8_400_000) == "8.4 MB"


def test_profile_counts_the_modules_the_first_call_loaded(tmp_path: Path) -> None:
    # a fresh interpreter: what gearshift itself loads on its first run is not the function's
    (tmp_path / "gearshift_test_first_import.py").write_text("VALUE = 1\n")
    code = (
        "import gearshift\n"
        "def plain(x):\n    return x + 1\n"
        "def importing(x):\n    import gearshift_test_first_import\n    return x + gearshift_test_first_import.VALUE\n"
        "print(gearshift.profile(plain, range(100)).first_imports, gearshift.profile(importing, range(100)).first_imports)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # (gearshift as this process finds it)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1"]
