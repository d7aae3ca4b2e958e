"""``gearshift trace PATH [--plot OUT]``: what a trace written by ``trace=``/``--trace`` holds, drawn."""

from __future__ import annotations

import argparse
import sys

from .._trace_format import TraceFileError, read, summary
from ._inputs import UsageError


def trace_command(args: argparse.Namespace) -> int:
    if args.plot is not None:
        from ._trace_plot import check_output

        check_output(args.plot)  # before reading a big file: the chart must be drawable
    try:
        doc = read(args.path)
    except TraceFileError as exc:
        raise UsageError(str(exc)) from None
    sys.stdout.write(f"{args.path}: {summary(doc)}\n")
    if args.plot is not None:
        from ._trace_plot import plot_trace

        plot_trace(doc, args.plot, title=args.path)
        sys.stdout.write(f"drew {args.plot}\n")
    return 0
