"""Message statuses as the status API sees them, aging on the simulator's clock.

A message is created when its file is processed (time t0). Its sent level becomes
visible at t0 + sent_delay, its delivered level (when its outcome has one) at
t0 + max(sent_delay, delivered_delay). Before the sent level it is unknown to the API.
It disappears `retention` seconds after its sent status.

`/list` semantics: each message remembers the highest level /list has returned; /list
returns a message again when a higher level has appeared since (sent, then delivered).
One call returns at most `limit` statuses (the oldest messages first); the rest wait for
the next calls, in order.

Lookups are indexed (by id, case-insensitively, and by correlationId) and /list keeps a
cursor past the messages it has nothing more to say about, so a simulator holding
100,000 messages answers each call in time proportional to its answer.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
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
    seq: int = 0  # creation order

    @property
    def final_level(self) -> int:
        return 1 if self.delivered_at is None else 2

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
    """All messages; thread-safe (the API runs on the loop, test hooks on other threads).

    Messages are kept in creation order, which is also the order of their sent times
    (each file's t0 is read from one clock that only moves forward), so the expired
    ones are always a prefix of the list."""

    def __init__(self, clock: Clock, *, sent_delay: float, delivered_delay: float,
                 retention: float, rng: Random) -> None:
        self.clock = clock
        self.sent_delay = sent_delay
        self.delivered_delay = max(sent_delay, delivered_delay)
        self.retention = retention
        self._rng = rng
        self._messages: list[Message] = []
        self._by_id: dict[str, Message] = {}
        self._by_corr: defaultdict[str, list[Message]] = defaultdict(list)
        self._seq = 0
        self._list_from = 0  # every message before this index has been listed at its final level
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
                    seq=self._seq,
                )
                self._seq += 1
                created.append(msg)
                self._by_id[msg.id] = msg
                if msg.correlation_id:
                    self._by_corr[msg.correlation_id].append(msg)
            self._messages.extend(created)
        return created

    def _prune(self, now: float) -> None:
        """Forget the messages past retention (caller holds the lock)."""
        expired = 0
        for m in self._messages:
            if now - m.sent_at < self.retention:
                break
            expired += 1
        if not expired:
            return
        for m in self._messages[:expired]:
            self._by_id.pop(m.id, None)
            same = self._by_corr.get(m.correlation_id)
            if same is not None:
                same.remove(m)
                if not same:
                    del self._by_corr[m.correlation_id]
        del self._messages[:expired]
        self._list_from = max(0, self._list_from - expired)

    def _visible(self, m: Message, now: float) -> bool:
        return m.level(now) > 0 and now - m.sent_at < self.retention

    def search(self, ids: Iterable[str], correlation_ids: Iterable[str]) -> list[dict[str, Any]]:
        now = self.clock.time()
        with self._lock:
            self._prune(now)
            found: dict[str, Message] = {}
            for i in ids:
                m = self._by_id.get(i.lower()) if i else None
                if m is not None:
                    found[m.id] = m
            for c in correlation_ids:
                for m in self._by_corr.get(c, ()) if c else ():
                    found[m.id] = m
            hits = sorted(found.values(), key=lambda m: m.seq)
            return [m.as_json(now) for m in hits if self._visible(m, now)]

    def take_unlisted(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Statuses /list has not returned at their current level, oldest first, at most `limit`."""
        now = self.clock.time()
        out: list[dict[str, Any]] = []
        with self._lock:
            self._prune(now)
            messages = self._messages
            while self._list_from < len(messages) and \
                    messages[self._list_from].listed_level >= messages[self._list_from].final_level:
                self._list_from += 1
            for m in messages[self._list_from:]:
                if limit is not None and len(out) >= limit:
                    break
                if m.sent_at > now:
                    break  # later messages were sent later still: nothing visible beyond
                level = m.level(now)
                if level > m.listed_level:
                    m.listed_level = level
                    out.append(m.as_json(now))
        return out

    def all(self) -> list[dict[str, Any]]:
        now = self.clock.time()
        with self._lock:
            self._prune(now)
            return [m.as_json(now) for m in self._messages if self._visible(m, now)]
