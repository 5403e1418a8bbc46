"""One clock for everything that reads the time or waits (ARCHITECTURE: "one clock").

The store's timestamps, polling intervals, the API rate limiter, the settle rule of the
watcher and the simulator all take a `Clock`, so tests advance time instead of
sleeping:

    SystemClock()     the real thing
    OffsetClock()     real time plus an offset that `advance()` moves (the simulator's
                      default: time flows, and a test can jump 3 days ahead)
    ManualClock(t)    time stands still until `advance()`; `sleep()` advances it, so
                      code that waits returns at once with the clock moved on

`monotonic()` is for intervals (never goes backwards); `time()` and `now()` are the wall
clock (epoch seconds, and an aware UTC datetime).
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "OffsetClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for intervals)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a manual clock just moves on)."""
        ...

    def now(self) -> datetime:
        """The wall clock as an aware UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


SYSTEM_CLOCK = SystemClock()


class OffsetClock(SystemClock):
    """Real time plus an offset: time flows, and `advance()` jumps ahead."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        return _time.time() + self._offset

    def monotonic(self) -> float:
        return _time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class ManualClock:
    """Time that only moves when told: `advance(s)`, or `sleep(s)` (which returns at
    once). Thread-safe; `sleeps` records every sleep asked for."""

    def __init__(self, start: float | datetime = 1_800_000_000.0) -> None:
        self._wall = start.timestamp() if isinstance(start, datetime) else float(start)
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._wall

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._wall += seconds
            self._mono += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self.advance(seconds)

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()})"
