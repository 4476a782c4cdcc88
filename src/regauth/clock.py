"""Injected time. Nothing in regauth calls time.time() directly except SystemClock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class FixedClock:
    """A clock for tests: stands still until moved."""

    def __init__(self, at: float) -> None:
        self._at = float(at)

    def now(self) -> float:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += seconds

    def set(self, at: float) -> None:
        self._at = float(at)
