"""The consumer's side of the contract as a state machine: ``next``, a slow ``next``, ``close``.

hypothesis.stateful drives a lazy iterator (``imap`` or ``Executor.map``) step by step and
checks after every step that what was handed out is the builtin ``map``'s prefix (C1, C2),
nothing twice (C4), no item ran more than once (C3), and that after ``close()`` the iterator is
finished (StopIteration, never a late result or a hang).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import semantics_model as sm
from semantics_model import Config, Fault

# The defects leave coroutines never awaited and tasks never retrieved: the assertions report the
# defect itself; those warnings would only turn it into an error at a random later point.
# slow: grids over gearshift's own semantics, run once, on the newest versions (not in .ci/run's lowest-versions step)
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


_FOLDER = tempfile.mkdtemp(prefix="gearshift-consumer-")


@pytest.fixture(scope="module", autouse=True)
def _executors_shut_down() -> Iterator[None]:
    yield
    sm.shutdown_executors()


_END = object()


class LazyConsumer(RuleBasedStateMachine):
    """One lazy run, consumed one step at a time."""

    cfg: Config
    results: Any

    @initialize(
        mode=st.sampled_from(["sync", "async", "thread", "process", "auto", "Executor(thread)", "ProcessPoolExecutor"]),
        is_async=st.booleans(),
        n=st.integers(0, 30),
        workers=st.sampled_from([1, 2, 3]),
        chunksize=st.sampled_from([None, 1, 3, 16]),
        bad=st.none() | st.integers(0, 29),
        pause=st.sampled_from([sm.ITEM_SECONDS, 0.0]),
    )
    def start(
        self, mode: str, is_async: bool, n: int, workers: int, chunksize: int | None, bad: int | None, pause: float
    ) -> None:
        executor = mode.startswith("Executor") or mode.endswith("Executor")
        faults = (Fault(bad, sm.RAISE, 1),) if bad is not None and bad < n else ()
        self.cfg = Config(mode=mode, entry="Executor.map" if executor else "imap", is_async=is_async, n=n,
                          workers=workers, chunksize=chunksize, faults=faults, pause=pause)  # fmt: skip
        self.log = os.path.join(_FOLDER, f"{uuid.uuid4().hex}.log")
        fn = sm.awork if is_async else sm.work
        items = self.cfg.items(self.log)
        if executor:
            self.results = sm.executor(mode, workers).map(fn, iter(items), chunksize=chunksize)
        else:
            self.results = iter(sm.imap_for(fn, iter(items), mode, workers, chunksize))
        self.got: list[Any] = []
        self.raised: BaseException | None = None
        self.closed = False
        self.finished = False

    def _step(self) -> None:
        try:
            self.got.append(next(self.results))
        except StopIteration:
            self.finished = True
        except Exception as exc:
            self.raised = exc
            self.finished = True

    @precondition(lambda self: not self.finished)
    @rule()
    def take(self) -> None:
        self._step()

    @precondition(lambda self: not self.finished)
    @rule()
    def take_slowly(self) -> None:
        time.sleep(sm.SLOW_CONSUMER * 5)  # the workers run ahead meanwhile
        self._step()

    @precondition(lambda self: not self.finished)
    @rule()
    def close(self) -> None:
        self.results.close()
        self.closed = True
        self.finished = True
        try:
            late = next(self.results)
        except StopIteration:
            return
        raise sm.Violation(f"CLOSE: next() after close() returned {late!r} ({self.cfg!r})")

    @precondition(lambda self: self.finished)
    @rule()
    def next_after_the_end(self) -> None:
        """A finished (or closed) iterator stays finished: StopIteration, no late result."""
        try:
            late = next(self.results)
        except StopIteration:
            return
        raise sm.Violation(f"C4: next() after the end returned {late!r} ({self.cfg!r})")

    @invariant()
    def prefix_of_builtin_map(self) -> None:
        if not hasattr(self, "cfg"):
            return
        bad = self.cfg.faults[0].index if self.cfg.faults else None
        expected = [sm.value_of(i) for i in range(self.cfg.n if bad is None else bad)]
        if self.got != expected[: len(self.got)]:
            raise sm.Violation(f"C1/C2: handed out {self.got!r}, expected a prefix of {expected!r} ({self.cfg!r})")
        if self.raised is not None:
            if bad is None or len(self.got) != bad or not str(self.raised).startswith(f"item {bad} "):
                raise sm.Violation(f"C2: {len(self.got)} results then {self.raised!r} ({self.cfg!r})")
        elif self.finished and not self.closed and len(self.got) != self.cfg.n:
            raise sm.Violation(f"C1: the iterator ended after {len(self.got)} of {self.cfg.n} ({self.cfg!r})")
        counts: dict[int, int] = {}
        for r in sm.read_log(self.log):
            counts[r.index] = counts.get(r.index, 0) + 1
        twice = {i: c for i, c in counts.items() if c > 1}
        if twice:
            raise sm.Violation(f"C3: items ran more than once: {twice} ({self.cfg!r})")

    def teardown(self) -> None:
        if hasattr(self, "results") and not self.finished:
            self.results.close()


LazyConsumer.TestCase.settings = settings(
    settings.default, max_examples=150 if os.environ.get("GEARSHIFT_HYPOTHESIS_PROFILE", "ci") == "ci" else 3000,
    stateful_step_count=12,
)  # fmt: skip
test_c1_c2_c4_lazy_consumer_steps = pytest.mark.timeout(1800)(LazyConsumer.TestCase)
