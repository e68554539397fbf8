import asyncio
import time

import pytest

from exact_online_sdk.clock import Clock, ManualClock, ScaledClock, SystemClock


def test_every_clock_satisfies_the_protocol():
    for clock in (SystemClock(), ScaledClock(10), ManualClock()):
        assert isinstance(clock, Clock)


def test_system_clock_is_real_time():
    clock = SystemClock()
    assert abs(clock.now() - time.time()) < 1
    started = time.monotonic()
    clock.sleep(0.02)
    clock.sleep(-1)  # negative sleeps return at once
    asyncio.run(clock.asleep(0.01))
    assert 0.02 <= time.monotonic() - started < 1


def test_scaled_clock_runs_faster_and_sleeps_shorter():
    clock = ScaledClock(600, origin=1_000_000.0)
    assert 1_000_000.0 <= clock.now() < 1_000_000.0 + 600
    started = time.monotonic()
    clock.sleep(60)  # one scaled minute = 0.1 s
    asyncio.run(clock.asleep(60))
    assert 0.2 <= time.monotonic() - started < 1.5
    assert clock.now() >= 1_000_000.0 + 120


def test_scaled_clocks_with_the_same_origins_agree_across_processes():
    a = ScaledClock(50, origin=5_000.0, real_origin=time.time() - 2)
    b = ScaledClock(50, origin=a.origin, real_origin=a.real_origin)
    assert abs(a.now() - b.now()) < 1  # 1 scaled second = 20 ms of real time
    assert a.now() >= 5_000.0 + 100
    assert "scale=50" in repr(a)


def test_scaled_clock_refuses_a_non_positive_scale():
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(start=100.0)
    assert clock.now() == 100.0
    assert clock.advance(5) == 105.0
    clock.sleep(10)
    asyncio.run(clock.asleep(1))
    assert clock.now() == 116.0
    clock.set(200.0)
    assert clock.now() == 200.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(150.0)
    assert repr(clock) == "ManualClock(now=200.0)"
