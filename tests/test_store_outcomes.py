"""Refused rows, message outcomes and their history, and the report query, against real
SQLite files; and a store written by the previous release, upgraded in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from batcher.errors import StateError
from batcher.models import BatchState, DropState, Message, MessageChange, MessageState
from batcher.store import Store
from batcher.store.migrations import MIGRATIONS, apply_migrations


def setup_drop(store: Store, *, rows: int = 3, state: BatchState = BatchState.ACCEPTED) -> tuple[int, int]:
    drop = store.add_drop("P", f"hash-{rows}-{state}", "/in/list.csv", "list.csv")
    batch = store.add_batch(drop.id, "P", "20261201", 1, "P.20261201.01.txt", "/s/P.20261201.01.txt", 0, "", 0)
    store.add_messages(batch.id, [Message(2 * i + 2, f"551198765432{i}", f"texto {i}", f"c-{i}", "GSM", 1)
                                  for i in range(rows)])
    for step in (BatchState.UPLOADING, BatchState.UPLOADED, state):
        store.set_batch_state(batch.id, step)
    return drop.id, batch.id


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Store.open(tmp_path / "state") as opened:
        yield opened


def test_refused_rows_and_messages_come_back_as_one_report_in_line_order(store: Store) -> None:
    drop_id, batch_id = setup_drop(store)
    store.add_refusals(drop_id, [(3, "number_invalid", "não é um número", "abc", "oi", None, ("abc", "oi")),
                                 (1, "text_missing", "text is empty", "5511", "", "x", ("5511", "", "x"))])
    rows = list(store.report_rows(drop_id=drop_id))
    assert [(r.line, r.state) for r in rows] == [(1, "refused"), (2, "pending"), (3, "refused"), (4, "pending"),
                                                 (6, "pending")]
    refused = rows[2]
    assert (refused.code, refused.reason, refused.number, refused.batch_id) == (
        "number_invalid", "não é um número", "abc", None)
    assert rows[1].remote_name == "P.20261201.01.txt" and rows[1].correlation_id == "c-0"
    assert [r.line for r in store.report_rows(batch_id=batch_id)] == [2, 4, 6]
    assert store.refusals(drop_id)[0].cells == ("5511", "", "x")
    assert store.outcome_counts(drop_id=drop_id) == {"pending": 3, "refused": 2}


def test_changes_are_compare_and_set_and_leave_a_history(store: Store) -> None:
    drop_id, batch_id = setup_drop(store, rows=2)
    first, second = [c.id for c in store.reconcile_candidates()]
    sent = MessageChange(first, MessageState.PENDING, MessageState.SENT, "status", platform_id="u-1",
                         sent_status_code=2, sent_status="SENT_SUCCESS", sent_at="2026-12-01T10:00:00.000Z",
                         carrier_id="1", carrier_name="VIVO")
    assert store.apply_changes([sent]) == [sent]
    # a second process that decided the same change from the same old state: nothing happens
    assert store.apply_changes([sent]) == []
    delivered = MessageChange(first, MessageState.SENT, MessageState.DELIVERED, "status",
                              delivered_status_code=4, delivered_status="DELIVERED_SUCCESS",
                              delivered_at="2026-12-01T10:01:00.000Z")
    assert store.apply_changes([delivered]) == [delivered]
    history = store.message_events(first)
    assert [(e["from_state"], e["to_state"]) for e in history] == [("pending", "sent"), ("sent", "delivered")]
    assert history[0]["carrier_name"] == "VIVO" and history[1]["delivered_status_code"] == 4
    (row,) = [r for r in store.report_rows(batch_id=batch_id) if r.line == 2]
    # fields the second change did not carry are kept from the first
    assert (row.state, row.platform_id, row.carrier_name, row.sent_status_code, row.delivered_status_code) == (
        "delivered", "u-1", "VIVO", 2, 4)
    # final messages are not candidates any more
    assert [c.id for c in store.reconcile_candidates()] == [second] and store.count_outstanding() == 1
    assert store.drop(drop_id).changed_at is not None  # type: ignore[union-attr]
    with pytest.raises(StateError, match="illegal message transition delivered -> sent"):
        store.apply_changes([MessageChange(first, MessageState.DELIVERED, MessageState.SENT, "status")])


def test_only_accepted_batches_are_reconciled(store: Store) -> None:
    setup_drop(store, rows=2, state=BatchState.STUCK)
    assert list(store.reconcile_candidates()) == [] and store.count_outstanding() == 0


def test_drop_states_are_checked(store: Store) -> None:
    drop = store.add_drop("P", "h", "/in/a.csv", "a.csv")
    store.set_drop_state(drop.id, DropState.REJECTED, detail="no valid row")
    assert store.drop(drop.id).detail == "no valid row"  # type: ignore[union-attr]
    with pytest.raises(StateError, match="illegal drop transition rejected -> converted"):
        store.set_drop_state(drop.id, DropState.CONVERTED)


def test_drops_to_report_are_those_whose_messages_changed(store: Store) -> None:
    drop_id, _ = setup_drop(store, rows=1)
    assert store.drops_to_report() == []
    (c,) = store.reconcile_candidates()
    store.apply_changes([MessageChange(c.id, MessageState.PENDING, MessageState.SENT, "status")])
    assert [d.id for d in store.drops_to_report()] == [drop_id]
    store.mark_drop_reported(drop_id, "9999-12-31T00:00:00.000Z")
    assert store.drops_to_report() == []


def test_a_store_of_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = sqlite3.connect(state / "batcher.db", isolation_level=None)
    saved = list(MIGRATIONS)
    try:
        MIGRATIONS[:] = saved[:1]  # what the previous release had
        apply_migrations(conn, lambda: "2026-11-01T00:00:00.000Z")
    finally:
        MIGRATIONS[:] = saved
    conn.execute("INSERT INTO drops (project, content_hash, source_path, source_name, created_at, status)"
                 " VALUES ('P', 'h', '/in/a.csv', 'a.csv', '2026-11-01T00:00:00.000Z', 'reported')")
    conn.execute("INSERT INTO batches (drop_id, project, day, seq, remote_name, state, local_path, size, sha256,"
                 " rows, created_at, updated_at, finished_at) VALUES (1, 'P', '20261101', 1, 'P.20261101.01.txt',"
                 " 'accepted', '/s/x', 10, 'abc', 2, 't', 't', '2026-11-01T00:00:01.000Z')")
    for line, message_state in ((2, "pending"), (3, "delivered")):
        conn.execute("INSERT INTO messages (batch_id, line, number, text, correlation_id, encoding, segments,"
                     " state, updated_at) VALUES (1, ?, '5511987654321', 'olá', ?, 'UCS-2', 1, ?, 't')",
                     (line, f"c-{line}", message_state))
    conn.close()
    with Store.open(state) as store:
        assert store.schema_version == len(MIGRATIONS)
        (drop,) = store.all_drops()
        assert (drop.status, drop.origin, drop.archived_to) == ("reported", "push", None)
        # its messages kept, now one id range per batch, still found by reconcile and report
        assert [(m.line, m.state, m.text, m.batch_id) for m in store.messages(1)] == [
            (2, "pending", "olá", 1), (3, "delivered", "olá", 1)]
        assert [c.correlation_id for c in store.reconcile_candidates()] == ["c-2"]
        assert [r.line for r in store.report_rows(drop_id=1)] == [2, 3]
    names = [n for (n,) in sqlite3.connect(state / "batcher.db").execute("SELECT name FROM schema_migrations")]
    assert names == [m.name for m in MIGRATIONS]


def test_refusal_cells_keep_unicode(store: Store) -> None:
    drop_id, _ = setup_drop(store, rows=0)
    store.add_refusals(drop_id, [(5, "text_too_long", "r", "1", "ação 😀", None, ("1", "ação 😀"))])
    raw = sqlite3.connect(store.path).execute("SELECT cells FROM refusals").fetchone()[0]
    assert json.loads(raw) == ["1", "ação 😀"]


def test_opening_a_fresh_database_another_process_is_creating_waits_instead_of_failing() -> None:
    """Two `batcher push` started together on a new state dir: one failed with exit 1,
    "database is locked" (3 of 600 concurrent first opens here), because SQLite answers
    the journal-mode change with SQLITE_BUSY at once, without its busy handler, while
    another process is still creating the database. That timing cannot be produced on
    demand, so the answer is injected: the store waits it out and opens."""
    from batcher.store._store import _journal_mode_wal

    class Busy:
        """A connection whose journal-mode change is answered `error` `times` times."""

        def __init__(self, times: int, error: str = "database is locked") -> None:
            self.conn, self.left, self.error = sqlite3.connect(":memory:"), times, error

        def execute(self, sql: str):  # type: ignore[no-untyped-def]
            if self.left:
                self.left -= 1
                raise sqlite3.OperationalError(self.error)
            return self.conn.execute(sql)

    busy = Busy(3)
    assert _journal_mode_wal(busy) == "memory"  # type: ignore[arg-type]  # an in-memory db keeps its mode
    assert busy.left == 0  # three answers "locked" waited out
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):  # any other error is not
        _journal_mode_wal(Busy(1, "disk I/O error"))  # type: ignore[arg-type]
