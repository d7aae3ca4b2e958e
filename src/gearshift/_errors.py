"""Errors and outcome types that callers see.

Every class here is named after the condition it reports, and its docstring
says when it happens and what to do about it.  The user's own exceptions are
never wrapped: they arrive with their own type, and when they come from another
process the worker's traceback is attached as ``__cause__``.
"""

from __future__ import annotations

from ._record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Failure",
    "GearshiftError",
    "MissingDependencyError",
    "RemoteError",
    "RemoteTraceback",
    "TaskTimeout",
    "UnpicklableError",
    "WorkerCrashed",
]


class GearshiftError(Exception):
    """Base class of the errors gearshift raises itself (never of the user's own)."""


class TaskTimeout(GearshiftError, TimeoutError):
    """An item ran longer than ``timeout=`` seconds.

    In ``process`` mode the worker running it was stopped; in ``async`` mode
    the coroutine was cancelled; in ``thread`` mode the thread cannot be stopped,
    so the result is discarded when it comes.  Raise ``timeout=`` or make the
    work smaller.
    """

    def __init__(self, message: str, *, index: int | None = None, timeout: float | None = None):
        super().__init__(message)
        self.index = index
        self.timeout = timeout

    def __reduce__(self) -> Any:
        return (_rebuild_keyword_error, (type(self), str(self), {"index": self.index, "timeout": self.timeout}))


class WorkerCrashed(GearshiftError):
    """The worker process died while it held this item.

    It happens when the process is killed (the OOM killer, a signal), segfaults
    or calls ``os._exit``.  Only the items that worker held are affected; the
    worker is replaced and the run goes on.  ``exitcode`` is the process exit
    code (negative: killed by that signal).  ``step`` names the pickle step the
    worker died in (``"unpickling the item in the worker"``: the item never
    reached the function, and like every pickle fault it is not retried), or
    is None when it died running the item.
    """

    def __init__(self, message: str, *, index: int | None = None, exitcode: int | None = None, step: str | None = None):
        super().__init__(message)
        self.index = index
        self.exitcode = exitcode
        self.step = step

    def __reduce__(self) -> Any:
        attrs = {"index": self.index, "exitcode": self.exitcode, "step": self.step}
        return (_rebuild_keyword_error, (type(self), str(self), attrs))


class UnpicklableError(GearshiftError, TypeError):
    """A function, item or result could not be pickled or unpickled to cross between processes.

    ``process`` mode ships work to other processes, so everything it sends must
    pickle, and unpickle on the other side.  ``step`` names where it failed
    (``"pickling the item"``, ``"unpickling the item in the worker"``,
    ``"pickling the result in the worker"``, ``"unpickling the result"``; None
    when not known) and ``index`` the item (None when not known).  Only that
    item fails.  Define functions at module level, pass and return plain data,
    or use ``mode="thread"`` which shares memory and needs no pickling.
    """

    def __init__(self, message: str, *, index: int | None = None, step: str | None = None):
        super().__init__(message)
        self.index = index
        self.step = step

    def __reduce__(self) -> Any:
        return (_rebuild_keyword_error, (type(self), str(self), {"index": self.index, "step": self.step}))


class MissingDependencyError(GearshiftError, ImportError):
    """An optional engine was asked for but is not installed; the message gives the command."""


class RemoteError(GearshiftError):
    """Stands in for an exception raised in a worker that could not be pickled back.

    ``type_name`` is the qualified name of the original exception type; the
    message and the remote traceback are kept.
    """

    def __init__(self, type_name: str, message: str, traceback: str = ""):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback = traceback

    def __reduce__(self) -> Any:
        return (RemoteError, (self.type_name, self.message, self.traceback))


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback; attached as ``__cause__`` of remote errors."""

    def __init__(self, traceback: str):
        super().__init__(traceback)
        self.traceback = traceback

    def __str__(self) -> str:
        return f'\n"""\n{self.traceback.rstrip()}\n"""'


def _rebuild_keyword_error(cls: type[Exception], message: str, attrs: dict[str, Any]) -> Exception:
    return cls(message, **attrs)


class Failure(Record, frozen=True, slots=True):
    """Stands in the results for an item that failed, when ``errors="return"``.

    ``index`` is the item's position in the input, ``exception`` what it raised
    (or :class:`TaskTimeout` / :class:`WorkerCrashed`), ``traceback`` the
    traceback as text (the worker's, for remote work) and ``attempts`` how many
    times it ran.
    """

    index: int
    exception: BaseException
    traceback: str
    attempts: int = 1

    def __repr__(self) -> str:
        return f"Failure(index={self.index}, exception={self.exception!r}, attempts={self.attempts})"
