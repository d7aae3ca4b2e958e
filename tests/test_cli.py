"""The command line front door: help, version, exit codes, one-line usage errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gearshift
from gearshift._cli import build_parser, main

COMMANDS = ("advise", "run", "bench", "demo")


def gearshift_cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"gearshift {gearshift.__version__}"


def test_version_as_subprocess() -> None:
    out = gearshift_cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"gearshift {gearshift.__version__}"


def test_help_lists_every_command_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in COMMANDS:
        assert f"gearshift {command}" in text
    assert "examples:" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_complete_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "example" in text
    assert f"gearshift {command}" in text.split("example", 1)[1]


def test_run_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--help"])
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"  {code}" in text


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_bad_arguments_exit_2_as_subprocess() -> None:
    out = gearshift_cli("run", "jobs:f")  # --input and --output missing
    assert out.returncode == 2
    assert "--input" in out.stderr
    assert "Traceback" not in out.stderr


def test_parser_builds_every_subcommand() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "m:f", "--input", "i", "--output", "o", "--workers", "3", "--unordered"])
    assert (args.command, args.workers, args.unordered, args.mode, args.errors) == ("run", 3, True, "auto", "raise")


def test_help_is_fast_and_imports_no_command_module() -> None:
    code = "import sys; from gearshift._cli import main; main(['--help']); print(sorted(m for m in sys.modules if m.startswith('gearshift._cli.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "['gearshift._cli._inputs']"
