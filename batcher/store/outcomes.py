"""What happened to each input row: refused rows, message outcomes and their history,
and the queries behind reconcile, `status` and `report` (SPEC 4.1, 4.4).

A mixin of `Store` (it uses the connection, the mutex and the transactions of
`_store.Store`), kept apart so that each file stays about one concern:

- **Refused rows are data.** `add_refusals` keeps each row batcher refused (line, code,
  reason, the raw number/text/correlationId cells and every original cell) with its drop,
  so a report of a drop is one query over every input row (`report_rows`).
- **Every change of a message's state is recorded** (`apply_changes`) with the codes,
  carrier and timestamps the platform gave, in `message_events`, in the same
  transaction as the change itself. Changes are compare-and-set on the old state, so two
  processes reconciling at once never apply one twice.
- **Final messages are never queried again**: `reconcile_candidates` yields only
  messages not final, of batches the platform accepted.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ..errors import StateError
from ..models import (
    FINAL_MESSAGE_STATES,
    BatchState,
    DropState,
    MessageChange,
    MessageState,
    check_drop_transition,
    check_message_transition,
)
from .records import IN_BATCH, LINE_BITS, DropRecord, batch_range

__all__ = ["Candidate", "OutcomesMixin", "RefusalRecord", "ReportSourceRow"]

_NON_FINAL = tuple(s.value for s in MessageState if s not in FINAL_MESSAGE_STATES)
_CHUNK = 500  # ids per IN (...) query
_REPORT_CHUNK = 10_000  # report rows per read


@dataclass(frozen=True, slots=True)
class RefusalRecord:
    drop_id: int
    line: int
    code: str
    reason: str
    number: str | None
    text: str | None
    correlation_id: str | None
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A message reconcile may still learn something about."""

    id: int
    batch_id: int
    state: MessageState
    correlation_id: str
    number: str
    platform_id: str | None
    carrier_name: str | None
    sent_at: str | None  # what the platform said, ISO UTC
    accepted_at: str | None  # when its batch was seen in success/


@dataclass(frozen=True, slots=True)
class ReportSourceRow:
    """One input row as the store knows it: a message, or a refused row (`refused`)."""

    line: int
    refused: bool
    batch_id: int | None
    remote_name: str | None
    number: str | None
    text: str | None
    correlation_id: str | None
    state: str  # a MessageState value, or "refused"
    code: str | None  # rejection code of a refused row
    reason: str | None  # its reason
    platform_id: str | None = None
    carrier_id: str | None = None
    carrier_name: str | None = None
    sent_status_code: int | None = None
    sent_status: str | None = None
    sent_at: str | None = None
    delivered_status_code: int | None = None
    delivered_status: str | None = None
    delivered_at: str | None = None
    updated_at: str | None = None
    encoding: str | None = None
    segments: int | None = None


_MESSAGE_FIELDS = (
    "platform_id", "sent_status_code", "sent_status", "sent_at",
    "delivered_status_code", "delivered_status", "delivered_at", "carrier_id", "carrier_name",
)
# the messages table calls the platform's id `message_id`
_COLUMN_OF = {"platform_id": "message_id"}


class OutcomesMixin:
    """Refusals, message outcomes and the report queries (see the module doc)."""

    _conn: sqlite3.Connection
    _mutex: threading.RLock
    transaction: Callable[[], AbstractContextManager[None]]
    _now: Callable[[], str]
    add_event: Callable[..., None]
    drop: Callable[[int], DropRecord | None]

    # ------------------------------------------------------------------ drops

    def set_drop_state(self, drop_id: int, new: DropState, *, detail: str | None = None) -> DropRecord:
        """Move a drop to `new`, checked against `DROP_TRANSITIONS`, with its event."""
        with self.transaction():
            current = self.drop(drop_id)
            if current is None:
                raise StateError(f"no drop {drop_id}")
            old = DropState(current.status)
            if old != new:
                check_drop_transition(old, new)
            self._conn.execute(
                "UPDATE drops SET status = ?, detail = COALESCE(?, detail) WHERE id = ?",
                (new.value, detail, drop_id),
            )
            event: dict[str, Any] = {"from": old.value, "to": new.value}
            if detail:
                event["detail"] = detail
            self.add_event("drop.state", drop_id=drop_id, detail=event)
            record = self.drop(drop_id)
        assert record is not None
        return record

    def set_drop_files(
        self, drop_id: int, *, origin: str | None = None, archived_to: str | None = None,
        refused_file: str | None = None,
    ) -> None:
        """Where the inbox moved a drop and where its refused rows were written."""
        with self.transaction():
            self._conn.execute(
                "UPDATE drops SET origin = COALESCE(?, origin), archived_to = COALESCE(?, archived_to),"
                " refused_file = COALESCE(?, refused_file) WHERE id = ?",
                (origin, archived_to, refused_file, drop_id),
            )
            self.add_event("drop.files", drop_id=drop_id, detail={
                k: v for k, v in (("origin", origin), ("archived_to", archived_to),
                                  ("refused_file", refused_file)) if v})

    def drops_to_report(self) -> list[DropRecord]:
        """Drops whose messages changed since the last report `run` wrote for them."""
        from ._store import _DROP_SELECT, _drop

        with self._mutex:
            rows = self._conn.execute(
                _DROP_SELECT + " WHERE changed_at IS NOT NULL AND (reported_at IS NULL OR reported_at < changed_at)"
                " ORDER BY id"
            ).fetchall()
        return [_drop(r) for r in rows]

    def mark_drop_reported(self, drop_id: int, at: str) -> None:
        with self.transaction():
            self._conn.execute("UPDATE drops SET reported_at = ? WHERE id = ?", (at, drop_id))

    def all_drops(self) -> list[DropRecord]:
        from ._store import _DROP_SELECT, _drop

        with self._mutex:
            return [_drop(r) for r in self._conn.execute(_DROP_SELECT + " ORDER BY id").fetchall()]

    # -------------------------------------------------------------- retention

    def purgeable_drops(self, cutoff: str) -> list[DropRecord]:
        """Drops created before `cutoff` (ISO UTC), not purged yet, whose outcome is
        final: every batch accepted or moved to error/ and every message final (a drop
        refused as a whole is final too). Nothing of any other drop is ever touched."""
        from ._store import _DROP_SELECT, _drop

        marks = ", ".join("?" * len(_NON_FINAL))
        with self._mutex:
            rows = self._conn.execute(
                _DROP_SELECT + " WHERE purged_at IS NULL AND created_at < ? AND status NOT IN (?)"
                " AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.drop_id = drops.id AND b.state NOT IN (?, ?))"
                f" AND NOT EXISTS (SELECT 1 FROM batches b JOIN messages m ON {IN_BATCH}"
                f"   WHERE b.drop_id = drops.id AND m.state IN ({marks}))"
                " ORDER BY id",
                (cutoff, DropState.NEW.value, BatchState.ACCEPTED.value, BatchState.FILE_REJECTED.value,
                 *_NON_FINAL),
            ).fetchall()
        return [_drop(r) for r in rows]

    def purge_drop(self, drop_id: int) -> tuple[int, int]:
        """Remove the numbers and texts of a drop's messages and refused rows (the cells
        too), keeping counts, states, codes and events; mark the drop purged. Returns
        (messages, refused rows) cleared."""
        with self.transaction():
            messages = 0
            for (batch_id,) in self._conn.execute("SELECT id FROM batches WHERE drop_id = ?", (drop_id,)).fetchall():
                cur = self._conn.execute(
                    "UPDATE messages SET number = '', text = '' WHERE id BETWEEN ? AND ?", batch_range(batch_id))
                messages += cur.rowcount
            cur = self._conn.execute(
                "UPDATE refusals SET number = NULL, text = NULL, correlation_id = NULL, cells = '[]'"
                " WHERE drop_id = ?", (drop_id,))
            refused = cur.rowcount
            self._conn.execute("UPDATE drops SET purged_at = ?, detail = NULL WHERE id = ?", (self._now(), drop_id))
            self.add_event("drop.purged", drop_id=drop_id, detail={"messages": messages, "refused": refused})
        return messages, refused

    def vacuum(self) -> None:
        """Rewrite the database file so that removed texts leave no trace in free pages
        or the write-ahead log."""
        with self._mutex:
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # --------------------------------------------------------------- refusals

    def add_refusals(
        self,
        drop_id: int,
        refusals: Iterable[tuple[int, str, str, str | None, str | None, str | None, Sequence[str]]],
    ) -> int:
        """Keep refused rows: (line, code, reason, number cell, text cell, id cell, all cells)."""
        rows = [
            (drop_id, line, code, reason, number, text, cid, json.dumps(list(cells), ensure_ascii=False))
            for line, code, reason, number, text, cid, cells in refusals
        ]
        if not rows:
            return 0
        with self.transaction():
            self._conn.executemany(
                "INSERT INTO refusals (drop_id, line, code, reason, number, text, correlation_id, cells)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def refusals(self, drop_id: int) -> list[RefusalRecord]:
        with self._mutex:
            rows = self._conn.execute(
                "SELECT drop_id, line, code, reason, number, text, correlation_id, cells FROM refusals"
                " WHERE drop_id = ? ORDER BY line, id",
                (drop_id,),
            ).fetchall()
        return [RefusalRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7]))) for r in rows]

    def refusal_counts(self, drop_id: int) -> Counter[str]:
        with self._mutex:
            return Counter(dict(self._conn.execute(
                "SELECT code, COUNT(*) FROM refusals WHERE drop_id = ? GROUP BY code", (drop_id,)
            ).fetchall()))

    # -------------------------------------------------------------- reconcile

    def _open_batches(self) -> list[tuple[int, str | None]]:
        """(id, finished_at) of the accepted batches that may still hold messages not final."""
        with self._mutex:
            return self._conn.execute(
                "SELECT id, finished_at FROM batches WHERE state = ? AND open_messages = 1 ORDER BY id",
                (BatchState.ACCEPTED.value,),
            ).fetchall()

    def reconcile_candidates(self, after: int = 0) -> Iterator[Candidate]:
        """Messages not final, of accepted batches, in id order, read batch by batch in
        chunks (memory stays flat; writes may happen between chunks). Batches whose
        messages were all found final are skipped (`close_final_batches`). `after`
        starts past that message id (a paused pass going on where it stopped)."""
        marks = ", ".join("?" * len(_NON_FINAL))
        sql = (
            "SELECT id, state, correlation_id, number, message_id, carrier_name, sent_at FROM messages"
            f" WHERE id > ? AND id <= ? AND state IN ({marks}) ORDER BY id LIMIT ?"
        )
        for batch_id, finished in self._open_batches():
            last, end = batch_range(batch_id)
            if end <= after:
                continue
            last = max(last - 1, after)
            while True:
                with self._mutex:
                    rows = self._conn.execute(sql, (last, end, *_NON_FINAL, 5000)).fetchall()
                if not rows:
                    break
                for r in rows:
                    yield Candidate(r[0], batch_id, MessageState(r[1]), r[2], r[3], r[4], r[5], r[6], finished)
                last = rows[-1][0]

    def count_outstanding(self) -> int:
        """Messages not final, of accepted batches (what reconcile still asks about)."""
        marks = ", ".join("?" * len(_NON_FINAL))
        total = 0
        with self._mutex:
            for batch_id, _ in self._open_batches():
                (n,) = self._conn.execute(
                    f"SELECT COUNT(*) FROM messages WHERE id BETWEEN ? AND ? AND state IN ({marks})",
                    (*batch_range(batch_id), *_NON_FINAL),
                ).fetchone()
                total += int(n)
        return total

    def close_final_batches(self) -> int:
        """Mark the accepted or rejected batches whose messages are all final, so that no
        reconcile pass scans them again (final is final). Returns how many."""
        marks = ", ".join("?" * len(_NON_FINAL))
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE batches SET open_messages = 0 WHERE open_messages = 1 AND state IN (?, ?)"
                f" AND NOT EXISTS (SELECT 1 FROM messages m JOIN batches b ON {IN_BATCH}"
                f"   WHERE b.id = batches.id AND m.state IN ({marks}))",
                (BatchState.ACCEPTED.value, BatchState.FILE_REJECTED.value, *_NON_FINAL),
            )
        return int(cur.rowcount)

    def apply_changes(self, changes: Sequence[MessageChange]) -> list[MessageChange]:
        """Apply message state changes in one transaction, compare-and-set on the old
        state (a change whose message moved meanwhile is skipped), each with its event;
        the drops of changed messages get `changed_at`. Returns the changes applied."""
        if not changes:
            return []
        for change in changes:
            check_message_transition(change.old, change.new)
        now = self._now()
        applied: list[MessageChange] = []
        with self.transaction():
            current: dict[int, str] = {}
            ids = [c.message_id for c in changes]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                current.update(self._conn.execute(
                    f"SELECT id, state FROM messages WHERE id IN ({', '.join('?' * len(chunk))})", chunk
                ).fetchall())
            seen: set[int] = set()
            for change in changes:
                if current.get(change.message_id) == change.old.value and change.message_id not in seen:
                    applied.append(change)
                    seen.add(change.message_id)
            if not applied:
                return []
            sets = ", ".join(f"{_COLUMN_OF.get(f, f)} = COALESCE(?, {_COLUMN_OF.get(f, f)})" for f in _MESSAGE_FIELDS)
            self._conn.executemany(
                f"UPDATE messages SET state = ?, updated_at = ?, {sets} WHERE id = ?",
                [(c.new.value, now, *(getattr(c, f) for f in _MESSAGE_FIELDS), c.message_id) for c in applied],
            )
            columns = ", ".join(_MESSAGE_FIELDS)
            marks = ", ".join("?" * len(_MESSAGE_FIELDS))
            self._conn.executemany(
                f"INSERT INTO message_events (message_id, at, from_state, to_state, cause, {columns})"
                f" VALUES (?, ?, ?, ?, ?, {marks})",
                [(c.message_id, now, c.old.value, c.new.value, c.cause, *(getattr(c, f) for f in _MESSAGE_FIELDS))
                 for c in applied],
            )
            batch_ids = sorted({c.message_id >> LINE_BITS for c in applied})
            for start in range(0, len(batch_ids), _CHUNK):
                chunk = batch_ids[start : start + _CHUNK]
                self._conn.execute(
                    "UPDATE drops SET changed_at = ? WHERE id IN (SELECT drop_id FROM batches WHERE id IN ("
                    + ", ".join("?" * len(chunk)) + "))",
                    (now, *chunk),
                )
        return applied

    def pending_of_batch(self, batch_id: int) -> list[int]:
        """Row ids of the batch's messages still pending."""
        with self._mutex:
            return [i for (i,) in self._conn.execute(
                "SELECT id FROM messages WHERE id BETWEEN ? AND ? AND state = ? ORDER BY id",
                (*batch_range(batch_id), MessageState.PENDING.value),
            )]

    def message_events(self, message_id: int) -> list[dict[str, Any]]:
        with self._mutex:
            cur = self._conn.execute(
                "SELECT at, from_state, to_state, cause, " + ", ".join(_MESSAGE_FIELDS)
                + " FROM message_events WHERE message_id = ? ORDER BY id",
                (message_id,),
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    # ------------------------------------------------------------- summaries

    def outcome_counts(self, *, batch_id: int | None = None, drop_id: int | None = None) -> Counter[str]:
        """Messages by state (MessageState values) of one batch, one drop, or all; for a
        drop, its refused rows too (as "refused")."""
        params: tuple[int, ...]
        if batch_id is not None:
            sql, params = "SELECT state, COUNT(*) FROM messages WHERE id BETWEEN ? AND ? GROUP BY state", \
                batch_range(batch_id)
        elif drop_id is not None:
            sql, params = (f"SELECT m.state, COUNT(*) FROM batches b JOIN messages m ON {IN_BATCH}"
                           " WHERE b.drop_id = ? GROUP BY m.state"), (drop_id,)
        else:
            sql, params = "SELECT state, COUNT(*) FROM messages GROUP BY state", ()
        with self._mutex:
            counts: Counter[str] = Counter(dict(self._conn.execute(sql, params).fetchall()))
            if drop_id is not None:
                (refused,) = self._conn.execute(
                    "SELECT COUNT(*) FROM refusals WHERE drop_id = ?", (drop_id,)).fetchone()
                if refused:
                    counts["refused"] = refused
        return counts

    def outcome_counts_by_batch(self, batch_ids: Iterable[int]) -> dict[int, Counter[str]]:
        """Messages by state for each of these batches (one range each)."""
        return {batch_id: self.outcome_counts(batch_id=batch_id) for batch_id in batch_ids}

    def failure_reasons(self, *, batch_id: int) -> Counter[str]:
        """Why messages of a batch did not reach a phone: the platform's status names
        (`REJECTED_BY_CARRIER`, `NOT_DELIVERED`...), `not_sent`, `expired`."""
        with self._mutex:
            rows = self._conn.execute(
                "SELECT state, sent_status, sent_status_code, delivered_status, COUNT(*) FROM messages"
                " WHERE id BETWEEN ? AND ? AND state IN (?, ?, ?, ?) GROUP BY 1, 2, 3, 4",
                (*batch_range(batch_id), MessageState.REJECTED.value, MessageState.NOT_DELIVERED.value,
                 MessageState.NOT_SENT.value, MessageState.EXPIRED.value),
            ).fetchall()
        reasons: Counter[str] = Counter()
        for state, sent_name, sent_code, delivered_name, n in rows:
            if state == MessageState.REJECTED.value:
                reasons[f"{sent_code} {sent_name or 'rejected'}"] += n
            elif state == MessageState.NOT_DELIVERED.value:
                reasons[f"104 {delivered_name or 'NOT_DELIVERED'}"] += n
            elif state == MessageState.NOT_SENT.value:
                reasons["file moved to error/ by the platform"] += n
            else:
                reasons["no status within the 3-day retention"] += n
        return reasons

    # ----------------------------------------------------------------- report

    def report_rows(self, *, drop_id: int | None = None, batch_id: int | None = None) -> Iterator[ReportSourceRow]:
        """Every input row of a drop (messages and refused rows, merged by line), or every
        message of a batch, in line order. Streams in chunks (memory stays flat): a
        drop's batches hold its lines in order, one id range each."""
        if (drop_id is None) == (batch_id is None):
            raise ValueError("give a drop_id or a batch_id")
        if batch_id is not None:
            yield from self._batch_rows(batch_id)
            return
        assert drop_id is not None
        with self._mutex:
            batch_ids = [i for (i,) in self._conn.execute(
                "SELECT id FROM batches WHERE drop_id = ? ORDER BY id", (drop_id,))]
        messages = (row for b in batch_ids for row in self._batch_rows(b))
        yield from heapq.merge(messages, self._refused_rows(drop_id), key=lambda r: (r.line, r.refused))

    def _batch_rows(self, batch_id: int) -> Iterator[ReportSourceRow]:
        sql = (
            "SELECT m.id, m.line, b.remote_name, m.number, m.text, m.correlation_id, m.state,"
            " m.message_id, m.carrier_id, m.carrier_name, m.sent_status_code, m.sent_status, m.sent_at,"
            " m.delivered_status_code, m.delivered_status, m.delivered_at, m.updated_at, m.encoding, m.segments"
            " FROM messages m JOIN batches b ON b.id = ? WHERE m.id > ? AND m.id <= ?"
            f" ORDER BY m.id LIMIT {_REPORT_CHUNK}"
        )
        last, end = batch_range(batch_id)
        last -= 1
        while True:
            with self._mutex:
                rows = self._conn.execute(sql, (batch_id, last, end)).fetchall()
            for r in rows:
                yield ReportSourceRow(r[1], False, batch_id, r[2], r[3], r[4], r[5], r[6], None, None, *r[7:])
            if len(rows) < _REPORT_CHUNK:
                return
            last = rows[-1][0]

    def _refused_rows(self, drop_id: int) -> Iterator[ReportSourceRow]:
        last_line, last_id = -1, 0
        while True:
            with self._mutex:
                rows = self._conn.execute(
                    "SELECT id, line, number, text, correlation_id, code, reason FROM refusals"
                    " WHERE drop_id = ? AND (line > ? OR (line = ? AND id > ?)) ORDER BY line, id LIMIT ?",
                    (drop_id, last_line, last_line, last_id, _REPORT_CHUNK),
                ).fetchall()
            for r in rows:
                yield ReportSourceRow(r[1], True, None, None, r[2], r[3], r[4], "refused", r[5], r[6])
            if len(rows) < _REPORT_CHUNK:
                return
            last_line, last_id = rows[-1][1], rows[-1][0]
