"""Injected faults: latency, 5xx bursts, a 200 HTML maintenance page, connection resets, truncated bodies and a
token endpoint that rotates the token and then drops the response. Each fault applies ``times`` times (None: until
cleared) to requests whose path matches ``path`` (a regular expression searched in the path; None: all API and
token calls, never the control API)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MAINTENANCE_HTML", "Fault", "FaultBook"]

FaultKind = Literal["latency", "status", "maintenance", "reset", "truncate", "token_drop"]
_KINDS = ("latency", "status", "maintenance", "reset", "truncate", "token_drop")

MAINTENANCE_HTML = (
    b"<!DOCTYPE html><html><head><title>Exact Online - Maintenance</title></head><body>"
    b"<h1>Exact Online is being updated</h1><p>We are performing maintenance. Please try again later.</p>"
    b"</body></html>"
)


@dataclass
class Fault:
    """One fault rule. ``seconds`` is real (wall-clock) latency; ``status`` is the burst's HTTP status."""

    kind: FaultKind
    times: int | None = 1
    path: str | None = None
    seconds: float = 0.0
    status: int = 503
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("Fault.times must be at least 1 (or None for 'until cleared')")
        if self.kind == "status" and not 500 <= self.status <= 599:
            raise ValueError("a status fault needs a 5xx status")
        self._pattern = re.compile(self.path) if self.path else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {"kind", "times", "path", "seconds", "status"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "times": self.times,
            "path": self.path,
            "seconds": self.seconds,
            "status": self.status,
        }

    def matches(self, path: str, is_token: bool) -> bool:
        if self.kind == "token_drop" and not is_token:
            return False
        return self._pattern is None or self._pattern.search(path) is not None


class FaultBook:
    """The active fault rules. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, path: str, is_token: bool) -> tuple[float, Fault | None]:
        """Consume the faults for one request: (total latency seconds, the first non-latency fault)."""
        latency = 0.0
        action: Fault | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(path, is_token):
                    continue
                if fault.kind == "latency":
                    latency += fault.seconds
                elif action is None:
                    action = fault
                else:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return latency, action
