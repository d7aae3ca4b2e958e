"""When a worker dies or runs late: keep what finished, blame the item that was running, go on.

A worker that dies (a crash, ``sys.exit`` in the user's function, a kill for
a timeout or an abort) leaves its results still in the pipe and its outcome
log: what finished is kept, the item that was running fails with
:class:`WorkerCrashed` (or the timeout error), the jobs queued behind it go back
to pending, and a new worker starts.  Workers that die before they are ready,
several in a row, break the pool with a clear error instead of being respawned
forever.  See ``_process.py`` for the data flow.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from concurrent.futures import CancelledError

from .._errors import WorkerCrashed
from .._task import ChunkResult, Raised, timeout_error
from .._worker_log import PHASE_ITEMS, PHASE_UNPICKLING
from .._worker_send import STEP_UNPICKLE_ITEM
from . import _crossing
from ._process_frames import FrameDispatch
from ._process_pool import _broken_pool, _close, _Job, _kill, _reap, _Worker

#: workers dying before they are ready this many times in a row break the pool
MAX_STARTUP_FAILURES = 3
#: extra seconds an async chunk gets past ``timeout`` (its items time themselves
#: out on the worker's loop; the kill is a backstop for a blocked loop)
ASYNC_KILL_GRACE = 1.0
#: what a worker that died before its task ran was doing, by the phase in its outcome log
_UNPICKLING_STEPS = {PHASE_UNPICKLING: "unpickling the function in the worker", PHASE_ITEMS: STEP_UNPICKLE_ITEM}


class CrashHandling(FrameDispatch):
    """Deadlines (timeouts, aborts) and deaths: what each leaves to the caller."""

    def _next_deadline(self) -> float | None:
        """The soonest moment a running job must be checked (timeout or abort), if any."""
        soonest: float | None = None
        for w in self._procs:
            if not w.outstanding or not w.ready:
                continue
            head = w.outstanding[0]
            for when in (_late_at(w, head), head.kill_at):
                if when is not None and (soonest is None or when < soonest):
                    soonest = when
        return soonest

    def _enforce_deadlines(self, now: float) -> None:
        for w in list(self._procs):
            if not w.outstanding or not w.ready:
                continue
            head = w.outstanding[0]
            late_at = _late_at(w, head)
            late = late_at is not None and now >= late_at
            if not late and (head.kill_at is None or now < head.kill_at):
                continue
            if self._receive(w):
                continue  # frames were waiting: they may have moved the deadline
            _kill(w)
            self._on_death(w, killed_for=head)

    def _on_death(self, worker: _Worker, killed_for: _Job | None = None) -> None:
        try:
            self._after_death(worker, killed_for)
        finally:
            _close(worker, logs=True)

    def _after_death(self, worker: _Worker, killed_for: _Job | None) -> None:
        # Results written before the worker died are still in the pipe: keep them.
        try:
            while frames := worker.rx.frames():
                for frame in frames:
                    self._handle(worker, frame)
        except (EOFError, OSError):
            pass
        code = _reap(worker)
        if worker in self._procs:
            self._procs.remove(worker)
        _close(worker)
        if not worker.ready and killed_for is None:
            # It never started the work it was sent: not the work's fault.
            with self._lock:
                self._pending.extendleft(reversed(worker.outstanding))
            worker.outstanding.clear()
            self._startup_failures += 1
            if self._startup_failures >= MAX_STARTUP_FAILURES and not self._closing:
                self._break(
                    _broken_pool(
                        f"{self._startup_failures} worker processes in a row died before they were ready (the last "
                        f"{_how(code)}); gearshift stopped starting new ones. Check that {sys.executable} starts "
                        "and can import gearshift, and that the initializer, if any, does not crash the process."
                    )
                )
            return
        if not worker.outstanding:
            return
        job = worker.outstanding.popleft()
        requeue = list(worker.outstanding)
        worker.outstanding.clear()
        if job.kill_at is not None:
            job.future.set_exception(CancelledError())
        elif killed_for is job:
            # Killed because it ran late: the item running then gets the timeout.
            self._cut_short(job, lambda i: timeout_error(i, job.timeout or 0.0, _killed(worker, "was killed")))
        elif killed_for is not None:
            requeue.insert(0, job)  # the late job finished just in time; this one had barely started
        else:
            try:
                if self._crashed(worker, job, code):
                    requeue.insert(0, job)
            except BaseException as exc:  # a bug here must not leave the job unresolved
                job.future.set_exception(exc)
                raise
        for job in [j for j in requeue if j.kill_at is not None]:
            requeue.remove(job)  # aborted: no worker needs to start for it
            job.future.set_exception(CancelledError())
        with self._lock:
            self._pending.extendleft(reversed(requeue))

    def _crashed(self, worker: _Worker, job: _Job, code: int) -> bool:
        """The worker died while it held ``job``: keep what finished, blame the item that was running.

        Outcomes come from the streamed frames and the job's outcome log; the
        log's header also says whether the worker had begun the task at all.
        True: it had not (it died idle, or between tasks): no item's fault, the
        job goes to another worker, once (a second time, it fails as below).
        """
        pid = worker.proc.pid
        task_id, phase, first, logged = _crossing.read_log(worker.logs[job.slot], job.start)
        if task_id != job.task_id and not job.partial and not job.resent:
            job.resent = True
            return True
        if task_id != job.task_id or phase in (PHASE_UNPICKLING, PHASE_ITEMS):
            if not (job.timed and job.partial):  # (it streamed outcomes: it ran)
                # No item ran: each runs again alone (a single item is the culprit; a pickle
                # fault is not retried, see the runner); dying between tasks is no task's fault.
                step = _UNPICKLING_STEPS.get(phase) if task_id == job.task_id else None
                index = job.start if job.size == 1 else None
                job.future.set_exception(_crash_error(pid, code, job, index, step or "", pickle_step=step))
                return False
        outcomes = list(job.partial)
        if not job.timed:
            outcomes.extend(logged[max(0, len(outcomes) - first) :])
        if len(outcomes) < job.size:
            outcomes.append(Raised(_crash_error(pid, code, job, job.start + len(outcomes))))
        # else: every item had finished (it died sending the result): nothing to blame
        failures = sum(1 for o in outcomes if type(o) is Raised)
        self._resolve(job, ChunkResult(outcomes, 0.0, 0.0, failures))
        return False

    @staticmethod
    def _cut_short(job: _Job, error: Callable[[int | None], BaseException]) -> None:
        """Resolve a job whose worker was killed for a timeout: keep streamed outcomes, fail the running item."""
        outcomes = [*job.partial, Raised(error(job.start + len(job.partial)))]
        failures = sum(1 for o in outcomes if type(o) is Raised)
        job.future.set_result(ChunkResult(outcomes, 0.0, 0.0, failures))


def _late_at(worker: _Worker, job: _Job) -> float | None:
    if job.timeout is None:
        return None
    # A coroutine times itself out on the worker's loop; the kill is a backstop for a blocked loop.
    return worker.progress_at + job.timeout + (ASYNC_KILL_GRACE if job.is_async else 0.0)


def _killed(worker: _Worker, what: str) -> str:
    return f"its worker process {worker.proc.pid} {what} and replaced"


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _crash_error(
    pid: int, code: int, job: _Job, index: int | None, step: str | None = None, *, pickle_step: str | None = None
) -> WorkerCrashed:
    """``step``: the task never started running (None: it did); "" when the worker died between tasks."""
    if step is not None:
        which = f"item {index}" if index is not None else f"items {job.start}..{job.start + job.size - 1}"
        when = f"while {step}" if step else "before it started the task"
        where = f"{when} ({which}{'' if index is not None else ': each runs again alone'})"
    elif index is not None:
        # The outcome log knows when an item ended, not whether its pickling (right after it) had begun.
        where = f"while running item {index} (or pickling its result)"
    else:
        where = f"while running one of items {job.start}..{job.start + job.size - 1} (each runs again alone)"
    return WorkerCrashed(
        f"worker process {pid} {_how(code)} {where}; it was replaced", index=index, exitcode=code, step=pickle_step
    )
