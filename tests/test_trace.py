"""``trace=PATH``: every mode writes a valid Trace Event Format file whose timeline tells the truth.

The format checks are the JSON Object Format's rules as Perfetto and
chrome://tracing import them (required fields per phase, metadata naming every
lane, complete events nested on each lane), written out here independently of
the writer; the facts (sync never overlaps, threads and async do, process
items sit on worker processes' lanes) are read from the data.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import gearshift
import trace_work as w
from gearshift import _trace
from gearshift._task import TRACE_ITEMS, ChunkResult, Task
from gearshift._task_run import run_chunk
from gearshift._trace_format import problems

REQUIRED = {"X": {"name", "ph", "ts", "dur", "pid", "tid"}, "i": {"name", "ph", "ts", "pid", "tid", "s"},
            "C": {"name", "ph", "ts", "pid", "args"}, "M": {"name", "ph", "pid", "args"}}  # fmt: skip


def run_traced(tmp_path: Path, fn: Any, items: Any, **kw: Any) -> tuple[list[Any], dict[str, Any]]:
    path = tmp_path / "run.trace.json"
    results = gearshift.map(fn, items, trace=str(path), **kw)
    return results, json.loads(path.read_text())


def check_format(doc: dict[str, Any]) -> None:
    """The format's rules, checked here on their own (and by the writer's own checker)."""
    assert set(doc) >= {"traceEvents", "displayTimeUnit", "otherData"}
    assert doc["displayTimeUnit"] in ("ms", "ns")
    events = doc["traceEvents"]
    named_pids = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    named = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    lanes: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        assert e["ph"] in REQUIRED, e
        assert REQUIRED[e["ph"]] <= set(e), e
        assert isinstance(e["pid"], int)
        if e["ph"] == "M":
            assert e["name"] in ("process_name", "thread_name", "process_sort_index", "thread_sort_index")
            continue
        assert isinstance(e["ts"], (int, float)) and e["ts"] >= 0
        assert e["pid"] in named_pids
        if e["ph"] == "C":
            assert all(isinstance(v, (int, float)) for v in e["args"].values())
            continue
        assert (e["pid"], e["tid"]) in named, f"lane of {e['name']} has no thread_name"
        if e["ph"] == "X":
            assert e["dur"] >= 0
            lanes[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
            if e["cat"] == "item":
                assert isinstance(e["args"]["index"], int)
            if e["cat"] == "chunk":
                assert e["args"]["first"] <= e["args"]["last"]
    for spans in lanes.values():  # complete events on one lane nest (here: never overlap)
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end - 1e-3, "events on one lane overlap"
    assert problems(doc) == []


def items_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] == "item"]


def covered(doc: dict[str, Any]) -> list[int]:
    """Every input index the trace shows ran (items, and chunks' first..last), sorted."""
    out: list[int] = []
    for e in doc["traceEvents"]:
        if e["ph"] == "X" and e["cat"] == "item":
            out.append(e["args"]["index"])
        elif e["ph"] == "X" and e["cat"] == "chunk":
            out.extend(range(e["args"]["first"], e["args"]["last"] + 1))
    return sorted(out)


def overlapping_pairs(events: list[dict[str, Any]]) -> int:
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events)
    return sum(1 for k, (s, _) in enumerate(spans) for _, e in spans[:k] if s < e - 1e-3)


def lane_info(doc: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(lane["pid"], lane["tid"]): lane for lane in doc["otherData"]["lanes"]}


# -- every mode, every entry point ------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "thread", "process", "async", "auto"])
def test_every_mode_writes_a_valid_trace_with_every_item(tmp_path: Path, mode: str) -> None:
    fn = w.anap if mode == "async" else w.nap
    results, doc = run_traced(tmp_path, fn, range(12), mode=mode, workers=None if mode == "auto" else 3)
    assert results == list(range(12))
    check_format(doc)
    assert covered(doc) == list(range(12))
    assert doc["otherData"]["pid"] == os.getpid()
    assert "CLOCK_MONOTONIC" in doc["otherData"]["clock"]
    counters = {e["name"] for e in doc["traceEvents"] if e["ph"] == "C"}
    if mode != "sync":  # the inline path hands nothing out
        assert counters == {"items in flight", "concurrency limit"}


def test_sync_items_never_overlap(tmp_path: Path) -> None:
    _, doc = run_traced(tmp_path, w.nap, range(8), mode="sync")
    items = items_of(doc)
    assert len(items) == 8
    assert overlapping_pairs(items) == 0
    assert len({(e["pid"], e["tid"]) for e in items}) == 1


def test_thread_items_overlap_on_several_lanes(tmp_path: Path) -> None:
    _, doc = run_traced(tmp_path, w.nap, range(12), mode="thread", workers=4, chunksize=1)
    items = items_of(doc)
    lanes = {(e["pid"], e["tid"]) for e in items}
    assert len(lanes) >= 2
    assert overlapping_pairs(items) > 0
    assert {e["pid"] for e in items} == {os.getpid()}
    assert all(lane_info(doc)[lane]["kind"] == "thread" for lane in lanes)


def test_process_items_sit_on_worker_processes_lanes(tmp_path: Path) -> None:
    results, doc = run_traced(tmp_path, w.nap, range(10), mode="process", workers=2, chunksize=1)
    assert results == list(range(10))
    items = items_of(doc)
    pids = {e["pid"] for e in items}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert all(lane_info(doc)[(e["pid"], e["tid"])]["kind"] == "worker" for e in items)
    names = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"}
    assert all(names[pid] == f"worker process {pid}" for pid in pids)
    # the parent pickled and sent each chunk; each worker unpickled it
    pickles = [e for e in doc["traceEvents"] if e.get("cat") == "pickle"]
    assert {e["name"] for e in pickles if e["pid"] == os.getpid()} == {"pickle + send"}
    assert {e["name"] for e in pickles if e["pid"] != os.getpid()} == {"unpickle"}


def test_a_cold_process_pool_shows_its_workers_starting(tmp_path: Path) -> None:
    from gearshift._backends._process import Backend

    path = tmp_path / "cold.json"
    backend = Backend(2)  # a pool of its own: its workers start during this run
    try:
        options = gearshift._options.make_options(mode="process", workers=2, trace=str(path))
        from gearshift._call import _Run
        from gearshift._task import CALL_ONE

        run = _Run(w.tiny, options, CALL_ONE, None)
        run.backend, run.runner.backend = backend, backend
        assert [r for batch in run.batches(range(4)) for r in batch] == [1, 2, 3, 4]
    finally:
        backend.shutdown()
    doc = json.loads(path.read_text())
    check_format(doc)
    starts = [e for e in doc["traceEvents"] if e.get("cat") == "pool"]
    assert starts and all(e["pid"] != os.getpid() and e["name"] == "worker start" for e in starts)


def test_async_waits_overlap_on_one_event_loop(tmp_path: Path) -> None:
    _, doc = run_traced(tmp_path, w.anap, range(10), mode="async", workers=10)
    items = items_of(doc)
    assert len(items) == 10
    info = lane_info(doc)
    loops = {info[(e["pid"], e["tid"])]["native_tid"] for e in items}
    assert len(loops) == 1  # one loop thread ...
    assert overlapping_pairs(items) >= 10  # ... with its waits in flight at once (on slot lanes)
    assert all(info[(e["pid"], e["tid"])]["kind"] == "loop" for e in items)


def test_imap_starmap_amap_aimap_write_traces(tmp_path: Path) -> None:
    p1, p2, p3, p4 = (str(tmp_path / f"{n}.json") for n in range(4))
    assert list(gearshift.imap(w.tiny, range(5), mode="thread", trace=p1)) == [1, 2, 3, 4, 5]
    assert gearshift.starmap(w.add, [(1, 2), (3, 4)], mode="sync", trace=p2) == [3, 7]

    async def main() -> tuple[list[int], list[int]]:
        a = await gearshift.amap(w.anap, range(4), mode="async", trace=p3)
        b = [x async for x in gearshift.aimap(w.anap, range(4), mode="async", trace=p4)]
        return a, b

    assert asyncio.run(main()) == ([0, 1, 2, 3], [0, 1, 2, 3])
    caller_loop = json.loads(Path(p3).read_text())["otherData"]["lanes"]
    assert {lane["kind"] for lane in caller_loop} == {"loop"}  # amap's coroutines ran on the caller's own loop
    assert {lane["native_tid"] for lane in caller_loop} == {threading.get_native_id()}
    for path, n in ((p1, 5), (p2, 2), (p3, 4), (p4, 4)):
        doc = json.loads(Path(path).read_text())
        check_format(doc)
        assert covered(doc) == list(range(n))


def test_an_imap_left_early_still_writes_its_trace(tmp_path: Path) -> None:
    path = tmp_path / "early.json"
    it = gearshift.imap(w.tiny, range(1000), mode="thread", trace=str(path))
    assert next(it) == 1
    it.close()  # type: ignore[attr-defined]
    check_format(json.loads(path.read_text()))


# -- failures, timeouts, retries, crashes ---------------------------------------------------


def test_a_failed_item_carries_its_error(tmp_path: Path) -> None:
    _, doc = run_traced(tmp_path, w.nap_fail_on_3, range(6), mode="thread", workers=2, errors="return", chunksize=1)
    check_format(doc)
    failed = [e for e in items_of(doc) if "error" in e["args"]]
    assert [e["args"]["index"] for e in failed] == [3]
    assert failed[0]["args"]["error"] == "ValueError: three is bad"


def test_a_failure_that_stops_the_run_is_traced_too(tmp_path: Path) -> None:
    path = tmp_path / "raised.json"
    with pytest.raises(ValueError, match="three is bad"):
        gearshift.map(w.nap_fail_on_3, range(6), mode="sync", trace=str(path))
    doc = json.loads(path.read_text())
    check_format(doc)
    assert any(e["args"].get("index") == 3 and "error" in e["args"] for e in items_of(doc))


def test_retries_are_marked_and_the_rerun_counts_its_attempt(tmp_path: Path) -> None:
    from helpers import fail_once

    items = [(k, str(tmp_path)) for k in range(4)]
    results, doc = run_traced(tmp_path, fail_once, items, mode="thread", workers=2, retries=1, chunksize=1)
    assert results == [0, 1, 2, 3]
    check_format(doc)
    retries = [e for e in doc["traceEvents"] if e.get("cat") == "retry"]
    assert sorted(e["args"]["index"] for e in retries) == [0, 1, 2, 3]
    assert all(e["ph"] == "i" and e["args"]["attempt"] == 1 for e in retries)
    runs = items_of(doc)
    assert sorted(e["args"]["index"] for e in runs if e["args"].get("attempt") == 2) == [0, 1, 2, 3]
    assert sum("error" in e["args"] for e in runs) == 4


def test_a_timeout_is_marked(tmp_path: Path) -> None:
    results, doc = run_traced(tmp_path, w.stuck_on_2, range(4), mode="process", workers=2, timeout=1.0,
                              errors="return", chunksize=1)  # fmt: skip
    assert isinstance(results[2], gearshift.Failure)
    check_format(doc)
    late = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["args"].get("timeout")]
    assert len(late) == 1 and late[0]["args"].get("index", late[0]["args"].get("first")) == 2
    assert "TaskTimeout" in late[0]["args"]["error"]


def test_a_crashed_worker_is_marked_on_the_parents_view(tmp_path: Path) -> None:
    results, doc = run_traced(tmp_path, w.exit_on_2, range(4), mode="process", workers=2, errors="return",
                              chunksize=1)  # fmt: skip
    assert isinstance(results[2], gearshift.Failure)
    check_format(doc)
    crashed = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["args"].get("crashed")]
    assert len(crashed) == 1 and crashed[0]["args"]["index"] == 2
    assert lane_info(doc)[(crashed[0]["pid"], crashed[0]["tid"])]["kind"] == "untimed"


# -- small items, auto ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "thread", "process"])
def test_items_too_small_to_trace_one_by_one_are_traced_per_chunk(tmp_path: Path, mode: str) -> None:
    n = 20_000
    results, doc = run_traced(tmp_path, w.tiny, range(n), mode=mode)
    assert results == [x + 1 for x in range(n)]
    check_format(doc)
    assert covered(doc) == list(range(n))  # every item exactly once
    chunks = [e for e in doc["traceEvents"] if e.get("cat") == "chunk"]
    # one event per chunk, not per item (how many chunks depends on the machine's load)
    assert chunks and len(items_of(doc)) + len(chunks) < n / 10


def test_auto_shows_its_phases_and_plan(tmp_path: Path) -> None:
    results, doc = run_traced(tmp_path, w.tiny, range(5000))
    assert results == [x + 1 for x in range(5000)]
    check_format(doc)
    auto = [e for e in doc["traceEvents"] if e.get("cat") == "auto"]
    phases = [e["name"] for e in auto if e["ph"] == "X"]
    assert phases[0].startswith("sampling")
    plans = [e for e in auto if e["ph"] == "i" and e["name"] == "plan"]
    assert len(plans) >= 1 and plans[0]["args"]["mode"] in ("sync", "thread", "process", "async")
    assert any(p.startswith(f"run: {plans[0]['args']['mode']}") for p in phases)
    assert covered(doc) == list(range(5000))


# -- bad input ---------------------------------------------------------------------------------


def _never(x: int) -> int:
    raise AssertionError("no work may start")


@pytest.mark.parametrize(
    ("where", "message"),
    [("missing/run.json", "does not exist"), ("folder", "is a directory")],
)
def test_an_unwritable_trace_path_is_refused_before_any_work(tmp_path: Path, where: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=message):
        gearshift.map(_never, range(3), mode="sync", trace=str(tmp_path / where))


def test_a_path_that_cannot_be_opened_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes anywhere a mode bit forbids; /proc files refuse even root
        if not os.path.exists("/proc/version"):
            pytest.skip("no file that root cannot write")
        target = "/proc/version"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "run.json")
    with pytest.raises(ValueError, match="cannot be written"):
        gearshift.map(_never, range(3), mode="sync", trace=target)


def test_trace_must_be_a_path() -> None:
    with pytest.raises(TypeError, match="trace must be a file path"):
        gearshift.map(_never, range(3), trace=True)  # type: ignore[arg-type]


def test_an_unused_trace_path_is_not_left_behind(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="workers"):
        gearshift.map(w.tiny, range(3), workers=0, trace=str(tmp_path / "t.json"))
    assert not (tmp_path / "t.json").exists()


# -- what it costs when off; the clock --------------------------------------------------------


def test_nothing_is_timed_when_tracing_is_off() -> None:
    result = run_chunk(Task(w.tiny, [1, 2]))
    assert result.trace is None and ChunkResult([], 0.0, 0.0).trace is None
    traced = run_chunk(Task(w.tiny, [1, 2], trace=TRACE_ITEMS))
    assert traced.trace is not None and len(traced.trace[5]) == 4  # start and end of each item
    gearshift.map(w.tiny, range(10), mode="thread")
    assert _trace._active == []


def test_worker_processes_read_the_parents_clock(tmp_path: Path) -> None:
    """time.monotonic_ns is one system-wide clock: a worker's reading falls between two of the parent's."""
    before = time.monotonic_ns()
    readings = gearshift.map(w.clock_here, range(4), mode="process", workers=2, chunksize=1)
    after = time.monotonic_ns()
    assert {pid for pid, _ in readings} != {os.getpid()}
    assert all(before <= t <= after for _, t in readings)


def test_the_checker_catches_what_breaks_the_format() -> None:
    meta = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "p"}},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "t"}}]  # fmt: skip
    ok = {"name": "a", "cat": "item", "ph": "X", "ts": 0, "dur": 10, "pid": 1, "tid": 1, "args": {}}
    assert problems({"traceEvents": [*meta, ok]}) == []
    crossing = {**ok, "name": "b", "ts": 5}
    assert "without nesting" in problems({"traceEvents": [*meta, ok, crossing]})[0]
    inside = {**ok, "name": "c", "ts": 2, "dur": 3}
    assert problems({"traceEvents": [*meta, ok, inside]}) == []
    assert "no thread_name" in problems({"traceEvents": [meta[0], ok]})[0]
    assert "dur" in problems({"traceEvents": [*meta, {**ok, "dur": -1}]})[0]
    assert "ph" in problems({"traceEvents": [*meta, {**ok, "ph": "Q"}]})[0]
    assert problems([]) == ["not a Trace Event Format object: no traceEvents list"]


def test_items_are_timed_one_by_one_only_while_they_come_slowly(tmp_path: Path) -> None:
    from gearshift._task import TRACE_CHUNK

    rec = _trace.Recorder(str(tmp_path / "t.json"))
    assert rec.level(16) == TRACE_ITEMS  # nothing measured: small chunks item by item ...
    assert rec.level(17) == TRACE_CHUNK  # ... bigger ones as a whole
    assert rec.level(1) == TRACE_CHUNK  # drawn as its item anyway, at no cost
    assert rec.level(500, per_item=0.01, workers=4) == TRACE_ITEMS  # 400 items/s
    assert rec.level(500, per_item=1e-6, workers=4) == TRACE_CHUNK  # millions a second
    assert rec.level(500, per_item=0.01, workers=20) == TRACE_ITEMS  # 2,000/s: the most traced one by one
    rec2 = _trace.Recorder(str(tmp_path / "u.json"))
    assert rec2.level(500, per_item=0.01, workers=100) == TRACE_CHUNK
    rec2._first, rec2._back = time.monotonic_ns() - 10**9, 50_000  # 50,000 items back in a second
    assert rec2.level(8) == TRACE_CHUNK


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_dask_items_sit_on_the_cluster_workers_lanes(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    with cluster, distributed.Client(cluster, set_as_default=False) as client:
        results, doc = run_traced(tmp_path, w.nap, range(8), mode="dask", client=client, chunksize=1)
        worker_pids = set(client.run(os.getpid).values())
    assert results == list(range(8))
    check_format(doc)
    items = items_of(doc)
    assert len(items) == 8 and {e["pid"] for e in items} <= worker_pids
    assert all(lane_info(doc)[(e["pid"], e["tid"])]["kind"] == "worker" for e in items)


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_ray_items_sit_on_the_cluster_workers_lanes(tmp_path: Path) -> None:
    """Ray on demand (pytest -m ray), as its other tests: a local Ray's workers are the item lanes."""
    pytest.importorskip("ray", reason="ray is not installed: pip install gearshift[ray]")
    results, doc = run_traced(tmp_path, w.nap, range(8), mode="ray", chunksize=1)
    assert results == list(range(8))
    check_format(doc)
    items = items_of(doc)
    assert len(items) == 8 and os.getpid() not in {e["pid"] for e in items}
    assert all(lane_info(doc)[(e["pid"], e["tid"])]["kind"] == "worker" for e in items)
