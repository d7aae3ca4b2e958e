"""What the commands read from the user: ``MODULE:FUNCTION`` and the input file.

Every mistake here is the user's to fix, so each one raises :class:`UsageError`
with one line that says what was wrong and what to do; the command line prints
it without a traceback and exits with status 2.
"""

from __future__ import annotations

import importlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A mistake in the command line or its input files (exit status 2)."""


def load_function(spec: str) -> Callable[..., Any]:
    """Import ``MODULE:FUNCTION``; MODULE is a dotted module on ``sys.path`` or a path to a ``.py`` file.

    A ``.py`` file is imported under its own name with its folder put first on
    ``sys.path``, as ``python FILE`` would; the current directory is on the path
    as well.  A module found through one of those folders travels to worker
    processes by value (cloudpickle), so workers started before the path
    changed can run it too.
    """
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"expected MODULE:FUNCTION (for example jobs:crack, mypkg.jobs:crack or ./jobs.py:crack), got {spec!r}"
        )
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        module, folder = _import_file(Path(module_name))
    else:
        folder = os.getcwd()
        if folder not in sys.path and "" not in sys.path:
            sys.path.insert(0, folder)
        module = _import_module(module_name, attr)
    _ship_by_value_if_local(module, folder)
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            known = f" (its functions: {', '.join(names[:12])})" if names else ""
            raise UsageError(f"module {module_name!r} has no function {attr!r}{known}") from None
    if not callable(target):
        raise UsageError(f"{spec} is not a function (it is {type(target).__name__} {target!r:.40})")
    return target  # type: ignore[no-any-return]


def _ship_by_value_if_local(module: Any, folder: str) -> None:
    origin = getattr(module, "__file__", None)
    if origin is None or not Path(origin).resolve().is_relative_to(Path(folder).resolve()):
        return  # an installed module: workers import it by name
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)


def _import_file(path: Path) -> tuple[Any, str]:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    if path.suffix != ".py":
        raise UsageError(f"{path} is not a Python file (.py)")
    path = path.resolve()
    folder, name = str(path.parent), path.stem
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == path:
            return loaded, folder
        raise UsageError(f"{path.name} has the name of the module {name!r} that is already imported; rename the file")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return _import_module(name, ""), folder


def _import_module(name: str, attr: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise UsageError(
                f"cannot import module {name!r}: it was not found on sys.path (run gearshift from the folder "
                f"that contains it, or give a file path such as ./{name.replace('.', '/')}.py:{attr or 'FUNCTION'})"
            ) from None
        raise UsageError(f"importing {name!r} failed: {exc}") from None
    except SystemExit as exc:
        # sys.exit() at import time (a script's `if` guard forgotten): a usage error, not our exit status.
        raise UsageError(
            f"importing {name!r} failed: the module exited while being imported, with sys.exit({exc.code!r})"
            f'{_where(exc)}; put the code that runs the script under `if __name__ == "__main__":`'
        ) from None
    except Exception as exc:
        raise UsageError(f"importing {name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}") from None


def _where(exc: BaseException) -> str:
    """`` (FILE, line N)`` of the innermost frame: the user's line, not importlib's."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        where = f" ({tb.tb_frame.f_code.co_filename}, line {tb.tb_lineno})"
        tb = tb.tb_next
    return where


class InputFile:
    """The items of a run, read lazily from a file: JSON Lines by default, plain lines with ``lines=True``.

    JSON Lines: each line is one JSON value, one item; blank lines are skipped.
    Plain lines: each line is one string item, without its line ending.
    :meth:`scan` reads the whole file once before any work starts, so a
    malformed line N is reported at once (with N), and the total is known.
    """

    def __init__(self, path: str | Path, *, lines: bool = False) -> None:
        self.path = Path(path)
        self.lines = lines
        self.format = "lines" if lines else "jsonl"

    def identity(self) -> dict[str, Any]:
        """What identifies this input for ``--resume``: absolute path, size and modification time."""
        try:
            st = self.path.stat()
        except OSError as exc:
            raise UsageError(f"cannot read input {self.path}: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(
                f"input {self.path} is not a regular file; it is read twice (checked, then run), "
                "so save a pipe's output to a file first"
            )
        return {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "format": self.format}

    def scan(self) -> int:
        """Check every line and return the number of items."""
        return sum(1 for _ in self._items(check_only=True))

    def __iter__(self) -> Iterator[Any]:
        return self._items(check_only=False)

    def _items(self, *, check_only: bool) -> Iterator[Any]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise UsageError(f"cannot read input {self.path}: {exc.strerror}") from None
        with handle:
            for number, raw in enumerate(handle, 1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise UsageError(f"{self.path}, line {number}: not UTF-8 text") from None
                if self.lines:
                    yield text.rstrip("\r\n") if text.endswith("\n") else text
                    continue
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise UsageError(_json_error(self.path, number, text, exc)) from None
                yield None if check_only else value


#: characters of the offending line quoted in a JSON error
_QUOTE = 60


def _json_error(path: Path, number: int, text: str, exc: json.JSONDecodeError) -> str:
    """Line ``number``'s JSON error, with the column counted in that line and the text around it.

    ``json`` counts positions in the text it was given, which ends with the
    line's newline: an error at the end of the line (a value cut short) would
    be reported at "line 2, column 1", which is the next line.
    """
    line = text.rstrip("\r\n")
    pos = min(exc.pos, len(line))
    begin = max(0, pos - _QUOTE // 2)
    shown = line[begin : begin + _QUOTE]
    quote = ("..." if begin else "") + shown + ("..." if begin + _QUOTE < len(line) else "")
    return (
        f"{path}, line {number}: not valid JSON at column {pos + 1} ({exc.msg}): {quote!r}; "
        "each line must be one JSON value, or pass --lines to read plain text lines"
    )
