"""The ``gearshift`` command line: ``advise``, ``run``, ``bench`` and ``demo``.

Each command lives in its own module, imported only when that command runs,
so ``gearshift --help`` stays instant.  Mistakes in the user's input raise
:class:`~gearshift._cli._inputs.UsageError`; :func:`main` prints them as one
line and returns 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._options import Options, cli_flags
from .._version import __version__
from ._inputs import UsageError

EXIT_CODES = """\
exit status:
  0    every item succeeded
  1    some items failed (with --errors return they are in the output; with
       --errors raise the run stopped at the first one)
  2    usage error: bad arguments, missing module or function, unreadable or malformed input
  130  interrupted (Ctrl-C); finished items are checkpointed, continue with --resume
"""

FUNCTION_HELP = "the function to call on each item: MODULE:FUNCTION, MODULE dotted (jobs, pkg.jobs) or a .py path"


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gearshift",
        formatter_class=_formatter,
        description="Run work under the right concurrency model (sync, asyncio, threads, processes), "
        "and measure which one wins.",
        epilog="""\
examples:
  gearshift demo                                   a one-minute tour: which model wins, and why
  gearshift advise jobs:fetch --input urls.jsonl   profile fetch() on a sample and print the plan
  gearshift run jobs:fetch --input urls.jsonl --output pages.jsonl --errors return
  gearshift run jobs:fetch --input urls.jsonl --output pages.jsonl --resume   (after a crash)
  gearshift bench --quick --plot bench.png         every model on built-in workloads, on this machine

Run 'gearshift COMMAND --help' for the options of each command.
""",
    )
    parser.add_argument("--version", action="version", version=f"gearshift {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_advise(commands)
    _add_run(commands)
    _add_bench(commands)
    _add_demo(commands)
    _add_trace(commands)
    return parser


def _input_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("function", metavar="MODULE:FUNCTION", help=FUNCTION_HELP)
    p.add_argument(
        "--input", "-i", required=True, metavar="FILE", help="the items: JSON Lines, one JSON value per line"
    )
    p.add_argument("--lines", action="store_true", help="read FILE as plain text instead: each line is one string item")


def _add_advise(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "advise",
        formatter_class=_formatter,
        help="profile a function on a sample of its input and print the plan, with the evidence",
        description="Profile MODULE:FUNCTION on a sample of the input and print what was measured "
        "(time per item, CPU share, payload sizes, async or not), the chosen mode, workers, chunk size, "
        "expected speed-up, and why each other mode lost.  Nothing is written.",
        epilog="""\
examples:
  gearshift advise jobs:crack --input hashes.jsonl
  gearshift advise ./jobs.py:fetch --input urls.txt --lines --json | jq .plan.mode
  gearshift advise jobs:crack --input hashes.jsonl --address tcp://scheduler:8786
""",
    )
    _input_arguments(p)
    p.add_argument("--sample", type=int, default=64, metavar="N", help="how many items to profile on (default 64)")
    add_option_flags(p, "advise")  # --address
    p.add_argument("--json", action="store_true", help="print the same as one JSON object, for scripts")
    p.set_defaults(handler=_lazy("_advise", "advise_command"))


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "run",
        formatter_class=_formatter,
        help="map a function over a file, checkpointed: --resume continues after a crash",
        description="""\
Call MODULE:FUNCTION on every item of the input and write one JSON line per item
to the output, in input order:
  {"index": 0, "value": ...}                                            on success
  {"index": 1, "error": "...", "traceback": "...", "attempts": 1}       on failure

Finished items are checkpointed as they complete (in FILE.gearshift.sqlite beside
the output, or in --store).  If the run is killed (Ctrl-C, SIGKILL, power loss),
run the same command with --resume: finished items are not run again, and the
output ends with every item exactly once, in order.  The output file appears
only once it is complete; the checkpoint file is then removed (a --store is
kept, marked finished; --resume then writes the output again from it).""",
        epilog=f"""\
examples:
  gearshift run jobs:crack --input hashes.jsonl --output found.jsonl
  gearshift run ./jobs.py:fetch --input urls.txt --lines --output pages.jsonl \\
      --mode async --workers 200 --timeout 10 --retries 2 --errors return
  gearshift run jobs:fetch --input urls.txt --lines --output pages.jsonl --resume

{EXIT_CODES}""",
    )
    _input_arguments(p)
    p.add_argument("--output", "-o", required=True, metavar="FILE", help="where to write the results (JSON Lines)")
    g = p.add_argument_group("how to run (as gearshift.map)")
    add_option_flags(g, "run")  # --mode, --workers, --chunksize, --unordered, --timeout, --retries, --errors
    c = p.add_argument_group("checkpoint and display")
    c.add_argument("--resume", action="store_true", help="continue the checkpointed run of this same command")
    c.add_argument(
        "--store",
        metavar="URL",
        help="keep the checkpoint here instead: sqlite:///PATH (a file) or redis://HOST:PORT/DB",
    )
    c.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    c.add_argument("--progress-interval", type=float, default=5.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=_lazy("_run", "run_command"))


def _add_bench(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "bench",
        formatter_class=_formatter,
        help="time every mode and auto on built-in workloads: which model wins on this machine",
        description="Run built-in workloads (CPU-bound pure Python, GIL-releasing CPU, blocking I/O with few "
        "connections, slow I/O with many connections against a local server on 127.0.0.1, tiny tasks) under "
        "every mode and auto, and print the time per mode, the speed-up over sync, the winner and what auto chose.",
        epilog="""\
examples:
  gearshift bench --quick
  gearshift bench --plot bench.png          (needs matplotlib: pip install 'gearshift[plot]')
  gearshift bench --quick --json > bench.json
  gearshift bench --only cpu-loop,tiny
""",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smaller workloads, one run each: under 30 s on 2 idle cores (full: minutes)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="also draw the results as a bar chart")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    p.add_argument("--repeat", type=int, default=None, metavar="N", help="timed runs per mode; the median is kept")
    p.add_argument(
        "--only",
        metavar="NAMES",
        help="run only these workloads, comma-separated (cpu-loop, zlib-small-args, http-blocking, http-async, tiny)",
    )
    p.set_defaults(handler=_lazy("_bench", "bench_command"))


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "demo",
        formatter_class=_formatter,
        help="a one-minute guided tour: four classic jobs, which model wins each, and what auto picks",
        description="Run four classic jobs under every mode: cracking an md5 hash from a wordlist (CPU-bound), "
        "downloading many pages from a slow local server (I/O at scale), a few blocking reads, and trivial work. "
        "Each shows the measured times, the winner, and what mode='auto' chose and why.",
        epilog="example:\n  gearshift demo\n",
    )
    p.add_argument("--quick", action="store_true", help="smaller jobs (for tests and slow machines)")
    p.add_argument(
        "--timeline", nargs="?", const="gearshift-timeline.png", metavar="FILE",
        help="instead, run one job under sync, threads, processes and async, traced, and draw the four "
        "timelines side by side (default file: gearshift-timeline.png; .svg and .html work too)",
    )  # fmt: skip
    p.set_defaults(handler=_lazy("_demo", "demo_command"))


def _add_trace(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "trace",
        formatter_class=_formatter,
        help="summarise a trace written by trace=/--trace, and draw it as a per-worker timeline",
        description="Read a trace written by gearshift.map(..., trace=PATH) or gearshift run --trace PATH "
        "(Chrome's Trace Event Format: Perfetto and chrome://tracing open it too), print what it holds, "
        "and with --plot draw one row per worker: items, failures, timeouts, retries, pickling, worker starts.",
        epilog="example:\n  gearshift trace run.trace.json --plot run.png\n",
    )
    p.add_argument("path", metavar="PATH", help="the trace file (JSON)")
    p.add_argument("--plot", metavar="OUT", help="draw it to OUT (.png, .svg or .html; needs gearshift[plot])")
    p.set_defaults(handler=_lazy("_trace", "trace_command"))


# -- the flags of gearshift.map's options, made from their one definition (gearshift._options.Options):
# each option's flag (name, help, type, choices) is declared on its field, so a new option with a flag
# appears on the command line without an edit here.


def add_option_flags(group: argparse._ArgumentGroup | argparse.ArgumentParser, command: str) -> None:
    """Add the flags of the options ``gearshift COMMAND`` takes to ``group``."""
    defaults = {f.name: f.default for f in dataclasses.fields(Options)}
    for name, flag in cli_flags(command):
        if flag.negates or isinstance(defaults[name], bool):  # a switch (that may turn a default-on option off)
            group.add_argument(flag.flag, action="store_true", help=flag.help)
        else:
            extra: dict[str, Any] = {} if flag.type is None else {"type": flag.type}
            group.add_argument(
                flag.flag, default=defaults[name], choices=flag.choices, metavar=flag.metavar, help=flag.help, **extra
            )


def option_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The options ``gearshift COMMAND`` was given (every one of its flags, defaults included), by option name."""
    values: dict[str, Any] = {}
    for name, flag in cli_flags(command):
        value = getattr(args, flag.flag.removeprefix("--").replace("-", "_"))
        values[name] = not value if flag.negates else value
    return values


def given_flags(args: argparse.Namespace, command: str) -> list[str]:
    """The option flags set to something other than their default (to name them in an error)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Options)}
    values = option_values(args, command)
    return [flag.flag for name, flag in cli_flags(command) if values[name] != defaults[name]]


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        from importlib import import_module

        command: Callable[[argparse.Namespace], int] = getattr(import_module(f"{__name__}.{module}"), name)
        return command(args)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (see ``gearshift run --help``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's own usage errors (status 2)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except UsageError as exc:
        sys.stderr.write(f"gearshift {args.command}: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"gearshift {args.command}: interrupted\n")
        return 130
