"""Virtual time shared by threads in several processes, for deterministic multi-worker scenarios.

A scenario with several worker processes (each with its own threads) against the emulator and a moto server must not
depend on how fast the machine runs them. :class:`SharedVirtualClock` is a :class:`~exact_online_sdk.clock.Clock` whose
time lives in shared memory and moves only when **every actor waits on it**: then it jumps to the earliest wake-up.
An actor is a thread bound to one of the clock's slots (:meth:`SharedVirtualClock.actor`); while it runs (an HTTP call
to the emulator, a DynamoDB request, parsing a page) time stands still, so every call happens at the instant it was
decided, and a pacing wait of 59.95 s costs no real time at all. The emulator reads the same clock, so its minute
windows, ``Date`` headers and resets follow the actors exactly.

Start processes with the ``spawn`` method (the clock's shared memory and lock travel with the process arguments), and
reserve each worker's slot in the parent before starting it (:meth:`SharedVirtualClock.reserve`): a slot counts as
running from the moment it is reserved, so time cannot run ahead while a worker is still importing.

A thread that sleeps without a slot follows time (it wakes when time reaches its deadline, and its deadline is a
possible jump target) but never holds it back. With no actor at all, a sleep jumps at once, as on a ManualClock.
A sleeper that sees time stand still for ``stall_timeout`` real seconds raises :class:`ClockStalled`: some actor is
blocked on something that is not the clock.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

from ..clock import ClockStalled

__all__ = ["ClockStalled", "SharedVirtualClock"]

_FREE, _RUNNING, _SLEEPING = 0, 1, 2


class SharedVirtualClock:
    """Time that jumps to the earliest wake-up once every actor (in any process) waits on it.

    ``capacity`` bounds the actors and sleeping followers at any one time. Pass the clock to other processes as a
    process argument (``spawn``); all copies share one time.
    """

    def __init__(
        self,
        start: float = 1_767_225_600.0,
        *,
        capacity: int = 128,
        stall_timeout: float = 120.0,
        context: BaseContext | None = None,
    ) -> None:
        ctx: Any = context or multiprocessing.get_context("spawn")
        self._now = ctx.RawValue("d", float(start))
        self._jumps = ctx.RawValue("q", 0)
        self._state = ctx.RawArray("b", capacity)
        self._deadline = ctx.RawArray("d", capacity)
        self._cond = ctx.Condition()
        self.stall_timeout = stall_timeout
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]  # which thread holds which slot is per process
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    # --- reading and moving time --------------------------------------------------------------------------------
    def now(self) -> float:
        """The shared time (an aligned 8-byte read: no lock needed)."""
        return float(self._now.value)

    @property
    def jumps(self) -> int:
        """How many times time jumped ahead because every actor waited."""
        return int(self._jumps.value)

    def advance(self, seconds: float) -> float:
        """Move time forward by hand (waking whoever is due); returns the new time."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._cond:
            self._move_to(self._now.value + seconds)
            return float(self._now.value)

    def set(self, when: float) -> None:
        """Jump to ``when`` by hand (never backwards)."""
        with self._cond:
            if when < self._now.value:
                raise ValueError("time does not run backwards")
            self._move_to(float(when))

    # --- actors -------------------------------------------------------------------------------------------------
    def reserve(self) -> int:
        """Claim a slot that counts as a running actor from now on; hand it to the thread (or process) that will
        :meth:`actor` it. Reserve in the parent before starting a worker so time waits for it to start."""
        with self._cond:
            for slot in range(len(self._state)):
                if self._state[slot] == _FREE:
                    self._state[slot] = _RUNNING
                    return slot
        raise RuntimeError(f"all {len(self._state)} slots of the virtual clock are in use")

    @contextmanager
    def actor(self, slot: int | None = None) -> Iterator[int]:
        """Make the calling thread an actor while inside the block (on ``slot`` if reserved, else a new one): time
        waits for it to sleep. On exit the slot is freed and time may move on without it."""
        if getattr(self._local, "slot", None) is not None:
            raise RuntimeError("this thread is already an actor of the clock")
        slot = self.reserve() if slot is None else slot
        self._local.slot = slot
        try:
            yield slot
        finally:
            self._local.slot = None
            with self._cond:
                self._state[slot] = _FREE
                self._maybe_jump()

    # --- sleeping -----------------------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Block until time reaches now + ``seconds``; time jumps there once every actor waits."""
        if seconds <= 0:
            return
        slot: int | None = getattr(self._local, "slot", None)
        with self._cond:
            follower = slot is None
            if slot is None:
                slot = self._free_slot()
            deadline = self._now.value + seconds
            self._deadline[slot] = deadline
            self._state[slot] = _SLEEPING
            try:
                self._maybe_jump()
                seen, since = self._now.value, time.monotonic()
                while self._now.value < deadline:
                    self._cond.wait(timeout=min(1.0, self.stall_timeout))
                    if self._now.value != seen:
                        seen, since = self._now.value, time.monotonic()
                    elif time.monotonic() - since > self.stall_timeout:
                        raise ClockStalled(self._stall_message())
            finally:
                self._state[slot] = _FREE if follower else _RUNNING
                if follower:
                    self._maybe_jump()

    async def asleep(self, seconds: float) -> None:
        """Sleep in a worker thread (a follower: the event loop's thread, if it is an actor, holds time)."""
        await asyncio.to_thread(self.sleep, seconds)

    # --- the jump (called with the lock held) -------------------------------------------------------------------
    def _free_slot(self) -> int:
        for slot in range(len(self._state)):
            if self._state[slot] == _FREE:
                return slot
        raise RuntimeError(f"all {len(self._state)} slots of the virtual clock are in use")

    def _maybe_jump(self) -> None:
        earliest: float | None = None
        for slot in range(len(self._state)):
            state = self._state[slot]
            if state == _RUNNING:
                return
            if state == _SLEEPING and (earliest is None or self._deadline[slot] < earliest):
                earliest = self._deadline[slot]
        if earliest is not None:
            if earliest > self._now.value:
                self._jumps.value += 1
            self._move_to(earliest)

    def _move_to(self, when: float) -> None:
        self._now.value = max(self._now.value, when)
        # Sleepers now due count as running at once: time must not jump past them before they wake up and act.
        for slot in range(len(self._state)):
            if self._state[slot] == _SLEEPING and self._deadline[slot] <= self._now.value:
                self._state[slot] = _RUNNING
        self._cond.notify_all()

    def _stall_message(self) -> str:
        running = [slot for slot in range(len(self._state)) if self._state[slot] == _RUNNING]
        return (
            f"virtual time stood at {self._now.value} for {self.stall_timeout:g} real seconds; "
            f"slots still running: {running}"
        )

    def __repr__(self) -> str:
        return f"SharedVirtualClock(now={self.now()})"
