"""The ``gearshift`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gearshift",
        description="Run work under the right concurrency model, and measure which one wins.",
    )
    parser.add_argument("--version", action="version", version=f"gearshift {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="run every mode on a small CPU-bound and a small I/O-bound job, with timings")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(sys.stdout)
        return 0
    parser.print_help()
    return 2
