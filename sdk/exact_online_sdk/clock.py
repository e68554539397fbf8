"""Injected time: every timer in this package (token expiry, Exact's 570 s refresh window, rate-limit windows,
backoff sleeps, the refresher and the emulator) reads a :class:`Clock`, so a 30-day scenario can run in seconds.

- :class:`SystemClock`: real time.
- :class:`ScaledClock`: time that runs ``scale`` times faster than real time from a shared origin. Processes built
  with the same ``origin`` and ``real_origin`` agree on the time, so it works across processes too.
- :class:`ManualClock`: time that moves only when told (``advance``); sleeping advances it at once.
- :class:`VirtualClock`: time that jumps to the next wake-up once every actor (thread or event loop) waits on it,
  like trio's ``MockClock(autojump_threshold=0)``: scenario tests with several threads or tasks and real servers
  get the same timeline on every run, however fast or loaded the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from .exceptions import ExactOnlineError

__all__ = ["Clock", "ClockStalled", "ManualClock", "ScaledClock", "SystemClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """Wall-clock time in epoch seconds, and sleeping measured on that same clock."""

    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` of this clock's time."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the task for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


class ScaledClock:
    """Time running ``scale`` times faster than real time; ``origin`` is the clock's time at ``real_origin``."""

    def __init__(self, scale: float, *, origin: float | None = None, real_origin: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = float(scale)
        self.real_origin = time.time() if real_origin is None else float(real_origin)
        self.origin = self.real_origin if origin is None else float(origin)

    def now(self) -> float:
        return self.origin + (time.time() - self.real_origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale}, origin={self.origin}, real_origin={self.real_origin})"


class ManualClock:
    """Time that moves only by :meth:`advance` (or by sleeping on it). Thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward; returns the new time."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (never backwards)."""
        with self._lock:
            if when < self._now:
                raise ValueError("time does not run backwards")
            self._now = float(when)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"


class ClockStalled(ExactOnlineError, RuntimeError):
    """A :class:`VirtualClock` sleeper waited ``stall_timeout`` real seconds and time never moved: some actor is
    blocked on something other than the clock (a lock, a queue, an I/O wait not marked ``busy``)."""


class VirtualClock:
    """Time that jumps ahead to the earliest wake-up once every actor waits on it.

    **Actors** are the threads registered with :meth:`actor` (or started by :meth:`start_thread`) and the asyncio
    event loop whose tasks sleep on the clock with :meth:`asleep` (the loop counts as waiting when it has nothing
    ready to run). Time jumps only when every actor waits and no work is **in flight** (:meth:`busy`: an HTTP request
    to a real server, say, whose answer belongs to the instant it was asked at). So the timeline depends only on
    what the actors do, never on how fast the machine runs them.

    A thread that sleeps without being an actor follows time (it wakes when time reaches its deadline) but never
    holds it back. With no actor registered at all, a sleep jumps at once, as on a :class:`ManualClock`.
    :meth:`advance` and :meth:`set` move time by hand as well. One event loop at a time may sleep on the clock.

    A sleeper that waits ``stall_timeout`` real seconds while time stands still raises :class:`ClockStalled`,
    naming the actors that were not waiting: a hung scenario fails fast and says why.
    """

    def __init__(self, start: float = 1_767_225_600.0, *, stall_timeout: float = 60.0) -> None:
        self._now = float(start)
        self.stall_timeout = stall_timeout
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._actors: dict[int, str] = {}  # thread ident -> name
        self._asleep: dict[int, float] = {}  # actor thread ident -> its deadline
        self._thread_deadlines: list[tuple[float, int]] = []  # heap of every sleeping thread's (deadline, seq)
        self._async: list[tuple[float, int, asyncio.Future[None]]] = []  # heap of (deadline, seq, future)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._check_scheduled = False
        self._busy = 0
        self.jumps = 0

    # --- reading and moving time by hand --------------------------------------------------------------------
    def now(self) -> float:
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by hand; wakes whoever is due. Returns the new time."""
        if seconds < 0:
            raise ValueError("time does not run backwards")
        with self._cond:
            self._move_to(self._now + seconds)
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` by hand (never backwards)."""
        with self._cond:
            if when < self._now:
                raise ValueError("time does not run backwards")
            self._move_to(float(when))

    # --- actors and work in flight --------------------------------------------------------------------------
    @contextmanager
    def actor(self) -> Iterator[None]:
        """Count the calling thread as an actor while inside the block: time waits for it to sleep."""
        ident = threading.get_ident()
        with self._cond:
            if ident in self._actors:
                raise RuntimeError("this thread is already an actor of the clock")
            self._actors[ident] = threading.current_thread().name
        try:
            yield
        finally:
            with self._cond:
                del self._actors[ident]
                self._maybe_jump()

    def start_thread(self, target: Callable[..., object], *args: Any, name: str | None = None) -> threading.Thread:
        """Start a daemon thread that is an actor from before it starts until it returns.

        Start several actors from inside ``with clock.actor():`` (the starting thread is then an actor too) so the
        first cannot run time ahead before the others exist."""
        registered = threading.Event()
        go = threading.Event()

        def run() -> None:
            with self.actor():
                registered.set()
                go.wait()
                target(*args)

        thread = threading.Thread(target=run, name=name, daemon=True)
        # Registered before start() returns: time cannot jump past the new thread before it ever ran.
        thread.start()
        registered.wait()
        go.set()
        return thread

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Hold time still while the block runs (work in flight that must finish at the current instant)."""
        with self._cond:
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._maybe_jump()

    # --- sleeping -------------------------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """Block until time reaches now + ``seconds`` (time jumps there once every actor waits)."""
        if seconds <= 0:
            return
        ident = threading.get_ident()
        with self._cond:
            deadline = self._now + seconds
            entry = (deadline, next(self._seq))
            heapq.heappush(self._thread_deadlines, entry)
            is_actor = ident in self._actors
            if is_actor:
                self._asleep[ident] = deadline
            try:
                self._maybe_jump()
                while self._now < deadline:
                    before = self._now
                    self._cond.wait(timeout=self.stall_timeout)
                    if self._now == before and self._now < deadline:
                        raise ClockStalled(self._stall_message())
            finally:
                self._asleep.pop(ident, None)
                self._thread_deadlines.remove(entry)
                heapq.heapify(self._thread_deadlines)

    async def asleep(self, seconds: float) -> None:
        """Suspend the task until time reaches now + ``seconds`` (time jumps once the loop and every actor wait)."""
        loop = asyncio.get_running_loop()
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._loop is not None and self._loop is not loop and self._async:
                raise RuntimeError("only one event loop at a time may sleep on a VirtualClock")
            self._loop, self._loop_thread = loop, threading.get_ident()
            heapq.heappush(self._async, (self._now + seconds, next(self._seq), future))
            self._schedule_loop_check()
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=self.stall_timeout)
        except TimeoutError:
            raise ClockStalled(self._stall_message()) from None
        finally:
            if not future.done():
                future.cancel()

    # --- the jump -------------------------------------------------------------------------------------------
    def _threads_waiting(self) -> bool:
        # The thread running the sleeping event loop is judged by the loop check (idle loop), not here.
        loop_thread = self._loop_thread if self._async else None
        return all(ident in self._asleep or ident == loop_thread for ident in self._actors)

    def _maybe_jump(self) -> None:
        """Called with the lock held whenever something changed: jump if every actor waits and nothing is busy."""
        if self._busy or not self._threads_waiting():
            return
        if self._async and self._loop is not None and not self._loop.is_closed():
            self._schedule_loop_check()  # the loop must say it is idle too; it jumps from its own thread
            return
        self._async.clear()  # sleepers of a loop that is gone
        if self._thread_deadlines:
            self._jump_to(self._thread_deadlines[0][0])

    def _schedule_loop_check(self) -> None:
        loop = self._loop
        if loop is None or self._check_scheduled or loop.is_closed():
            return
        self._check_scheduled = True
        try:
            if threading.get_ident() == self._loop_thread:
                loop.call_soon(self._loop_check)  # (call_soon_threadsafe would wake the loop's self-pipe: never idle)
            else:
                loop.call_soon_threadsafe(self._loop_check)
        except RuntimeError:  # the loop closed meanwhile: its sleepers are gone with it
            self._check_scheduled = False
            self._async.clear()

    def _loop_check(self) -> None:
        """Runs in the loop's thread, after whatever was ready to run: nothing in the loop can move meanwhile."""
        with self._cond:
            self._check_scheduled = False
            self._drop_cancelled()
            if not self._async or self._busy or not self._threads_waiting():
                return
            loop = self._loop
            assert loop is not None
            if getattr(loop, "_ready", None):  # other callbacks are ready: look again once they ran
                self._schedule_loop_check()
                return
            earliest = self._async[0][0]
            if self._thread_deadlines:
                earliest = min(earliest, self._thread_deadlines[0][0])
            self._jump_to(earliest)

    def _drop_cancelled(self) -> None:
        if any(f.done() for _, _, f in self._async):
            self._async = [entry for entry in self._async if not entry[2].done()]
            heapq.heapify(self._async)

    def _jump_to(self, when: float) -> None:
        if when > self._now:
            self.jumps += 1
        self._move_to(when)
        if self._async:
            # The woken tasks run next; once they wait again (on the clock or on I/O) the loop is looked at again.
            self._schedule_loop_check()

    def _move_to(self, when: float) -> None:
        self._now = max(self._now, when)
        self._cond.notify_all()
        while self._async and self._async[0][0] <= self._now:
            _, _, future = heapq.heappop(self._async)
            if not future.done():
                if threading.get_ident() == self._loop_thread:
                    future.set_result(None)
                else:
                    with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to wake
                        future.get_loop().call_soon_threadsafe(_resolve, future)

    def _stall_message(self) -> str:
        running = [name for ident, name in self._actors.items() if ident not in self._asleep]
        return (
            f"virtual time stood at {self._now} for {self.stall_timeout:g} real seconds: "
            f"actors not waiting on the clock: {running or 'none'}; work in flight: {self._busy}; "
            f"event-loop sleepers: {len(self._async)}"
        )

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now()}, actors={len(self._actors)})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
