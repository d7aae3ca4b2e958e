"""The command line, in-process and as a real subprocess."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

import gearshift
from gearshift._cli import main
from gearshift._demo import run_demo


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"gearshift {gearshift.__version__}"


def test_version_as_subprocess() -> None:
    out = subprocess.run([sys.executable, "-m", "gearshift", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip() == f"gearshift {gearshift.__version__}"


def test_demo_measures_every_mode() -> None:
    out = io.StringIO()
    rows = run_demo(out, cpu_items=2, io_items=4)
    modes = {(row["job"], row["mode"]) for row in rows}
    assert len(modes) == 10
    assert all(row["seconds"] > 0 for row in rows)
    assert "fastest:" in out.getvalue()
