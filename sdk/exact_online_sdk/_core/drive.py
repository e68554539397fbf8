"""Driving a sans-IO flow one step at a time: the only part of driving that the blocking and asyncio shells share.

A *flow* (:data:`Flow`, e.g. :func:`~exact_online_sdk._core.flow.request_flow`) yields the I/O it needs
(:data:`~exact_online_sdk._core.flow.Action`) and returns one result. A *stream* (:data:`Stream`, e.g. the pages of
a collection or the batches of an incremental sync) also yields :class:`Emit` items for the caller, and resumes
when the caller asks for the next one. A shell performs each action with blocking calls or awaits and hands the
outcome to :class:`Stepper`; every decision stays in the flow, so both shells decide the same by construction
(``tests/unit/core/test_shells.py`` and ``test_sync_shells.py`` prove it on tables of cases).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar, cast

from .flow import Action

__all__ = ["Emit", "Flow", "Stepper", "Stream"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Hand ``item`` to the caller; the stream resumes when the caller asks for the next item."""

    item: T


Flow: TypeAlias = Generator[Action, Any, T]
"""A flow that performs I/O and returns one ``T``."""

Stream: TypeAlias = Generator[Action | Emit[T], Any, None]
"""A flow that performs I/O and hands the caller a sequence of ``T``."""


class Stepper(Generic[R]):
    """Advances a flow or stream by one outcome at a time and remembers where it stands.

    A shell loops while :attr:`wants_io`: it performs :attr:`action` and passes the result to :meth:`send` (or the
    exception it raised to :meth:`throw`, so the flow can return a rate-limit reservation before it re-raises).
    A stream then stands at an :class:`Emit` (:attr:`item`) until :meth:`resume`, or is :attr:`done`. Use it as a
    context manager so a stream the caller abandons is closed (no cursor is saved for an unaccepted batch).
    """

    __slots__ = ("_gen", "_result", "action", "done")

    def __init__(self, gen: Generator[Any, Any, R]) -> None:
        self._gen = gen
        self._result: R | None = None
        self.action: Any = None
        self.done = False
        self._step(gen.send, None)

    @property
    def wants_io(self) -> bool:
        """True while the flow waits for the outcome of :attr:`action` (not finished, not at an item)."""
        return not self.done and not isinstance(self.action, Emit)

    @property
    def item(self) -> Any:
        """The item a stream hands over now."""
        if not isinstance(self.action, Emit):
            raise RuntimeError("the stream is not at an item")  # pragma: no cover - a shell bug
        return self.action.item

    def send(self, outcome: Any) -> None:
        """The outcome of :attr:`action`."""
        self._step(self._gen.send, outcome)

    def throw(self, exc: BaseException) -> None:
        """Performing :attr:`action` raised ``exc``: the flow decides (it usually re-raises)."""
        self._step(self._gen.throw, exc)

    def resume(self) -> None:
        """The caller asked for the next item: continue the stream past its current item."""
        self._step(self._gen.send, None)

    def result(self) -> R:
        """What a finished flow returned."""
        return cast(R, self._result)

    def _step(self, advance: Any, value: Any) -> None:
        try:
            self.action = advance(value)
        except StopIteration as stop:
            self.action = None
            self.done = True
            self._result = stop.value

    def __enter__(self) -> Stepper[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._gen.close()
