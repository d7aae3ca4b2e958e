"""The manager's traffic with its workers: jobs down the pipes, frames back, futures resolved.

Only the manager thread runs this: it sends each pending job to the worker
with the fewest in flight (a big job only to an idle one, so a write never
blocks), and turns each frame a worker writes (a chunk's result, one streamed
outcome under a timeout, outcomes moved out of a full log, "ready", a failed
initializer) into the job's outcome.  What a worker's death leaves is the
crash handling's (``_process_crash.py``).  See ``_process.py`` for the data flow.
"""

from __future__ import annotations

import pickle
import time
from concurrent.futures import CancelledError

from .. import _trace
from .._errors import RemoteTraceback
from .._task import ChunkResult, Raised, unwrap
from .._worker import FN_CACHE_SIZE
from .._worker_log import LOG_SLOTS
from . import _crossing
from ._process_pool import WorkerPool, _broken_pool, _Job, _Worker

#: a job bigger than this is sent only to an idle worker, so a write can never
#: block the manager while that worker is busy
_SMALL_JOB = 16 * 1024
#: the kind byte that starts every frame a worker sends (see _worker.py)
_ITEM, _MOVED, _RESULT, _INTS = b"I"[0], b"P"[0], b"R"[0], b"L"[0]


class FrameDispatch(WorkerPool):
    """Sends jobs to workers and handles the frames they send back."""

    def _dispatch(self) -> None:
        if self._prime is not None:  # (see Backend.warm): to every worker, ahead of any job
            prime, self._prime = pickle.dumps((self._prime,), protocol=pickle.HIGHEST_PROTOCOL), None
            for w in self._procs:
                try:
                    w.tx.send_bytes(prime)
                except OSError:
                    continue  # it died: the next wait() sees its pipe close
                w.priming = True
        while self._forgotten:
            fn_key = self._forgotten.popleft()
            for w in self._procs:
                if w.known.pop(fn_key, 0) is None:
                    try:
                        w.tx.send_bytes(pickle.dumps(fn_key))
                    except OSError:
                        pass  # it died: the next wait() sees its pipe close
        while self._pending:
            worker = self._pick_worker(self._pending[0])
            if worker is None:
                return
            with self._lock:
                if not self._pending:
                    return
                job = self._pending.popleft()
            if not job.future.running() and not job.future.set_running_or_notify_cancel():
                continue  # cancelled while it waited (a requeued job is running already)
            if job.kill_at is not None:  # aborted while it waited to be requeued
                job.future.set_exception(CancelledError())
                continue
            blob = None
            if job.fn_key not in worker.known:
                blob = job.fn_blob
                if job.fn_key >= 0:
                    worker.known[job.fn_key] = None
                    if len(worker.known) > FN_CACHE_SIZE:
                        worker.known.popitem(last=False)
            frame = (
                job.task_id, job.fn_key, blob, job.call, job.is_async, job.stop, job.items_blob, job.timeout,
                job.start, job.size, job.trace,
            )  # fmt: skip
            if not worker.outstanding:
                worker.progress_at = time.monotonic()
            worker.outstanding.append(job)
            job.slot = worker.sent % LOG_SLOTS  # the worker takes its logs in turn, task by task
            job.partial = []  # a job sent again (its worker died before it started) starts afresh
            worker.sent += 1
            try:
                worker.tx.send_bytes(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError:
                self._on_death(worker)

    def _pick_worker(self, job: _Job) -> _Worker | None:
        best: _Worker | None = None
        for w in self._procs:
            if self._max_tasks is not None and w.sent >= self._max_tasks:
                continue
            busy = len(w.outstanding)
            if busy:
                size = len(job.items_blob) + (0 if job.fn_key in w.known else len(job.fn_blob))
                # No more jobs in flight than the worker has outcome logs (see _worker_log.LOG_SLOTS).
                if busy >= min(self.prefetch, LOG_SLOTS) or size > _SMALL_JOB:
                    continue
            if best is None or busy < len(best.outstanding):
                best = w
        return best

    def _receive(self, worker: _Worker) -> bool:
        """Handle every frame the worker has written so far; False if there was none."""
        try:
            frames = worker.rx.frames()
        except (EOFError, OSError):
            self._on_death(worker)
            return True
        for frame in frames:
            self._handle(worker, frame)
        return bool(frames)

    def _handle(self, worker: _Worker, frame: bytes) -> None:
        kind = frame[0]
        if kind == _ITEM:  # one item of a timed chunk finished; the next starts now
            job = worker.outstanding[0]
            job.partial.append(_crossing.load_outcome(memoryview(frame)[1:], job.start + len(job.partial)))
            worker.progress_at = time.monotonic()
            return
        if kind == _INTS:  # a chunk whose outcomes are all ints: they are in its outcome log
            _, result, count = pickle.loads(memoryview(frame)[1:])
            job = worker.outstanding.popleft()
            worker.progress_at = time.monotonic()
            # Read now: the worker reuses this log only for a task sent after this one is done.
            result.outcomes = _crossing.read_ints(worker.logs[job.slot], count)
            result.nbytes = len(frame) + 8 * count
            self._resolve(job, result)
            return
        if kind == _MOVED:  # outcomes the worker could not keep in its log
            job = worker.outstanding[0]
            count = int.from_bytes(frame[1:9], "little")
            # One record per outcome: a record that does not unpickle here fails its item alone.
            job.partial.extend(_crossing.decode_records(bytes(frame[9:]), count, job.start + len(job.partial)))
            return
        try:
            message = pickle.loads(memoryview(frame)[1:])
        except BaseException as exc:  # a result this process cannot unpickle: that item fails
            if kind != _RESULT:
                raise
            self._result_unloadable(worker, worker.outstanding.popleft(), exc)
            return
        tag = message[0]
        if tag == "ready":
            worker.ready = True
            _trace.pool_started(worker.proc.pid, worker.born)
            worker.progress_at = time.monotonic()
            self._startup_failures = 0
            return
        if tag == "primed":
            worker.priming = False
            return
        if tag == "init_failed":
            self._break(_broken_pool(f"a worker's initializer failed:\n{message[1]}"))
            return
        _, ok, payload = message
        job = worker.outstanding.popleft()
        worker.progress_at = time.monotonic()
        if ok and job.timed:
            payload.outcomes = job.partial
            payload.failures = sum(1 for o in job.partial if type(o) is Raised)
        if ok:
            payload.nbytes = len(frame)  # for auto: results that grow huge change the plan
            self._resolve(job, payload)
        else:
            error, text = payload
            error.__cause__ = RemoteTraceback(text)
            job.future.set_exception(error)

    @staticmethod
    def _resolve(job: _Job, result: ChunkResult) -> None:
        if job.single:
            try:
                job.future.set_result(unwrap(result))
            except BaseException as exc:  # fn's own KeyboardInterrupt goes to the caller too
                job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _result_unloadable(self, worker: _Worker, job: _Job, exc: BaseException) -> None:
        """The chunk's result frame does not unpickle here: take its outcomes one by one from the log."""
        outcomes = list(job.partial)
        if not job.timed:
            task_id, _phase, first, logged = _crossing.read_log(worker.logs[job.slot], job.start)
            if task_id == job.task_id:
                outcomes.extend(logged[max(0, len(outcomes) - first) :])
            else:  # nothing to tell the items apart by (should not happen): fail them all, run none again
                outcomes.extend(_crossing.unloadable(exc, job.start + k) for k in range(len(outcomes), job.size))
        failures = sum(1 for o in outcomes if type(o) is Raised)
        self._resolve(job, ChunkResult(outcomes, 0.0, 0.0, failures))

    def _on_death(self, worker: _Worker, killed_for: _Job | None = None) -> None:
        """The worker's pipe closed or broke: settled by the crash handling (``_process_crash.py``)."""
        raise NotImplementedError
