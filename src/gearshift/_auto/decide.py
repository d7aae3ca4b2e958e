"""Decide: from what was measured, the plan for the rest of the input, with the reasons in sentences.

:func:`decide` is pure (no work runs here): it takes a
:class:`~gearshift.Profile`, the caller's options, a
:class:`~gearshift._auto.costs.Machine` and the number of items left, asks the
cost model (:mod:`.costs`) for every mode's estimate, picks the fastest, and
says why in sentences that cite the measured figures.  Options the caller
passed explicitly (workers, chunksize) are always kept.  With a dask or Ray
cluster configured, its estimate is weighed against the best local one by the
cluster rule (:func:`~gearshift._auto.cluster_costs.cluster_worthwhile`).
"""

from __future__ import annotations

from .._options import Options
from .._plan import Alternative, Plan
from .._profile import Profile, fmt_bytes, fmt_seconds
from .._record import replace
from .cluster_costs import Cluster, cluster_may_pay, cluster_seconds, cluster_worthwhile
from .costs import (
    CALIBRATE_BELOW_SECONDS,
    CLUSTER_BREAK_EVEN_SECONDS,
    CLUSTER_MARGIN,
    CLUSTER_MIN_SAVING_SECONDS,
    GIL_FREE_THRESHOLD,
    MARGIN,
    PREFERENCE,
    TINY_JOB_SECONDS,
    UNKNOWN_LENGTH,
    Machine,
    cold_start,
    estimates,
    estimates_async,
    serial_share,
    typical,
    work_kind,
)
from .memory import pay_rent, rent_paid, settle

__all__ = ["decide", "pay_for_pool", "processes_may_win"]


def decide(
    profile: Profile, options: Options, machine: Machine, remaining: int | None, cluster: Cluster | None = None
) -> Plan:
    """The plan for ``remaining`` items (None: unknown) of the work ``profile`` describes.

    With ``cluster`` (a configured dask or Ray cluster) its mode is weighed
    against the best local one by the cluster rule (see :mod:`.costs`).
    """
    n = remaining if remaining is not None else UNKNOWN_LENGTH
    n = max(1, n)
    reasons = _describe(profile, machine)
    alternatives = (
        estimates_async(profile, options, machine, n) if profile.is_async else estimates(profile, options, machine, n)
    )
    sync = alternatives[0]
    best = min(alternatives, key=lambda a: a.seconds * PREFERENCE.get(a.mode, 1.0))
    why: str
    if profile.is_async and not profile.wall:
        best = alternatives[1]  # nothing measured: the event loop, and the limiter finds the concurrency
        why = best.note
    elif profile.wall and sync.seconds < TINY_JOB_SECONDS and not profile.is_async:
        best = sync
        why = f"the whole job is about {fmt_seconds(sync.seconds)} in sync: not worth starting anything"
    elif best is not sync and best.seconds > MARGIN * sync.seconds and not profile.is_async:
        best = sync
        why = "no mode is estimated to beat sync by 20%: sync"
    else:
        why = best.note
    if cluster is not None:
        remote, verdict = _cluster(profile, options, machine, n, cluster, best.seconds)
        if remote is not None:
            best, why = remote, verdict
            alternatives.append(remote)
        else:
            reasons.append(why)
            why = verdict
    reasons.append(why)
    if options.workers is not None:
        reasons.append(f"workers={options.workers} was asked for")
    if options.chunksize is not None:
        reasons.append(f"chunksize={options.chunksize} was asked for")
    if remaining == 0:  # (second to last, where a run's report quotes a plan)
        reasons.append("nothing was left for this plan: the input ended while auto measured (see what ran)")
    speedup: float | None = None
    if profile.wall:
        speedup = sync.seconds / best.seconds if best.seconds > 0 else 1.0
        length = "" if remaining is not None else f" (length unknown, {UNKNOWN_LENGTH} assumed)"
        count = "for one item more" if remaining == 0 else f"for {n} items{length}"
        reasons.append(
            f"estimated {fmt_seconds(best.seconds)} {count}: {speedup:.1f}x sync; "
            + ", ".join(f"{a.mode} {fmt_seconds(a.seconds)}" for a in alternatives if a is not best)
        )
    chunksize = options.chunksize if options.chunksize is not None else best.chunksize
    return Plan(
        mode=best.mode,
        workers=best.workers,
        chunksize=chunksize,
        reasons=tuple(reasons),
        expected_speedup=speedup,
        profile=profile,
        alternatives=tuple(alternatives),
    )


def processes_may_win(profile: Profile, options: Options, machine: Machine, remaining: int | None) -> bool:
    """Whether :func:`decide` could pick processes if moving the items cost nothing.

    The process estimate only grows with the pickling cost and the others do
    not depend on it, so when even free items would not make processes the
    plan (the thread probe found threads using every CPU), measuring how long
    big items take to pickle is time spent for nothing.
    """
    if profile.unpicklable is not None or profile.is_async:
        return False
    free = replace(
        profile,
        item_bytes=0,
        item_pickle_seconds=0.0,
        result_bytes=profile.result_bytes or 0,
        result_pickle_seconds=profile.result_pickle_seconds or 0.0,
    )
    return decide(free, options, machine, remaining).mode == "process"


def pay_for_pool(plan: Plan, profile: Profile, options: Options, machine: Machine, remaining: int | None) -> str | None:
    """Count what ``plan`` loses for want of a warm process pool (see :mod:`.memory`'s rent), or settle the rent.

    Returns the sentence that says so when rent was paid (the plan was not
    processes only because the pool was cold), else None.

    What a warm pool would have saved: ``plan``'s estimate less the process
    plan's with the pool warm.  Where the pickling was not measured (processes
    could not win with a cold pool), it is taken as free: the rent may then be
    overstated, and the run it makes buy measures the pickling and decides with
    the real figures.  No rent is counted on items under
    :data:`~.costs.CALIBRATE_BELOW_SECONDS`, where the model's figures are off
    by more than the saving: the sampler read the suite's md5-fine at 0.93 µs
    per item against sync's 0.47 (each small measuring chunk's own cost in
    it), and the pool that rent bought ran it at 1.5x sync (suite-warm-10.json).
    """
    if remaining == 0:  # (a plan for nothing: the input ended while measuring; nothing lost, nothing bought)
        return None
    if plan.mode == "process":
        settle()
        return None
    if machine.process_pool_warm or profile.is_async or not profile.wall or options.cluster is not None:
        return None
    if profile.unpicklable is not None or options.workers == 1 or typical(profile.wall) < CALIBRATE_BELOW_SECONDS:
        return None
    current = next((a for a in plan.alternatives if a.mode == plan.mode and a.workers == plan.workers), None)
    if current is None:
        return None
    warm = replace(machine, process_pool_warm=True)
    if profile.ipc_seconds is None:
        profile = replace(profile, item_pickle_seconds=0.0, result_pickle_seconds=0.0, item_bytes=0, result_bytes=0)
    bought = decide(profile, options, warm, remaining)
    if bought.mode != "process":
        return None
    process = next(a for a in bought.alternatives if a.mode == "process")
    pay_rent(current.seconds - process.seconds)
    start = cold_start(replace(machine, process_start_paid=0.0), process.workers, profile.import_seconds)
    warm_pool = f"a warm process pool would take {fmt_seconds(process.seconds)} ({process.workers} workers)"
    paid = rent_paid()
    lost = f"{fmt_seconds(paid)} lost for want of it so far"
    if paid < start:
        return (
            f"{warm_pool}: renting until what is lost for want of it covers its start ({lost}, of {fmt_seconds(start)})"
        )
    return f"{warm_pool}: {lost}, over its start ({fmt_seconds(start)}): a later run here starts one"


def _cluster(
    profile: Profile, options: Options, machine: Machine, n: int, cluster: Cluster, local_seconds: float
) -> tuple[Alternative | None, str]:
    """The cluster's alternative when the rule says it pays (else None), and the sentence why (not)."""
    engine, w = cluster.engine, profile.median_wall
    at = f"a {engine} cluster at {cluster.address}"
    even = f"break-even {fmt_seconds(CLUSTER_BREAK_EVEN_SECONDS[engine])}/item"
    if profile.is_async or not profile.wall:
        return None, f"{at} is configured; coroutine functions stay on this machine's event loop"
    if profile.unpicklable is not None:
        return None, f"{at} is configured, but the work does not pickle: it stays here"
    payload = profile.ipc_bytes or 0
    facts = f"per-item {fmt_seconds(w)}, {fmt_bytes(payload)} payload"
    if w < CLUSTER_BREAK_EVEN_SECONDS[engine]:
        return None, f"{facts}: {at} does not pay ({even})"
    if not cluster_may_pay(w, items=n, local_workers=machine.cpus, engine=engine):
        return None, (
            f"{facts}: {at} does not pay: {n} items are about {fmt_seconds(n * w / machine.cpus)} on "
            f"{machine.cpus} CPUs here, and it must save {CLUSTER_MIN_SAVING_SECONDS:g} s ({even})"
        )
    if cluster.workers is None:
        return None, f"{at} is configured but its size is unknown: the work stays here"
    if cluster.workers < 1:
        return None, f"{at} has no workers: the work stays here"
    workers = options.workers or cluster.workers
    seconds = cluster_seconds(
        w, payload, items=n, cluster_workers=workers, engine=engine, startup_seconds=cluster.startup_seconds
    )
    if not cluster_worthwhile(
        w,
        payload,
        items=n,
        local_workers=machine.cpus,
        cluster_workers=workers,
        engine=engine,
        startup_seconds=cluster.startup_seconds,
        local_seconds=local_seconds,
    ):
        return None, (
            f"{facts}: {at} ({workers} workers) does not pay: estimated {fmt_seconds(seconds)} there "
            f"against {fmt_seconds(local_seconds)} here ({even}; it must be "
            f"{1 - CLUSTER_MARGIN:.0%} and {CLUSTER_MIN_SAVING_SECONDS:g} s faster)"
        )
    note = f"{facts}: {at} pays ({even}); {engine}, {workers} workers"
    return Alternative(engine, workers, None, seconds, note), note


def _describe(profile: Profile, machine: Machine) -> list[str]:
    """Sentences stating what was measured, for the plan's reasons."""
    out: list[str] = []
    if profile.wall:
        w, c = profile.median_wall, profile.median_cpu
        kind = {"computing": "CPU-bound", "waiting": "mostly waiting", "mixed": "mixed"}[work_kind(c, w)]
        out.append(f"per-item CPU {fmt_seconds(c)} of {fmt_seconds(w)} wall: {kind}")
        if profile.warmup > 3:
            out.append(f"the first item took {profile.warmup:.0f}x the typical time (warm-up, not counted)")
        if profile.import_seconds > 0:
            out.append(
                f"its first call loaded {profile.first_imports} modules: a fresh worker process pays "
                f"{fmt_seconds(profile.import_seconds)} again"
            )
    if profile.thread_scaling is not None:
        held = serial_share(profile) >= 0.5
        if held:
            verdict = "the GIL is held" if machine.gil_enabled else "the work does not overlap"
        else:
            verdict = "it overlaps (the GIL is released)" if machine.gil_enabled else "it overlaps (free-threaded)"
        gil = "" if profile.gil_free is None else f", the GIL free {profile.gil_free:.0%} of the time"
        if held and profile.gil_free is not None and profile.gil_free >= GIL_FREE_THRESHOLD:
            # (the ticker got the GIL at once, but the threads were no faster: see ticker.GilReading)
            gil = f", the GIL handed over at once {profile.gil_free:.0%} of the time"
            verdict = "it changes hands often but is held: threads take turns"
        out.append(f"{profile.threads} threads ran at {profile.thread_scaling:.1f}x{gil}: {verdict}")
    if profile.native is not None:
        out.append(profile.native.summary())
    if profile.loop_blocked is not None:
        out.append(f"the coroutine blocked its event loop {profile.loop_blocked:.0%} of its time")
    if profile.unpicklable is not None:
        out.append(f"processes are out: {profile.unpicklable}")
    elif profile.item_bytes is not None and profile.item_pickle_seconds is None:
        out.append(
            f"items hold {fmt_bytes(profile.item_bytes)} buffers: even moving them for free, processes "
            "would not beat threads, so their pickling was not measured"
        )
    elif profile.wall and not profile.is_async and profile.fn_bytes is None and profile.item_bytes is None:
        out.append(
            "their pickling was not measured: processes could not be the plan (not even moving items "
            "for free, or with this little work left)"
        )
    elif profile.item_bytes is not None and profile.result_bytes is not None:
        out.append(f"item pickles to {fmt_bytes(profile.item_bytes)}, result to {fmt_bytes(profile.result_bytes)}")
    return out
