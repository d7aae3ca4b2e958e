"""The options of a run, defined once, with their checks.

:class:`Options` is the one definition of the keyword options: each field
carries an option's type, default, check and command-line flag.  The entry
points, ``advise``, the executors and the CLI take them from it;
:class:`~gearshift._option_types.RunOptions` is the same list for type checkers.  Each check names the
bad parameter, what it got, and what to pass instead, before any work starts.
The checks of the other arguments (the function, the items, ``shared=``) are
``_arguments``'s.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

from ._address import engine_options
from ._backends import BACKENDS
from ._record import Field, Record, field, fields
from ._trace import check_trace

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

    from ._option_types import ErrorPolicy as ErrorPolicy
    from ._option_types import ExecutorMode as ExecutorMode
    from ._option_types import Mode as Mode
    from ._option_types import RetryOn as RetryOn
    from ._option_types import RunOptions as RunOptions
else:

    def __getattr__(name: str) -> object:
        """The options' types (gearshift._option_types), for code that reads them at run time."""
        if name in ("ErrorPolicy", "ExecutorMode", "Mode", "RetryOn", "RunOptions"):
            from . import _option_types

            return getattr(_option_types, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MODES: tuple[str, ...] = ("auto", *BACKENDS)
#: ``errors=``'s values (typing.get_args(ErrorPolicy), without loading typing)
ERROR_POLICIES: tuple[str, ...] = ("raise", "return")
#: default ``buffer_bytes``: results held for the caller before reading stops
BUFFER_BYTES = 64 * 2**20


class Flag(Record, frozen=True, slots=True):
    """How an option appears on the command line (``gearshift run`` and/or ``gearshift advise``)."""

    flag: str
    help: str
    commands: tuple[str, ...] = ("run",)
    metavar: str | None = None
    #: converts the flag's text (None: a string)
    type: Callable[[str], Any] | None = None
    #: the values the flag accepts (None: any)
    choices: tuple[str, ...] | None = None
    #: a switch that sets the option to False (``--unordered`` for ``ordered=False``)
    negates: bool = False


def spec(check: Callable[[Options, Any], Any], flag: Flag | None = None) -> dict[str, Any]:
    """An option field's metadata: the function that checks (and normalises) a value, and its CLI flag.

    ``check(options, value)`` sees the options checked before it (fields are
    checked in order), so it can refuse a combination.
    """
    return {"check": check, "flag": flag}


def _check_mode(_: Options, mode: Any) -> Any:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(repr(m) for m in MODES)}; got {mode!r}")
    return mode


def _positive_int(name: str) -> Callable[[Options, Any], int | None]:
    def check(_: Options, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int >= 1 or None, got {type(value).__name__}: {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1 or None (None picks a good value), got {value}")
        return value

    return check


def _as_bool(_: Options, value: Any) -> bool:
    return bool(value)


def _check_timeout(_: Options, timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {type(timeout).__name__}")
    if not timeout > 0 or math.isnan(timeout):
        raise ValueError(f"timeout must be > 0 seconds (or None for no limit), got {timeout}")
    return float(timeout)


def _check_retries(_: Options, retries: Any) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, got {retries!r}")
    return retries


def _check_errors(_: Options, errors: Any) -> Any:
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    return errors


def _check_retry_on(options: Options, value: Any) -> tuple[type[BaseException], ...] | None:
    retry_on = _exception_types(value)
    if retry_on is not None and options.retries == 0:
        raise ValueError(f"retry_on={_names(retry_on)} has no effect with retries=0: pass retries=N (N >= 1) as well")
    return retry_on


def _keep(_: Options, value: Any) -> Any:
    return value  # address= is checked with client=, next


def _check_engine(options: Options, client: Any) -> Any:
    engine, cluster = engine_options(options.mode, options.address, client)
    object.__setattr__(options, "engine", engine)
    object.__setattr__(options, "cluster", cluster)
    return client


def _check_trace(_: Options, trace: Any) -> Any:
    return check_trace(trace)  # the run's _trace.Recorder (a path-like), once the file is known to be writable


def _check_buffer_bytes(_: Options, buffer_bytes: Any) -> int:
    if isinstance(buffer_bytes, bool) or not isinstance(buffer_bytes, int):
        raise TypeError(
            f"buffer_bytes must be an int (a number of bytes, e.g. 256 * 2**20 for 256 MiB), "
            f"got {type(buffer_bytes).__name__}: {buffer_bytes!r:.80}"
        )
    if buffer_bytes < 1:
        raise ValueError(
            f"buffer_bytes must be >= 1 (bytes of results held ahead of the consumer; default "
            f"{BUFFER_BYTES // 2**20} MiB), got {buffer_bytes}"
        )
    return buffer_bytes


#: the modes ``gearshift run`` offers (the engines need a cluster the command line cannot pass)
CLI_MODES = ("auto", "sync", "async", "thread", "process")


class Options(Record, frozen=True, slots=True):
    """The caller's choices for one run, checked: the one definition of every option.

    Each field is an option (its type, default, check and command-line flag);
    constructing an ``Options`` checks every value, in field order, and fills
    in ``engine`` and ``cluster``.

    To add an option, say ``trace: bool = False``: add its field here, with a
    check (``spec(_as_bool)``) and, if the command line takes it, a
    ``Flag("--trace", "help", commands=("run",))``; add the same line
    (``trace: bool``) to :class:`RunOptions`; use ``options.trace`` where it
    acts.  ``map``, ``imap``, ``starmap``, ``amap``, ``aimap`` and ``advise``
    then accept it (type-checked), the CLI grows the flag, and a misspelt one
    is named.  tests/test_options_spec.py fails until both lists agree and the
    option has a flag or a line in its ``NOT_ON_THE_CLI`` saying why not.
    """

    mode: Mode = field(
        default="auto",
        metadata=spec(
            _check_mode, Flag("--mode", "concurrency model (default auto: chosen for the function)", choices=CLI_MODES)
        ),
    )
    workers: int | None = field(
        default=None,
        metadata=spec(
            _positive_int("workers"),
            Flag("--workers", "workers (async: items in flight); default per mode", metavar="N", type=int),
        ),
    )
    chunksize: int | None = field(
        default=None,
        metadata=spec(
            _positive_int("chunksize"),
            Flag("--chunksize", "items per task sent to a worker; default adapts", metavar="N", type=int),
        ),
    )
    ordered: bool = field(
        default=True,
        metadata=spec(
            _as_bool,
            Flag(
                "--unordered",
                "start new items without waiting for slow earlier ones (the output is still in input order)",
                negates=True,
            ),
        ),
    )
    timeout: float | None = field(
        default=None,
        metadata=spec(
            _check_timeout,
            Flag("--timeout", "fail an item that runs longer than this", metavar="SECONDS", type=float),
        ),
    )
    retries: int = field(
        default=0,
        metadata=spec(_check_retries, Flag("--retries", "run a failed item up to N more times", metavar="N", type=int)),
    )
    errors: ErrorPolicy = field(
        default="raise",
        metadata=spec(
            _check_errors,
            Flag(
                "--errors",
                "raise: stop at the first failed item (default); return: record failures in the output and go on",
                choices=ERROR_POLICIES,
            ),
        ),
    )
    #: the CLI shows progress unless --quiet
    progress: bool = field(default=False, metadata=spec(_as_bool))
    #: exception types that are retried (None: every failure, crashes and timeouts included);
    #: one class given is kept as a tuple of one
    retry_on: RetryOn = field(default=None, metadata=spec(_check_retry_on))
    #: a dask scheduler or Ray cluster; checked (and taken from the environment) with ``client``
    address: str | None = field(
        default=None,
        metadata=spec(
            _keep,
            Flag(
                "--address",
                "a dask scheduler (tcp://HOST:8786) or Ray cluster (auto: the local one; ray://HOST:10001) that "
                "auto may send the work to when it pays for the network (default: $GEARSHIFT_DASK_ADDRESS or "
                "$GEARSHIFT_RAY_ADDRESS)",
                commands=("advise",),
                metavar="URL",
            ),
        ),
    )
    #: a ``distributed.Client`` of the caller's (not on the command line: it is a live object)
    client: Any = field(default=None, metadata=spec(_check_engine))
    #: bytes of results completed but not yet handed out to the caller (and expected from the
    #: work in flight) above which no more input is read; at least one chunk always runs
    buffer_bytes: int = field(default=BUFFER_BYTES, metadata=spec(_check_buffer_bytes))
    #: trace=PATH: the run's timeline is written there when it ends (docs/tracing.md); once checked,
    #: the run's ``_trace.Recorder``, which is a path-like of that path
    trace: str | os.PathLike[str] | None = field(
        default=None,
        metadata=spec(
            _check_trace,
            Flag("--trace", "write the run's timeline (Perfetto / chrome://tracing format)", metavar="FILE.json"),
        ),
    )
    #: derived: how to reach a distributed engine, passed as keywords to the backend's constructor
    #: (the ``address`` or ``client`` given or found in the environment); pairs, so Options stays hashable
    engine: tuple[tuple[str, Any], ...] = field(init=False, repr=False)
    #: derived, for ``mode="auto"``: the engine ("dask" or "ray") of the configured cluster
    #: that auto may choose when the work pays for the network; None: none configured
    cluster: str | None = field(init=False)

    def __post_init__(self) -> None:
        for f in OPTION_FIELDS:
            object.__setattr__(self, f.name, f.metadata["check"](self, getattr(self, f.name)))

    @property
    def engine_options(self) -> dict[str, Any]:
        """The engine keywords for the backend constructor (empty for local modes)."""
        return dict(self.engine)


#: the options, in the order they are checked (the fields a caller sets)
OPTION_FIELDS: tuple[Field, ...] = tuple(f for f in fields(Options) if f.init)
OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in OPTION_FIELDS)


def make_options(entry: str = "gearshift.map", /, **options: Any) -> Options:
    """Check every option and return them as :class:`Options`.

    ``entry`` names the function the options were given to, for the error
    about a keyword it does not take.
    """
    for name in options:
        if name not in OPTION_NAMES:
            import difflib  # for the error only

            close = difflib.get_close_matches(name, (*OPTION_NAMES, "shared"), n=1)
            hint = f" (did you mean {close[0]}=?)" if close else ""
            raise TypeError(
                f"{entry}() got an unexpected keyword argument {name!r}{hint}; "
                f"its options are {', '.join(OPTION_NAMES)} and shared"
            )
    return Options(**options)


def cli_flags(command: str) -> Iterator[tuple[str, Flag]]:
    """The options that ``gearshift COMMAND`` takes as flags: (option name, flag), in field order."""
    for f in OPTION_FIELDS:
        flag: Flag | None = f.metadata["flag"]
        if flag is not None and command in flag.commands:
            yield f.name, flag


def _exception_types(value: Any) -> tuple[type[BaseException], ...] | None:
    """``retry_on`` as a tuple of exception classes (one class alone is accepted too)."""
    if value is None:
        return None
    types = value if isinstance(value, tuple) else (value,)
    for t in types:
        if not (isinstance(t, type) and issubclass(t, BaseException)):
            raise TypeError(
                f"retry_on must be an exception class or a tuple of them (e.g. retry_on=(ConnectionError, "
                f"gearshift.TaskTimeout)), got {type(t).__name__}: {t!r:.80}"
            )
    if not types:
        raise ValueError("retry_on=() retries nothing: pass retries=0 instead, or name the exception types")
    return types


def _names(types: tuple[type[BaseException], ...]) -> str:
    return "(" + ", ".join(t.__qualname__ for t in types) + ")"
