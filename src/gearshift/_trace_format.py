"""Turning a :class:`~gearshift._trace.Recorder` into Trace Event Format JSON, and reading it back.

The JSON Object Format of Chrome's Trace Event Format (the one Perfetto and
chrome://tracing import): ``{"traceEvents": [...], "displayTimeUnit": "ms",
"otherData": {...}}``, with

- ``M`` metadata events naming every process (``process_name``) and lane
  (``thread_name``), and ordering them (``*_sort_index``);
- ``X`` complete events: items (``args.index``, and ``args.error`` when one
  failed; ``args.timeout``/``args.crashed`` say how), chunks of items too
  small to trace one by one (``args.first``/``args.last``), pickling, worker
  starts and auto's phases;
- ``i`` instant events: retries and auto's decisions;
- ``C`` counters: items in flight and the concurrency limit.

``ts`` and ``dur`` are microseconds from the earliest event.  :func:`problems`
checks a document against these rules (the tests and ``gearshift trace`` use
it); :func:`read` loads a file with an error that says what is wrong with it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from ._errors import TaskTimeout, WorkerCrashed
from ._version import __version__

#: note names that are decisions (instant events); every other note starts a phase of auto
DECISIONS = frozenset({"plan", "drift", "run ended"})
PHASES = ("X", "i", "C", "M")
METADATA = frozenset({"process_name", "thread_name", "process_sort_index", "thread_sort_index"})
#: microseconds two events may cross by (times are rounded to the nanosecond) and still count as nested
SLACK = 0.002
UNTIMED = -1
AUTO = "auto"


class TraceFileError(ValueError):
    """A file given to ``gearshift trace`` is not a trace gearshift wrote (or is cut short)."""


def _error_args(exc: BaseException) -> dict[str, Any]:
    text = f"{type(exc).__name__}: {exc}"
    args: dict[str, Any] = {"error": text if len(text) <= 300 else text[:297] + "..."}
    if isinstance(exc, TaskTimeout):
        args["timeout"] = True
    elif isinstance(exc, WorkerCrashed):
        args["crashed"] = True
    return args


def _raw_events(rec: Any) -> tuple[list[tuple[Any, ...]], dict[tuple[int, Any], str]]:
    """Every span as (pid, lane key, name, category, start ns, end ns, args), and the lanes' thread names."""
    names: dict[tuple[int, Any], str] = {}
    raw: list[tuple[Any, ...]] = []
    for stamp, first, count, errors, attempt in rec.chunks:
        pid, tid, tname, t0, t1, spans = stamp[:6]
        if len(stamp) > 6:  # a worker process unpickled the function and items from then to t0
            raw.append((pid, tid, "unpickle", "pickle", stamp[6], t0, {"first": first, "last": first + count - 1}))
        if tname:
            names.setdefault((pid, tid), tname)
        extra = {"attempt": attempt} if attempt > 1 else {}
        if spans is not None or count == 1:
            pairs = [(spans[2 * k], spans[2 * k + 1]) for k in range(len(spans) // 2)] if spans else [(t0, t1)]
            for k, (s, e) in enumerate(pairs):
                if s == 0 or e == 0:
                    continue  # a concurrent item that never ran (its chunk was cancelled)
                args: dict[str, Any] = {"index": first + k, **extra}
                if errors and k in errors:
                    args.update(_error_args(errors[k]))
                raw.append((pid, tid, f"item {first + k}", "item", s, e, args))
            continue
        last = first + count - 1
        args = {"first": first, "last": last, "items": count, **extra}
        if errors:
            args["failed"] = len(errors)
            args["failed_indices"] = sorted(first + k for k in errors)[:100]
            args.update(_error_args(errors[min(errors)]))
        raw.append((pid, tid, f"items {first}-{last}", "chunk", t0, t1, args))
    # A worker is ready when it says so, or when its first item starts (the parent may read its hello later).
    first_start: dict[tuple[int, Any], int] = {}
    for event in raw:
        key = (event[0], event[1])
        first_start[key] = min(first_start.get(key, event[4]), event[4])
    for pid, tid, tname, name, cat, t0, t1, args in rec.spans:
        if tname:
            names.setdefault((pid, tid), tname)
        if cat == "pool":
            t1 = max(t0, min(t1, first_start.get((pid, tid), t1)))
        raw.append((pid, tid, name, cat, t0, t1, args))
    return raw, names


def _phases(rec: Any, end: int) -> list[tuple[Any, ...]]:
    """Auto's phases as spans on its lane: each lasts until the next one starts (the last, until the end)."""
    starts = [(name, t, args) for name, t, args in rec.notes if name not in DECISIONS]
    # A plan starts the phase that follows it: the rest of the run under that plan (until a drift).
    starts += [(f"run: {a['mode']} x{a['workers']}", t, {}) for name, t, a in rec.notes if name == "plan"]
    starts.sort(key=lambda s: s[1])
    out = []
    for k, (name, t, args) in enumerate(starts):
        stop = starts[k + 1][1] if k + 1 < len(starts) else end
        out.append((rec.pid, AUTO, name, "auto", t, max(t, stop), args))
    return out


def _slots(raw: list[tuple[Any, ...]]) -> list[tuple[tuple[int, Any, int], tuple[Any, ...]]]:
    """Give each span a slot of its lane so the spans of one (lane, slot) never overlap."""
    by_lane: dict[tuple[int, Any], list[tuple[Any, ...]]] = defaultdict(list)
    for event in raw:
        by_lane[(event[0], event[1])].append(event)
    out = []
    for (pid, tid), events in by_lane.items():
        events.sort(key=lambda e: (e[4], -e[5]))
        ends: list[int] = []
        for event in events:
            for slot, end in enumerate(ends):
                if end <= event[4]:
                    ends[slot] = event[5]
                    break
            else:
                slot = len(ends)
                ends.append(event[5])
            out.append(((pid, tid, slot), event))
    return out


def _lane_name(rec: Any, pid: int, tid: Any, tname: str, slots: int, slot: int) -> tuple[str, str]:
    """(lane name, kind) for the lane ``(pid, tid)`` slot ``slot`` of ``slots``."""
    if tid == AUTO:
        return "auto: phases and decisions", "auto"
    if tid == UNTIMED:
        name, kind = "no timing from its worker (killed, crashed or timed out): seen from the parent", "untimed"
    elif pid != rec.pid:
        name, kind = f"worker process {pid}" + (f" · {tname}" if tname and tname != "MainThread" else ""), "worker"
    elif tname.startswith("loop:"):  # items ran at once on an event loop there (see _task.trace_end)
        name, kind = f"event loop in {tname[5:]} (tid {tid})", "loop"
    else:
        name, kind = f"thread {tname or '?'} (tid {tid})", "thread"
    if slots > 1:
        name += f" · slot {slot + 1}"
    return name, kind


def build(rec: Any) -> dict[str, Any]:
    """The JSON document for everything ``rec`` recorded."""
    raw, names = _raw_events(rec)
    times = [e[4] for e in raw] + [e[5] for e in raw] + [t for _, t, _ in rec.notes]
    times += [c[1] for c in rec.counters] + [i[5] for i in rec.instants] + [rec.started]
    origin, end = min(times), max(times)
    raw += _phases(rec, end)
    placed = _slots(raw)
    for pid, tid, tname, *_ in rec.instants:
        names.setdefault((pid, tid), tname)

    def us(ns: int) -> float:
        return float(ns - origin) / 1000  # an int over 1000: the float prints as the exact decimal

    # Lanes in order: the parent's first, then workers by pid; within a process, by first event.
    first_seen: dict[tuple[int, Any, int], int] = {}
    for key, event in placed:
        first_seen[key] = min(first_seen.get(key, event[4]), event[4])
    for pid, tid, *_rest in rec.instants:
        first_seen.setdefault((pid, tid, 0), _rest[3])
    slot_count: dict[tuple[int, Any], int] = defaultdict(int)
    for pid, tid, slot in first_seen:
        slot_count[(pid, tid)] = max(slot_count[(pid, tid)], slot + 1)
    pids = sorted({pid for pid, _, _ in first_seen} | {rec.pid}, key=lambda p: (p != rec.pid, p))
    lane_id: dict[tuple[int, Any, int], int] = {}
    events: list[dict[str, Any]] = []
    lanes: list[dict[str, Any]] = []
    for order, pid in enumerate(pids):
        pname = f"gearshift (pid {pid})" if pid == rec.pid else f"worker process {pid}"
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": pname}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": order}})
        keys = sorted((k for k in first_seen if k[0] == pid), key=lambda k: (k[1] != AUTO, first_seen[k], k[2]))
        for n, key in enumerate(keys, start=1):
            _, tid, slot = key
            lane_id[key] = n
            lname, kind = _lane_name(rec, pid, tid, names.get((pid, tid), ""), slot_count[(pid, tid)], slot)
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": n, "args": {"name": lname}})
            events.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": n, "args": {"sort_index": n}})
            native = tid if isinstance(tid, int) and tid >= 0 else None
            lanes.append({"pid": pid, "tid": n, "name": lname, "kind": kind, "native_tid": native, "slot": slot})
    timed: list[dict[str, Any]] = []
    for key, (pid, _tid, name, cat, t0, t1, args) in placed:
        timed.append({"name": name, "cat": cat, "ph": "X", "ts": (t0 - origin) / 1000, "dur": max(0, t1 - t0) / 1000,
                      "pid": pid, "tid": lane_id[key], "args": args})  # fmt: skip
    for pid, tid, _tname, name, cat, t, args in rec.instants:
        timed.append({"name": name, "cat": cat, "ph": "i", "s": "t", "ts": us(t), "pid": pid,
                      "tid": lane_id[(pid, tid, 0)], "args": args})  # fmt: skip
    auto_lane = lane_id.get((rec.pid, AUTO, 0))
    for name, t, args in rec.notes:
        if name in DECISIONS and auto_lane is not None:
            timed.append({"name": name, "cat": "auto", "ph": "i", "s": "t", "ts": us(t), "pid": rec.pid,
                          "tid": auto_lane, "args": args})  # fmt: skip
    for name, t, value in rec.counters:
        timed.append({"name": name, "ph": "C", "ts": us(t), "pid": rec.pid, "tid": 0, "args": {"value": value}})
    timed.sort(key=lambda e: e["ts"])
    other = {
        "gearshift_trace": 1,
        "gearshift_version": __version__,
        "clock": "time.monotonic_ns (CLOCK_MONOTONIC on Linux): one clock for every process of the machine",
        "pid": rec.pid,
        "origin_ns": origin,
        "lanes": lanes,
    }
    return {"traceEvents": events + timed, "displayTimeUnit": "ms", "otherData": other}


def problems(doc: Any) -> list[str]:
    """What in ``doc`` breaks the Trace Event Format as gearshift writes it (empty: nothing)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return ["not a Trace Event Format object: no traceEvents list"]
    out: list[str] = []
    named_pids: set[int] = set()
    named_lanes: set[tuple[int, int]] = set()
    used: set[tuple[int, int]] = set()
    spans: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for n, event in enumerate(doc["traceEvents"]):
        where = f"event {n}"
        if not isinstance(event, dict):
            out.append(f"{where} is not an object")
            continue
        ph, name = event.get("ph"), event.get("name")
        if ph not in PHASES:
            out.append(f"{where}: ph {ph!r} is not one of {', '.join(PHASES)}")
            continue
        if not isinstance(name, str) or not name:
            out.append(f"{where}: no name")
        pid, tid = event.get("pid"), event.get("tid")
        if not isinstance(pid, int) or not isinstance(tid, int) or isinstance(pid, bool):
            out.append(f"{where} ({name}): pid and tid must be integers")
            continue
        args = event.get("args", {})
        if not isinstance(args, dict):
            out.append(f"{where} ({name}): args must be an object")
            continue
        if ph == "M":
            if name not in METADATA:
                out.append(f"{where}: unknown metadata event {name!r}")
            elif name.endswith("_name") and not isinstance(args.get("name"), str):
                out.append(f"{where} ({name}): args.name must be a string")
            elif name.endswith("_sort_index") and not isinstance(args.get("sort_index"), int):
                out.append(f"{where} ({name}): args.sort_index must be an integer")
            if name == "process_name":
                named_pids.add(pid)
            if name == "thread_name":
                named_lanes.add((pid, tid))
            continue
        ts = event.get("ts")
        if not isinstance(ts, (int, float)) or isinstance(ts, bool) or ts < 0:
            out.append(f"{where} ({name}): ts must be a number of microseconds >= 0")
            continue
        if ph == "X":
            dur = event.get("dur")
            if not isinstance(dur, (int, float)) or isinstance(dur, bool) or dur < 0:
                out.append(f"{where} ({name}): a complete event needs dur >= 0")
                continue
            if not isinstance(event.get("cat", ""), str):
                out.append(f"{where} ({name}): cat must be a string")
            spans[(pid, tid)].append((float(ts), float(ts) + float(dur), str(name)))
            used.add((pid, tid))
        elif ph == "i":
            if event.get("s", "t") not in ("g", "p", "t"):
                out.append(f"{where} ({name}): an instant event's scope s must be g, p or t")
            used.add((pid, tid))
        elif ph == "C":
            if not args or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in args.values()):
                out.append(f"{where} ({name}): a counter's args must be numbers")
    for pid, tid in sorted(used):
        if (pid, tid) not in named_lanes:
            out.append(f"lane pid {pid} tid {tid} has events but no thread_name metadata")
        if pid not in named_pids:
            out.append(f"process {pid} has events but no process_name metadata")
    for (pid, tid), lane in spans.items():
        lane.sort(key=lambda s: (s[0], -s[1]))
        open_: list[tuple[float, float, str]] = []
        for start, stop, name in lane:
            while open_ and open_[-1][1] <= start + SLACK:
                open_.pop()
            if open_ and stop > open_[-1][1] + SLACK:
                out.append(f"lane pid {pid} tid {tid}: {name!r} overlaps {open_[-1][2]!r} without nesting in it")
                break
            open_.append((start, stop, name))
    return out


def read(path: str) -> dict[str, Any]:
    """Load the trace at ``path``; :class:`TraceFileError` says what is wrong with a file that is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise TraceFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise TraceFileError(f"{path} is a directory, not a trace file") from None
    except UnicodeDecodeError:
        raise TraceFileError(f"{path} is not a text file: not a trace written by gearshift (trace=/--trace)") from None
    except OSError as exc:
        raise TraceFileError(f"{path} cannot be read: {exc.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise TraceFileError(f"{path} is empty: the run that writes it may not have ended yet") from None
        opened = text.lstrip()[:1] in ("{", "[")
        if opened and (exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string")):
            raise TraceFileError(
                f"{path} is cut short (the JSON ends at byte {len(text)} before it is complete): "
                "was it copied while being written? Run again with trace=/--trace to get a whole file"
            ) from None
        raise TraceFileError(
            f"{path} is not JSON ({exc.msg}: line {exc.lineno} column {exc.colno}): not a trace file"
        ) from None
    other = doc.get("otherData") if isinstance(doc, dict) else None
    if not isinstance(other, dict) or "gearshift_trace" not in other:
        raise TraceFileError(
            f"{path} was not written by gearshift (no otherData.gearshift_trace): `gearshift trace` draws files "
            "written with trace=PATH or `gearshift run --trace PATH`; open other tools' traces in Perfetto"
        )
    found = problems(doc)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise TraceFileError(f"{path} is not a valid trace: {found[0]}{more}")
    return doc  # type: ignore[no-any-return]


def summary(doc: dict[str, Any]) -> str:
    """A few lines about a trace: lanes, items, failures, span of time."""
    events = doc["traceEvents"]
    items = [e for e in events if e.get("ph") == "X" and e.get("cat") in ("item", "chunk")]
    count = sum(e["args"].get("items", 1) for e in items)
    failed = sum(e["args"].get("failed", 1) for e in items if "error" in e.get("args", {}))
    end = max((e["ts"] + e.get("dur", 0) for e in events if e.get("ph") != "M"), default=0.0)
    lanes = doc["otherData"].get("lanes", [])
    workers = {lane["pid"] for lane in lanes if lane.get("kind") == "worker"}
    return f"{count} items ({failed} failed) over {end / 1e6:.3f} s on {len(lanes)} lanes" + (
        f" ({len(workers)} worker processes)" if workers else ""
    )
