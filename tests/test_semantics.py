"""The contract (docs/semantics.md), proved over the whole matrix with hypothesis.

Each test draws whole configurations (mode x entry point x plain/async fn x errors x ordered x
chunksize x workers x timeout x retries x faults x an input fault x the consumer), runs them for
real and checks what the caller saw against the builtin ``map`` (the oracle in
``semantics_oracle``; the runs in ``semantics_model``).  A test is named after the invariants it proves and fails only on those
(``labels``), so one broken invariant does not hide another; ``test_matrix_every_invariant``
draws everything at once and reports each broken invariant separately.

Profiles (tests/conftest.py): ``ci`` (default, derandomized, about 4 minutes on 2 cores) and
``deep`` (random, 30 minutes or more):
``GEARSHIFT_HYPOTHESIS_PROFILE=deep pytest tests/test_semantics.py -p no:cacheprovider
--hypothesis-seed=N --hypothesis-show-statistics``.  Set ``GEARSHIFT_SEMANTICS_DASK=1`` to draw
``mode="dask"`` too (slow).  Also part of the harness: the consumer state machine
(test_semantics_consumer.py), the C5/C7 bounds (test_semantics_bounds.py) and the minimal
repros of what the harness found (test_semantics_found.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import semantics_model as sm
import semantics_oracle as so
from gearshift._cpu import usable_cpus
from semantics_model import Config, Fault

# The defects leave coroutines never awaited and tasks never retrieved: the assertions report the
# defect itself; those warnings would only turn it into an error at a random later point.
# Grids over gearshift's own semantics, not over its dependencies' APIs: run once, on the newest
# versions (.ci/run's lowest-versions step leaves slow tests out to stay within CI's 15 minutes).
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


MODES = ["sync", "async", "thread", "process", "auto"] + (
    ["dask"] if os.environ.get("GEARSHIFT_SEMANTICS_DASK") else []
)
FN_FAULTS = (sm.RAISE, sm.HANG, sm.CRASH)
ALL_KINDS = FN_FAULTS + sm.BASE_KINDS + sm.PICKLE_KINDS

#: examples per test in the ci profile; the deep profile runs DEEP_FACTOR times as many
#: (GEARSHIFT_DEEP_FACTOR overrides it, to fit a deep run into the time at hand)
DEEP_FACTOR = int(os.environ.get("GEARSHIFT_DEEP_FACTOR", "25"))


#: pytest-timeout per test: the ci budget takes a few minutes in all; deep runs take their time
TEST_SECONDS = 1800 if os.environ.get("GEARSHIFT_HYPOTHESIS_PROFILE", "ci") == "ci" else 6 * 3600


def budget(n: int) -> int:
    return n * DEEP_FACTOR if _profile() == "deep" else n


def _profile() -> str:
    return os.environ.get("GEARSHIFT_HYPOTHESIS_PROFILE", "ci")


@st.composite
def configs(
    draw: st.DrawFn,
    *,
    entries: tuple[str, ...] = sm.ENTRY_POINTS,
    modes: tuple[str, ...] | list[str] = tuple(MODES),
    kinds: tuple[str, ...] = ALL_KINDS,
    max_faults: int = 2,
    min_faults: int = 0,
    errors: tuple[str, ...] = ("raise", "return"),
    input_fault: bool | None = None,  # None: drawn; True: always; False: never
    consumers: tuple[str, ...] = sm.CONSUMERS,
    min_n: int = 0,
) -> Config:
    entry = draw(st.sampled_from(entries))
    executor = entry == "Executor.map"
    if executor:
        mode = draw(st.sampled_from([m for m in sm.EXECUTORS if sm.executor_mode(m) in modes]))
    else:
        mode = draw(st.sampled_from(list(modes)))
    is_async = draw(st.booleans())
    n = draw(st.integers(min_n, 40))
    workers = draw(st.sampled_from([1, 2, 3]))
    chunksize = draw(st.sampled_from([None, 1, 3, 16]))
    pause = draw(st.sampled_from([sm.ITEM_SECONDS, 0.0]))
    # A sync call that names its mode and nothing else: map and starmap take gearshift._quick then;
    # an auto one starts in gearshift._lean, forced as in a fresh interpreter, which loads auto after the
    # first chunk (0.0), never for its budget (10.0), or as the first item outlasts the watch (WATCHED_SECONDS)
    plain = mode in ("sync", "auto") and not executor and "raise" in errors and draw(st.booleans())
    lean = None
    if plain and mode == "auto" and entry in ("map", "starmap"):
        lean = draw(st.sampled_from([0.0, 10.0]))
        n = min(n, 12)
        pause = draw(st.sampled_from([sm.ITEM_SECONDS, 0.0, sm.WATCHED_SECONDS]))
    # Executor.map: the standard library's signature (errors raise, in order, no per-item timeout)
    err = "raise" if executor or plain else draw(st.sampled_from(errors))
    ordered = True if executor or plain else draw(st.booleans())
    retries = 0 if executor or plain else draw(st.integers(0, 2))
    if plain:
        chunksize = None
    allowed = [k for k in kinds if k != sm.CRASH or mode in ("process", "Executor(process)", "ProcessPoolExecutor")]
    if not executor and not plain and sm.HANG in allowed and draw(st.booleans()):
        timeout: float | None = sm.HANG_TIMEOUT
    else:
        timeout = None
        allowed = [k for k in allowed if k != sm.HANG]
    faults: list[Fault] = []
    if n and allowed:
        count = draw(st.integers(min(min_faults, n), min(max_faults, n)))
        indices = draw(st.lists(st.integers(0, n - 1), min_size=count, max_size=count, unique=True))
        for i in sorted(indices):
            kind = draw(st.sampled_from(allowed))
            times = draw(st.integers(1, 3)) if kind in FN_FAULTS else 1
            faults.append(Fault(i, kind, times))
    # auto finding a profile of fn remembered from an earlier run (gearshift._auto.memory), taken as confirmed
    remembered = None
    if mode == "auto" and not executor and not is_async and lean is None:
        remembered = draw(st.sampled_from([None, *sm.REMEMBERED]))
    # auto's first item computing long: items start on processes beside it, more as they come back (one in four)
    # (not with a timeout: a host's load stretches an item that computes 0.25 s past HANG_TIMEOUT's 1 s)
    first_computes = mode == "auto" and not executor and not is_async and remembered is None and n > 1
    first_computes = first_computes and timeout is None
    first_computes = first_computes and draw(st.sampled_from([False, False, False, True]))
    broken = draw(st.booleans()) if input_fault is None else input_fault
    where = draw(st.integers(0, n)) if broken else None
    # a list, tuple or range is read in slices and cut (no fault of its own); a range of indices has fn carry
    # the items (sm.Indexed): none that does not pickle, and no pairs for starmap
    sources = ["generator", "list", "tuple"]
    if entry != "starmap" and not any(f.kind in sm.ITEM_PICKLE_KINDS for f in faults):
        sources.append("range")
    source = "generator" if broken else draw(st.sampled_from(sources))
    consumer = draw(st.sampled_from(consumers)) if entry in sm.ITERATOR_ENTRIES else "drain"
    stop_after = draw(st.integers(1, max(1, n))) if consumer in ("break", "close") else 0
    return Config(
        mode=mode, entry=entry, is_async=is_async, n=n, errors=err, ordered=ordered, chunksize=chunksize,
        workers=workers, timeout=timeout, retries=retries, faults=tuple(faults), input_fault=where,
        consumer=consumer, stop_after=stop_after, pause=pause, plain=plain, lean=lean, remembered=remembered,
        source=source, first_computes=first_computes,
    )  # fmt: skip


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("semantics")
    sm.shutdown_executors()


_VIOLATIONS: dict[str, type[sm.Violation]] = {}


def violation(label: str) -> type[sm.Violation]:
    """One exception class per invariant, so hypothesis reports (and shrinks) each one apart."""
    key = label.split(":")[0]
    if key not in _VIOLATIONS:
        _VIOLATIONS[key] = type(f"Violates_{key.replace('/', '_').replace('-', '_')}", (sm.Violation,), {})
    return _VIOLATIONS[key]


def exercise(cfg: Config, folder: Path, labels: tuple[str, ...] | None) -> None:
    """Run ``cfg``, check it, raise the first violation whose label is in ``labels`` (None: any)."""
    obs, runs, problems = so.check(cfg, str(folder))
    saw = (
        f"caller saw: {len(obs.delivered)} results {obs.delivered[:12]!r}, exception {obs.exc!r}, "
        f"partial_results {obs.partial!r}, {obs.seconds:.2f} s; "
        f"executions (item, attempt): {sorted((r.index, r.attempt) for r in runs)[:30]}"
    )
    wanted = [p for p in problems if labels is None or any(p.startswith(label) for label in labels)]
    if wanted:
        repro = (
            f"repro: cd tests && PYTHONPATH=../src python -c 'from semantics_oracle import *; print(replay({cfg!r}))'"
        )
        raise violation(wanted[0])("\n".join([*so.shorten(wanted), saw, repro]))


# -- one test per invariant -----------------------------------------------------------------------------


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(300))
@given(cfg=configs(kinds=(), input_fault=False))
def test_c1_c4_results_equal_builtin_map(cfg: Config, logs: Path) -> None:
    """C1, C4: no faults: the builtin map's results (same order, or same multiset), none twice."""
    exercise(cfg, logs, ("C1", "C4", "NEVER-HANG", "CLOSE"))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(120))
@given(cfg=configs(kinds=FN_FAULTS, errors=("raise",), min_faults=1, input_fault=False, min_n=1))
def test_c2_errors_raise_prefix_then_the_error(cfg: Config, logs: Path) -> None:
    """C2: errors="raise": exactly the results before the first failing item, then its own error."""
    exercise(cfg, logs, ("C1", "C2", "C4", "NEVER-HANG"))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(150))
@given(cfg=configs(entries=("map", "imap", "starmap", "amap", "aimap"), kinds=FN_FAULTS, errors=("return",),
                   min_faults=1, input_fault=False, consumers=("drain",), min_n=1))  # fmt: skip
def test_c3_runs_at_most_1_plus_retries(cfg: Config, logs: Path) -> None:
    """C3: each item runs at most 1 + retries times, Failure.attempts says how many; siblings once."""
    exercise(cfg, logs, ("C3", "NEVER-HANG"))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(150))
@given(cfg=configs(kinds=(), input_fault=False, consumers=("drain",), min_n=8))
def test_c6_workers_caps_concurrency(cfg: Config, logs: Path) -> None:
    """C6: never more than ``workers`` executions at once, plain or async fn; sync: one at a time."""
    exercise(cfg, logs, ("C6",))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(200))
@given(cfg=configs(kinds=(sm.RAISE,), max_faults=1, input_fault=True))
def test_c9_input_that_raises_keeps_results(cfg: Config, logs: Path) -> None:
    """C9: the items read before the input broke are run and delivered, then the input's own error."""
    exercise(cfg, logs, ("C9", "NEVER-HANG"))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(60))
@given(cfg=configs(kinds=sm.BASE_KINDS, min_faults=1, max_faults=1, input_fault=False, min_n=1))
def test_c10_base_exception_stops_the_run(cfg: Config, logs: Path) -> None:
    """C10: a BaseException from fn: never retried, never a Failure; the caller gets it with partial_results."""
    exercise(cfg, logs, ("C10", "C3", "NEVER-HANG"))


CROSSING = ("process", "auto")


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(150))
@given(cfg=configs(modes=CROSSING, kinds=sm.PICKLE_KINDS, min_faults=1, input_fault=False, min_n=1))
def test_c11_pickle_faults_fail_their_item_alone(cfg: Config, logs: Path) -> None:
    """C11: a fault at any of the four pickle steps fails that item alone, with a gearshift error."""
    exercise(cfg, logs, ("C11", "C10/C11", "C1", "C3", "C4", "NEVER-HANG"))


@pytest.mark.timeout(TEST_SECONDS)
@settings(max_examples=budget(300))
@given(cfg=configs())
def test_matrix_every_invariant(cfg: Config, logs: Path) -> None:
    """Everything drawn at once: each broken invariant is reported (and shrunk) on its own."""
    exercise(cfg, logs, None)


# -- issue 17's defects, as fixed configurations (they fail on aa9af81) ---------------------------------

KNOWN = {
    "1-imap-raise-thread-yields-None": Config(mode="thread", entry="imap", is_async=False, n=40, faults=(Fault(5, sm.RAISE),), pause=0.0),
    "1-imap-raise-process-yields-later-values": Config(mode="process", entry="imap", is_async=False, n=40, faults=(Fault(5, sm.RAISE),), pause=0.0),
    "4-crash-without-timeout-reruns": Config(mode="process", entry="map", is_async=False, n=8, errors="return", faults=(Fault(3, sm.CRASH),)),
    "4-crash-exceeds-retries": Config(mode="process", entry="map", is_async=False, n=8, errors="return", retries=1, faults=(Fault(3, sm.CRASH, 2),)),
    "5-input-error-loses-results-thread": Config(mode="thread", entry="map", is_async=False, n=10, input_fault=5),
    "5-input-error-failure-for-missing-item-sync": Config(mode="sync", entry="map", is_async=False, n=10, errors="return", input_fault=5),
    "6-sync-runs-coroutines-at-once": Config(mode="sync", entry="map", is_async=True, n=20, workers=1),
    "6-thread-workers-1-runs-coroutines-at-once": Config(mode="thread", entry="map", is_async=True, n=20, workers=1),
    "9-result-unpickling-exits": Config(mode="process", entry="map", is_async=False, n=8, errors="return", faults=(Fault(3, sm.RESULT_UNPICKLE_EXITS),)),
    "9-item-unpickling-exits": Config(mode="process", entry="map", is_async=False, n=8, errors="return", faults=(Fault(3, sm.ITEM_UNPICKLE_EXITS),)),
    "9-keyboardinterrupt-in-worker": Config(mode="process", entry="map", is_async=False, n=8, errors="return", faults=(Fault(3, sm.KEYBOARD),)),
}  # fmt: skip

#: what the deep profile found (seeds 20261205, 20261206), as fixed configurations
DEEP_FOUND = {
    # a result the worker cannot pickle makes it send its earlier outcomes in one frame; one of them
    # that does not unpickle here failed all of them (item 3, a plain int, came back a Failure)
    "moved-outcomes-fail-alone": Config(mode="process", entry="map", is_async=False, n=5, errors="return", ordered=False, workers=1, faults=(Fault(2, "result-unpickle-raises"), Fault(4, "result-pickle-raises"))),
    # (seed 20261206) every item of the last chunk fails to pickle: each failed before it was sent, so nothing
    # was in flight, and the runner ended without handing their Failures out (0 outcomes for 2 items)
    "unsent-chunk-handed-out": Config(mode="process", entry="map", is_async=False, n=2, errors="return", ordered=False, chunksize=3, workers=1, faults=(Fault(0, "item-unpicklable"), Fault(1, "item-unpicklable"))),
    # (seed 20261212, factor 5) a worker exits unpickling item 10 while item 11 is being sent to it: the send
    # fails, item 11 goes back to pending and no worker started for it (a hang, about 1 run in 100; the order
    # itself is fixed in tests/test_process.py::test_jobs_sent_to_a_worker_that_just_died_run_on_a_new_one)
    "hang-after-item-unpickle-exit-aimap": Config(mode="process", entry="aimap", is_async=False, n=12, errors="return", ordered=False, workers=1, faults=(Fault(10, "item-unpickle-os-exit"),), pause=0.0),
    "unsent-chunk-handed-out-imap": Config(mode="process", entry="imap", is_async=False, n=2, errors="return", ordered=True, chunksize=3, workers=1, faults=(Fault(0, "item-unpicklable"), Fault(1, "item-unpicklable"))),
    # (seed 20261219, factor 5; the oracle's mistake, not gearshift's) item 0 fails once and its retry waits
    # out a back-off while item 1 runs and raises KeyboardInterrupt: item 0 had not completed, so partial_results
    # is empty; the oracle expected "one at a time" to mean item 0's retry ran first
    "keyboardinterrupt-while-a-retry-waits-sync": Config(mode="sync", entry="map", is_async=False, n=2, workers=1, retries=1, faults=(Fault(0, "raise", 1), Fault(1, "KeyboardInterrupt"))),
}  # fmt: skip


#: deep-run findings not fixed yet, by name: the reason (each runs as an expected failure, not strict)
OPEN: dict[str, str] = {}


@pytest.mark.parametrize(
    "cfg",
    [
        pytest.param(cfg, id=name, marks=[pytest.mark.xfail(reason=OPEN[name], strict=False)] if name in OPEN else [])
        for name, cfg in DEEP_FOUND.items()
    ],
)
def test_deep_run_finding(cfg: Config, logs: Path) -> None:
    """Each defect a deep run found, as one fixed configuration (docs/semantics.md, the harness)."""
    exercise(cfg, logs, None)


@pytest.mark.parametrize("cfg", list(KNOWN.values()), ids=list(KNOWN))
def test_issue17_defect(cfg: Config, logs: Path) -> None:
    """Each of issue 17's defects that the harness's oracle covers, as one fixed configuration."""
    exercise(cfg, logs, None)


#: sync calls that name their mode and nothing else, as fixed configurations: map and starmap run in
#: gearshift._quick, the lazy and async entries on the general path with every option at its default
PLAIN = {
    "map-values": Config(mode="sync", entry="map", is_async=False, n=12, pause=0.0, plain=True),
    "map-raise": Config(mode="sync", entry="map", is_async=False, n=12, faults=(Fault(4, sm.RAISE),), plain=True),
    "starmap-input-raises": Config(mode="sync", entry="starmap", is_async=False, n=12, input_fault=7, plain=True),
    "map-base-exception": Config(mode="sync", entry="map", is_async=False, n=12, faults=(Fault(5, sm.BASE_KINDS[0]),), plain=True),
    "imap-break": Config(mode="sync", entry="imap", is_async=False, n=12, consumer="break", stop_after=3, plain=True),
    "amap-coroutines": Config(mode="sync", entry="amap", is_async=True, n=6, plain=True),
}  # fmt: skip


#: a list, tuple or range input in every mode (read in slices, cut where a generator is read item by item), and in
#: the quick path and the lean start: what differs between Python versions (from 3.12 a range iterator's position
#: is set from where it is), so CI runs these on the newest Python too (.ci/run)
SOURCES = {
    **{
        f"{entry}-{source}-{mode}": Config(
            mode=mode, entry=entry, is_async=False, n=40, pause=0.0, source=source,
            **({"consumer": "break", "stop_after": 7} if entry == "imap" else {}),
        )
        for mode in ("sync", "async", "thread", "process", "auto")
        for entry, source in (("map", "range"), ("imap", "list"), ("map", "tuple"))
    },
    "auto-map-range-items-that-wait": Config(mode="auto", entry="map", is_async=False, n=40, source="range"),
    "auto-imap-range-unordered": Config(mode="auto", entry="imap", is_async=False, n=40, ordered=False, source="range"),
    "quick-map-range": Config(mode="sync", entry="map", is_async=False, n=12, pause=0.0, plain=True, source="range"),
    "quick-starmap-tuple": Config(mode="sync", entry="starmap", is_async=False, n=12, plain=True, source="tuple"),
    "lean-map-range-loads-auto": Config(mode="auto", entry="map", is_async=False, n=12, plain=True, lean=0.0, source="range"),
    "lean-map-list-loads-auto": Config(mode="auto", entry="map", is_async=False, n=12, plain=True, lean=0.0, source="list"),
    "lean-starmap-tuple-loads-auto": Config(mode="auto", entry="starmap", is_async=False, n=12, plain=True, lean=0.0, source="tuple"),
    "lean-map-range-adopted": Config(mode="auto", entry="map", is_async=False, n=8, pause=sm.WATCHED_SECONDS, plain=True, lean=10.0, source="range"),
    "lean-map-range-raise-after-loading": Config(mode="auto", entry="map", is_async=False, n=12, faults=(Fault(9, sm.RAISE),), plain=True, lean=0.0, source="range"),
}  # fmt: skip


@pytest.mark.parametrize("cfg", list(SOURCES.values()), ids=list(SOURCES))
def test_an_input_that_is_a_sequence(cfg: Config, logs: Path) -> None:
    """Every invariant holds for a list, tuple or range input, in every mode and on the quick and lean paths."""
    exercise(cfg, logs, None)


#: auto's first item computing long (EARLY_SECONDS): the next items start on worker processes beside it, more
#: each time those are back (gearshift._auto.chain), handed out after it; faults in those stretches and after
EARLY = {
    "map": Config(mode="auto", entry="map", is_async=False, n=10, first_computes=True),
    "map-raise": Config(mode="auto", entry="map", is_async=False, n=10, faults=(Fault(2, sm.RAISE),), first_computes=True),
    "map-return-retries": Config(mode="auto", entry="map", is_async=False, n=10, errors="return", retries=1, faults=(Fault(1, sm.RAISE), Fault(3, sm.RAISE, 2)), first_computes=True),
    "imap-break": Config(mode="auto", entry="imap", is_async=False, n=10, consumer="break", stop_after=3, first_computes=True),
    "imap-unordered": Config(mode="auto", entry="imap", is_async=False, n=10, ordered=False, first_computes=True),
    "map-base-exception": Config(mode="auto", entry="map", is_async=False, n=10, faults=(Fault(2, sm.BASE_KINDS[0]),), first_computes=True),
    # (a timeout of 2 s, under HANG_SECONDS: 1 s was not enough for item 0's 0.25 s of CPU beside four busy loops)
    "map-hang-timeout": Config(mode="auto", entry="map", is_async=False, n=10, errors="return", timeout=2.0, faults=(Fault(1, sm.HANG),), first_computes=True),
    "map-item-unpickle-raises": Config(mode="auto", entry="map", is_async=False, n=10, errors="return", faults=(Fault(2, sm.ITEM_UNPICKLE_RAISES),), first_computes=True),
    "starmap-input-raises": Config(mode="auto", entry="starmap", is_async=False, n=10, input_fault=4, first_computes=True),
    "map-range": Config(mode="auto", entry="map", is_async=False, n=10, source="range", first_computes=True),
    "lean-map-adopted": Config(mode="auto", entry="map", is_async=False, n=10, plain=True, lean=10.0, first_computes=True),
    "aimap": Config(mode="auto", entry="aimap", is_async=False, n=10, first_computes=True),
}  # fmt: skip


@pytest.mark.timeout(TEST_SECONDS)
@pytest.mark.parametrize("cfg", list(EARLY.values()), ids=list(EARLY))
def test_items_started_beside_a_first_item_that_computes(cfg: Config, logs: Path) -> None:
    """Every invariant holds when auto starts items on processes beside its first, and more as they come back."""
    exercise(cfg, logs, None)


@pytest.mark.alone
@pytest.mark.timeout(TEST_SECONDS)
@pytest.mark.skipif(usable_cpus() < 2, reason="with one CPU nothing starts beside the first item")
def test_more_items_start_beside_the_first_as_the_earlier_ones_come_back(
    logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The configuration runs what it is meant to: items in worker processes while item 0 runs, in two
    stretches at least (an item started after another one beside item 0 had ended)."""
    # (item 0 computes 1 s here, not 0.25: on a loaded host a cold pool's start may take most of 0.25 s)
    monkeypatch.setattr(sm, "EARLY_SECONDS", 1.0)
    _, runs, problems = so.check(EARLY["map"], str(logs))
    assert not problems, problems
    first = next(r for r in runs if r.index == 0)
    assert first.end is not None
    beside = [r for r in runs if r.index > 0 and r.pid != first.pid and r.start < first.end]
    assert beside, runs
    ended = min(r.end for r in beside if r.end is not None)
    assert any(r.start > ended for r in beside), beside  # a later stretch, started once one was back


#: auto calls that name nothing else, started in gearshift._lean as in a fresh interpreter: the items stay there
#: (lean 10 s), auto takes over after the first chunk (lean 0) or takes the first item over (30 ms items)
LEAN = {
    "map-stays": Config(mode="auto", entry="map", is_async=False, n=12, pause=0.0, plain=True, lean=10.0),
    "map-loads-auto": Config(mode="auto", entry="map", is_async=False, n=12, pause=0.0, plain=True, lean=0.0),
    "map-adopted": Config(mode="auto", entry="map", is_async=False, n=8, pause=sm.WATCHED_SECONDS, plain=True, lean=10.0),
    "map-raise-in-a-chunk": Config(mode="auto", entry="map", is_async=False, n=12, faults=(Fault(4, sm.RAISE),), plain=True, lean=10.0),
    "map-raise-after-loading": Config(mode="auto", entry="map", is_async=False, n=12, faults=(Fault(9, sm.RAISE),), plain=True, lean=0.0),
    "map-adopted-raises": Config(mode="auto", entry="map", is_async=False, n=8, pause=sm.WATCHED_SECONDS, faults=(Fault(0, sm.RAISE),), plain=True, lean=10.0),
    "starmap-input-raises": Config(mode="auto", entry="starmap", is_async=False, n=12, input_fault=7, plain=True, lean=10.0),
    "starmap-input-raises-first": Config(mode="auto", entry="starmap", is_async=False, n=12, input_fault=0, plain=True, lean=10.0),
    "map-base-exception": Config(mode="auto", entry="map", is_async=False, n=12, faults=(Fault(5, sm.BASE_KINDS[0]),), plain=True, lean=10.0),
    "map-base-exception-adopted": Config(mode="auto", entry="map", is_async=False, n=6, pause=sm.WATCHED_SECONDS, faults=(Fault(0, sm.BASE_KINDS[0]),), plain=True, lean=10.0),
}  # fmt: skip


def _taken(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[bool]:
    """Whether each call of ``module.collect`` (a quick or lean path) ran the call there: it returns None
    at once otherwise, so a call that raised ran there."""
    taken: list[bool] = []
    collect = module.collect

    def spy(*args: Any, **kwargs: Any) -> Any:
        try:
            out = collect(*args, **kwargs)
        except BaseException:
            taken.append(True)
            raise
        taken.append(out is not None)
        return out

    monkeypatch.setattr(module, "collect", spy)
    return taken


@pytest.mark.parametrize("cfg", list(LEAN.values()), ids=list(LEAN))
def test_an_auto_call_in_the_lean_start(cfg: Config, logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invariant holds for an auto map or starmap that starts in gearshift._lean, however it ends."""
    from gearshift import _lean

    taken = _taken(monkeypatch, _lean)
    exercise(cfg, logs, None)
    assert taken == [True]


@pytest.mark.parametrize("cfg", list(PLAIN.values()), ids=list(PLAIN))
def test_a_call_naming_only_its_mode(cfg: Config, logs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every invariant holds for a call that names only its mode; map and starmap take the quick path there."""
    from gearshift import _quick

    taken = _taken(monkeypatch, _quick)
    exercise(cfg, logs, None)
    assert any(taken) == (cfg.entry in ("map", "starmap")), taken
