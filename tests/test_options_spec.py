"""The options are defined once (gearshift._options.Options), and everything else follows from that.

RunOptions (the type checker's view) lists the same options with the same
types; every entry point and ``advise`` take each option and name a wrong one
in their own words; the CLI's flags come from the definition, and every option
is either on the command line or listed here as not, with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import typing

import pytest

import gearshift
from gearshift import _option_types
from gearshift._backends import BACKENDS
from gearshift._cli import build_parser, option_values
from gearshift._options import (
    ERROR_POLICIES,
    MODES,
    OPTION_FIELDS,
    OPTION_NAMES,
    ErrorPolicy,
    ExecutorMode,
    Mode,
    Options,
    RunOptions,
    cli_flags,
    make_options,
)
from helpers import double

#: options the command line does not take, and why (a new option must be added here or get a flag)
NOT_ON_THE_CLI = {
    "progress": "gearshift run always shows progress on a terminal (--quiet turns it off)",
    "retry_on": "exception classes are Python objects",
    "client": "a distributed.Client is a live object",
    "buffer_bytes": "gearshift run writes results as they come, so they never pile up",
}


def test_run_options_lists_every_option_with_the_same_type() -> None:
    typed = typing.get_type_hints(RunOptions)
    # (Options names the types only for type checkers: gearshift._option_types defines them)
    defined = typing.get_type_hints(Options, localns=vars(_option_types))
    # errors= is each entry point's own keyword (it selects the result type), the rest come from RunOptions
    assert [*typed, "errors"] == [name for name in OPTION_NAMES if name != "errors"] + ["errors"]
    for name, hint in typed.items():
        assert hint == defined[name], name
    assert defined["errors"] == ErrorPolicy


def test_the_mode_literals_are_the_modes() -> None:
    assert typing.get_args(Mode) == MODES
    assert typing.get_args(ExecutorMode) == BACKENDS
    assert typing.get_args(ErrorPolicy) == ERROR_POLICIES == ("raise", "return")


def test_every_option_has_a_check_and_its_default_passes_it() -> None:
    for f in OPTION_FIELDS:
        assert callable(f.metadata["check"]), f.name
    assert make_options() == Options()


ENTRY_POINTS = {
    "map": lambda **kw: gearshift.map(double, [1, 2], **kw),
    "imap": lambda **kw: list(gearshift.imap(double, [1, 2], **kw)),
    "starmap": lambda **kw: gearshift.starmap(double, [(1,), (2,)], **kw),
    "amap": lambda **kw: asyncio.run(gearshift.amap(double, [1, 2], **kw)),
    "aimap": lambda **kw: asyncio.run(_collect(gearshift.aimap(double, [1, 2], **kw))),
}


async def _collect(results: typing.AsyncIterator[int]) -> list[int]:
    return [r async for r in results]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("name", [n for n in OPTION_NAMES if n != "mode"])
def test_every_entry_point_takes_every_option(entry: str, name: str) -> None:
    default = next(f.default for f in OPTION_FIELDS if f.name == name)
    assert ENTRY_POINTS[entry](mode="sync", **{name: default}) == [2, 4]


@pytest.mark.parametrize("entry", [*ENTRY_POINTS, "advise"])
def test_an_unknown_option_is_named_by_the_entry_point(entry: str) -> None:
    call = ENTRY_POINTS.get(entry, lambda **kw: gearshift.advise(double, [1, 2], **kw))
    with pytest.raises(TypeError, match=rf"^gearshift\.{entry}\(\) got an unexpected keyword argument 'wrkers' "
                       r"\(did you mean workers=\?\); its options are mode, workers, .* and shared$"):  # fmt: skip
        call(mode="sync", wrkers=2)


def test_a_mode_held_in_a_plain_str_is_accepted_at_run_time() -> None:
    mode: str = "sync"  # what a type checker refuses (mode is a Literal) still runs, and a bad one is named
    assert gearshift.map(double, [1], mode=mode) == [2]  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="mode must be one of 'auto', 'sync', .*; got 'proces'"):
        gearshift.map(double, [1], mode="proces")  # type: ignore[call-overload]


def test_options_are_checked_again_when_replaced() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        dataclasses.replace(make_options(), workers=0)


# -- the command line --------------------------------------------------------------------------


def _subcommand(name: str) -> typing.Any:
    parser = build_parser()
    actions = next(a for a in parser._actions if a.dest == "command")
    return actions.choices[name]  # type: ignore[index]


def test_every_option_is_on_the_command_line_or_says_why_not() -> None:
    flagged = {name for command in ("run", "advise") for name, _ in cli_flags(command)}
    assert flagged | set(NOT_ON_THE_CLI) == set(OPTION_NAMES)
    assert not flagged & set(NOT_ON_THE_CLI)


@pytest.mark.parametrize("command", ["run", "advise"])
def test_the_cli_flags_are_the_options_flags(command: str) -> None:
    parser = _subcommand(command)
    flags = {option for action in parser._actions for option in action.option_strings}
    for name, flag in cli_flags(command):
        assert flag.flag in flags, (name, flag.flag)
        action = next(a for a in parser._actions if flag.flag in a.option_strings)
        assert action.help == flag.help
        if flag.choices is not None:
            assert set(flag.choices) <= set(MODES) | {"raise", "return"}
            assert tuple(action.choices) == flag.choices


def test_cli_flags_become_the_same_options_as_the_keywords() -> None:
    args = build_parser().parse_args(
        ["run", "m:f", "-i", "in.jsonl", "-o", "out.jsonl", "--mode", "thread", "--workers", "3", "--chunksize", "2",
         "--unordered", "--timeout", "1.5", "--retries", "2", "--errors", "return"]
    )  # fmt: skip
    assert make_options(**option_values(args, "run")) == make_options(
        mode="thread", workers=3, chunksize=2, ordered=False, timeout=1.5, retries=2, errors="return"
    )
    defaults = build_parser().parse_args(["run", "m:f", "-i", "in.jsonl", "-o", "out.jsonl"])
    assert make_options(**option_values(defaults, "run")) == make_options()
    advise = build_parser().parse_args(["advise", "m:f", "-i", "in.jsonl", "--address", "tcp://h:8786"])
    assert option_values(advise, "advise") == {"address": "tcp://h:8786"}
