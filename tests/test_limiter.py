"""The adaptive concurrency limiter: grows while throughput rises, backs off when latency climbs."""

from __future__ import annotations

from gearshift._limiter import ConcurrencyLimiter


class Target:
    window = 0


def test_attach_sets_the_starting_window_within_the_cap() -> None:
    target = Target()
    limiter = ConcurrencyLimiter(start=500, cap=64)
    limiter.attach(target)
    assert target.window == 64


def test_doubles_while_throughput_rises_then_steps_by_an_eighth() -> None:
    limiter = ConcurrencyLimiter(start=4, cap=1000)
    target = Target()
    limiter.attach(target)
    assert limiter.update(20.0, 0.1) == 8  # slow start: the first interval doubles
    assert limiter.update(40.0, 0.1) == 16
    assert limiter.update(80.0, 0.1) == 32
    assert limiter.update(80.0, 0.1) == 32  # flat: the climb ends
    assert limiter.update(100.0, 0.1) == 36  # rising again: small steps now
    assert target.window == 36


def test_never_exceeds_the_cap() -> None:
    limiter = ConcurrencyLimiter(start=50, cap=64)
    for throughput in (50.0, 100.0, 200.0, 400.0, 800.0):
        limiter.update(throughput, 0.1)
    assert limiter.window == 64


def test_backs_off_when_latency_climbs_without_more_throughput() -> None:
    limiter = ConcurrencyLimiter(start=100, cap=1000)
    assert limiter.update(1000.0, 0.1) == 200
    assert limiter.update(1000.0, 0.35) == 140
    assert limiter.update(900.0, 0.5) == 98
    assert limiter.window >= limiter.floor


def test_latency_climbing_with_throughput_rising_is_not_saturation() -> None:
    limiter = ConcurrencyLimiter(start=10, cap=1000)
    limiter.update(100.0, 0.1)
    assert limiter.update(300.0, 0.3) > 20


def test_observe_measures_intervals_from_completed_chunks() -> None:
    now = [0.0]
    limiter = ConcurrencyLimiter(start=2, cap=100, clock=lambda: now[0])
    # Two items in flight, each 0.1 s: 20 items per second.
    for _ in range(4):
        now[0] += 0.05
        limiter.observe(1, 0.1, 0.0)
    assert limiter.history
    assert limiter.history[0][0] == 2
    assert abs(limiter.history[0][1] - 4 / 0.25) < 1e-6
