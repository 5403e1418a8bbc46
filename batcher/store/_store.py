"""`Store`: batcher's state in one SQLite file, ``paths.state_dir/batcher.db``.

Durability and concurrency, the promises the pipeline relies on (SPEC 4.1):

- WAL, ``synchronous=FULL``: a method that changes state has committed and synced
  when it returns, so a SIGKILL (or a power cut) right after it loses nothing.
- Every write runs in ``BEGIN IMMEDIATE``: SQLite's single writer lock is taken at
  the start, so a read-then-write (the duplicate-drop check, a transition check) is
  never interleaved with another process's write. `transaction` lets the caller group
  several calls into one such transaction; nested ones become savepoints.
- `lock` is the cross-process lock (a `filelock.FileLock` in the state dir) that the
  pipeline holds while it allocates sequence numbers and claims drops, so that two
  batcher processes never allocate the same remote name or upload the same drop.
- One connection per Store, shared by threads behind a re-entrant mutex.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import filelock

from ..errors import BatcherError, ConfigError, DuplicateDropError, StateError
from ..fsutil import ensure_private_dir, open_private
from ..models import (
    FINAL_BATCH_STATES,
    FINAL_MESSAGE_STATES,
    BatchState,
    Message,
    MessageColumns,
    MessageState,
    check_batch_transition,
    check_message_transition,
)
from .migrations import MIGRATIONS, apply_migrations
from .outcomes import OutcomesMixin
from .records import (
    DROP_NEW,
    IN_BATCH,
    INACTIVE_DROP_STATUSES,
    MAX_LINE,
    BatchRecord,
    Clock,
    DropRecord,
    MessageRecord,
    batch_range,
    format_timestamp,
    utc_now,
)

__all__ = ["DB_NAME", "LOCK_NAME", "Store"]

DB_NAME = "batcher.db"
LOCK_NAME = "batcher.lock"
BUSY_TIMEOUT_SECONDS = 30.0
PAGE_SIZE = 16384
MESSAGE_CHUNK = 10_000  # rows per executemany in add_messages, and per read in messages()

_DROP_COLUMNS = tuple(f.name for f in dataclass_fields(DropRecord))
_BATCH_COLUMNS = tuple(f.name for f in dataclass_fields(BatchRecord))
_MESSAGE_COLUMNS = tuple(f.name for f in dataclass_fields(MessageRecord))
_DROP_SELECT = f"SELECT {', '.join(_DROP_COLUMNS)} FROM drops"
_BATCH_SELECT = f"SELECT {', '.join(_BATCH_COLUMNS)} FROM batches"
_MESSAGE_SELECT = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages"

#: Columns `set_batch_state` may change besides the state and its timestamps.
BATCH_UPDATABLE = frozenset({"remote_dir", "error_copy", "local_path", "size", "sha256"})
#: Columns `apply_status` may change besides the state (None leaves a value as it is).
MESSAGE_UPDATABLE = frozenset(
    {
        "message_id",
        "carrier_id",
        "carrier_name",
        "sent_status_code",
        "sent_status",
        "sent_at",
        "delivered_status_code",
        "delivered_status",
        "delivered_at",
    }
)
_NON_FINAL_MESSAGE_STATES = tuple(s.value for s in MessageState if s not in FINAL_MESSAGE_STATES)

# One FileLock per lock file per process: flock() locks are per open file, so two
# FileLock objects on one path in one process would block each other. Sharing the
# object makes `Store.lock` re-entrant in a thread across Store instances.
_FILE_LOCKS: dict[str, filelock.FileLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()
# A forked child must not inherit the parent's hold on the lock.
os.register_at_fork(after_in_child=_FILE_LOCKS.clear)


def _file_lock(path: Path) -> filelock.FileLock:
    key = str(path.resolve())
    with _FILE_LOCKS_GUARD:
        lock = _FILE_LOCKS.get(key)
        if lock is None:
            lock = _FILE_LOCKS[key] = filelock.FileLock(key, mode=0o600)
        return lock


_BATCH_STATE = {s.value: s for s in BatchState}
_MESSAGE_STATE = {s.value: s for s in MessageState}


def _journal_mode_wal(conn: sqlite3.Connection) -> str:
    """``PRAGMA journal_mode = WAL``, waiting out another process that is creating the
    same fresh database: the mode change answers "database is locked" at once instead of
    calling the busy handler (two `batcher push` started together on a new state dir
    failed with exit 1)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = 0.01
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _chunks_of(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[list[int], list[tuple[Any, ...]]]]:
    """(lines, rows) of MESSAGE_CHUNK rows at a time (the line is each row's first value)."""
    while chunk := list(itertools.islice(rows, MESSAGE_CHUNK)):
        yield [r[0] for r in chunk], chunk


def _drop(row: tuple[Any, ...]) -> DropRecord:
    return DropRecord(*row)


def _batch(row: tuple[Any, ...]) -> BatchRecord:
    return BatchRecord(*row[:6], _BATCH_STATE[row[6]], *row[7:])  # type: ignore[call-arg]


def _message(row: tuple[Any, ...]) -> MessageRecord:
    return MessageRecord(*row[:8], _MESSAGE_STATE[row[8]], *row[9:])  # type: ignore[call-arg]


class Store(OutcomesMixin):
    """The state database. Open with `Store.open`; use as a context manager."""

    def __init__(self, conn: sqlite3.Connection, state_dir: Path, clock: Clock) -> None:
        self._conn = conn
        self.state_dir = state_dir
        self.path = state_dir / DB_NAME
        self._clock = clock
        self._mutex = threading.RLock()
        self._depth = 0  # transaction nesting level
        self._file_lock = _file_lock(state_dir / LOCK_NAME)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, state_dir: Path | str, *, clock: Clock = utc_now) -> Store:
        """Open (creating if needed) ``state_dir/batcher.db`` and apply any pending
        migrations. `clock` returns the current time (an aware datetime; naive means
        UTC) and is the only source of timestamps, so tests can make them fixed."""
        state_dir = Path(state_dir)
        if state_dir.exists() and not state_dir.is_dir():
            raise ConfigError(f"[paths] state_dir = {state_dir}: it is a file, not a directory; "
                              "move the file away or point state_dir at a directory")
        try:
            ensure_private_dir(state_dir)  # 0700: every list sent is in there
        except OSError as exc:
            raise ConfigError(
                f"[paths] state_dir = {state_dir}: cannot create it as a directory ({exc.strerror or exc}); "
                "point it at a directory batcher may write"
            ) from None
        path = state_dir / DB_NAME
        try:
            if not path.exists():
                # 0600 before SQLite opens it: its -wal and -shm files take the same mode
                open_private(path, "ab").close()
        except OSError as exc:
            raise ConfigError(f"cannot create the state database {path} ({exc.strerror or exc}); "
                              "check [paths] state_dir") from None
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the state database {path}: {exc}; check [paths] state_dir") from exc
        try:
            # a new database gets 16 KB pages (a no-op on an existing one): a million
            # messages record at 540k/s instead of 445k/s with 4 KB (bench/push.py)
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            mode = _journal_mode_wal(conn)
            if mode != "wal":
                raise BatcherError(f"the state database {path} cannot use WAL (journal mode {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            # a bulk add_messages grows the WAL to hundreds of MB; give it back afterwards
            conn.execute("PRAGMA journal_size_limit = 67108864")
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            store = cls(conn, state_dir, clock)
            apply_migrations(conn, store._now, str(path))
        except sqlite3.Error as exc:
            conn.close()
            text = str(exc)
            if any(s in text for s in ("unable to open", "readonly", "not a database", "disk I/O")):
                # the operator's to fix (a directory or a foreign file in the way, permissions)
                raise ConfigError(f"cannot open the state database {path}: {text}; check [paths] state_dir") from exc
            raise BatcherError(f"cannot open the state database {path}: {text}") from exc
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        with self._mutex:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The number of migrations applied (``PRAGMA user_version``)."""
        with self._mutex:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @staticmethod
    def code_schema_version() -> int:
        return len(MIGRATIONS)

    def _now(self) -> str:
        return format_timestamp(self._clock())

    # ------------------------------------------------------------ transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on any exception). Nested
        calls are savepoints: an exception escaping an inner block undoes only that
        block (and then, unless caught, the outer one)."""
        with self._mutex:
            if self._depth == 0:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    raise BatcherError(
                        f"the state database {self.path} stayed busy for "
                        f"{BUSY_TIMEOUT_SECONDS:g}s: {exc}"
                    ) from exc
                self._depth = 1
                try:
                    yield
                except BaseException:
                    self._depth = 0
                    if self._conn.in_transaction:  # some errors roll back by themselves
                        self._conn.execute("ROLLBACK")
                    raise
                self._depth = 0
                try:
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            else:
                name = f"batcher_sp{self._depth}"
                self._conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute(f"ROLLBACK TO {name}")
                        self._conn.execute(f"RELEASE {name}")
                    raise
                else:
                    self._conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1

    @contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        """The cross-process exclusive lock (``state_dir/batcher.lock``). Waits at most
        `timeout` seconds (None: as long as it takes), then raises `BatcherError`.
        Re-entrant within a thread; other threads of this process wait like other
        processes do."""
        try:
            self._file_lock.acquire(timeout=-1 if timeout is None else timeout)
        except filelock.Timeout as exc:
            raise BatcherError(
                f"another batcher process holds the lock ({self._file_lock.lock_file}; "
                f"waited {timeout:g}s)"
            ) from exc
        try:
            yield
        finally:
            self._file_lock.release()

    # ------------------------------------------------------------------ events

    def add_event(
        self,
        kind: str,
        *,
        batch_id: int | None = None,
        drop_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Append to the audit trail. `detail` must be JSON-serialisable."""
        text = None if detail is None else json.dumps(detail, sort_keys=True, default=str)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO events (at, kind, drop_id, batch_id, detail) VALUES (?, ?, ?, ?, ?)",
                (self._now(), kind, drop_id, batch_id, text),
            )

    def events(self, *, batch_id: int | None = None, drop_id: int | None = None) -> list[dict[str, Any]]:
        """Events in the order they were written, as dicts with the keys ``id, at,
        kind, drop_id, batch_id, detail`` (detail decoded, or None)."""
        where, params = [], []
        if batch_id is not None:
            where.append("batch_id = ?")
            params.append(batch_id)
        if drop_id is not None:
            where.append("drop_id = ?")
            params.append(drop_id)
        sql = "SELECT id, at, kind, drop_id, batch_id, detail FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._mutex:
            rows = self._conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            {
                "id": r[0],
                "at": r[1],
                "kind": r[2],
                "drop_id": r[3],
                "batch_id": r[4],
                "detail": None if r[5] is None else json.loads(r[5]),
            }
            for r in rows
        ]

    # ------------------------------------------------------------------- drops

    def drop(self, drop_id: int) -> DropRecord | None:
        with self._mutex:
            row = self._conn.execute(_DROP_SELECT + " WHERE id = ?", (drop_id,)).fetchone()
        return None if row is None else _drop(row)

    def find_drop(self, project: str, content_hash: str) -> DropRecord | None:
        """The earliest drop of this content for this project that still counts,
        i.e. whose status is not in `INACTIVE_DROP_STATUSES` (rejected, superseded)."""
        marks = ", ".join("?" * len(INACTIVE_DROP_STATUSES))
        with self._mutex:
            row = self._conn.execute(
                _DROP_SELECT + f" WHERE project = ? AND content_hash = ? AND status NOT IN ({marks})"
                " ORDER BY id LIMIT 1",
                (project, content_hash, *sorted(INACTIVE_DROP_STATUSES)),
            ).fetchone()
        return None if row is None else _drop(row)

    def add_drop(
        self,
        project: str,
        content_hash: str,
        source_path: str,
        source_name: str,
        *,
        force: bool = False,
    ) -> DropRecord:
        """Record a new drop (status ``new``). The same content already recorded for
        this project raises `DuplicateDropError` naming the earlier drop and its
        batches, unless `force`: then this is a new drop with the next generation."""
        with self.transaction():
            earlier = self.find_drop(project, content_hash)
            if earlier is not None and not force:
                raise self._duplicate(earlier, source_path)
            (top,) = self._conn.execute(
                "SELECT MAX(generation) FROM drops WHERE project = ? AND content_hash = ?",
                (project, content_hash),
            ).fetchone()
            generation = 0 if top is None else top + 1
            cur = self._conn.execute(
                "INSERT INTO drops (project, content_hash, generation, source_path, source_name,"
                " created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (project, content_hash, generation, str(source_path), source_name, self._now(), DROP_NEW),
            )
            drop_id = int(cur.lastrowid or 0)
            detail: dict[str, Any] = {"project": project, "content_hash": content_hash,
                                      "source_path": str(source_path), "generation": generation}
            if earlier is not None:
                detail["forced_over"] = earlier.id
            self.add_event("drop.added", drop_id=drop_id, detail=detail)
            record = self.drop(drop_id)
        assert record is not None
        return record

    def _duplicate(self, earlier: DropRecord, source_path: str) -> DuplicateDropError:
        names = [b.remote_name for b in self.batches(drop_id=earlier.id)]
        sent = f", sent as {', '.join(names)}" if names else ""
        return DuplicateDropError(
            source_path,
            f"the same content was already pushed for project {earlier.project} as drop "
            f"{earlier.id} ({earlier.source_name}, {earlier.created_at}{sent}); "
            "use --force to send it again",
        )

    def update_drop_counts(
        self, drop_id: int, *, rows_read: int, rows_accepted: int, rows_rejected: int, status: str
    ) -> None:
        with self.transaction():
            cur = self._conn.execute(
                "UPDATE drops SET rows_read = ?, rows_accepted = ?, rows_rejected = ?, status = ?"
                " WHERE id = ?",
                (rows_read, rows_accepted, rows_rejected, status, drop_id),
            )
            if cur.rowcount != 1:
                raise StateError(f"no drop {drop_id}")
            self.add_event(
                "drop.counts",
                drop_id=drop_id,
                detail={"rows_read": rows_read, "rows_accepted": rows_accepted,
                        "rows_rejected": rows_rejected, "status": status},
            )

    def set_drop_status(self, drop_id: int, status: str) -> None:
        with self.transaction():
            cur = self._conn.execute("UPDATE drops SET status = ? WHERE id = ?", (status, drop_id))
            if cur.rowcount != 1:
                raise StateError(f"no drop {drop_id}")
            self.add_event("drop.status", drop_id=drop_id, detail={"status": status})

    # ----------------------------------------------------------------- batches

    def highest_seq(self, project: str, day: str) -> int:
        """The highest sequence number recorded for `project` on `day` (0 if none).
        Allocate under `lock` and add the batch before releasing it."""
        with self._mutex:
            (top,) = self._conn.execute(
                "SELECT MAX(seq) FROM batches WHERE project = ? AND day = ?", (project, day)
            ).fetchone()
        return int(top or 0)

    def add_batch(
        self,
        drop_id: int,
        project: str,
        day: str,
        seq: int,
        remote_name: str,
        local_path: str,
        size: int,
        sha256: str,
        rows: int,
    ) -> BatchRecord:
        """Record a converted batch file. A (project, day, seq) or remote name already
        taken raises `StateError` (a sequence number is never reused)."""
        if not (len(day) == 8 and day.isdigit()):
            raise ValueError(f"day must be YYYYMMDD, not {day!r}")
        if seq < 1:
            raise ValueError(f"seq must be >= 1, not {seq}")
        now = self._now()
        with self.transaction():
            try:
                cur = self._conn.execute(
                    "INSERT INTO batches (drop_id, project, day, seq, remote_name, state, local_path,"
                    " size, sha256, rows, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (drop_id, project, day, seq, remote_name, BatchState.CONVERTED.value,
                     str(local_path), size, sha256, rows, now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise StateError(
                    f"cannot record batch {remote_name} (project {project}, day {day}, "
                    f"seq {seq}) for drop {drop_id}: {self._clash(project, day, seq, remote_name, exc)}"
                ) from exc
            batch_id = int(cur.lastrowid or 0)
            detail: dict[str, Any] = {"remote_name": remote_name, "state": BatchState.CONVERTED.value}
            if size:  # otherwise the file is still being written: batch.file records it
                detail.update(rows=rows, size=size, sha256=sha256)
            self.add_event("batch.added", batch_id=batch_id, drop_id=drop_id, detail=detail)
            record = self.get_batch(batch_id)
        assert record is not None
        return record

    def _clash(self, project: str, day: str, seq: int, remote_name: str, exc: Exception) -> str:
        row = self._conn.execute(
            "SELECT id, remote_name FROM batches WHERE (project = ? AND day = ? AND seq = ?)"
            " OR remote_name = ? LIMIT 1",
            (project, day, seq, remote_name),
        ).fetchone()
        if row is not None:
            return f"already taken by batch {row[0]} ({row[1]})"
        return str(exc)  # e.g. FOREIGN KEY constraint failed: no such drop

    def get_batch(self, batch_id: int) -> BatchRecord | None:
        with self._mutex:
            row = self._conn.execute(_BATCH_SELECT + " WHERE id = ?", (batch_id,)).fetchone()
        return None if row is None else _batch(row)

    def find_batch(self, ref: str) -> BatchRecord | None:
        """By id (``"12"`` or ``"#12"``) or by remote name."""
        ref = ref.strip()
        digits = ref[1:] if ref.startswith("#") else ref
        if digits.isdigit():
            found = self.get_batch(int(digits))
            if found is not None:
                return found
        with self._mutex:
            row = self._conn.execute(_BATCH_SELECT + " WHERE remote_name = ?", (ref,)).fetchone()
        return None if row is None else _batch(row)

    def batches(
        self, *, states: Iterable[BatchState] | None = None, drop_id: int | None = None
    ) -> list[BatchRecord]:
        """Batches in id order, optionally only those in `states` and/or of a drop."""
        where: list[str] = []
        params: list[Any] = []
        if states is not None:
            values = [BatchState(s).value for s in states]
            if not values:
                return []
            where.append(f"state IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if drop_id is not None:
            where.append("drop_id = ?")
            params.append(drop_id)
        sql = _BATCH_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self._mutex:
            rows = self._conn.execute(sql, params).fetchall()
        return [_batch(r) for r in rows]

    def set_batch_state(
        self, batch_id: int, new: BatchState, *, detail: str | None = None, **fields: Any
    ) -> BatchRecord:
        """Move a batch to `new`, checked against `BATCH_TRANSITIONS`, in one durable
        transaction with its event. Sets ``updated_at``; ``uploaded_at`` the first time
        the file is known to be on the server (uploaded, accepted, file_rejected);
        ``finished_at`` on a final state. `detail` replaces the batch's detail (None
        clears it). `fields` may set: remote_dir, error_copy, local_path, size, sha256."""
        unknown = set(fields) - BATCH_UPDATABLE
        if unknown:
            raise TypeError(f"set_batch_state() cannot set {', '.join(sorted(unknown))}")
        new = BatchState(new)
        with self.transaction():
            current = self.get_batch(batch_id)
            if current is None:
                raise StateError(f"no batch {batch_id}")
            check_batch_transition(current.state, new)
            now = self._now()
            changes: dict[str, Any] = {"state": new.value, "updated_at": now, "detail": detail}
            if current.uploaded_at is None and new in (
                BatchState.UPLOADED, BatchState.ACCEPTED, BatchState.FILE_REJECTED
            ):
                changes["uploaded_at"] = now
            if new in FINAL_BATCH_STATES:
                changes["finished_at"] = now
            changes.update((k, str(v) if k in ("local_path", "error_copy") and v is not None else v)
                           for k, v in fields.items())
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self._conn.execute(
                f"UPDATE batches SET {assignments} WHERE id = ?", (*changes.values(), batch_id)
            )
            event: dict[str, Any] = {"from": current.state.value, "to": new.value}
            if detail is not None:
                event["detail"] = detail
            event.update((k, v) for k, v in fields.items())
            self.add_event("batch.state", batch_id=batch_id, drop_id=current.drop_id, detail=event)
            record = self.get_batch(batch_id)
        assert record is not None
        return record

    def update_batch_file(
        self, batch_id: int, *, size: int, sha256: str, rows: int, local_path: str | None = None
    ) -> BatchRecord:
        """Record the final size, digest and row count of a batch file written after
        `add_batch` (only while the batch is still ``converted``: nothing was sent)."""
        with self.transaction():
            current = self.get_batch(batch_id)
            if current is None:
                raise StateError(f"no batch {batch_id}")
            if current.state != BatchState.CONVERTED:
                raise StateError(f"batch {batch_id} is {current.state.value}: its file can no longer change")
            path = current.local_path if local_path is None else str(local_path)
            self._conn.execute(
                "UPDATE batches SET size = ?, sha256 = ?, rows = ?, local_path = ?, updated_at = ?"
                " WHERE id = ?",
                (size, sha256, rows, path, self._now(), batch_id),
            )
            self.add_event("batch.file", batch_id=batch_id, drop_id=current.drop_id,
                           detail={"size": size, "sha256": sha256, "rows": rows, "local_path": path})
            record = self.get_batch(batch_id)
        assert record is not None
        return record

    def rename_batch(self, batch_id: int, *, seq: int, remote_name: str, local_path: str) -> BatchRecord:
        """Give a not yet final batch a new sequence number and remote name (its old
        name was burnt, e.g. a partial copy landed in error/). The state is unchanged;
        the old name stays in the event. A clash raises `StateError`."""
        with self.transaction():
            current = self.get_batch(batch_id)
            if current is None:
                raise StateError(f"no batch {batch_id}")
            if current.state in FINAL_BATCH_STATES:
                raise StateError(f"batch {batch_id} is {current.state.value}: it cannot be renamed")
            try:
                self._conn.execute(
                    "UPDATE batches SET seq = ?, remote_name = ?, local_path = ?, updated_at = ?"
                    " WHERE id = ?",
                    (seq, remote_name, str(local_path), self._now(), batch_id),
                )
            except sqlite3.IntegrityError as exc:
                raise StateError(
                    f"cannot rename batch {batch_id} to {remote_name} (seq {seq}): "
                    f"{self._clash(current.project, current.day, seq, remote_name, exc)}"
                ) from exc
            self.add_event("batch.renamed", batch_id=batch_id, drop_id=current.drop_id,
                           detail={"from": current.remote_name, "to": remote_name,
                                   "from_seq": current.seq, "seq": seq, "local_path": str(local_path)})
            record = self.get_batch(batch_id)
        assert record is not None
        return record

    # ---------------------------------------------------------------- messages

    def add_messages(self, batch_id: int, messages: Iterable[Message] | MessageColumns) -> int:
        """Record the rows of a batch (state ``pending``) in one transaction: an iterable
        of `Message`, or a conversion's `MessageColumns` (the bulk form: the columns are
        bound as they are, with no object per row). Returns how many. May be called
        several times for one batch (in chunks), but a line is recorded once: a line
        already there raises `StateError` and that call records nothing."""
        # the row id is (batch << 32) | line, computed by SQLite from the line bound once
        # (?1); the state is the column's default: six values bound per row, one B-tree
        first, _ = batch_range(int(batch_id))
        sql = (
            "INSERT INTO messages (id, line, number, text, correlation_id, encoding, segments)"
            f" VALUES ({first:d} | ?1, ?1, ?2, ?3, ?4, ?5, ?6)"
        )
        parts: Iterable[tuple[Sequence[int], Iterable[tuple[Any, ...]]]]
        if isinstance(messages, MessageColumns):  # the bulk form: bound as they are, in one call
            parts = [(messages.line, zip(messages.line, messages.number, messages.text, messages.correlation_id,
                                         messages.encoding, messages.segments, strict=True))] if messages.line else []
        else:
            parts = _chunks_of((m.line, m.number, m.text, m.correlation_id, m.encoding, m.segments)
                                for m in messages)
        count = 0
        with self.transaction():
            if self.get_batch(batch_id) is None:
                raise StateError(f"no batch {batch_id}")
            for lines, values in parts:
                # a line outside 0..2^32-1 would land in another batch's range of ids
                if min(lines) < 0 or max(lines) > MAX_LINE:
                    raise StateError(f"batch {batch_id}: a line number out of range (0 to {MAX_LINE})")
                try:
                    cur = self._conn.executemany(sql, values)
                except sqlite3.IntegrityError as exc:
                    raise StateError(
                        f"messages of batch {batch_id} already recorded (or a line repeated): {exc}"
                    ) from exc
                count += cur.rowcount
        return count

    def messages(self, batch_id: int) -> Iterator[MessageRecord]:
        """The messages of a batch in line order, read in chunks: memory stays flat,
        no read transaction is held open between chunks, and the caller may write
        (e.g. `apply_status`) while iterating."""
        last, end = batch_range(batch_id)
        last -= 1
        while True:
            with self._mutex:
                rows = self._conn.execute(
                    _MESSAGE_SELECT + " WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
                    (last, end, MESSAGE_CHUNK),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _message(row)
            last = rows[-1][0]

    def message_counts(self, batch_id: int) -> dict[MessageState, int]:
        """How many messages of the batch are in each state (every state present)."""
        counts = dict.fromkeys(MessageState, 0)
        with self._mutex:
            for state, n in self._conn.execute(
                "SELECT state, COUNT(*) FROM messages WHERE id BETWEEN ? AND ? GROUP BY state", batch_range(batch_id)
            ):
                counts[MessageState(state)] = n
        return counts

    def pending_correlation_ids(self, *, limit: int | None = None) -> list[tuple[int, str]]:
        """(message row id, correlationId) of the messages not yet in a final state,
        in accepted batches only, in row id order."""
        marks = ", ".join("?" * len(_NON_FINAL_MESSAGE_STATES))
        sql = (
            f"SELECT m.id, m.correlation_id FROM batches b JOIN messages m ON {IN_BATCH}"
            " AND m.state IN (" + marks + ") WHERE b.state = ? ORDER BY m.id"
        )
        params: list[Any] = [*_NON_FINAL_MESSAGE_STATES, BatchState.ACCEPTED.value]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._mutex:
            return [(int(i), str(c)) for i, c in self._conn.execute(sql, params)]

    def apply_status(self, message_row_id: int, new_state: MessageState, **fields: Any) -> None:
        """Record what the status API said about a message: the new state, checked
        against `MESSAGE_TRANSITIONS` (the same state again only updates fields), and
        the status fields (a None leaves the stored value). Each call is a durable
        transaction; wrap many in `transaction()` to commit them together."""
        unknown = set(fields) - MESSAGE_UPDATABLE
        if unknown:
            raise TypeError(f"apply_status() cannot set {', '.join(sorted(unknown))}")
        new_state = MessageState(new_state)
        given = {k: v for k, v in fields.items() if v is not None}
        with self.transaction():
            row = self._conn.execute(
                "SELECT state FROM messages WHERE id = ?", (message_row_id,)
            ).fetchone()
            if row is None:
                raise StateError(f"no message {message_row_id}")
            old = MessageState(row[0])
            if old != new_state:
                check_message_transition(old, new_state)
            changes: dict[str, Any] = {"state": new_state.value, "updated_at": self._now(), **given}
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self._conn.execute(
                f"UPDATE messages SET {assignments} WHERE id = ?", (*changes.values(), message_row_id)
            )

    def find_messages_by_correlation(self, correlation_ids: Iterable[str]) -> dict[str, MessageRecord]:
        """correlationId -> message. When several messages share one (a ``--force``
        resend), the one still waiting for a status wins, then the most recent. (A scan:
        messages have no index by correlationId; reconcile matches in memory.)"""
        found: dict[str, MessageRecord] = {}
        ids = list(dict.fromkeys(correlation_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with self._mutex:
                rows = self._conn.execute(
                    _MESSAGE_SELECT
                    + f" WHERE correlation_id IN ({', '.join('?' * len(chunk))}) ORDER BY id",
                    chunk,
                ).fetchall()
            for row in rows:
                record = _message(row)
                held = found.get(record.correlation_id)
                if held is None or not (
                    held.state not in FINAL_MESSAGE_STATES and record.state in FINAL_MESSAGE_STATES
                ):
                    found[record.correlation_id] = record
        return found
