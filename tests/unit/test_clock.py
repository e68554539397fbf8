import asyncio
import threading
import time

import pytest

from exact_online_sdk import clock as clock_module
from exact_online_sdk.clock import Clock, ClockStalled, ManualClock, ScaledClock, SystemClock, VirtualClock


def test_every_clock_satisfies_the_protocol():
    for clock in (SystemClock(), ScaledClock(10), ManualClock()):
        assert isinstance(clock, Clock)


class FakeTime:
    """Stands in for the ``time`` module inside exact_online_sdk.clock: a real clock that moves only when slept on."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def real_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime(5_000.0)
    monkeypatch.setattr(clock_module, "time", fake)

    async def fake_asleep(seconds: float) -> None:
        fake.sleep(seconds)

    monkeypatch.setattr(clock_module.asyncio, "sleep", fake_asleep)
    return fake


def test_system_clock_is_real_time(real_time: FakeTime):
    clock = SystemClock()
    assert clock.now() == 5_000.0
    clock.sleep(0.02)
    clock.sleep(-1)  # negative sleeps return at once
    asyncio.run(clock.asleep(0.01))
    assert real_time.slept == [0.02, 0.01]
    assert clock.now() == pytest.approx(5_000.03)


def test_system_clock_reads_the_real_clock():
    assert abs(SystemClock().now() - time.time()) < 60


def test_scaled_clock_runs_faster_and_sleeps_shorter(real_time: FakeTime):
    clock = ScaledClock(600, origin=1_000_000.0)
    assert clock.now() == 1_000_000.0
    clock.sleep(60)  # one scaled minute = 0.1 real seconds
    asyncio.run(clock.asleep(60))
    clock.sleep(-5)
    assert real_time.slept == pytest.approx([0.1, 0.1])
    assert clock.now() == pytest.approx(1_000_000.0 + 120)


def test_scaled_clocks_with_the_same_origins_agree_across_processes(real_time: FakeTime):
    a = ScaledClock(50, origin=5_000.0, real_origin=real_time.now - 2)
    b = ScaledClock(50, origin=a.origin, real_origin=a.real_origin)
    assert a.now() == b.now() == 5_000.0 + 100  # 2 real seconds = 100 scaled seconds
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


# --- VirtualClock: time jumps once every actor waits -----------------------------------------------------------


def test_virtual_clock_jumps_to_the_earliest_wake_up_once_every_actor_sleeps():
    clock = VirtualClock(start=1000.0)
    log: list[tuple[str, float]] = []
    lock = threading.Lock()

    def actor(name: str, naps: list[float]) -> None:
        for nap in naps:
            clock.sleep(nap)
            with lock:
                log.append((name, clock.now()))

    with clock.actor():  # hold time until both exist
        threads = [
            clock.start_thread(actor, "a", [10, 10, 10], name="a"),
            clock.start_thread(actor, "b", [25, 1], name="b"),
        ]
    for t in threads:
        t.join(timeout=30)
    # Concurrent sleeps overlap (a ManualClock would add them up): b wakes at 1025, between a's 1020 and 1030.
    assert sorted(log, key=lambda e: (e[1], e[0])) == [
        ("a", 1010.0),
        ("a", 1020.0),
        ("b", 1025.0),
        ("b", 1026.0),
        ("a", 1030.0),
    ]
    assert clock.now() == 1030.0


def test_an_actor_that_is_working_holds_time_still():
    clock = VirtualClock(start=0.0)
    working = threading.Event()
    release = threading.Event()
    seen: list[float] = []

    def sleeper() -> None:
        clock.sleep(60)
        seen.append(clock.now())

    def worker() -> None:
        working.set()
        release.wait(timeout=30)  # busy with something that is not the clock (a request, a computation)
        seen.append(clock.now())
        clock.sleep(5)

    with clock.actor():  # the test thread is an actor too until it lets go
        threads = [clock.start_thread(sleeper), clock.start_thread(worker)]
        assert working.wait(timeout=30)
    assert clock.now() == 0.0  # the worker has not slept yet: no jump, however long it takes
    release.set()
    for t in threads:
        t.join(timeout=30)
    assert seen == [0.0, 60.0]
    assert clock.now() == 60.0


def test_busy_work_holds_time_still_for_plain_sleepers():
    clock = VirtualClock(start=0.0)
    in_flight = threading.Event()
    done = threading.Event()

    def request() -> None:
        with clock.busy():
            in_flight.set()
            done.wait(timeout=30)

    t = threading.Thread(target=request)
    t.start()
    assert in_flight.wait(timeout=30)
    woke = threading.Event()
    s = threading.Thread(target=lambda: (clock.sleep(10), woke.set()))
    s.start()
    assert not woke.wait(timeout=0.2)  # no actor registered, but work is in flight: time waits
    assert clock.now() == 0.0
    done.set()
    for x in (t, s):
        x.join(timeout=30)
    assert woke.is_set()
    assert clock.now() == 10.0


def test_tasks_of_one_loop_sleep_side_by_side():
    clock = VirtualClock(start=0.0)
    log: list[tuple[str, float]] = []

    async def task(name: str, naps: list[float]) -> None:
        for nap in naps:
            await clock.asleep(nap)
            log.append((name, clock.now()))

    async def main() -> None:
        await asyncio.gather(task("a", [5, 5]), task("b", [7]), task("c", [3, 3, 3]))

    asyncio.run(main())
    assert log == [("c", 3.0), ("a", 5.0), ("c", 6.0), ("b", 7.0), ("c", 9.0), ("a", 10.0)]
    assert clock.now() == 10.0


def test_a_task_with_work_in_flight_holds_the_loop_back():
    clock = VirtualClock(start=0.0)
    answered = threading.Event()
    order: list[str] = []

    async def requester() -> None:
        loop = asyncio.get_running_loop()
        with clock.busy():  # what the clocked HTTP transport does around a request
            await loop.run_in_executor(None, answered.wait, 30)
        order.append(f"answer at {clock.now()}")
        await clock.asleep(1)

    async def sleeper() -> None:
        await clock.asleep(30)
        order.append(f"sleeper at {clock.now()}")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, answered.set)  # the "server" answers after a while of real time
        await asyncio.gather(requester(), sleeper())

    asyncio.run(main())
    assert order == ["answer at 0.0", "sleeper at 30.0"]


def test_a_stuck_actor_makes_sleepers_fail_fast_naming_it():
    clock = VirtualClock(start=0.0, stall_timeout=0.3)
    stuck = threading.Event()
    errors: list[BaseException] = []

    def sleeper() -> None:
        try:
            clock.sleep(5)
        except ClockStalled as exc:
            errors.append(exc)

    t1 = clock.start_thread(stuck.wait, 30, name="stuck-on-a-lock")
    t2 = clock.start_thread(sleeper, name="sleeper")
    t2.join(timeout=30)
    stuck.set()
    t1.join(timeout=30)
    assert len(errors) == 1
    assert "stuck-on-a-lock" in str(errors[0])
    assert clock.now() == 0.0


def test_virtual_clock_moves_by_hand_and_without_actors_like_a_manual_clock():
    clock = VirtualClock(start=100.0)
    assert isinstance(clock, Clock)
    clock.sleep(10)  # nobody else to wait for
    assert clock.now() == 110.0
    assert clock.advance(5) == 115.0
    clock.set(200.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(150.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    assert repr(clock) == "VirtualClock(now=200.0, actors=0)"
