"""The README stays true: its set-up commands are what CI runs, its example runs, and it stays a quickstart.

The reference material the README used to carry lives in docs/ now; the checks below keep each
moved section where the README's links say it is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


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


def test_readme_is_a_quickstart() -> None:
    assert len(README.splitlines()) <= 200, "the README is a quickstart: move reference material into docs/"


def test_modes_table_lists_the_modes_it_names() -> None:
    table = re.search(r"## The modes\n\n(\|.*?)\n\n", README, re.S)
    assert table, "the README has a table of the modes"
    modes = re.findall(r"^\| `(\w+)`", table.group(1), re.M)
    assert modes == ["sync", "async", "thread", "process", "auto"]


def test_readme_links_resolve() -> None:
    for target in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+|CHANGELOG.md)", README):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_moved_sections_live_in_the_docs() -> None:
    """What the README used to say is in the page its link points to."""
    moved = {
        "failures.md": [
            "| fault | `sync` | `async` | `thread` | `process` |",
            "Ctrl-C, in two stages",
            "WorkerCrashed",
        ],
        "clusters.md": ["GEARSHIFT_DASK_ADDRESS", "allowed-failures", "--store redis://"],
        "auto.md": ["their results are kept", "leaves `sync` only for an estimated gain of 20% or more", "## Clusters"],
        "cli.md": ["gearshift advise MODULE:FUNCTION", "--resume", "Exit status: 0 every item succeeded"],
        "getting-started.md": ["workers=None", "chunksize=None", "shared=obj", "buffer_bytes"],
        "process-mode.md": ["shared=", "/dev/shm", "mp_context", "timeout_overhead.md"],
        "benchmarks.md": ["benchmarks/run.py", "benchmarks/planner.py", "shm_threshold.py"],
    }
    for page, phrases in moved.items():
        text = (DOCS / page).read_text()
        for phrase in phrases:
            assert phrase in text, f"docs/{page} should say {phrase!r}"
