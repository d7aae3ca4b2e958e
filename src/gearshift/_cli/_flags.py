"""The command-line flags of ``gearshift.map``'s options, made from their one definition.

Each option's flag (name, help, type, choices) is declared on its field of
:class:`gearshift._options.Options`; this module turns those into
``argparse`` arguments and reads them back as keyword options.  A new option
with a flag appears on the command line without an edit here.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .._options import Options, cli_flags


def add_option_flags(group: argparse._ArgumentGroup | argparse.ArgumentParser, command: str) -> None:
    """Add the flags of the options ``gearshift COMMAND`` takes to ``group``."""
    defaults = {f.name: f.default for f in dataclasses.fields(Options)}
    for name, flag in cli_flags(command):
        if flag.negates:  # a switch that turns a default-on option off
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
