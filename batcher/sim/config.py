"""The simulator's configuration (plain data; the CLI builds it from its options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .faults import Faults

__all__ = ["SimConfig"]


@dataclass
class SimConfig:
    """Where the simulator keeps its files, where it listens, and how it behaves.

    `port` / `api_port` 0 pick a free port. Times are seconds. `delivered_delay` counts
    from the moment the file was processed, like `sent_delay` (a delivered status never
    appears before its sent status). `list_page` is the most statuses one `/list` call
    returns (0 or less: no limit); `rate_limit_per_second` 0 or less: no limit.
    """

    root: Path
    host: str = "127.0.0.1"
    port: int = 2222
    api_port: int = 8022
    username: str = "batcher"
    password: str = "batcher"
    api_username: str = "batcher"
    api_token: str = "batcher-token"
    authorized_keys: Path | None = None
    scan_interval: float = 0.2
    eof_grace: float = 30.0
    sent_delay: float = 1.0
    delivered_delay: float = 3.0
    retention: float = 3 * 86400
    rate_limit_per_second: float = 1.0
    list_page: int = 1000
    faults: Faults = field(default_factory=Faults)
    #: a `batcher.clock` clock with `advance()` (default: real time plus an offset);
    #: a `ManualClock` freezes time, so the rate limit and delays move only when told
    clock: Any = None
