"""``trace=PATH``: a run's timeline in Chrome's Trace Event Format (Perfetto and chrome://tracing open it).

What is recorded, and where:

- the executing side (``_task_run.run_chunk`` and its twins, in a thread, on a
  loop or in a worker process) times each traced chunk, and each of its items
  when they are slow enough to be worth one event each (``Task.trace``); the
  timings ride back on the chunk's :class:`~gearshift._task.ChunkResult`, with
  its outcomes (no second channel from worker processes);
- the runner (on the consuming thread) records what it hands out and takes
  back: pickling and sending (process mode), items in flight, the concurrency
  limit, retries, chunks that came back without timings (their worker was
  killed or crashed: the parent's times are used);
- the process backend reports worker starts; auto notes its phases and
  decisions (:func:`note`).

Everything is kept as plain tuples while the run goes on and turned into JSON
once, when it ends (:meth:`Recorder.write`).  Times come from
``time.monotonic_ns()``: CLOCK_MONOTONIC on Linux, one clock for every process
of the machine (as are macOS's and Windows' monotonic clocks), so the parent's
and the workers' events line up.

Lanes: one per (process, thread); items that overlap on one thread (coroutines
on an event loop) are spread over numbered slot lanes of that loop, so the
events of every lane are disjoint, as the format's nesting rule wants.
"""

from __future__ import annotations

import os
import threading
import time

from ._task import TRACE_CHUNK, TRACE_ITEMS, Raised

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (see gearshift._api)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Recorder", "check_trace", "load", "note", "pool_started"]

#: items are traced one by one while the run completes at most this many a second (then per chunk)
MAX_ITEM_RATE = 2000
#: before any item was measured, chunks up to this size are traced item by item (bigger ones: per chunk)
UNMEASURED_ITEMS = 16
#: at most this many item events per run; past it, chunks (a trace stays a few tens of MB at most)
MAX_ITEM_EVENTS = 200_000
#: the format's version this writer produces (``otherData.gearshift_trace``)
FORMAT = 1

#: recorders of the runs under way: told about worker processes starting (see :func:`pool_started`)
_active: list[Recorder] = []


def check_trace(trace: Any) -> Recorder | None:
    """``trace=`` checked: None, or a :class:`Recorder` for a path that can be written.

    Refuses, before any work starts, a path that is a directory, whose directory
    does not exist, or that cannot be opened for writing.
    """
    if trace is None or isinstance(trace, Recorder):
        return trace
    if isinstance(trace, bool) or not isinstance(trace, (str, os.PathLike)):
        raise TypeError(
            f"trace must be a file path (str or os.PathLike) or None, got {type(trace).__name__}: {trace!r:.80}"
        )
    path = os.fspath(trace)
    if not isinstance(path, str) or not path:
        raise ValueError(f"trace must name a file, got {trace!r:.80}")
    if os.path.isdir(path):
        raise ValueError(
            f"trace={path!r} is a directory: pass a file path, e.g. {os.path.join(path, 'run.trace.json')!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"trace={path!r}: the directory {folder!r} does not exist; create it or pass another path")
    existed = os.path.exists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise ValueError(
            f"trace={path!r} cannot be written ({exc.strerror}); pass a path in a directory you can write to"
        ) from None
    if not existed:
        os.unlink(path)  # written when the run ends; nothing is left behind if it never starts
    return Recorder(path)


def note(options: Any, name: str, **args: Any) -> None:
    """Auto's phases (``name`` starts one) and decisions (``plan``, ``drift``) on the run's auto lane."""
    recorder = options.trace
    if recorder is not None:
        recorder.note(name, args)


def pool_started(pid: int, born: int) -> None:
    """A worker process said it is ready (``born``: when it was started): a pool start event."""
    if _active:
        now = time.monotonic_ns()
        for recorder in list(_active):
            recorder.spans.append((pid, pid, "", "worker start", "pool", born, now, {"pid": pid}))


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def _errors(outcomes: list[Any]) -> dict[int, BaseException]:
    return {k: o.exception for k, o in enumerate(outcomes) if type(o) is Raised}


class Recorder:
    """Collects one run's events; :meth:`write` saves them as a Trace Event Format JSON file."""

    def __fspath__(self) -> str:
        """The trace file's path: ``Options.trace`` holds the run's recorder where the caller gave a path."""
        return self.path

    def __init__(self, path: str) -> None:
        self.path = path
        self.pid = os.getpid()
        self.started = time.monotonic_ns()
        #: (trace tuple of ChunkResult, first index, items, {offset: exception}, attempt)
        self.chunks: list[tuple[Any, ...]] = []
        #: (pid, tid, thread name, name, category, start ns, end ns, args)
        self.spans: list[tuple[Any, ...]] = []
        #: (pid, tid, thread name, name, category, ns, args)
        self.instants: list[tuple[Any, ...]] = []
        #: (name, ns, value)
        self.counters: list[tuple[str, int, int]] = []
        #: auto's phases and decisions: (name, ns, args)
        self.notes: list[tuple[str, int, dict[str, Any]]] = []
        self.item_events = 0
        self._inflight = 0
        self._window: int | None = None
        self._first: int | None = None  # when the first chunk was handed out
        self._back = 0  # items back since then
        self._sent: dict[Any, tuple[int, int, int]] = {}
        self._lock = threading.Lock()  # runners of one auto run may record from several threads

    # -- while the run goes on -----------------------------------------------------

    def open(self) -> None:
        """The run starts: worker processes started from now on are recorded."""
        _active.append(self)

    def level(self, items: int, per_item: float | None = None, workers: int = 1, concurrent: bool = False) -> int:
        """What to time in a chunk of ``items``: each item while the run completes few a second, else the chunk.

        An item event costs the parent ~5-15 us (recording it, writing it out), so
        items are traced one by one only while the run completes at most
        ``MAX_ITEM_RATE`` items a second, whatever the mode and the number of
        workers: that keeps the cost within a few percent.  The rate is the one
        measured so far, and the one ``workers`` reach at ``per_item`` seconds
        an item (the runner's estimate: it decides before a big chunk comes
        back).  Before anything was measured, chunks of up to
        ``UNMEASURED_ITEMS`` are traced item by item.  (A chunk of one item is
        drawn as that item either way.)
        """
        now, back = time.monotonic_ns(), self._back
        if self._first is None:
            self._first = now
        if items == 1 or self.item_events >= MAX_ITEM_EVENTS:
            return TRACE_CHUNK
        known = per_item is not None and per_item > 0 and not concurrent
        if not known and (back == 0 or items > UNMEASURED_ITEMS):
            traced = items <= UNMEASURED_ITEMS
        else:
            measured = back * 1e9 / max(1, now - self._first)
            predicted = workers / per_item if known and per_item else 0.0
            traced = max(measured, predicted) <= MAX_ITEM_RATE
        if traced:
            self.item_events += items
            return TRACE_ITEMS
        return TRACE_CHUNK

    def submit(self, runner: Any, task: Any, sub: Any) -> Any:
        """Hand ``task`` (of the runner's submission ``sub``) to the backend, recording what that costs."""
        chunker = runner._chunker
        task.trace = self.level(len(task.items), chunker._per_item, runner.backend.workers, runner._concurrent)
        backend = runner.backend
        t0 = time.monotonic_ns()
        future = backend.submit(task)
        t1 = time.monotonic_ns()
        first, count = task.start, len(task.items)
        if backend.name in ("process", "dask", "ray"):  # the items were pickled (and sent) here
            self._span("pickle + send", "pickle", t0, t1, {"first": first, "last": first + count - 1})
        with self._lock:
            self._sent[sub] = (t1, first, count)
            self._inflight += count
            self.counters.append(("items in flight", t1, self._inflight))
            if runner.window != self._window:
                self._window = runner.window
                self.counters.append(("concurrency limit", t1, runner.window))
        return future

    def back(self, runner: Any, sub: Any, result: Any) -> None:
        """``sub`` came back with ``result`` (a ChunkResult)."""
        now = time.monotonic_ns()
        sent, first, count = self._landed(sub, now)
        attempt = sub.chunk.attempts.get(sub.offset, 0) + 1 if count == 1 else 1
        errors = _errors(result.outcomes) if result.failures else None
        stamp = result.trace
        if stamp is None:  # its worker was killed or crashed: what the parent saw
            stamp = (self.pid, -1, "", sent, now, None)
            count = max(1, len(result.outcomes))
        self.chunks.append((stamp, first, count, errors, attempt))
        if runner.window != self._window:
            self._window = runner.window
            self.counters.append(("concurrency limit", now, runner.window))

    def lost(self, sub: Any, exc: BaseException) -> None:
        """``sub`` failed as a whole (no outcomes): drawn with the parent's times."""
        now = time.monotonic_ns()
        sent, first, count = self._landed(sub, now)
        attempt = sub.chunk.attempts.get(sub.offset, 0) + 1 if count == 1 else 1
        self.chunks.append(((self.pid, -1, "", sent, now, None), first, count, {0: exc}, attempt))

    def dropped(self, sub: Any) -> None:
        """``sub`` was cancelled before it ran."""
        self._landed(sub, time.monotonic_ns())

    def _landed(self, sub: Any, now: int) -> tuple[int, int, int]:
        with self._lock:
            sent = self._sent.pop(sub, None)
            if sent is None:
                return now, 0, max(1, sub.length)
            self._inflight -= sent[2]
            self._back += sent[2]
            self.counters.append(("items in flight", now, self._inflight))
        return sent

    def ran(self, result: Any, first: int, out: list[Any], base: int) -> None:
        """A chunk run inline (sync) ended: ``out[base:]`` are its items' outcomes."""
        self._back += len(out) - base
        if result.trace is not None and len(out) > base:
            errors = _errors(out[base:]) if result.failures else None
            self.chunks.append((result.trace, first, len(out) - base, errors, 1))

    def retry(self, index: int, attempt: int, exc: BaseException) -> None:
        """Item ``index`` failed its attempt ``attempt`` and will run again."""
        t = time.monotonic_ns()
        args = {"index": index, "attempt": attempt, "error": _error_text(exc)}
        self.instants.append((self.pid, threading.get_native_id(), threading.current_thread().name,
                              f"retry item {index}", "retry", t, args))  # fmt: skip

    def note(self, name: str, args: dict[str, Any]) -> None:
        self.notes.append((name, time.monotonic_ns(), args))

    def _span(self, name: str, cat: str, t0: int, t1: int, args: dict[str, Any]) -> None:
        thread = threading.current_thread()
        self.spans.append((self.pid, threading.get_native_id(), thread.name, name, cat, t0, t1, args))

    # -- at the end ----------------------------------------------------------------

    def close(self, error: BaseException | None = None) -> None:
        """The run ended (``error``: how, when it failed): write the file."""
        if self in _active:
            _active.remove(self)
        if error is not None and not isinstance(error, GeneratorExit):
            self.note("run ended", {"error": _error_text(error)})
        try:
            self.write()
        except OSError:
            if error is None:
                raise
            # The run's own error matters more than its trace: that one propagates.

    def write(self) -> None:
        import json  # when a trace is written: an untraced run never loads it

        from ._trace_format import build

        document = build(self)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(document, separators=(",", ":")))  # dumps: C encoder; dump's is pure Python
        os.replace(tmp, self.path)


def load(path: str) -> dict[str, Any]:
    """Read a trace written by ``trace=`` (see :func:`gearshift._trace_format.check` for the errors)."""
    from ._trace_format import read

    return read(path)
