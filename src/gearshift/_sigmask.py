"""Ctrl-C reaches the main thread: gearshift's own threads keep the terminal signals blocked.

A signal sent to the process (Ctrl-C, ``kill``) goes to one of its threads.
CPython runs the Python handler (``KeyboardInterrupt``) on the main thread,
but only a main thread that *received* the signal is woken from a blocking
call such as ``time.sleep`` in the user's function; otherwise it sees the
signal when that call returns.  Linux offers the signal to the main thread
first, yet while it waits there to be taken, any other thread that creates a
thread, starts a process or changes its signal mask takes it itself (the
kernel recomputes that thread's pending signals then).  Auto's threads do all
three while the first item runs on the calling thread: on a 2-CPU host with
four busy loops, a Ctrl-C sent 0.1 s into a first item that sleeps 8 s came
when the sleep ended in 6 of 200 runs before this module, 0 of 200 after, and
in a busier hour 34 of 200 before, 2 of 200 after (``benchmarks/ctrl_c_delivery.py``,
``benchmarks/results/ctrl-c-delivery.json``, ``ctrl-c-delivery-final.json``;
the thread that took it, seen with strace, was the lookahead's watcher, which
starts the pool threads).

So the threads gearshift runs for itself (:func:`service`: the lean start's
helper, the lookahead's watcher, the process manager, the watchdog, the native
pool control) block :data:`TERMINAL` for their whole life; blocking never takes
a signal.  The threads they start for the user's function (:func:`user`: the
pool threads) get the signal mask the user's thread had back, first passing a
terminal signal that waits to be taken on to the main thread, and the worker
processes gearshift starts unblock them in their first line
(:data:`UNBLOCK_IN_CHILD`): a process inherits the mask of the thread that
started it.  Where signal masks do not exist (Windows), all of this is nothing.
"""

from __future__ import annotations

import _thread

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)

if TYPE_CHECKING:
    import signal as _signal
    from collections.abc import Callable
    from typing import Any, TypeVar

    _F = TypeVar("_F", bound=Callable[..., Any])
else:
    # (loaded at start, unlike signal, its wrapper, and typing: the lean start and the quick path load neither)
    import _signal

__all__ = ["TERMINAL", "UNBLOCK_IN_CHILD", "blocked_here", "service", "user", "users_code"]

#: the signals a terminal or a process manager sends to stop a program
TERMINAL: frozenset[int] = frozenset(
    getattr(_signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(_signal, name)
)
_MASKS = hasattr(_signal, "pthread_sigmask")

#: the first statement of a worker process's command (see the module's docstring)
UNBLOCK_IN_CHILD = (
    f"import signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, {sorted(TERMINAL)!r}); " if _MASKS else ""
)

#: per thread: the terminal signals the user's thread had blocked, in a :func:`service` thread only
_local = _thread._local()


def blocked_here() -> frozenset[int]:
    """The terminal signals this thread blocks now."""
    if not _MASKS:
        return frozenset()
    return frozenset(_signal.pthread_sigmask(_signal.SIG_BLOCK, ())) & TERMINAL


def _users() -> frozenset[int] | None:
    """In a :func:`service` thread, what the user's thread blocked; None in any other thread."""
    users: frozenset[int] | None = getattr(_local, "users", None)
    return users


def service(fn: _F) -> _F:
    """``fn`` as the target of a thread gearshift runs for itself: the terminal signals stay blocked in it.

    Wrap in the thread that starts the new one: it notes what the user's thread blocks.
    """
    if not _MASKS:
        return fn
    users = _users()
    if users is None:
        users = blocked_here()

    def quiet(*args: Any, **kwargs: Any) -> Any:
        _signal.pthread_sigmask(_signal.SIG_BLOCK, TERMINAL)
        _local.users = users
        return fn(*args, **kwargs)

    return quiet  # type: ignore[return-value]


def user(fn: _F) -> _F:
    """``fn`` as the target of a thread that runs the user's function: the signal mask the user's thread had.

    Wrap in the thread that starts the new one; started from a :func:`service`
    thread, the new thread first passes on to the main thread a terminal signal
    that waits to be taken (unblocking would take it), then unblocks.
    """
    users = _users() if _MASKS else None
    if users is None:
        return fn  # started from the user's thread (or one of its own): its mask is the right one

    def loud(*args: Any, **kwargs: Any) -> Any:
        _unblock(TERMINAL - users)
        return fn(*args, **kwargs)

    return loud  # type: ignore[return-value]


class users_code:
    """A block in which a :func:`service` thread runs the user's code (auto's lookahead reading their
    input: a generator may start a process): the user's mask meanwhile, then blocked again."""

    __slots__ = ("_users",)

    def __enter__(self) -> None:
        self._users = _users() if _MASKS else None
        if self._users is not None:
            _unblock(TERMINAL - self._users)

    def __exit__(self, *exc: object) -> None:
        if self._users is not None:
            _signal.pthread_sigmask(_signal.SIG_BLOCK, TERMINAL)


def _unblock(signals: frozenset[int]) -> None:
    """Unblock ``signals`` in this thread; one waiting to be taken goes to the main thread instead.

    Nothing between the look and the unblock lets the GIL go (both calls keep it),
    so they are microseconds apart even while many threads compute; a look that
    released it (``sigtimedwait``) left a window of milliseconds on a loaded host
    in which a Ctrl-C was still taken here (seen by hand).  A signal sent between
    the two is still taken here: microseconds apart on a quiet host, but the
    machine may hold the thread between them (2 of 200 runs with four busy loops
    on two CPUs: see the module's docstring).
    """
    while True:
        waiting = frozenset(_signal.sigpending()) & signals
        if not waiting:
            _signal.pthread_sigmask(_signal.SIG_UNBLOCK, signals)
            return
        import threading

        main = threading.main_thread().ident
        for signum in waiting:
            if _signal.sigtimedwait({signum}, 0) is not None and main is not None:
                _signal.pthread_kill(main, signum)
