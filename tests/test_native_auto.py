"""Auto plans with the native thread pools it saw (issue 21, item 5): pure pricing, the measuring step, one live look."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from gearshift._auto.clocks import CpuClocks, cpu_clocks, threads_used
from gearshift._auto.costs import NATIVE_CAPPED_ITEMS, NATIVE_THREADS_SEEN, Machine, estimates, native_at
from gearshift._auto.decide import decide
from gearshift._auto.gate import Gate
from gearshift._auto.measure import native_step
from gearshift._auto.sampler import Sampler
from gearshift._cpu import usable_cpus
from gearshift._native import NativePool, NativeUse
from gearshift._options import make_options
from gearshift._profile import Profile
from gearshift._task import CALL_ONE

COLD = Machine(cpus=2)  # no pool started yet
OPENBLAS = NativePool(api="blas", library="openblas", threads=2, version="0.3.31", path="/lib/libopenblas.so")


def profile(wall: float = 0.005, native: NativeUse | None = None) -> Profile:
    """Eight items of ``wall`` seconds that compute, small pickles (as NumPy's eigvalsh of a 300x300 product)."""
    return Profile(
        is_async=False,
        wall=(wall,) * 8,
        cpu=(wall,) * 8,
        fn_bytes=60,
        fn_pickle_seconds=20e-6,
        item_bytes=3,
        item_pickle_seconds=1e-6,
        result_bytes=10,
        result_pickle_seconds=1e-6,
        native=native,
    )


#: as measured on the suite's numpy-eigvalsh (2-CPU host, load 4): 2 BLAS threads made an item 6x slower
SEEN = NativeUse((OPENBLAS,), threads_used=1.9, wall=0.030, capped_threads=1, capped_wall=0.005, capped_cpu=0.005)


# -- pricing (pure) ---------------------------------------------------------------------------


def test_without_native_pools_an_item_costs_what_was_measured() -> None:
    assert native_at(profile(0.005), 1) == (0.005, 0.005)


def test_uncapped_an_item_costs_its_wall_as_it_was_and_the_cpu_of_every_thread() -> None:
    wall, cpu = native_at(profile(0.005, SEEN), 2)
    assert wall == pytest.approx(0.030)
    assert cpu == pytest.approx(0.005 * 1.9)


def test_capped_to_the_measured_cap_an_item_costs_what_the_capped_sample_took() -> None:
    assert native_at(profile(0.005, SEEN), 1) == pytest.approx((0.005, 0.005))


def test_between_the_cap_and_the_pools_size_the_price_is_linear_in_one_over_threads() -> None:
    four = dataclasses.replace(SEEN, pools=(dataclasses.replace(OPENBLAS, threads=4),))
    wall, _ = native_at(profile(0.005, four), 2)
    # 1/2 lies two thirds of the way from 1/1 to 1/4
    assert wall == pytest.approx(0.005 + (2 / 3) * (0.030 - 0.005))


def test_with_no_capped_sample_the_cpu_is_spread_over_the_threads_allowed() -> None:
    seen = NativeUse((OPENBLAS,), threads_used=2.0, wall=0.005)
    wall, cpu = native_at(profile(0.005, seen), 1)
    assert (wall, cpu) == pytest.approx((0.010, 0.010))  # twice the CPU on one thread


def test_processes_are_priced_with_each_worker_capped_to_its_share() -> None:
    warm = dataclasses.replace(COLD, process_pool_warm=True)
    alternatives = {a.mode: a for a in estimates(profile(0.005, SEEN), make_options(), warm, 20)}
    assert alternatives["sync"].seconds == pytest.approx(20 * 0.030)
    process = alternatives["process"]
    assert process.workers == 2
    assert "native pools capped to 1 thread (2 x 1 on 2 CPUs)" in process.note
    # 2 workers x 1 thread: the capped item's time over 2 (and a little pickling)
    assert process.seconds == pytest.approx(20 * 0.005 / 2, rel=0.05)


def test_seeing_the_pools_turns_a_sync_plan_into_capped_processes() -> None:
    # The same per-item figures: without the native reading a cold pool does not pay for 20 items...
    assert decide(profile(0.005), make_options(), COLD, 20).mode == "sync"
    # ...with it, sync runs 2 BLAS threads that crowd 2 CPUs, and 2 capped workers win.
    plan = decide(profile(0.005, SEEN), make_options(), COLD, 20)
    assert (plan.mode, plan.workers) == ("process", 2), str(plan)
    text = "\n".join(plan.reasons)
    assert "native thread pools: openblas 0.3.31 (blas, 2 threads)" in text
    assert "an item kept 1.9 threads busy" in text and "with the pools capped to 1 thread" in text
    assert "each with its native pools capped to 1 thread" in text


def test_one_worker_keeps_the_pools_as_they_are() -> None:
    plan = decide(profile(0.005, SEEN), make_options(workers=1), COLD, 20)
    alternatives = {a.mode: a for a in plan.alternatives}
    assert "capped" not in alternatives["process"].note  # one worker gets every CPU: nothing to cap


def test_the_profile_says_what_it_saw() -> None:
    assert any(line.startswith("native thread pools: openblas") for line in profile(0.005, SEEN).summary())


# -- the measuring step (real threads, made-up pools) ----------------------------------------------


def spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def two_threads(x: int) -> int:
    """Computes 4 ms on the calling thread and 4 ms on a helper thread of its own, as a native pool would."""
    helper = threading.Thread(target=spin, args=(0.004,))
    helper.start()
    spin(0.004)
    helper.join()
    return x * 2


def test_threads_used_reads_the_process_cpu_over_the_calling_threads() -> None:
    clocks = cpu_clocks()
    for i in range(5):
        two_threads(i)
    assert 1.5 < threads_used(clocks) < 2.6  # (its helpers ended: counted, as a native pool's threads are)


class Burner:
    """A Python thread of the program's own that computes with the GIL let go (zlib), until stopped."""

    def __init__(self) -> None:
        self.stop, self.rounds = threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        import zlib

        data = os.urandom(1 << 18)
        while not self.stop.is_set():
            zlib.compress(data, 6)
            self.rounds += 1

    def __enter__(self) -> Burner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_another_busy_python_thread_is_not_read_as_the_items_threads() -> None:
    with Burner() as burner:
        while burner.rounds < 1:  # (computing already)
            time.sleep(0.001)
        start, clocks = burner.rounds, cpu_clocks()
        deadline = time.monotonic() + 10.0  # (a loaded host may not run it at once)
        for _ in range(5):
            spin(0.004)
        while burner.rounds < start + 2 and time.monotonic() < deadline:
            spin(0.004)  # until a whole round of it ran beside the items
        used = threads_used(clocks)
        assert burner.rounds >= start + 2  # it computed beside the items
    assert used < NATIVE_THREADS_SEEN


def test_a_thread_whose_ident_came_back_is_counted_from_its_start() -> None:
    with Burner() as burner:
        while burner.rounds < 1:
            time.sleep(0.001)
        assert burner.thread.ident is not None
        now = cpu_clocks()
        # Read before as far ahead of now: an ended thread's ident, taken again by a new thread.
        since = CpuClocks(now.process, now.thread, {burner.thread.ident: now.others[burner.thread.ident] + 1e6})
        assert threads_used(since) == 1.0  # (its reading now is all its own: left out, not added back)


def run_step(fn: Any, items: list[int], used: float, pools: tuple[NativePool, ...]) -> tuple[list[Any], Any]:
    gate, out, sampler = Gate(iter(items), len(items)), [], Sampler(False)
    for _ in range(2):  # what the items one at a time measured before (8 ms, 4 of them on this thread)
        sampler.observe(1, 0.008, 0.004)
    step = native_step(fn, gate, make_options(), CALL_ONE, sampler, used, 2, pools=lambda: pools)
    while True:
        try:
            out.extend(next(step))
        except StopIteration as done:
            return out, done.value


def test_items_that_kept_no_other_thread_busy_are_not_looked_at() -> None:
    out, native = run_step(two_threads, list(range(10)), 1.0, (OPENBLAS,))
    assert (out, native) == ([], None)


def test_no_pool_loaded_means_nothing_seen() -> None:
    out, native = run_step(two_threads, list(range(10)), 2.0, ())
    assert (out, native) == ([], None)


def test_pools_bigger_than_a_workers_share_have_items_measured_capped_and_kept() -> None:
    out, native = run_step(two_threads, list(range(10)), 2.0, (OPENBLAS,))
    assert out == [0, 2][:NATIVE_CAPPED_ITEMS]  # the capped items' results, in order
    assert native is not None and native.pools == (OPENBLAS,) and native.threads_used == 2.0
    assert native.capped_threads == 1
    assert native.capped_wall is not None and native.capped_wall > 0.003  # at least its own 4 ms of CPU, about


def test_pools_that_fit_the_share_are_recorded_without_capped_items() -> None:
    one = dataclasses.replace(OPENBLAS, threads=1)
    out, native = run_step(two_threads, list(range(10)), 2.0, (one,))
    assert out == [] and native is not None and native.capped_threads is None


# -- live: NumPy's BLAS is seen ---------------------------------------------------------------------


@pytest.mark.skipif(usable_cpus() < 2, reason="with one CPU a BLAS has one thread: nothing to see")
def test_numpy_linear_algebra_has_its_real_blas_pool_found_and_capped() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    # The real BLAS, found by threadpoolctl and capped, in a fresh interpreter as a user's script sees
    # it (in the suite's process, what other tests left made it read no pool on CI's lowest versions).
    # Only the reading that its threads were busy is given: it is the host's to give (two busy
    # processes per CPU beside the suite left OpenBLAS's threads no CPU, and the item read 1.0); a
    # 2-thread OpenBLAS read 1.9 on a 2-CPU host at load 6, and reading it is tested apart
    # (test_threads_used_reads_the_process_cpu_over_the_calling_threads).
    script = (
        "import gearshift\n"
        "from gearshift._auto import profiling\n"
        "from gearshift._bench.workloads_more import eigvalsh_product\n"
        "profiling.threads_used = lambda since: 1.9\n"
        "p = gearshift.profile(eigvalsh_product, range(200))\n"
        "n = p.native\n"
        "assert n is not None, repr(p)\n"
        "print(sorted({pool.api for pool in n.pools}), n.threads_used > 1.0, n.capped_threads, n.capped_wall is not None)\n"
        "print('native thread pools' in str(p))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}  # the pools at their size
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["['blas'] True 1 True", "True"], out.stdout


@pytest.mark.skipif(not hasattr(time, "pthread_getcpuclockid"), reason="other threads' clocks cannot be read here")
def test_a_busy_thread_of_the_programs_own_is_not_taken_for_numpys_pools() -> None:
    pytest.importorskip("numpy")
    pytest.importorskip("threadpoolctl")
    # NumPy loaded (its BLAS pool found by threadpoolctl), a Python thread of the program's own
    # computing beside pure-Python items: the items use no native pool, and none is seen.
    script = (
        "import os, threading, time, zlib\n"
        "import numpy, gearshift\n"
        "def burn():\n"
        "    data = os.urandom(1 << 18)\n"
        "    while True:\n"
        "        zlib.compress(data, 6)\n"
        "threading.Thread(target=burn, daemon=True).start()\n"
        "def spin(x):\n"
        "    end = time.thread_time() + 0.003\n"
        "    while time.thread_time() < end:\n"
        "        pass\n"
        "    return x\n"
        "p = gearshift.profile(spin, range(40))\n"
        "print(p.native)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None", out.stdout


def test_a_function_seen_capped_has_its_next_runs_measured_capped_from_the_first_item() -> None:
    from gearshift._auto import measure

    def fn(x: int) -> int:
        return x

    assert measure._seen_before(fn) is None
    measure._remember(fn, NativeUse((OPENBLAS,), threads_used=1.9, wall=0.03))
    assert measure._seen_before(fn) is None  # no capped sample: nothing to measure capped against
    measure._remember(fn, SEEN)
    assert measure._seen_before(fn) == SEEN
    assert measure._seen_before(lambda x: x) is None  # another function's code


def test_only_capping_that_paid_is_remembered() -> None:
    # Another busy thread in the process reads as the function's own native threads; capped
    # items then take what uncapped ones did: that misreading must not stay with the function.
    from gearshift._auto import measure

    misread = dataclasses.replace(SEEN, wall=0.010, capped_wall=0.009)
    assert not measure._capping_paid(misread)
    assert measure._capping_paid(dataclasses.replace(SEEN, wall=0.030, capped_wall=0.006))
    assert not measure._capping_paid(NativeUse((OPENBLAS,), threads_used=1.9, wall=0.03))  # nothing capped


def test_what_was_seen_before_is_scaled_to_the_items_measured_now() -> None:
    from gearshift._auto import measure

    again = measure._seen_again(SEEN, capped_wall=0.0005, capped_cpu=0.0005)  # items 10x smaller this time
    assert again.wall == pytest.approx(0.003) and again.capped_wall == 0.0005
    assert again.pools == SEEN.pools and again.threads_used == SEEN.threads_used


def test_a_lone_first_uncapped_item_gets_a_warm_second_look_after_the_capped_ones() -> None:
    from gearshift._auto.measure import Clocked

    gate, out, reached = Gate(iter(range(10)), 10), [], []
    sampler = Clocked(False)
    sampler.observe(1, 0.5, 0.004)  # the first item alone, which paid for imports: not sync's price
    step = native_step(
        two_threads,
        gate,
        make_options(),
        CALL_ONE,
        sampler,
        2.0,
        2,
        pools=lambda: (OPENBLAS,),
        shifted=lambda offset: (
            lambda start, outcomes, failed: reached.extend(range(offset + start, offset + start + len(outcomes)))
        ),
    )
    while True:
        try:
            out.extend(next(step))
        except StopIteration as done:
            native = done.value
            break
    assert out == [0, 2, 4]  # two capped, one more uncapped: every result, in order
    assert reached == [0, 1, 2]  # told about each with its index in the input
    assert native is not None and native.wall < 0.5  # the warm item's time, not the first one's
