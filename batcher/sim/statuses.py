"""Message statuses as the status API sees them, aging on the simulator's clock.

A message is created when its file is processed (time t0). Its sent level becomes
visible at t0 + sent_delay, its delivered level (when its outcome has one) at
t0 + max(sent_delay, delivered_delay). Before the sent level it is unknown to the API.
It disappears `retention` seconds after its sent status.

`/list` semantics: each message remembers the highest level /list has returned; /list
returns a message again when a higher level has appeared since (sent, then delivered).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random
from typing import Any

from ..clock import Clock
from .filecheck import Row
from .outcomes import Outcome, outcome_for

__all__ = ["Message", "StatusStore", "format_date"]


def format_date(epoch: float) -> str:
    """yyyy-MM-dd'T'HH:mm:ssZ as Java formats it, in UTC (e.g. 2024-01-31T12:00:00+0000)."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Message:
    id: str
    correlation_id: str
    destination: str
    outcome: Outcome
    sent_at: float
    delivered_at: float | None
    listed_level: int = 0

    def level(self, now: float) -> int:
        """0 not visible yet, 1 sent status visible, 2 delivered status visible too."""
        if now < self.sent_at:
            return 0
        if self.delivered_at is not None and now >= self.delivered_at:
            return 2
        return 1

    def as_json(self, now: float) -> dict[str, Any]:
        level = self.level(now)
        o = self.outcome
        status: dict[str, Any] = {
            "id": self.id,
            "correlationId": self.correlation_id,
            "carrierId": o.carrier_id,
            "carrierName": o.carrier_name,
            "destination": self.destination,
            "sentStatusCode": o.sent_code,
            "sentStatus": o.sent_name,
            "sentStatusAt": int(self.sent_at * 1000),
            "sentStatusDate": format_date(self.sent_at),
            "deliveredStatusCode": None,
            "deliveredStatus": None,
            "deliveredAt": None,
            "deliveredDate": None,
            "campaignId": None,
            "extraInfo": None,
        }
        if level == 2 and self.delivered_at is not None:
            status.update(
                deliveredStatusCode=o.delivered_code,
                deliveredStatus=o.delivered_name,
                deliveredAt=int(self.delivered_at * 1000),
                deliveredDate=format_date(self.delivered_at),
            )
        return status


class StatusStore:
    """All messages; thread-safe (the API runs on the loop, test hooks on other threads)."""

    def __init__(self, clock: Clock, *, sent_delay: float, delivered_delay: float,
                 retention: float, rng: Random) -> None:
        self.clock = clock
        self.sent_delay = sent_delay
        self.delivered_delay = max(sent_delay, delivered_delay)
        self.retention = retention
        self._rng = rng
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    def add_rows(self, rows: Iterable[Row]) -> list[Message]:
        t0 = self.clock.time()
        created = []
        with self._lock:
            for row in rows:
                outcome = outcome_for(row.destination)
                msg = Message(
                    id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    correlation_id=row.correlation_id,
                    destination=row.destination,
                    outcome=outcome,
                    sent_at=t0 + self.sent_delay,
                    delivered_at=None if outcome.delivered_code is None else t0 + self.delivered_delay,
                )
                created.append(msg)
            self._messages.extend(created)
        return created

    def _live(self, now: float) -> list[Message]:
        """Visible messages; drops the expired ones (caller holds the lock)."""
        self._messages = [m for m in self._messages if now - m.sent_at < self.retention]
        return [m for m in self._messages if m.level(now) > 0]

    def search(self, ids: Iterable[str], correlation_ids: Iterable[str]) -> list[dict[str, Any]]:
        want_ids = {i.lower() for i in ids if i}
        want_corr = {c for c in correlation_ids if c}
        now = self.clock.time()
        with self._lock:
            return [m.as_json(now) for m in self._live(now)
                    if m.id.lower() in want_ids or m.correlation_id in want_corr]

    def take_unlisted(self) -> list[dict[str, Any]]:
        now = self.clock.time()
        out = []
        with self._lock:
            for m in self._live(now):
                level = m.level(now)
                if level > m.listed_level:
                    m.listed_level = level
                    out.append(m.as_json(now))
        return out

    def all(self) -> list[dict[str, Any]]:
        now = self.clock.time()
        with self._lock:
            return [m.as_json(now) for m in self._live(now)]
