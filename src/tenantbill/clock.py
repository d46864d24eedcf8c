"""Clocks: the system's, and one a test can set and move."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tenantbill.errors import InvalidInput

__all__ = ["FixedClock", "SystemClock"]


def _aware(at: object) -> datetime:
    if not isinstance(at, datetime):
        raise InvalidInput(f"a clock needs a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput("a clock needs an aware datetime (with a time zone), got a naive one")
    return at.astimezone(UTC)


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until the test moves it with :meth:`advance` or :meth:`set`."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The instant the clock is set to."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move the clock to ``at`` (an aware datetime; it may go backwards)."""
        with self._lock:
            self._at = _aware(at)

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        """Move the clock forward and return the new instant."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta(0):
            raise InvalidInput("advance() moves forward only; use set() to go back")
        with self._lock:
            self._at = self._at + step
            return self._at
