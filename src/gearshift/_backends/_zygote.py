"""A clean, pre-imported process that forks process-mode workers (Linux).

Starting a worker as a fresh interpreter costs an interpreter start and the
imports of ``gearshift._worker`` (cloudpickle, dataclasses...), tens of
milliseconds of CPU each, paid again for every worker and every replacement.
A zygote pays that once per pool: it is itself a fresh interpreter (started
with ``python -c``, so the caller's ``__main__`` is never imported and none
of the caller's threads or locks come along), imports what workers need,
starts no thread, and forks a worker on request.  A fork of that small,
single-threaded process is as safe as a fresh interpreter and takes about a
millisecond, which is how ``multiprocessing``'s forkserver starts workers too.

Protocol, over a ``SOCK_SEQPACKET`` socket pair (one message per packet):

    parent -> zygote   b"S" + a pickled environment, with the worker's descriptors attached
                       (SCM_RIGHTS): fork a worker on them, in that environment (the
                       parent's at that moment, as a fresh interpreter would get);
                       the zygote closes its copies
                       b"R" + pid (8 bytes): reap that exited worker
                       b"Q", or end of file: the pool is gone; the zygote exits
                       (a process the caller forked may hold a copy of the socket, so
                       the parent says it rather than rely on end of file)
    zygote -> parent   b"P" + pid: the worker just forked
                       b"X" + pid + returncode (8 bytes each, signed: -N = killed by signal N):
                       that worker exited; it stays a zombie until "R", so its
                       pid (and process group number) cannot be reused before the
                       parent has killed what it left in its group

Workers are the zygote's children: it watches each through a pidfd (Linux
5.3+).  Each worker leads its own process group, as a worker started by
``Popen(process_group=0)`` does, and dies with the zygote
(``PR_SET_PDEATHSIG``), which dies with the pool's manager thread.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

from .. import _sigmask

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any, NoReturn

#: the zygote's own start: what every worker needs is imported once, here
_BOOT = _sigmask.UNBLOCK_IN_CHILD + (
    "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); import sys; sys.path.insert(0, {path!r}); "
    "from gearshift._backends._zygote import serve; serve(int(sys.argv[1]))"
)
_PID = struct.Struct("<q")
_EXIT = struct.Struct("<qq")
#: worker descriptors sent per request, at most (two pipes, the outcome logs)
_MAX_FDS = 16
#: the largest request (its environment): a bigger one fails, and the pool starts fresh interpreters
_MAX_REQUEST = 1 << 20


def available() -> bool:
    """Whether workers can be forked from a zygote here (Linux with pidfds and SCM_RIGHTS)."""
    return sys.platform.startswith("linux") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


class Zygote:
    """The parent's end: start the zygote, ask it for workers, learn how they ended.

    Used only by the pool's manager thread, like everything about workers.
    """

    def __init__(self, package_parent: str, env: dict[str, str] | None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    *subprocess._args_from_interpreter_flags(),  # type: ignore[attr-defined]
                    "-c",
                    _BOOT.format(path=package_parent),
                    str(theirs.fileno()),
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
                process_group=0,  # the terminal's Ctrl-C is the parent's to handle
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._exits: dict[int, int] = {}  # exited workers not yet reaped: pid -> returncode

    def spawn(self, fds: list[int], env: dict[str, str]) -> ForkedWorker:
        """Fork a worker on these descriptors, in ``env`` (the caller closes its own copies as usual)."""
        socket.send_fds(self._sock, [b"S" + pickle.dumps(env)], fds)
        while True:
            kind, payload = self._receive(None)
            if kind == b"P":
                return ForkedWorker(self, _PID.unpack(payload)[0])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def collect(self, timeout: float | None) -> None:
        """Take the exit reports that arrive within ``timeout`` seconds (None: wait for one)."""
        kind, _ = self._receive(timeout)
        while kind:
            kind, _ = self._receive(0.0)

    def reap(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            self._sock.send(b"R" + _PID.pack(pid))

    def close(self) -> None:
        """Let the zygote go (its workers are reaped already) and reap it."""
        with contextlib.suppress(OSError):
            self._sock.send(b"Q")
        self._sock.close()
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _receive(self, timeout: float | None) -> tuple[bytes, bytes]:
        """One message (recording exits), or (b"", b"") if none came within ``timeout``."""
        if self._sock.fileno() < 0:  # (closed at the interpreter's exit while a pool's manager still reaps)
            raise EOFError("the zygote that forks process workers was let go")
        if timeout is not None:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
            if not ready:
                return b"", b""
        message = self._sock.recv(64)
        if not message:
            raise EOFError("the zygote that forks process workers died")
        kind, payload = message[:1], message[1:]
        if kind == b"X":
            pid, code = _EXIT.unpack(payload)
            self._exits[pid] = code
        return kind, payload


class ForkedWorker:
    """What the pool needs of a worker forked by the zygote: ``subprocess.Popen``'s pid, poll, wait and kill."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code if it has exited (it is then reaped), else None."""
        if self.returncode is None:
            with contextlib.suppress(EOFError, OSError):
                self.zygote.collect(0.0)
            self._take()
        return self.returncode

    def wait_exit(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for it to exit, without reaping it; True if it has."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pid not in self.zygote._exits and self.returncode is None:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                self.zygote.collect(remaining)
            except (EOFError, OSError):  # the zygote died: so did its workers (PR_SET_PDEATHSIG)
                self.zygote._exits.setdefault(self.pid, -signal.SIGKILL)
        return True

    def wait(self) -> int:
        """Wait for its exit and reap it; its exit code (-N: killed by signal N)."""
        self.wait_exit(None)
        self._take()
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def _take(self) -> None:
        code = self.zygote._exits.pop(self.pid, None)
        if code is not None:
            self.returncode = code
            self.zygote.reap(self.pid)


# -- the zygote process -----------------------------------------------------------------


def serve(fd: int) -> None:
    """The zygote's loop: fork workers on request, report how they end, until the parent goes."""
    _die_with_parent()
    sock = socket.socket(fileno=fd)
    import gearshift._worker  # noqa: F401 - imported once here, inherited by every worker
    from gearshift._worker import main as worker_main

    assert threading.active_count() == 1, "a zygote must have one thread to fork safely"
    watched: dict[int, int] = {}  # pidfd -> pid of a running worker
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    while True:
        for ready, _ in poller.poll():
            if ready != sock.fileno():
                pid = watched.pop(ready)
                poller.unregister(ready)
                os.close(ready)
                sock.send(b"X" + _EXIT.pack(pid, _returncode(pid)))
                continue
            message, fds, _, _ = socket.recv_fds(sock, _MAX_REQUEST, _MAX_FDS)
            if not message or message[:1] == b"Q":  # the pool is gone
                _leave()
            if message[:1] == b"R":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(_PID.unpack(message[1:])[0], 0)
                continue
            if message[:1] != b"S" or not fds:  # nothing else is ever sent
                for stray in fds:
                    os.close(stray)
                continue
            pid = os.fork()
            if pid == 0:
                sock.close()
                for pidfd in watched:
                    os.close(pidfd)
                _run_worker(worker_main, fds, pickle.loads(message[1:]))
            for worker_fd in fds:
                os.close(worker_fd)
            pidfd = os.pidfd_open(pid)
            watched[pidfd] = pid
            poller.register(pidfd, select.POLLIN)
            sock.send(b"P" + _PID.pack(pid))


def _run_worker(worker_main: Any, fds: list[int], env: dict[str, str]) -> None:
    """In the forked child: become a worker; never return to the zygote's loop."""
    code = 1
    try:
        os.setpgid(0, 0)  # its own process group, like Popen(process_group=0)
        if env != os.environ:  # (os.environ writes through to the C environment native libraries read)
            os.environ.clear()
            os.environ.update(env)
        worker_main(*fds)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        _leave(code)


def _leave(code: int = 0) -> NoReturn:
    """End this process now, as a fresh interpreter would end (the exit handlers, the buffered
    output), then ``os._exit``: a worker, or the zygote told to go.

    The zygote never ran the caller's code, so the interpreter's finalization would only
    tear down its own imports: about 10 ms of it (measured on the suite's host),
    which the pool's shutdown waits for, so every one-shot script's exit did.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _returncode(pid: int) -> int:
    """How the exited child ``pid`` ended, without reaping it (Popen's convention)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        return -signal.SIGKILL
    if info is None:
        return -signal.SIGKILL
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return -info.si_status


def _die_with_parent() -> None:
    """The zygote never outlives the pool's manager thread, and its workers never outlive it."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        pass
    if os.getppid() != parent:
        os._exit(1)


# -- started early: the first pool's zygote boots while the parent still imports ----------

#: where ``gearshift`` is imported from (the zygote puts it first on its path)
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_early_lock = threading.Lock()
#: a zygote started by :func:`start_early` and the environment it was started in, until a pool takes it
_early: tuple[Zygote, dict[str, str]] | None = None


def wanted() -> bool:
    """Whether process pools fork their workers from a zygote here (``GEARSHIFT_ZYGOTE=0`` says no)."""
    return available() and os.environ.get("GEARSHIFT_ZYGOTE", "1") != "0"


def start_early(*, lifelong: bool = False) -> bool:
    """Start a zygote now, for the first process pool of this interpreter to take.

    A script's first ``mode="process"`` call imports the process backend (tens
    of milliseconds) before its pool asks for a zygote, which then boots for
    tens of milliseconds more; started here, before those imports, the zygote
    boots on another CPU meanwhile.  Only on the main thread: a zygote dies
    with the thread that started it (``PR_SET_PDEATHSIG``), and the pool's
    workers with the zygote, so it must be a thread that lives as long as the
    interpreter (``lifelong``: the caller's thread does, as auto's lookahead
    watcher).  An early zygote no pool takes exits with the interpreter, or
    at :func:`drop_early`.  Returns whether it started one (the caller's thread must then live on).
    """
    global _early
    if not wanted() or not (lifelong or threading.current_thread() is threading.main_thread()):
        return False
    with _early_lock:
        if _early is not None:
            return False
        _early = (Zygote(PACKAGE_PARENT, None), dict(os.environ))
        return True


def start_for_auto(*, lifelong: bool = True) -> bool:
    """:func:`start_early` for auto (``lifelong``: called from a thread that lives on; else the
    main thread only): not when a process pool was started before (it has its zygote, or the next
    one takes its own) or one CPU leaves processes out of the question.  Returns whether it started one."""
    if "gearshift._backends._process" in sys.modules:
        return False
    from .._cpu import usable_cpus

    return usable_cpus() >= 2 and start_early(lifelong=lifelong)


def take_early() -> Zygote | None:
    """The early zygote, if there is one, it is alive and this process's environment is as it started in.

    (Its workers' own environments, thread caps included, come with each
    request to fork one, as for any zygote, see ``_run_worker``.)
    """
    early = _pop_early()
    if early is None:
        return None
    zygote, started_in = early
    if started_in == os.environ and zygote.alive():
        return zygote
    zygote.close()
    return None


def drop_early() -> None:
    """Let an early zygote go (the run that started it failed before its pool started)."""
    early = _pop_early()
    if early is not None:
        early[0].close()


def _pop_early() -> tuple[Zygote, dict[str, str]] | None:
    global _early
    with _early_lock:
        early, _early = _early, None
    return early


def _forget_early_in_child() -> None:
    # A child forked by the caller must not take its parent's zygote (its copy of the socket
    # is closed with the object, which the parent still holds).
    global _early
    _early = None


os.register_at_fork(after_in_child=_forget_early_in_child)
