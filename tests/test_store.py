"""The state store against real SQLite files (and real processes for the lock and
crash tests)."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batcher.errors import BatcherError, DuplicateDropError, StateError
from batcher.models import (
    BATCH_TRANSITIONS,
    MESSAGE_TRANSITIONS,
    BatchState,
    Message,
    MessageState,
)
from batcher.store import DB_NAME, BatchRecord, DropRecord, Store, format_timestamp
from batcher.store import migrations as migrations_module
from batcher.store.migrations import MIGRATIONS, apply_migrations

SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter, like a second batcher


class FakeClock:
    """Starts at a fixed moment and moves 1 ms per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    def __call__(self) -> datetime:
        moment = self.now
        self.now += timedelta(milliseconds=1)
        return moment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock):
    with Store.open(tmp_path / "state", clock=clock) as opened:
        yield opened


def new_batch(store: Store, *, project: str = "P", day: str = "20260102", seq: int | None = None,
              drop: DropRecord | None = None) -> BatchRecord:
    if drop is None:
        drop = store.add_drop(project, f"hash-{project}-{day}-{seq}-{time.monotonic_ns()}", "/in/a.csv", "a.csv")
    if seq is None:
        seq = store.highest_seq(project, day) + 1
    return store.add_batch(drop.id, project, day, seq, f"{project}.{day}.{seq:02d}.txt",
                           f"/state/batches/{seq}.txt", 100, "ab" * 32, 3)


# Shortest legal path from converted to each state.
PATH_TO = {
    BatchState.CONVERTED: [],
    BatchState.UPLOADING: [BatchState.UPLOADING],
    BatchState.UPLOADED: [BatchState.UPLOADING, BatchState.UPLOADED],
    BatchState.ACCEPTED: [BatchState.UPLOADING, BatchState.UPLOADED, BatchState.ACCEPTED],
    BatchState.FILE_REJECTED: [BatchState.UPLOADING, BatchState.UPLOADED, BatchState.FILE_REJECTED],
    BatchState.STUCK: [BatchState.UPLOADING, BatchState.UPLOADED, BatchState.STUCK],
}


def batch_in(store: Store, state: BatchState, **kwargs) -> BatchRecord:
    batch = new_batch(store, **kwargs)
    for step in PATH_TO[state]:
        batch = store.set_batch_state(batch.id, step)
    assert batch.state == state
    return batch


def make_messages(count: int, *, prefix: str = "c", start_line: int = 2) -> list[Message]:
    return [
        Message(start_line + i, f"55119{i:08d}", f"hello {i} ção", f"{prefix}-{i}",
                "UCS-2" if i % 2 else "GSM", 1 + i % 3)
        for i in range(count)
    ]


# ------------------------------------------------------------------ opening, migrations


def test_open_creates_database_and_records_each_migration_once(tmp_path: Path, clock: FakeClock):
    state = tmp_path / "a" / "state"
    with Store.open(state, clock=clock) as store:
        assert (state / DB_NAME).is_file()
        assert store.schema_version == len(MIGRATIONS) == Store.code_schema_version()
        first = store._conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
    assert [name for name, _ in first] == [m.name for m in MIGRATIONS]
    assert first[0][1] == "2026-01-02T03:04:05.678Z"

    with Store.open(state, clock=clock) as store:  # reopening is a no-op
        again = store._conn.execute("SELECT name, applied_at FROM schema_migrations").fetchall()
        assert again == first
        assert apply_migrations(store._conn, lambda: "x") == []


def test_pragmas(store: Store):
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"drops", "batches", "messages", "events", "schema_migrations"} <= tables


def test_database_from_a_newer_batcher_is_refused(tmp_path: Path):
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("INSERT INTO schema_migrations VALUES ('m9999_from_the_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(BatcherError, match=r"newer batcher .*m9999_from_the_future"):
        Store.open(tmp_path)


def test_a_failing_migration_is_rolled_back_whole_and_not_recorded(tmp_path, monkeypatch):
    Store.open(tmp_path).close()

    def m9000_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    extended = [*MIGRATIONS, migrations_module.Migration("m9000_broken", m9000_broken)]
    monkeypatch.setattr(migrations_module, "MIGRATIONS", extended)
    with pytest.raises(RuntimeError, match="boom"):
        Store.open(tmp_path)
    conn = sqlite3.connect(tmp_path / DB_NAME)
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'")]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.close()
    assert "m9000_broken" not in names and tables == [] and version == len(MIGRATIONS)


def _open_and_close(state_dir: str) -> None:
    Store.open(Path(state_dir)).close()


def test_processes_opening_a_fresh_database_at_once_apply_migrations_once(tmp_path: Path):
    procs = [SPAWN.Process(target=_open_and_close, args=(str(tmp_path),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    conn = sqlite3.connect(tmp_path / DB_NAME)
    names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations")]
    conn.close()
    assert names == [m.name for m in MIGRATIONS]


def test_timestamps_come_from_the_clock_in_utc_with_milliseconds():
    moment = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-05-06T07:08:09.123Z"
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert format_timestamp(local) == "2026-05-06T07:08:09.123Z"


# ------------------------------------------------------------------------ transactions


def test_transaction_commits_or_rolls_back_and_nests_as_savepoints(store: Store):
    with store.transaction():
        store.add_event("outer")
        with pytest.raises(ValueError), store.transaction():
            store.add_event("inner-undone")
            raise ValueError
        store.add_event("after-inner")
    with pytest.raises(KeyError), store.transaction():
        store.add_event("all-undone")
        raise KeyError
    assert [e["kind"] for e in store.events()] == ["outer", "after-inner"]
    assert not store._conn.in_transaction


def test_a_failed_write_leaves_nothing_behind(store: Store):
    with pytest.raises(StateError):
        store.add_batch(999, "P", "20260102", 1, "P.20260102.01.txt", "/x", 1, "s", 1)  # no drop 999
    assert store.batches() == [] and store.events() == []


# ------------------------------------------------------------------------------ drops


def test_same_drop_twice_is_refused_naming_the_earlier_one_unless_forced(store: Store):
    first = store.add_drop("P", "h1", "/in/P/a.csv", "a.csv")
    assert (first.status, first.generation, first.rows_read) == ("new", 0, 0)
    new_batch(store, drop=first, seq=1)
    assert store.find_drop("P", "h1") == first
    assert store.find_drop("Q", "h1") is None  # per project

    with pytest.raises(DuplicateDropError) as caught:
        store.add_drop("P", "h1", "/in/P/b.csv", "b.csv")
    message = str(caught.value)
    assert "/in/P/b.csv" in message and f"drop {first.id}" in message
    assert "a.csv" in message and "P.20260102.01.txt" in message and "--force" in message
    assert caught.value.exit_code == 3

    forced = store.add_drop("P", "h1", "/in/P/b.csv", "b.csv", force=True)
    assert forced.id != first.id and forced.generation == 1
    assert store.find_drop("P", "h1") == first  # still the earliest
    assert store.add_drop("P", "h1", "/in/P/c.csv", "c.csv", force=True).generation == 2
    kinds = [(e["kind"], e["detail"].get("forced_over")) for e in store.events() if e["kind"] == "drop.added"]
    assert kinds == [("drop.added", None), ("drop.added", first.id), ("drop.added", first.id)]


def test_a_rejected_drop_does_not_block_the_same_content(store: Store):
    first = store.add_drop("P", "h", "/in/a.csv", "a.csv")
    store.update_drop_counts(first.id, rows_read=5, rows_accepted=0, rows_rejected=5, status="rejected")
    assert store.drop(first.id).rows_rejected == 5
    assert store.find_drop("P", "h") is None
    again = store.add_drop("P", "h", "/in/a.csv", "a.csv")
    assert again.generation == 1 and store.find_drop("P", "h") == again
    with pytest.raises(StateError):
        store.update_drop_counts(999, rows_read=0, rows_accepted=0, rows_rejected=0, status="x")


# ----------------------------------------------------------------------------- batches


def test_highest_seq_and_uniqueness(store: Store):
    assert store.highest_seq("P", "20260102") == 0
    b1 = new_batch(store, seq=1)
    b3 = new_batch(store, seq=3)
    assert store.highest_seq("P", "20260102") == 3
    assert store.highest_seq("P", "20260103") == 0 and store.highest_seq("Q", "20260102") == 0
    assert b1.state == BatchState.CONVERTED and b1.created_at == b1.updated_at
    assert (b1.uploaded_at, b1.finished_at, b1.remote_dir, b1.error_copy, b1.detail) == (None,) * 5

    with pytest.raises(StateError, match=f"batch {b3.id} \\(P.20260102.03.txt\\)"):
        store.add_batch(b1.drop_id, "P", "20260102", 3, "P.20260102.03b.txt", "/x", 1, "s", 1)
    with pytest.raises(StateError, match="already taken"):
        store.add_batch(b1.drop_id, "P", "20260102", 4, "P.20260102.03.txt", "/x", 1, "s", 1)
    with pytest.raises(ValueError):
        store.add_batch(b1.drop_id, "P", "2026-01-02", 5, "x", "/x", 1, "s", 1)
    assert [b.seq for b in store.batches()] == [1, 3]


def test_find_batch_and_filters(store: Store):
    a = batch_in(store, BatchState.ACCEPTED)
    u = batch_in(store, BatchState.UPLOADED)
    c = batch_in(store, BatchState.CONVERTED)
    assert store.find_batch(str(u.id)) == u == store.find_batch(f"#{u.id}")
    assert store.find_batch(u.remote_name) == u
    assert store.find_batch("nope.txt") is None and store.find_batch("999") is None
    assert store.get_batch(999) is None
    assert store.batches() == [a, u, c]
    assert store.batches(states=[BatchState.UPLOADED, BatchState.CONVERTED]) == [u, c]
    assert store.batches(states=[]) == []
    assert store.batches(drop_id=a.drop_id) == [a]
    assert store.batches(states=[BatchState.UPLOADED], drop_id=a.drop_id) == []


@pytest.mark.parametrize("old", list(BatchState))
@pytest.mark.parametrize("new", list(BatchState))
def test_every_batch_transition_is_checked_and_recorded(store: Store, old: BatchState, new: BatchState):
    batch = batch_in(store, old)
    events_before = store.events(batch_id=batch.id)
    if new in BATCH_TRANSITIONS[old]:
        after = store.set_batch_state(batch.id, new, detail="why")
        assert after.state == new and after.detail == "why"
        assert after.updated_at > batch.updated_at
        events = store.events(batch_id=batch.id)
        assert len(events) == len(events_before) + 1
        assert events[-1]["kind"] == "batch.state" and events[-1]["drop_id"] == batch.drop_id
        assert events[-1]["detail"] == {"from": old.value, "to": new.value, "detail": "why"}
    else:
        with pytest.raises(StateError, match=f"{old.value} -> {new.value}"):
            store.set_batch_state(batch.id, new, detail="why", remote_dir="success")
        assert store.get_batch(batch.id) == batch  # unchanged
        assert store.events(batch_id=batch.id) == events_before


def test_each_state_change_writes_an_event(store: Store):
    batch = batch_in(store, BatchState.ACCEPTED)
    kinds = [(e["kind"], (e["detail"] or {}).get("to")) for e in store.events(batch_id=batch.id)]
    assert kinds == [("batch.added", None), ("batch.state", "uploading"),
                     ("batch.state", "uploaded"), ("batch.state", "accepted")]
    assert len(store.events(drop_id=batch.drop_id)) == 5  # with drop.added


def test_state_timestamps_and_fields(store: Store, tmp_path: Path):
    batch = batch_in(store, BatchState.UPLOADING)
    assert batch.uploaded_at is None and batch.finished_at is None
    batch = store.set_batch_state(batch.id, BatchState.UPLOADING, detail="retry after crash")
    uploaded = store.set_batch_state(batch.id, BatchState.UPLOADED, remote_dir="upload")
    assert uploaded.uploaded_at == uploaded.updated_at and uploaded.finished_at is None
    assert uploaded.remote_dir == "upload" and uploaded.detail is None
    stuck = store.set_batch_state(batch.id, BatchState.STUCK, detail="no move in 2h")
    assert stuck.uploaded_at == uploaded.uploaded_at and stuck.finished_at is None
    copy = tmp_path / "errors" / "P.20260102.01.txt"
    done = store.set_batch_state(batch.id, BatchState.FILE_REJECTED, remote_dir="error", error_copy=copy)
    assert done.finished_at == done.updated_at and done.uploaded_at == uploaded.uploaded_at
    assert done.error_copy == str(copy) and done.remote_dir == "error"
    assert store.events(batch_id=batch.id)[-1]["detail"]["error_copy"] == str(copy)
    with pytest.raises(TypeError, match="state"):
        store.set_batch_state(batch.id, BatchState.ACCEPTED, state="accepted")
    with pytest.raises(StateError, match="no batch"):
        store.set_batch_state(999, BatchState.UPLOADING)


def test_found_already_processed_sets_uploaded_at(store: Store):
    batch = batch_in(store, BatchState.UPLOADING)
    done = store.set_batch_state(batch.id, BatchState.ACCEPTED, remote_dir="success")
    assert done.uploaded_at == done.finished_at == done.updated_at


def test_update_batch_file_only_before_upload(store: Store):
    batch = new_batch(store)
    updated = store.update_batch_file(batch.id, size=42, sha256="cd" * 32, rows=7)
    assert (updated.size, updated.sha256, updated.rows, updated.local_path) == (42, "cd" * 32, 7, batch.local_path)
    assert store.events(batch_id=batch.id)[-1]["kind"] == "batch.file"
    store.set_batch_state(batch.id, BatchState.UPLOADING)
    with pytest.raises(StateError, match="can no longer change"):
        store.update_batch_file(batch.id, size=1, sha256="x", rows=1)
    assert store.get_batch(batch.id).size == 42


def test_rename_batch_takes_a_fresh_name_and_keeps_the_old_in_the_trail(store: Store):
    other = new_batch(store, seq=2)
    batch = batch_in(store, BatchState.UPLOADING, seq=1)
    with pytest.raises(StateError, match=f"batch {other.id}"):
        store.rename_batch(batch.id, seq=2, remote_name="P.20260102.02.txt", local_path="/x")
    renamed = store.rename_batch(batch.id, seq=3, remote_name="P.20260102.03.txt", local_path="/s/3.txt")
    assert (renamed.seq, renamed.remote_name, renamed.local_path, renamed.state) == (
        3, "P.20260102.03.txt", "/s/3.txt", BatchState.UPLOADING)
    assert store.highest_seq("P", "20260102") == 3
    assert store.events(batch_id=batch.id)[-1]["detail"]["from"] == "P.20260102.01.txt"
    done = store.set_batch_state(other.id, BatchState.UPLOADING)
    done = store.set_batch_state(other.id, BatchState.ACCEPTED)
    with pytest.raises(StateError, match="cannot be renamed"):
        store.rename_batch(done.id, seq=9, remote_name="P.20260102.09.txt", local_path="/x")


# ---------------------------------------------------------------------------- messages


def test_100k_messages_round_trip_with_states(store: Store):
    batch = batch_in(store, BatchState.ACCEPTED)
    originals = make_messages(100_000)
    assert store.add_messages(batch.id, iter(originals)) == 100_000
    back = list(store.messages(batch.id))
    assert [(m.line, m.number, m.text, m.correlation_id, m.encoding, m.segments) for m in back] == [
        (o.line, o.number, o.text, o.correlation_id, o.encoding, o.segments) for o in originals
    ]
    assert all(m.state == MessageState.PENDING and m.batch_id == batch.id for m in back)
    assert store.message_counts(batch.id)[MessageState.PENDING] == 100_000

    with store.transaction():  # many statuses, one commit
        for m in back[:12_000]:
            store.apply_status(m.id, MessageState.SENT, message_id=f"uuid-{m.id}", sent_status_code=2,
                               sent_status="SENT_SUCCESS", carrier_name="Vivo")
        for m in back[:4_000]:
            store.apply_status(m.id, MessageState.DELIVERED, delivered_status_code=4)
        for m in back[12_000:14_000]:
            store.apply_status(m.id, MessageState.REJECTED, sent_status_code=203)
    counts = store.message_counts(batch.id)
    assert counts == {**dict.fromkeys(MessageState, 0), MessageState.PENDING: 86_000,
                      MessageState.SENT: 8_000, MessageState.DELIVERED: 4_000,
                      MessageState.REJECTED: 2_000}
    again = {m.id: m for m in store.messages(batch.id)}
    first = again[back[0].id]
    assert (first.state, first.message_id, first.carrier_name, first.sent_status_code,
            first.delivered_status_code) == (MessageState.DELIVERED, f"uuid-{back[0].id}", "Vivo", 2, 4)
    assert again[back[40_000].id] == back[40_000]


def test_message_transitions_are_checked(store: Store):
    batch = batch_in(store, BatchState.ACCEPTED)
    store.add_messages(batch.id, make_messages(len(MessageState) ** 2))
    rows = iter(store.messages(batch.id))
    for old, new in itertools.product(MessageState, MessageState):
        row = next(rows)
        if old != MessageState.PENDING:
            store.apply_status(row.id, old)
        before = next(m for m in store.messages(batch.id) if m.id == row.id)
        if new == old or new in MESSAGE_TRANSITIONS[old]:
            store.apply_status(row.id, new, carrier_id="7")
            after = next(m for m in store.messages(batch.id) if m.id == row.id)
            assert after.state == new and after.carrier_id == "7"
        else:
            with pytest.raises(StateError, match=f"{old.value} -> {new.value}"):
                store.apply_status(row.id, new, carrier_id="7")
            assert next(m for m in store.messages(batch.id) if m.id == row.id) == before


def test_same_state_updates_fields_and_none_keeps_values(store: Store):
    batch = batch_in(store, BatchState.ACCEPTED)
    store.add_messages(batch.id, make_messages(1))
    (row,) = store.messages(batch.id)
    store.apply_status(row.id, MessageState.SENT, carrier_name="Oi", sent_at="2026-01-02T10:00:00Z")
    store.apply_status(row.id, MessageState.SENT, carrier_name=None, carrier_id="31")
    (row,) = store.messages(batch.id)
    assert (row.state, row.carrier_name, row.carrier_id, row.sent_at) == (
        MessageState.SENT, "Oi", "31", "2026-01-02T10:00:00Z")
    with pytest.raises(TypeError):
        store.apply_status(row.id, MessageState.SENT, text="changed")
    with pytest.raises(StateError):
        store.apply_status(999_999, MessageState.SENT)


def test_messages_of_a_batch_are_recorded_once(store: Store):
    batch = batch_in(store, BatchState.CONVERTED)
    store.add_messages(batch.id, make_messages(10))
    with pytest.raises(StateError, match="already recorded"):
        store.add_messages(batch.id, make_messages(20))
    assert sum(store.message_counts(batch.id).values()) == 10
    with pytest.raises(StateError):
        store.add_messages(999, make_messages(1))


def test_pending_correlation_ids_only_non_final_messages_of_accepted_batches(store: Store):
    expected = []
    for state in BatchState:
        batch = batch_in(store, state)
        store.add_messages(batch.id, make_messages(len(MessageState), prefix=state.value))
        for row, message_state in zip(store.messages(batch.id), MessageState, strict=True):
            if message_state != MessageState.PENDING:
                if message_state not in MESSAGE_TRANSITIONS[MessageState.PENDING]:
                    store.apply_status(row.id, MessageState.SENT)
                store.apply_status(row.id, message_state)
            if state == BatchState.ACCEPTED and message_state in (MessageState.PENDING, MessageState.SENT):
                expected.append((row.id, row.correlation_id))
    assert len(expected) == 2
    assert store.pending_correlation_ids() == expected
    assert store.pending_correlation_ids(limit=1) == expected[:1]


def test_find_messages_by_correlation_prefers_the_one_awaiting_a_status(store: Store):
    old = batch_in(store, BatchState.ACCEPTED)
    store.add_messages(old.id, make_messages(3))
    for row in store.messages(old.id):
        store.apply_status(row.id, MessageState.DELIVERED)
    resend = batch_in(store, BatchState.ACCEPTED)  # a --force resend reusing the ids
    store.add_messages(resend.id, make_messages(2))
    found = store.find_messages_by_correlation(["c-0", "c-1", "c-2", "c-0", "unknown"])
    assert set(found) == {"c-0", "c-1", "c-2"}
    assert found["c-0"].batch_id == resend.id and found["c-0"].state == MessageState.PENDING
    assert found["c-2"].batch_id == old.id
    assert store.find_messages_by_correlation([]) == {}


# ------------------------------------------------------------------------------ events


def test_add_event_and_filters(store: Store):
    batch = new_batch(store)
    store.add_event("upload.retry", batch_id=batch.id, drop_id=batch.drop_id, detail={"attempt": 2})
    store.add_event("note")
    last = store.events(batch_id=batch.id)[-1]
    assert last["kind"] == "upload.retry" and last["detail"] == {"attempt": 2}
    assert last["at"].endswith("Z") and len(last["at"]) == len("2026-01-02T03:04:05.678Z")
    assert store.events()[-1]["detail"] is None
    assert [e["id"] for e in store.events()] == sorted(e["id"] for e in store.events())


# ----------------------------------------------------------------- processes and crashes


def _locked_appender(state_dir: str, out: str, rounds: int) -> None:
    with Store.open(Path(state_dir)) as store:
        for i in range(rounds):
            with store.lock(), store.lock():  # re-entrant
                for part in ("begin", "end"):
                    with open(out, "a") as fh:
                        fh.write(f"{os.getpid()} {i} {part}\n")
                    time.sleep(0.002)


def test_lock_excludes_other_processes(tmp_path: Path):
    out = tmp_path / "log.txt"
    procs = [SPAWN.Process(target=_locked_appender, args=(str(tmp_path), str(out), 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4 * 25 * 2
    for begin, end in zip(lines[::2], lines[1::2], strict=True):
        pid, i, part = begin.split()
        assert part == "begin" and end == f"{pid} {i} end"  # nothing in between


def _hold_lock(state_dir: str, holding, release) -> None:
    with Store.open(Path(state_dir)) as store, store.lock():
        holding.set()
        release.wait(60)


def test_lock_timeout_names_the_other_process(tmp_path: Path, store: Store):
    holding, release = SPAWN.Event(), SPAWN.Event()
    child = SPAWN.Process(target=_hold_lock, args=(str(store.state_dir), holding, release))
    child.start()
    try:
        assert holding.wait(60)
        with pytest.raises(BatcherError, match="another batcher process holds the lock"):
            with store.lock(timeout=0.2):
                pass
    finally:
        release.set()
        child.join(60)
    with store.lock(timeout=5):
        pass


def _allocate(state_dir: str, drop_id: int, count: int, queue) -> None:
    got = []
    with Store.open(Path(state_dir)) as store:
        for _ in range(count):
            with store.lock():
                seq = store.highest_seq("P", "20260102") + 1
                time.sleep(0.001)  # widen the window a race would need
                store.add_batch(drop_id, "P", "20260102", seq, f"P.20260102.{seq:02d}.txt",
                                f"/x/{seq}", 1, "s", 1)
            got.append(seq)
    queue.put(got)


def test_processes_allocating_under_the_lock_never_share_a_seq(tmp_path: Path, store: Store):
    drop = store.add_drop("P", "h", "/in/a.csv", "a.csv")
    queue = SPAWN.Queue()
    procs = [SPAWN.Process(target=_allocate, args=(str(store.state_dir), drop.id, 15, queue))
             for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    everything = sorted(itertools.chain.from_iterable(results))
    assert everything == list(range(1, 61))
    assert [b.seq for b in store.batches()] == list(range(1, 61))


def _write_then_wait(state_dir: str, batch_id: int, done) -> None:
    store = Store.open(Path(state_dir))
    store.set_batch_state(batch_id, BatchState.UPLOADING, detail="about to upload")
    store.add_messages(batch_id, make_messages(1000))
    done.set()
    time.sleep(60)  # killed here, with the connection still open


def test_a_write_survives_sigkill_right_after_it_returns(store: Store):
    batch = new_batch(store)
    done = SPAWN.Event()
    child = SPAWN.Process(target=_write_then_wait, args=(str(store.state_dir), batch.id, done))
    child.start()
    assert done.wait(60)
    os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    with Store.open(store.state_dir) as fresh:
        after = fresh.get_batch(batch.id)
        assert after.state == BatchState.UPLOADING and after.detail == "about to upload"
        assert fresh.events(batch_id=batch.id)[-1]["detail"]["to"] == "uploading"
        assert fresh.message_counts(batch.id)[MessageState.PENDING] == 1000


@pytest.mark.slow
def test_a_million_messages_insert_fast_and_stream_back(store: Store):
    batch = new_batch(store)
    count = 1_000_000
    messages = (Message(i + 2, f"55119{i:08d}", f"Hello customer {i}, your code is {i % 99991:05d}.",
                        f"drop-{i:07d}", "GSM", 1) for i in range(count))
    started = time.perf_counter()
    assert store.add_messages(batch.id, messages) == count
    seconds = time.perf_counter() - started
    print(f"add_messages: {count} rows in {seconds:.1f}s = {count / seconds:,.0f} rows/s")
    assert seconds < 120  # ~10 s on a laptop; generous for a loaded CI machine
    assert sum(1 for _ in store.messages(batch.id)) == count
