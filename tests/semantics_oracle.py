"""The oracle of the contract harness: what each item must do, and every way a run broke the contract.

:func:`violations` compares what the caller saw (``semantics_model.Observed``) and the execution
log with the builtin ``map`` and docs/semantics.md (C1-C4, C9-C11); :func:`concurrency_violation`
checks C6.  Each message starts with its invariant's number.  :func:`replay` re-runs one
configuration (the harness prints it as the repro of a failure).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from gearshift import Failure, GearshiftError, TaskTimeout, WorkerCrashed
from semantics_model import (
    BASE_KINDS,
    CRASH,
    HANG,
    ITEM_PICKLE_KINDS,
    ITERATOR_ENTRIES,
    RAISE,
    Config,
    Execution,
    Fault,
    FaultError,
    Hung,
    InputError,
    Observed,
    index_of,
    max_overlap,
    read_log,
    run,
)

__all__ = ["Config", "Fault", "concurrency_violation", "expect", "replay", "shorten", "violations"]


OK, FAIL, MAYBE, STOP = "ok", "fail", "ok or fail", "stop"


@dataclasses.dataclass(frozen=True)
class Expect:
    """What the contract says about one item, run to the end of its retries."""

    index: int
    outcome: str  # OK, FAIL, MAYBE (auto: depends on the mode it picks) or STOP (a BaseException)
    runs_max: int  # C3: it may run at most this many times
    runs_exact: int | None  # ... and exactly this many when its outcome was delivered (None: a range)
    label: str  # the invariant a wrong outcome breaks

    def accepts(self, exc: BaseException, cfg: Config, rid: str) -> bool:
        """Is ``exc`` this item's own exception?"""
        f = cfg.fault_of(self.index)
        if f is None:
            return False
        if f.kind == RAISE:
            return type(exc) is FaultError and str(exc).startswith(f"item {self.index} of run {rid} ")
        if f.kind == HANG:
            return isinstance(exc, TaskTimeout) and exc.index == self.index
        if f.kind == CRASH:
            return isinstance(exc, WorkerCrashed) and exc.index == self.index
        if f.kind in BASE_KINDS:
            return type(exc).__name__ == f.kind and str(exc) == f"item {self.index} of run {rid}"
        # a pickle step: a clear gearshift error (C11); it may not know the index
        index = getattr(exc, "index", None)
        return isinstance(exc, GearshiftError) and index in (None, self.index)


def expect(cfg: Config, i: int) -> Expect:
    f = cfg.fault_of(i)
    r = cfg.retries
    if f is None:
        return Expect(i, OK, 1, 1, "C1")
    if f.kind in (RAISE, HANG, CRASH):
        fails = f.times > r
        runs = r + 1 if fails else f.times + 1
        return Expect(i, FAIL if fails else OK, runs, runs, "C2" if fails else "C3")
    if f.kind in BASE_KINDS:
        return Expect(i, STOP, 1, 1, "C10")
    crosses = cfg.crosses
    if crosses is False:  # nothing is pickled: an ordinary item
        return Expect(i, OK, 1, 1, "C11")
    if f.kind in ITEM_PICKLE_KINDS:  # the function never gets the item
        return Expect(i, FAIL if crosses else MAYBE, 0 if crosses else 1, 0 if crosses else None, "C11")
    return Expect(i, FAIL if crosses else MAYBE, 1 + r, None, "C11")


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, BaseException) else f"{type(value).__name__}({str(value)!r})"


def violations(cfg: Config, obs: Observed, runs: list[Execution]) -> list[str]:
    out: list[str] = []
    n_eff = cfg.n if cfg.input_fault is None else cfg.input_fault
    exps = [expect(cfg, i) for i in range(cfg.n)]
    counts: dict[int, int] = {}
    for r in runs:
        counts[r.index] = counts.get(r.index, 0) + 1
    exc = obs.exc
    rid = obs.run
    map_like = cfg.entry not in ITERATOR_ENTRIES
    for raised in [exc, *(r.exception for r in [*obs.delivered, *(obs.partial or [])] if isinstance(r, Failure))]:
        other = re.search(r"of run (\w+)", str(raised)) if raised is not None else None
        if other and other.group(1) != rid:
            out.append(f"LEAK: {_describe(raised)} was raised by fn in an earlier run ({other.group(1)}), not this one")

    if isinstance(exc, Hung):
        return [f"NEVER-HANG: {exc} (delivered {len(obs.delivered)} results)"]

    # C3 / C9: executions per item
    for i, c in sorted(counts.items()):
        if i >= n_eff:
            out.append(f"C9: item {i} ran {c} time(s), but the input raised at position {n_eff} before it")
        elif c > exps[i].runs_max:
            out.append(f"C3: item {i} ran {c} times, at most {exps[i].runs_max} allowed (retries={cfg.retries})")

    # what the caller got: a map-like call hands results over only on success, or on partial_results
    if map_like:
        delivered = list(obs.delivered) if exc is None else list(obs.partial or [])
    else:
        delivered = list(obs.delivered) + list(obs.partial or [])

    # C1 / C2 / C4 / C11: every value handed out, slot by slot
    seen: set[int] = set()
    for slot, r in enumerate(delivered):
        if isinstance(r, Failure):
            idx = r.index
            where = f"slot {slot}: Failure(index={idx}, {_describe(r.exception)}, attempts={r.attempts})"
            if cfg.errors != "return":
                out.append(f"C2: {where} handed out with errors='raise'")
            if not 0 <= idx < cfg.n:
                out.append(f"C9: {where} for an item that does not exist")
                continue
            if idx >= n_eff:
                out.append(f"C9: {where} for position {idx}, where the input raised")
                continue
            e = exps[idx]
            if e.outcome not in (FAIL, MAYBE):
                out.append(f"{e.label}: {where}, but item {idx} must succeed")
            elif not e.accepts(r.exception, cfg, rid):
                out.append(f"{e.label}: {where} is not item {idx}'s own failure ({cfg.fault_of(idx)!r})")
            ran = counts.get(idx, 0)
            if e.runs_exact == 0:  # never ran: 0 or 1 accepted (the contract's "how many times it ran")
                if r.attempts not in (0, 1):
                    out.append(f"C3: {where}: attempts={r.attempts} for an item that never ran")
            elif r.attempts != ran:
                out.append(f"C3: {where}: attempts={r.attempts}, but it ran {ran} times")
        else:
            idx_or_none = index_of(r)
            if idx_or_none is None:
                out.append(f"C1: slot {slot}: {_describe(r)} is no item's result")
                continue
            idx = idx_or_none
            if idx >= n_eff:
                out.append(f"C9: slot {slot}: result of item {idx}, at or after the input's fault position")
                continue
            e = exps[idx]
            if e.outcome not in (OK, MAYBE):
                out.append(
                    f"{e.label}: slot {slot}: item {idx} returned {r!r} but must {e.outcome} ({cfg.fault_of(idx)!r})"
                )
            if e.runs_exact is not None and e.outcome == OK and counts.get(idx, 0) != e.runs_exact:
                out.append(
                    f"C3: item {idx} was delivered after running {counts.get(idx, 0)} times, expected {e.runs_exact}"
                )
        if cfg.ordered and idx != slot:
            out.append(f"C1: slot {slot} holds item {idx}'s outcome (ordered=True)")
        if idx in seen:
            out.append(f"C4: item {idx}'s outcome handed out twice")
        seen.add(idx)

    stops = [i for i in range(n_eff) if exps[i].outcome == STOP]
    fails = [i for i in range(n_eff) if exps[i].outcome == FAIL]
    everything = set(range(n_eff))

    if obs.stopped_by_consumer:
        if exc is not None:
            out.append(f"CLOSE: leaving after {len(obs.delivered)} results raised {_describe(exc)}")
        if len(obs.delivered) != cfg.stop_after:
            out.append(f"C1: the consumer left after {len(obs.delivered)} results, wanted {cfg.stop_after}")
        return out

    if exc is None:
        if cfg.input_fault is not None:
            out.append(f"C9: the input raised at position {n_eff}, but the run ended without an exception")
        if stops:
            out.append(f"C10: item {stops[0]} raised {cfg.fault_of(stops[0]).kind}, but the run ended normally")  # type: ignore[union-attr]
        if cfg.errors == "raise" and fails:
            out.append(f"C2: item {fails[0]} must fail, but the run ended without an exception")
        if seen != everything:
            missing = sorted(everything - seen)
            out.append(f"C1: {len(delivered)} outcomes for {n_eff} items; missing items {missing[:8]}")
        return out

    name = type(exc).__name__
    if type(exc) is InputError:
        if cfg.input_fault is None:
            out.append(f"C9: {_describe(exc)} raised without an input fault")
        if stops:
            out.append(f"C10: item {stops[0]} raised a BaseException before the input broke; got {_describe(exc)}")
        elif cfg.errors == "raise" and fails:
            out.append(f"C2/C9: item {fails[0]} fails before the input's fault position; got {_describe(exc)} instead")
        else:
            if map_like and obs.partial is None:
                out.append(f"C9: {cfg.entry} raised {_describe(exc)} without partial_results ({n_eff} items read)")
            elif seen != everything:
                missing = sorted(everything - seen)
                out.append(f"C9: the input raised at {n_eff}; results of items {missing[:8]} read before it were lost "
                           f"({len(seen)} of {n_eff} delivered)")  # fmt: skip
        return out

    if not isinstance(exc, Exception):  # a BaseException: C10 (from fn) or a leak (C11)
        owners = [i for i in stops if exps[i].accepts(exc, cfg, rid)]
        if not owners:
            out.append(f"C10/C11: {_describe(exc)} reached the caller, raised by no item's function")
        elif obs.partial is None:
            where = "C10/Executor.map" if cfg.entry == "Executor.map" else "C10"
            out.append(f"{where}: {_describe(exc)} reached the caller without partial_results")
        elif map_like and cfg.one_at_a_time and cfg.ordered:
            # one item at a time, in order: every item before the one that raised had completed,
            # but for one waiting out a retry's back-off (which never blocks later items)
            done = _completed_before(owners[0], exps, runs)
            if len(delivered) != done:
                out.append(f"C10: one at a time, item {owners[0]} raised {_describe(exc)}, but partial_results holds "
                           f"{len(delivered)} outcomes, not the {done} completed before it")  # fmt: skip
        return out

    # an ordinary exception: an item's error
    if cfg.errors == "return":
        out.append(f"C2: errors='return' but the caller got {name}: {exc}")
        return out
    owners = [i for i in range(n_eff) if exps[i].outcome in (FAIL, MAYBE, STOP) and exps[i].accepts(exc, cfg, rid)]
    if not owners:
        out.append(f"C2: the caller got {_describe(exc)}, which is no failing item's error "
                   f"(failing: {[cfg.fault_of(i) for i in fails + stops]})")  # fmt: skip
        return out
    if cfg.ordered:
        if map_like and obs.partial is None:
            first = min([*fails, *stops], default=None)
            if first is not None and all(o > first for o in owners):
                out.append(f"C2: got item {owners[0]}'s error, but item {first} fails first")
        else:
            k = len(delivered)
            if k not in owners:
                out.append(f"C2: {len(delivered)} results then {_describe(exc)}, which is not item {k}'s error")
    if exps[owners[0]].runs_exact and counts.get(owners[0], 0) != exps[owners[0]].runs_exact:
        out.append(
            f"C3: item {owners[0]} raised after {counts.get(owners[0], 0)} runs, expected {exps[owners[0]].runs_exact}"
        )
    f = cfg.fault_of(owners[0])
    if f is not None and f.kind == RAISE and cfg.crosses:
        from gearshift import RemoteTraceback

        if not isinstance(exc.__cause__, RemoteTraceback):
            out.append(f"C2: item {owners[0]}'s error from a worker process has no RemoteTraceback __cause__")
    return out


def concurrency_violation(cfg: Config, runs: list[Execution]) -> str | None:
    """C6: no more than ``workers`` executions at once (one in sync mode)."""
    if cfg.plain and not cfg.one_at_a_time:
        return None  # (an auto call that names nothing else asked for no cap: cfg.workers was not passed)
    cap = 1 if cfg.one_at_a_time else cfg.workers
    most, _ = max_overlap(runs, cfg.timeout)
    if most > cap:
        return (
            f"C6: {most} executions ran at once (cap {cap}, {cfg.mode}, {'async def' if cfg.is_async else 'plain'} fn)"
        )
    return None


def shorten(problems: list[str], most: int = 6) -> list[str]:
    """The first few problems (one defect often breaks many slots)."""
    return problems[:most] + ([f"... and {len(problems) - most} more"] if len(problems) > most else [])


def _completed_before(k: int, exps: list[Expect], runs: list[Execution]) -> int:
    """How many items, from item 0 on, had started all their attempts when item ``k`` started (one at a time).

    A failed attempt's retry waits out a back-off that never blocks later items (docs/design.md,
    "Retries"), so item ``k`` may start while an earlier item's retry waits: the completed prefix
    ends at that item (found by the deep run of seed 20261219).
    """
    started = [r.start for r in runs if r.index == k]
    if not started:
        return k
    t = min(started)
    for i in range(k):
        # (started, not ended: one at a time, an attempt that started before item k had its outcome
        # before k began, a timed-out one included, whose function may log its end much later)
        ran = sum(1 for r in runs if r.index == i and r.start < t)
        if exps[i].runs_exact is None or ran < exps[i].runs_exact:
            return i
    return k


def check(
    cfg: Config, folder: str, *, isolate: bool = True, deadline: float | None = None
) -> tuple[Observed, list[Execution], list[str]]:
    """Run ``cfg`` for real, its executions logged in ``folder``: what the caller saw, what ran, the violations.

    A concurrency excess (C6) is not counted on a run that hung: its stuck items are still running.
    """
    import uuid

    log = os.path.join(folder, f"{uuid.uuid4().hex}.log")
    obs = run(cfg, log, isolate=isolate) if deadline is None else run(cfg, log, deadline, isolate=isolate)
    runs = read_log(log)
    problems = violations(cfg, obs, runs)
    c6 = concurrency_violation(cfg, runs)
    if c6 and not isinstance(obs.exc, Hung):
        problems.append(c6)
    return obs, runs, problems


def replay(cfg: Config, folder: str | None = None, isolate: bool = True, deadline: float | None = None) -> list[str]:
    """Run ``cfg`` once more and return its violations (for a repro printed by the harness)."""
    import tempfile

    return check(cfg, folder or tempfile.mkdtemp(prefix="gearshift-semantics-"), isolate=isolate, deadline=deadline)[2]
