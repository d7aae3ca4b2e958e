"""``gearshift advise``: profile a function on a sample of its input and print the plan with its evidence.

The measuring lives in :func:`collect_advice`, which returns plain data (also
what ``--json`` prints); this module only reads the sample and renders it.
With the planner (``gearshift.advise``, which returns a :class:`~gearshift.Plan`
carrying its ``profile`` and ``alternatives``) the evidence is the planner's
own: what ``mode="auto"`` would measure and decide.  Without it,
:func:`collect_advice` measures by trial: per-item wall and CPU time and
payload sizes on a sequential pass, then the whole sample under every mode,
keeping the fastest.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import pickle
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from .._arguments import is_async_function
from .._call import _prepare
from .._task import CALL_ONE
from . import given_flags, option_values
from ._inputs import InputFile, UsageError, load_function

MODES = ("sync", "async", "thread", "process")


def advise_command(args: argparse.Namespace) -> int:
    if args.sample < 1:
        raise UsageError(f"--sample must be >= 1, got {args.sample}")
    options = option_values(args, "advise")
    given = given_flags(args, "advise")
    if given:
        from .._options import make_options

        try:
            make_options("gearshift advise", **options)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{', '.join(given)}: {exc}") from None
    fn = load_function(args.function)
    source = InputFile(args.input, lines=args.lines)
    total = source.scan()
    if total == 0:
        raise UsageError(f"{args.input} holds no items")
    sample = list(itertools.islice(source, args.sample))
    try:
        advice = collect_advice(fn, sample, total=total, **options)
    except OSError as exc:  # the scheduler is not there (dask gives up after its connect timeout)
        raise UsageError(f"cannot reach the cluster at {options.get('address')}: {exc}") from None
    advice["function"] = args.function
    advice["input"] = {"path": str(args.input), "items": total, "format": source.format}
    if args.json:
        json.dump(advice, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(advice, sys.stdout)
    return 0


def collect_advice(
    fn: Callable[..., Any], sample: list[Any], *, total: int | None = None, **options: Any
) -> dict[str, Any]:
    """Measure ``fn`` on ``sample`` and return the evidence, the plan and the losing modes, as plain data.

    ``total`` is the number of items of the whole input (the planner estimates
    times for all of them); ``options`` are ``gearshift.advise``'s (``address``:
    a dask or Ray cluster the plan may choose).
    """
    import gearshift

    planner_advise = getattr(gearshift, "advise", None)
    if planner_advise is not None:
        advice = _from_planner(planner_advise, fn, sample, total or len(sample), options)
    else:
        advice = _by_trial(fn, sample)
    _add_native(advice)
    return advice


def _add_native(advice: dict[str, Any]) -> None:
    """What native thread pools (BLAS, OpenMP) the measured items loaded, and what workers get of them."""
    from .._cpu import usable_cpus
    from .._native import describe, native_pools, thread_share

    pools = native_pools()  # the sample ran in this process: what it loaded is loaded here now
    cpus = usable_cpus()
    plan = advice["plan"]
    workers = plan["workers"] if plan["mode"] in ("thread", "process") and plan["workers"] else cpus
    seen = advice.get("measured", {}).get("native")  # what auto saw the items do with them
    share = thread_share(workers, cpus) if plan["mode"] in ("thread", "process") else None
    advice["native_threads"] = {
        "pools": [{"library": p.library, "api": p.api, "threads": p.threads, "version": p.version} for p in pools],
        "workers": workers,
        "cpus": cpus,
        "per_worker": thread_share(workers, cpus),
        "threads_used": seen["threads_used"] if seen else None,
        "capped": {k: seen[k] for k in ("capped_threads", "capped_wall", "capped_cpu")} if seen else None,
        "plan": (
            "as they are (one item at a time)"
            if share is None
            else f"capped to {share} thread{'s' if share != 1 else ''} in each of {workers} workers"
        ),
    }
    if pools and not seen:  # (what auto saw is in the profile's own lines already)
        advice["evidence"].append(describe(pools, workers, cpus))


def _from_planner(
    advise: Callable[..., Any], fn: Callable[..., Any], sample: list[Any], total: int, options: dict[str, Any]
) -> dict[str, Any]:
    import dataclasses

    plan = advise(fn, _Sized(sample, total), **options)
    profile = plan.profile
    measured: dict[str, Any] = {}
    evidence: list[str] = []
    if profile is not None:
        measured = {f.name: getattr(profile, f.name) for f in dataclasses.fields(profile)}
        for name in ("median_wall", "median_cpu", "median_wait", "cpu_share", "p90_wall", "ipc_bytes"):
            measured[name] = getattr(profile, name, None)
        native = measured.get("native")
        if native is not None:  # (plain data for --json)
            measured["native"] = {
                **{f.name: getattr(native, f.name) for f in dataclasses.fields(native) if f.name != "pools"},
                "pools": [{"library": p.library, "api": p.api, "threads": p.threads} for p in native.pools],
            }
        evidence = list(profile.summary())
    alternatives = list(getattr(plan, "alternatives", ()))
    best = min((a.seconds for a in alternatives if a.mode == plan.mode), default=None)
    others: dict[str, str] = {}
    for alt in alternatives:
        if alt.mode == plan.mode or alt.mode in others:
            continue
        text = f"estimated {_secs(alt.seconds)} for the {total:,} items"
        if best:
            text += f" ({alt.seconds / best:.1f}x the plan's time)"
        workers = f"{alt.workers} worker{'s' if alt.workers != 1 else ''}"
        why = "one item at a time" if alt.mode == "sync" else alt.note
        others[alt.mode] = f"{text}, {workers}" + (f": {why}" if why else "")
    return {
        "sample": len(sample),
        "source": "planner",
        "measured": _plain(measured),
        "evidence": evidence,
        "plan": {
            "mode": plan.mode,
            "workers": plan.workers,
            "chunksize": plan.chunksize,
            "expected_speedup": plan.expected_speedup,
            "reasons": list(plan.reasons),
        },
        "other_modes": others,
    }


def _plain(value: Any) -> Any:
    """JSON-ready: tuples to lists, floats rounded."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def _secs(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds >= 1 else f"{seconds * 1000:.3g} ms"


class _Sized:
    """The sample, with the whole input's length as its length hint."""

    def __init__(self, items: list[Any], length: int) -> None:
        self.items, self.length = items, length

    def __iter__(self) -> Any:
        return iter(self.items)

    def __length_hint__(self) -> int:
        return self.length


def _by_trial(fn: Callable[..., Any], sample: list[Any]) -> dict[str, Any]:
    measured = _measure_items(fn, sample)
    trials: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        _time_mode(fn, sample[:2], mode)  # start the pool; start-up is not what we compare
        trials[mode] = _time_mode(fn, sample, mode)
    base = trials["sync"]["seconds"]
    best = min(trials, key=lambda m: trials[m]["seconds"])
    for t in trials.values():
        t["speedup_over_sync"] = round(base / t["seconds"], 3) if t["seconds"] > 0 else None
    plan = {
        "mode": best,
        "workers": trials[best]["workers"],
        "chunksize": None,
        "expected_speedup": trials[best]["speedup_over_sync"],
        "reasons": _reasons(best, measured, trials),
    }
    others = {m: _why_lost(m, best, measured, trials) for m in MODES if m != best}
    evidence = [
        f"{'async def' if measured['is_async'] else 'plain function'}: wall time per item "
        f"{_ms(measured['wall_per_item_s'])}, CPU {_ms(measured['cpu_per_item_s'])} (medians)",
        f"pickled: item {measured['item_bytes']:,} bytes, result {measured['result_bytes']:,} bytes (medians)",
        "the whole sample: " + ", ".join(f"{mode} {t['seconds'] * 1000:.0f} ms" for mode, t in trials.items()),
    ]
    return {
        "sample": len(sample),
        "source": "trial",
        "measured": measured,
        "evidence": evidence,
        "trials": trials,
        "plan": plan,
        "other_modes": others,
    }


def _measure_items(fn: Callable[..., Any], sample: list[Any]) -> dict[str, Any]:
    is_async = is_async_function(fn)
    walls, cpus, in_sizes, out_sizes = [], [], [], []
    for item in sample:
        w0, c0 = time.perf_counter(), time.thread_time()
        result = asyncio.run(fn(item)) if is_async else fn(item)
        cpus.append(time.thread_time() - c0)
        walls.append(time.perf_counter() - w0)
        in_sizes.append(_size(item))
        out_sizes.append(_size(result))
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return {
        "is_async": is_async,
        "wall_per_item_s": wall,
        "cpu_per_item_s": cpu,
        "cpu_share": round(min(1.0, cpu / wall), 3) if wall > 0 else None,
        "item_bytes": int(statistics.median(in_sizes)),
        "result_bytes": int(statistics.median(out_sizes)),
    }


def _size(value: Any) -> int:
    try:
        return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return -1


def _time_mode(fn: Callable[..., Any], items: list[Any], mode: str) -> dict[str, Any]:
    run = _prepare(fn, items, CALL_ONE, None, mode=mode)
    t0 = time.perf_counter()
    for _ in run.batches(items):
        pass
    plan = run.current_plan
    return {"seconds": time.perf_counter() - t0, "workers": plan.workers if plan is not None else 1}


def _reasons(best: str, m: dict[str, Any], trials: dict[str, dict[str, Any]]) -> list[str]:
    share = m["cpu_share"]
    reasons = [
        f"on the sample, {best} was the fastest: {trials[best]['seconds'] * 1000:.0f} ms, "
        f"{trials[best]['speedup_over_sync']:.2f}x sync"
    ]
    if m["is_async"]:
        reasons.append("fn is a coroutine function: its awaits can overlap on an event loop")
    if share is not None:
        kind = "CPU-bound" if share > 0.7 else "mostly waiting (I/O-bound)" if share < 0.3 else "mixed CPU and waiting"
        reasons.append(f"each item takes {_ms(m['wall_per_item_s'])} wall, {share:.0%} of it on the CPU: {kind}")
    return reasons


def _why_lost(mode: str, best: str, m: dict[str, Any], trials: dict[str, dict[str, Any]]) -> str:
    t, b = trials[mode], trials[best]
    text = f"{t['seconds'] * 1000:.0f} ms on the sample ({t['speedup_over_sync']:.2f}x sync)"
    text += f" vs {b['seconds'] * 1000:.0f} ms"
    share = m["cpu_share"] or 0.0
    if mode == "sync":
        return text + ": one item at a time, nothing overlaps"
    if mode == "thread" and share > 0.7 and t["speedup_over_sync"] < 1.3:
        return text + ": the function holds the GIL, so threads take turns"
    if mode == "process" and m["wall_per_item_s"] < 0.001:
        return text + ": items are too small to pay for shipping them to other processes"
    if mode == "process" and share < 0.3:
        return text + ": the work is waiting, and few processes wait no better than many threads"
    if mode == "async" and not m["is_async"]:
        return text + ": a plain function runs on threads in async mode, with no event-loop advantage"
    return text


def _ms(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} µs" if seconds < 0.001 else f"{seconds * 1000:.1f} ms"


def render(advice: dict[str, Any], out: TextIO) -> None:
    plan = advice["plan"]
    out.write(f"gearshift advise {advice['function']}  (profiled on up to {advice['sample']} of ")
    out.write(f"{advice['input']['items']:,} items)\n\nMeasured\n")
    for line in advice["evidence"]:
        out.write(f"  - {line}\n")
    chunks = "automatic" if plan["chunksize"] is None else str(plan["chunksize"])
    out.write(f"\nPlan: mode={plan['mode']}, workers={plan['workers']}, chunksize={chunks}")
    if plan["expected_speedup"] is not None:
        out.write(f", expected speed-up over sync {plan['expected_speedup']:.2f}x")
    out.write("\n")
    for reason in plan["reasons"]:
        out.write(f"  - {reason}\n")
    if advice["other_modes"]:
        out.write("\nWhy not the others\n")
        for mode, why in advice["other_modes"].items():
            out.write(f"  {mode:<8} {why}\n")
    if plan["mode"] in ("dask", "ray"):  # `gearshift run` has no cluster option: from Python
        out.write(f"\nRun it:  gearshift.map(fn, items, mode={plan['mode']!r}, address=...)\n")
        return
    lines = " --lines" if advice["input"].get("format") == "lines" else ""
    out.write(
        f"\nRun it:  gearshift run {advice['function']} --input {advice['input']['path']}{lines} "
        f"--output results.jsonl --mode {plan['mode']}\n"
    )
