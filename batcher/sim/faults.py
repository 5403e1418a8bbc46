"""Fault switches for the simulator, and the seeded random sources that drive them.

Every random decision the simulator makes (which good file goes to error/, which API
request gets a 5xx, which UUID a status gets) comes from a `random.Random` seeded from
`Faults.seed`, one independent stream per purpose, so a failing test repeats.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Faults", "seeded"]


@dataclass
class Faults:
    """What the simulator does wrong on purpose (all off by default).

    - `file_error_rate`: fraction (0..1) of otherwise valid files moved to error/.
    - `error_projects`: every file of these projects (the PROJECT of its name) goes to
      error/, as the platform does with a file it cannot process (the demo uses it).
    - `drop_after_bytes`: the SFTP server drops the connection once a session has
      written that many bytes of file data (the bytes up to the limit are kept) ...
    - `drop_connections`: ... for this many connections in total, then behaves again.
    - `processing_delay`: seconds a complete file waits in upload/ before it is moved.
    - `api_5xx_rate`: fraction of admitted API requests answered 500, 503 or 504.
    - `api_latency`: seconds every API request waits before it is answered.
    - `api_sloppy_json`: the API answers as a careless server would: codes, ids and
      epoch times as strings (some padded with spaces), null fields omitted, epoch
      times sometimes missing (only the date fields left), unknown extra fields (some
      of them objects), an unknown key beside `smsStatuses`; drawn per status.
    """

    seed: int = 0
    file_error_rate: float = 0.0
    error_projects: frozenset[str] = frozenset()
    drop_after_bytes: int | None = None
    processing_delay: float = 0.0
    api_5xx_rate: float = 0.0
    api_latency: float = 0.0
    api_sloppy_json: bool = False
    drop_connections: int = 1


def seeded(seed: int, purpose: str) -> random.Random:
    """An independent random stream for one purpose, reproducible from the seed."""
    return random.Random(f"{seed}:{purpose}")
