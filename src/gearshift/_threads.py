"""The thread pool under ``thread`` mode, ``async`` mode's plain functions and timed ``sync`` chunks.

Like the standard library's pool (same thread names, initializer, idle-thread
reuse, ``BrokenThreadPool`` when an initializer fails) with two differences
that reliability needs:

* Its threads are daemons.  At interpreter exit the work still running is
  waited for, as with the standard library, *except* work the runner aborted
  (a run stopped by Ctrl-C or an error): a thread cannot be stopped, and
  nobody wants that result, so exit does not hang on it.  A Ctrl-C during the
  wait at exit stops waiting.
* A chunk under ``timeout=`` runs watched (``_watch.py``); when its late item
  is abandoned, a replacement thread starts so the pool keeps its capacity.

Given ``native_share`` (``mode="thread"``), the pool caps the process's native
thread pools (BLAS, OpenMP) to that many threads while its chunks are in
flight (:class:`NativeCap`): its threads and theirs would oversubscribe the CPUs.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures.thread import BrokenThreadPool

from . import _sigmask
from ._task import Task
from ._task_run import close_thread_loop, execute
from ._watch import watch_chunk

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

_live: weakref.WeakSet[ThreadPool] = weakref.WeakSet()
#: seconds between looks at which threads :meth:`ThreadPool.shutdown` still has to wait for
_JOIN_RECHECK = 0.05


class ThreadPool:
    """Up to ``workers`` daemon threads running :class:`Task` objects."""

    def __init__(
        self,
        workers: int,
        name: str,
        initializer: Any = None,
        initargs: tuple[Any, ...] = (),
        *,
        native_share: int | None = None,
    ) -> None:
        self.workers = workers
        self._share = native_share
        self._name = name
        self._init = (initializer, initargs)
        self._queue: queue.SimpleQueue[tuple[Task, Future[Any]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Semaphore(0)
        self._threads: set[threading.Thread] = set()  # serving (abandoned ones are forgotten)
        self._current: dict[threading.Thread, Future[Any]] = {}
        self._aborted: weakref.WeakSet[Future[Any]] = weakref.WeakSet()
        self._numbers = itertools.count()
        self._closed = False
        self._broken: str | None = None
        self._ref = weakref.ref(self, lambda _, q=self._queue: q.put(None))  # type: ignore[misc]
        _live.add(self)

    def submit(self, task: Task) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._broken is not None:
                raise BrokenThreadPool(self._broken)
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.put((task, future))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self.workers:
                try:
                    self._start()
                except BaseException:
                    # Interrupted (Ctrl-C while the thread starts): the caller never gets this
                    # future, so nobody could abort it; drop it here, or exit would wait for it.
                    if not future.cancel():
                        self._aborted.add(future)
                    raise
        return future

    def abort(self, futures: list[Future[Any]]) -> None:
        """These futures' results are unwanted: exit need not wait for them."""
        for future in futures:
            self._aborted.add(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                self._drain(None)
            self._queue.put(None)  # each thread passes it on as it leaves
        if wait:
            # Asked again after every short wait: the run that owns a thread's work may
            # abort it meanwhile, from its own thread (aimap's pump, stopped by Ctrl-C,
            # gets there late when many threads compute), and exit must not wait for it then.
            me = threading.current_thread()
            while True:
                with self._lock:
                    threads = [t for t in self._joinable() if t is not me and t.is_alive()]
                if not threads:
                    return
                threads[0].join(_JOIN_RECHECK)

    # -- threads -------------------------------------------------------------

    def _start(self) -> None:
        # Threads hold the pool weakly: a pool nobody references is collected,
        # which wakes its idle threads so they end (as the standard library's do).
        thread = threading.Thread(
            target=_sigmask.user(_serve),
            args=(self._ref, self._queue, *self._init, self._share),
            name=f"{self._name}_{next(self._numbers)}",
            daemon=True,
        )
        self._threads.add(thread)
        thread.start()

    def _replace(self, thread: threading.Thread) -> None:
        """``thread`` is stuck on an abandoned item: forget it, start another in its place."""
        with self._lock:
            self._threads.discard(thread)
            self._current.pop(thread, None)
            if not self._closed:
                self._start()

    def _break(self, reason: str) -> None:
        with self._lock:
            self._broken = reason
            self._drain(BrokenThreadPool(reason))

    def _drain(self, error: BaseException | None) -> None:
        while True:
            try:
                got = self._queue.get_nowait()
            except queue.Empty:
                return
            if got is None:
                continue
            future = got[1]
            if error is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():
                future.set_exception(error)

    def _joinable(self) -> list[threading.Thread]:
        """Threads worth waiting for: all but those running work the runner aborted."""
        return [t for t in self._threads if self._current.get(t) not in self._aborted]


def _serve(
    ref: weakref.ref[ThreadPool],
    work: queue.SimpleQueue[tuple[Task, Future[Any]] | None],
    initializer: Any,
    initargs: tuple[Any, ...],
    share: int | None,
) -> None:
    me = threading.current_thread()
    leave = None if share is None else _cap.leave
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            pool = ref()
            if pool is not None:
                pool._break("A thread initializer failed, the thread pool is not usable anymore")
            return
    while True:
        got = work.get()
        pool = ref()
        if got is None or pool is None:
            work.put(None)  # pass it on to the next thread
            close_thread_loop()  # before the pool forgets this thread: shutdown(wait=True) waits for it
            if pool is not None:
                with pool._lock:
                    pool._threads.discard(me)
            return
        task, future = got
        del got
        if not future.set_running_or_notify_cancel():
            pool._idle.release()
            continue
        pool._current[me] = future
        if share is not None:
            _cap.enter(share)
        if task.timeout is not None and not task.is_async and not task.single:
            watched = watch_chunk(task, future, pool._replace)
            if leave is not None:  # (an abandoned item kept the cap until it ended)
                leave()
            if not watched:
                close_thread_loop()
                return  # abandoned: a replacement took this thread's place
        else:
            del pool  # not while the work runs: the pool may be dropped meanwhile
            _run(task, future, leave)
            pool = ref()
            if pool is None:
                return
        pool._current.pop(me, None)
        pool._idle.release()
        del task, future, pool


def _run(task: Task, future: Future[Any], leave: Callable[[], None] | None = None) -> None:
    # The cap is lifted before the future resolves: whoever waits for the last result
    # finds the native pools their own size again.
    try:
        result = execute(task)
    except BaseException as exc:
        if leave is not None:
            leave()
        future.set_exception(exc)
    else:
        if leave is not None:
            leave()
        future.set_result(result)


class NativeCap:
    """Caps the process's native thread pools while thread-pool chunks run (counted).

    The first chunk to start while none runs applies the cap, when a
    loaded pool has more threads than the share (cheap when no native library
    is loaded: nothing is imported); the last one to finish gives the pools
    their sizes back.  Native pools have one size per process, so the cap is
    process-wide: the caller's own NumPy calls during a run get it too, and a
    second pool entering meanwhile keeps the first one's cap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = 0
        self._limits: Any = None  # threadpoolctl's handle while a cap is applied

    def enter(self, share: int) -> None:
        from ._native import native_pools  # (not at import: sync mode imports this module too)

        with self._lock:
            self._busy += 1
            if self._busy > 1:
                return
            if any(p.threads > share for p in native_pools()):
                from threadpoolctl import threadpool_limits

                self._limits = _on_control_thread(lambda: threadpool_limits(limits=share))

    def leave(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy or self._limits is None:
                return
            limits, self._limits = self._limits, None
            _on_control_thread(limits.restore_original_limits)

    @property
    def capped(self) -> bool:
        """True while a cap is applied."""
        return self._limits is not None

    def after_fork(self) -> None:
        # The child has none of the parent's threads: nothing of theirs is in flight.
        self._lock = threading.Lock()
        self._busy = 0
        self._limits = None


_Request = tuple[Callable[[], "Any"], list["Any"], threading.Event]
_requests: queue.SimpleQueue[_Request] | None = None
_requests_lock = threading.Lock()


def _on_control_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the one thread that sets native pool sizes, and return what it returns.

    OpenBLAS (0.3.31, pthreads, measured) ignores a size set from one thread
    after another thread set it, so every set and restore comes from one thread.
    """
    global _requests
    with _requests_lock:
        if _requests is None:
            _requests = queue.SimpleQueue()
            threading.Thread(
                target=_sigmask.service(_control), args=(_requests,), name="gearshift-native-cap", daemon=True
            ).start()
        requests = _requests
    box: list[Any] = []
    done = threading.Event()
    requests.put((fn, box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _forget_control_thread() -> None:
    global _requests, _requests_lock
    _requests, _requests_lock = None, threading.Lock()  # the thread did not come along


def _control(requests: queue.SimpleQueue[_Request]) -> None:
    while True:
        fn, box, done = requests.get()
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the caller
            box.append(exc)
        done.set()


_cap = NativeCap()
os.register_at_fork(after_in_child=_cap.after_fork)
os.register_at_fork(after_in_child=_forget_control_thread)


# A forked child has none of its parent's threads: nothing of theirs to wait for at its exit.
os.register_at_fork(after_in_child=_live.clear)


@atexit.register
def _join_at_exit() -> None:
    try:
        for pool in list(_live):
            pool.shutdown(wait=True)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting, the threads are daemons
        pass
