"""One status-API request rate for the whole host (SPEC 4.4): never more than
`api.requests_per_second` across every batcher process (a push, a watch and a cron run
reconciling at once).

The platform's rule (and the simulator's): a request that *arrives* less than 1/rps
after the previous one it counted is answered 429, and the 429 counts too. Arrival is
what matters, so spacing departures is not enough: a request that needed a fresh TCP
and TLS handshake arrives hundreds of milliseconds after it left, and the next one, on
a warm connection, can catch up with it. `HostRateLimiter` therefore holds the turn
while the request is in flight and lets the next request leave only `1/rps + margin`
after the previous one's *answer* came back. Every request arrives after it departed,
and every answer comes after its request arrived, so arrivals are at least `1/rps`
apart whatever the network does; the price is one round trip per request.

    with limiter.acquire():      # waits for the host's turn (on the Clock)
        response = send()        # the turn is held until the answer is in
    limiter.penalize(retry_after)  # after a 429: nobody on the host sends before then

State: one small JSON file (`STATE_DIR/ratelimit.json`, 0600) read and written under
an exclusive `flock` that is held only for that read-modify-write, never while waiting
or sending:

    {"next": <wall-clock time before which nobody may send>,
     "holder": {"pid": ..., "token": ..., "until": <lease end>} | null}

Failure rules:
- a process killed while holding the turn: the kernel drops its flock, and its turn
  is taken back at once when its pid is gone, or when its lease (the longest a request
  can take) ends;
- times are wall-clock (`Clock.time()`), so a reboot leaves only past times behind;
  a stored time further ahead than any wait batcher ever asks for (the clock was set
  back) is ignored rather than obeyed for hours;
- an unreadable state file (truncated by a crash mid-write) counts as empty.

Fairness: waiters race for each turn (no queue); each process gets turns at random.
`RateLimiter` is the protocol the status client takes, so a second backend (one shared
by several hosts) can slot in later.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigError
from ..fsutil import FILE_MODE, ensure_private_dir
from ..settings import Settings

__all__ = ["MAX_PENALTY", "STATE_NAME", "HostRateLimiter", "RateLimiter"]

STATE_NAME = "ratelimit.json"
#: the longest `penalize()` honours (a longer Retry-After is the client's business)
MAX_PENALTY = 300.0

T = TypeVar("T")


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self) -> contextlib.AbstractContextManager[None]:
        """Wait for the turn to send one request; hold it until the block ends (the
        answer is in, or the request failed)."""
        ...

    def penalize(self, seconds: float) -> None:
        """Nobody sends before `seconds` from now (the platform answered 429)."""
        ...


class HostRateLimiter:
    """`requests_per_second` for every process on this host that uses `path`.

    `margin` is added to each interval (timer resolution, clock rate differences);
    `lease` is the longest one request may hold the turn (after that, a holder that is
    still alive but stuck is passed by)."""

    def __init__(self, path: Path, requests_per_second: float, *, clock: Clock = SYSTEM_CLOCK,
                 margin: float = 0.05, lease: float = 65.0) -> None:
        if requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive")
        self.path = Path(path)
        self.interval = 1.0 / requests_per_second
        self.margin = margin
        self.lease = lease
        self.clock = clock
        self._horizon = max(lease, MAX_PENALTY) + self.interval + margin
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing a process
        self.waited = 0.0  # seconds this limiter spent waiting (for benchmarks)

    @classmethod
    def for_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> HostRateLimiter:
        """The host's limiter: `STATE_DIR/ratelimit.json` at `api.requests_per_second`; a
        request holds its turn at most about twice `api.timeout` (connect, then read)."""
        return cls(settings.state_path(STATE_NAME), settings.api.requests_per_second, clock=clock,
                   lease=2 * settings.api.timeout + 5.0)

    # -- the protocol ------------------------------------------------------------------
    @contextlib.contextmanager
    def acquire(self) -> Iterator[None]:
        token = uuid.uuid4().hex
        while True:
            wait = self._update(lambda state, now: self._take(state, now, token))
            if wait is None:
                break
            self.waited += wait
            self.clock.sleep(wait)
        try:
            yield
        finally:
            self._update(lambda state, now: self._release(state, now, token))

    def penalize(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), MAX_PENALTY)

        def push(state: dict[str, Any], now: float) -> None:
            state["next"] = max(self._next(state, now), now + seconds + self.margin)

        self._update(push)

    # -- decisions on the state (called under the locks) --------------------------------
    def _next(self, state: dict[str, Any], now: float) -> float:
        nxt = state.get("next")
        if not isinstance(nxt, (int, float)) or nxt > now + self._horizon:
            return now  # none yet, or written before the clock was set back
        return float(nxt)

    def _holder(self, state: dict[str, Any], now: float) -> dict[str, Any] | None:
        holder = state.get("holder")
        if not isinstance(holder, dict):
            return None
        until = holder.get("until")
        if not isinstance(until, (int, float)) or not now < until <= now + self.lease:
            return None  # lease over (or written before the clock was set back)
        pid = holder.get("pid")
        if not isinstance(pid, int) or not _alive(pid):
            return None
        return holder

    def _take(self, state: dict[str, Any], now: float, token: str) -> float | None:
        """None when the turn is ours (state updated), else seconds to wait first."""
        nxt = self._next(state, now)
        holder = self._holder(state, now)
        if holder is not None:
            # its answer frees the turn no earlier than an interval from now
            return min(self.interval, float(holder["until"]) - now)
        if nxt > now:
            return nxt - now
        state["holder"] = {"pid": os.getpid(), "token": token, "until": now + self.lease}
        state["next"] = now + self.interval + self.margin  # in case our lease is taken back
        return None

    def _release(self, state: dict[str, Any], now: float, token: str) -> None:
        holder = state.get("holder")
        if isinstance(holder, dict) and holder.get("token") == token:
            state["holder"] = None
        # our request arrived before now: the next one may leave an interval after it
        state["next"] = max(self._next(state, now), now + self.interval + self.margin)

    # -- the file ----------------------------------------------------------------------
    def _update(self, change: Callable[[dict[str, Any], float], T]) -> T:
        """Run `change(state, now)` on the stored state under the locks; write it back."""
        with self._thread_lock:
            try:
                fd = self._open()
            except OSError as exc:
                raise self._error(exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = os.pread(fd, 65536, 0)
                state = _load(raw)
                result = change(state, self.clock.time())
                data = json.dumps(state, separators=(",", ":")).encode()
                if data != raw:
                    os.pwrite(fd, data, 0)
                    os.ftruncate(fd, len(data))
                return result
            except OSError as exc:
                raise self._error(exc) from None
            finally:
                os.close(fd)  # also releases the flock

    def _open(self) -> int:
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, FILE_MODE)
        except OSError:
            os.close(fd)
            raise
        return fd

    def _error(self, exc: OSError) -> ConfigError:
        return ConfigError(f"{self.path}: cannot use the status API rate limiter's state file "
                           f"({exc.strerror or exc}); check [paths] state_dir")

    def __repr__(self) -> str:
        return f"HostRateLimiter({str(self.path)!r}, {1 / self.interval:g}/s)"


def _load(raw: bytes) -> dict[str, Any]:
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False  # never signal a process group
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return False
    return True
