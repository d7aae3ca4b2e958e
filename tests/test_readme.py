"""The README stays true: its set-up commands are what CI runs, and its example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _setup_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README must open with a bash block of set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_exactly_two_setup_commands_and_ci_runs_them() -> None:
    commands = _setup_commands()
    assert len(commands) == 2
    assert "gearshift demo" in commands[0]
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command in ci, f".ci/run must run the README command verbatim: {command}"


def test_ten_line_example_runs(tmp_path: Path) -> None:
    example = re.search(r"## In ten lines\n\n```python\n(.*?)```", README, re.S)
    assert example
    script = tmp_path / "example.py"
    script.write_text(example.group(1))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['password']"
