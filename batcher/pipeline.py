"""Delivery: drop -> recorded batches -> uploaded -> accepted | file_rejected | stuck.

The promise (SPEC 4.1): every good row reaches the platform exactly once, whatever
crashes or drops in between. How this module keeps it:

1. **Record before acting.** A drop's conversion, its batch rows (with their remote
   names) and its messages are committed in ONE transaction, under the host-wide lock,
   before anything is uploaded. A crash during conversion rolls all of it back.
2. **`uploading` is written before the first byte leaves.** A batch found in
   `uploading` after a crash is looked up in the remote `upload`, `success` and
   `error` listings before anything is sent again: a complete copy is not resent, a
   partial one is resumed, one already processed is just recorded.
3. **One uploader per host.** Uploads happen under the lock in the state dir, so two
   pushes of the same drop (or a `run` beside a `watch`) cannot both send it: the
   second finds the batches already uploaded and only follows them.
4. **Names are never reused.** NN is allocated above the store and the remote
   listings; a partial copy the platform rejected is resent under a fresh name.

Polling lists `success` and `error` once per round for all outstanding batches.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from .clock import SYSTEM_CLOCK, Clock
from .convert import ConversionSummary, content_hash, convert_drop
from .errors import DropRejected, DuplicateDropError, RemoteError
from .events import BatchChanged, DropConverted, Emit, Note, UploadProgress, ignore
from .failpoints import failpoint
from .fsutil import ensure_private_dir
from .ingest import ColumnChoice
from .models import BatchState, ColumnMap, DropState, MessageChange, MessageColumns, MessageState, Rejection
from .render import batch_file_name
from .sequence import next_sequence, yyyymmdd
from .settings import Settings
from .store import BatchRecord, DropRecord, Store
from .transport import RemoteFile, SftpTransport

__all__ = ["Delivery", "PushResult", "exit_code_for_batches", "refused_as_a_whole"]

OUTSTANDING = (BatchState.UPLOADED, BatchState.STUCK)
MAX_RESENDS = 3  # fresh names for one batch whose partial copies the platform rejected

Notify = Callable[[str], None]
Progress = Callable[[str, int, int], None]


@dataclass
class PushResult:
    source: Path
    project: str
    drop: DropRecord
    batches: list[BatchRecord]
    summary: ConversionSummary | None = None  # None when an earlier push was resumed
    resumed: bool = False
    notes: list[str] = field(default_factory=list)


def exit_code_for_batches(batches: Iterable[BatchRecord]) -> int:
    """SPEC 2: 5 if the platform rejected a file, 4 if one never got processed, else 0."""
    states = {b.state for b in batches}
    if BatchState.FILE_REJECTED in states:
        return 5
    if BatchState.STUCK in states:
        return 4
    return 0


class Delivery:
    """Drives batches through their states. One instance per command run."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        transport: SftpTransport,
        *,
        emit: Emit = ignore,
        clock: Clock = SYSTEM_CLOCK,
    ):
        self.settings = settings
        self.store = store
        self.transport = transport
        self.emit = emit
        self.clock = clock
        self.sftp = settings.sftp
        self.batch_dir = settings.state_path("batches")
        self.error_dir = settings.state_path("errors")
        self.staging_dir = settings.state_path("staging")

    def notify(self, text: str) -> None:
        self.emit(Note(text))

    def now(self) -> datetime:
        return self.clock.now()

    # -- push: ingest, record, upload ---------------------------------------------------

    def push(
        self,
        source: Path,
        *,
        project: str,
        force: bool = False,
        sheet: str | None = None,
        columns: ColumnChoice | None = None,
        origin: str = "push",
        on_rows: Callable[[int], None] | None = None,
    ) -> PushResult:
        """Convert and record one drop, then upload its batches (no waiting). The
        conversion summary is emitted (`DropConverted`) before the first byte leaves.

        Raises `DuplicateDropError` for content already sent and reported, and
        `InputError` for a drop refused as a whole (a drop whose rows were all refused is
        recorded as `rejected` first, with its refused rows)."""
        digest = content_hash(source)
        with self.store.lock():
            earlier = None if force else self.store.find_drop(project, digest)
            if earlier is not None:
                result = self._resume_or_refuse(source, project, earlier)
            else:
                result = self._record_drop(source, project, digest, force=force, sheet=sheet,
                                           columns=columns, origin=origin, on_rows=on_rows)
                failpoint("after_convert")
                assert result.summary is not None
                self.emit(DropConverted(result.summary, result.drop.id))
            result.batches = self.upload_pending(b.id for b in result.batches)
        return result

    def _resume_or_refuse(self, source: Path, project: str, drop: DropRecord) -> PushResult:
        """The same content again: a duplicate once an earlier push reported its outcome;
        otherwise that push died (crash, lost network) and this one finishes it."""
        batches = self.store.batches(drop_id=drop.id)
        names = ", ".join(f"{b.remote_name} (batch {b.id}, {b.state.value})" for b in batches) or "no batch"
        if drop.status == DropState.REPORTED:
            duplicate = DuplicateDropError(
                source,
                f"the same content was already sent for project {project} on {drop.created_at[:10]} "
                f"as {names}; use --force to send it again",
            )
            duplicate.earlier_drop_id = drop.id
            raise duplicate
        note = f"{source}: finishing the earlier, interrupted push of this content: {names}"
        self.notify(note)
        self.store.add_event("drop_resumed", drop_id=drop.id, detail={"source": str(source)})
        return PushResult(source, project, drop, batches, resumed=True, notes=[note])

    def mark_reported(self, results: Iterable[PushResult]) -> None:
        """The user has been told how these pushes ended: the same content is now a duplicate."""
        for result in results:
            current = self.store.drop(result.drop.id)
            if current is not None and current.status == DropState.CONVERTED:
                self.store.set_drop_state(result.drop.id, DropState.REPORTED)

    def _record_drop(
        self,
        source: Path,
        project: str,
        digest: str,
        *,
        force: bool,
        sheet: str | None,
        columns: ColumnChoice | None,
        origin: str,
        on_rows: Callable[[int], None] | None,
    ) -> PushResult:
        day = self._today()
        remote_names = self._remote_names()
        staging = self.staging_dir / digest[:16]
        shutil.rmtree(staging, ignore_errors=True)
        ensure_private_dir(staging)
        ensure_private_dir(self.batch_dir)
        store = self.store
        refused_all: str | None = None
        try:
            with store.transaction():
                drop = store.add_drop(project, digest, str(source.resolve()), source.name, force=force)
                store.set_drop_files(drop.id, origin=origin)
                batch_ids: list[int] = []

                def namer(index: int) -> str:
                    seq = next_sequence(remote_names, project, day, floor=store.highest_seq(project, yyyymmdd(day)))
                    name = batch_file_name(project, day, seq)
                    batch = store.add_batch(
                        drop.id, project, yyyymmdd(day), seq, name, str(self.batch_dir / name), 0, "", 0
                    )
                    batch_ids.append(batch.id)
                    return name

                # generated correlationIds must differ between a drop and its forced resend
                key = digest[:12] if drop.generation == 0 else f"{digest[:10]}g{drop.generation}"
                summary = convert_drop(
                    source,
                    project=project,
                    settings=self.settings,
                    out_dir=staging,
                    namer=namer,
                    rejected_dir=ensure_private_dir(self.settings.state_path("rejected", str(drop.id))),
                    sheet=sheet,
                    columns=columns,
                    drop_key=key,
                    digest=digest,
                    sink=_Recorder(store, drop.id, batch_ids),
                    progress=on_rows,
                )
                if summary.rejected_file is not None:
                    store.set_drop_files(drop.id, refused_file=str(summary.rejected_file))
                store.update_drop_counts(
                    drop.id,
                    rows_read=summary.rows_read,
                    rows_accepted=summary.accepted,
                    rows_rejected=summary.rejected_total,
                    status=DropState.NEW.value,
                )
                if summary.accepted == 0:
                    # kept, not rolled back: its refused rows are data, and its id and
                    # files are never given to another drop
                    refused_all = refused_as_a_whole(summary)
                    store.set_drop_state(drop.id, DropState.REJECTED, detail=refused_all)
                else:
                    kept = []
                    for batch_id, written in zip(batch_ids, summary.files, strict=True):
                        final = self.batch_dir / written.name
                        written.path.replace(final)
                        os.chmod(final, 0o600)  # whichever engine wrote it: a copy of what left
                        kept.append(dataclasses.replace(written, path=final))
                        store.update_batch_file(batch_id, size=written.size, sha256=written.sha256,
                                                rows=written.rows)
                    summary.files = kept
                    store.set_drop_state(drop.id, DropState.CONVERTED)
                store.add_event(
                    "drop_converted",
                    drop_id=drop.id,
                    detail={
                        "source": str(source),
                        "rows_read": summary.rows_read,
                        "accepted": summary.accepted,
                        "rejected": dict(summary.rejected),
                        "files": [f.name for f in summary.files],
                    },
                )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if refused_all is not None:
            raise DropRejected(source, refused_all, drop_id=drop.id, rejected_file=summary.rejected_file)
        batches = [b for b in (store.get_batch(i) for i in batch_ids) if b is not None]
        drop_now = store.drop(drop.id) or drop
        return PushResult(source, project, drop_now, batches, summary=summary)

    def _today(self) -> date:
        from zoneinfo import ZoneInfo

        return self.now().astimezone(ZoneInfo(self.settings.defaults.timezone)).date()

    def _remote_names(self) -> list[str]:
        return [name for files in self._listings().values() for name in files]

    # -- upload -------------------------------------------------------------------------

    def upload_pending(self, batch_ids: Iterable[int] | None = None) -> list[BatchRecord]:
        """Upload (or recover) every batch in `converted`/`uploading`; caller holds the lock."""
        wanted = None if batch_ids is None else set(batch_ids)
        todo = [
            b
            for b in self.store.batches(states=[BatchState.CONVERTED, BatchState.UPLOADING])
            if wanted is None or b.id in wanted
        ]
        listings = self._listings() if todo else {}
        for batch in todo:
            if batch.state is BatchState.UPLOADING:
                self._recover(batch, listings)
            elif any(batch.remote_name in files for files in listings.values()):
                # never written by us (the state would say uploading): someone else took the name
                reason = f"{batch.remote_name} already exists on the server (not sent by batcher)"
                self._rename_for_resend(batch, reason=reason)
            else:
                self._upload(batch)
        if wanted is None:
            return self.store.batches()
        return [b for b in (self.store.get_batch(i) for i in sorted(wanted)) if b is not None]

    def _listings(self) -> dict[str, dict[str, RemoteFile]]:
        dirs = (self.sftp.upload_dir, self.sftp.success_dir, self.sftp.error_dir)
        return {d: self.transport.listdir(d) for d in dirs}

    def _upload(self, batch: BatchRecord, *, note: str = "") -> None:
        local = Path(batch.local_path)
        self.store.set_batch_state(batch.id, BatchState.UPLOADING, detail=note or None, remote_dir=self.sftp.upload_dir)
        failpoint("before_upload")
        self.notify(f"uploading {batch.remote_name} ({batch.rows} rows, {batch.size} bytes)")
        self._send(batch, local)

    def _send(self, batch: BatchRecord, local: Path, *, attempt: int = 0) -> None:
        def progress(sent: int, total: int) -> None:
            self.emit(UploadProgress(batch.remote_name, sent, total))
            if sent * 2 >= total:
                failpoint("during_upload")

        try:
            self.transport.upload(
                local, self.sftp.upload_dir, batch.remote_name,
                mode=self.sftp.upload_mode, progress=progress, resume=True,
            )
        except RemoteError:
            # the platform may have moved our interrupted partial file to error/ meanwhile
            if attempt >= MAX_RESENDS or not self._partial_in_error(batch, local):
                raise
            self._rename_for_resend(
                batch,
                reason=f"the platform moved the interrupted partial {batch.remote_name} to error/",
                attempt=attempt + 1,
            )
            return
        failpoint("after_upload")
        uploaded = self.store.set_batch_state(batch.id, BatchState.UPLOADED, remote_dir=self.sftp.upload_dir)
        self.emit(BatchChanged(uploaded))

    def _recover(self, batch: BatchRecord, listings: dict[str, dict[str, RemoteFile]]) -> None:
        """A batch left in `uploading` by a crash or a dropped connection."""
        name = batch.remote_name
        local = Path(batch.local_path)
        up = listings[self.sftp.upload_dir]
        if name in listings[self.sftp.success_dir]:
            self.notify(f"{name}: already uploaded and accepted by the platform")
            accepted = self.store.set_batch_state(
                batch.id, BatchState.ACCEPTED,
                detail="found in success/ after a restart", remote_dir=self.sftp.success_dir,
            )
            self.emit(BatchChanged(accepted))
            return
        if name in listings[self.sftp.error_dir]:
            copy = self._download_error_copy(batch)
            if copy.read_bytes() == local.read_bytes():  # the whole file: the platform refused it
                rejected = self.store.set_batch_state(
                    batch.id,
                    BatchState.FILE_REJECTED,
                    detail="found in error/ after a restart",
                    remote_dir=self.sftp.error_dir,
                    error_copy=str(copy),
                )
                self._not_sent(rejected)
                self.emit(BatchChanged(rejected))
                return
            # a partial copy timed out on the platform: nothing of it was sent; resend under a new name
            self._rename_for_resend(batch, reason=f"a partial copy of {name} was moved to error/ by the platform")
            return
        part = f".{name}.part"
        if name in up and up[name].size == batch.size:
            self.notify(f"{name}: already complete in {self.sftp.upload_dir}/; not sending it again")
            uploaded = self.store.set_batch_state(batch.id, BatchState.UPLOADED,
                                                  detail="found complete after a restart")
            self.emit(BatchChanged(uploaded))
            return
        if name in up or part in up:
            self.notify(f"{name}: resuming an interrupted upload")
        self.store.set_batch_state(batch.id, BatchState.UPLOADING, detail="retrying after an interruption")
        self._send(batch, local)

    def _partial_in_error(self, batch: BatchRecord, local: Path) -> bool:
        """Is there a copy of this batch in error/ that is not the whole file (so nothing was sent)?"""
        if batch.remote_name not in self.transport.listdir(self.sftp.error_dir):
            return False
        copy = self._download_error_copy(batch)
        return copy.read_bytes() != local.read_bytes()

    def _rename_for_resend(self, batch: BatchRecord, *, reason: str, attempt: int = 0) -> None:
        day = datetime.strptime(batch.day, "%Y%m%d").date()
        names = self._remote_names()
        seq = next_sequence(names, batch.project, day, floor=self.store.highest_seq(batch.project, batch.day))
        new_name = batch_file_name(batch.project, day, seq)
        old_local = Path(batch.local_path)
        new_local = old_local.with_name(new_name)
        shutil.copyfile(old_local, new_local)
        os.chmod(new_local, 0o600)
        self.store.rename_batch(batch.id, seq=seq, remote_name=new_name, local_path=str(new_local))
        self.notify(f"{batch.remote_name}: {reason}; sending it again as {new_name}")
        renamed = self.store.get_batch(batch.id)
        assert renamed is not None
        self.store.set_batch_state(batch.id, BatchState.UPLOADING, detail=f"{reason}; resent as {new_name}")
        self._send(renamed, new_local, attempt=attempt)

    def _download_error_copy(self, batch: BatchRecord) -> Path:
        ensure_private_dir(self.error_dir)
        copy = self.error_dir / f"{batch.id}-{batch.remote_name}"
        self.transport.download(f"{self.sftp.error_dir}/{batch.remote_name}", copy)
        return copy

    # -- polling ------------------------------------------------------------------------

    def poll_once(self, batch_ids: Iterable[int] | None = None) -> list[BatchRecord]:
        """One listing of success/ and error/ serves every outstanding batch."""
        wanted = None if batch_ids is None else set(batch_ids)
        outstanding = [b for b in self.store.batches(states=OUTSTANDING) if wanted is None or b.id in wanted]
        if not outstanding:
            return []
        success = self.transport.listdir(self.sftp.success_dir)
        error = self.transport.listdir(self.sftp.error_dir)
        now = self.now()
        changed = []
        for batch in outstanding:
            if batch.remote_name in success:
                new = self._move(batch, BatchState.ACCEPTED, remote_dir=self.sftp.success_dir)
            elif batch.remote_name in error:
                copy = self._download_error_copy(batch)
                new = self._move(
                    batch,
                    BatchState.FILE_REJECTED,
                    remote_dir=self.sftp.error_dir,
                    error_copy=str(copy),
                    detail=f"moved to {self.sftp.error_dir}/ by the platform; copy kept at {copy}",
                )
            elif batch.state is BatchState.UPLOADED and _age(batch.uploaded_at, now) > self.settings.poll.timeout:
                new = self._move(
                    batch,
                    BatchState.STUCK,
                    detail=f"not processed by the platform within {self.settings.poll.timeout:.0f} s",
                )
            else:
                continue
            if new is not None:
                changed.append(new)
                if new.state is BatchState.FILE_REJECTED:
                    self._not_sent(new)
                self.emit(BatchChanged(new))
        return changed

    def _not_sent(self, batch: BatchRecord) -> None:
        """The platform moved the file to error/: none of its messages was sent."""
        ids = self.store.pending_of_batch(batch.id)
        self.store.apply_changes(
            [MessageChange(i, MessageState.PENDING, MessageState.NOT_SENT, "file_rejected") for i in ids])

    def _move(self, batch: BatchRecord, state: BatchState, **fields: object) -> BatchRecord | None:
        """Compare-and-set: another process may have recorded the same outcome first."""
        with self.store.transaction():
            current = self.store.get_batch(batch.id)
            if current is None or current.state is state or current.state not in OUTSTANDING:
                return None
            return self.store.set_batch_state(batch.id, state, **fields)  # type: ignore[arg-type]

    def wait(self, batch_ids: Iterable[int], *, on_poll: Callable[[], None] | None = None) -> list[BatchRecord]:
        """Poll until every batch is accepted, file_rejected or stuck (bounded by poll.timeout)."""
        ids = sorted(set(batch_ids))
        interval = self.settings.poll.interval
        while True:
            self.poll_once(ids)
            failpoint("polling")
            batches = [b for b in (self.store.get_batch(i) for i in ids) if b is not None]
            if all(b.state not in (BatchState.UPLOADED,) for b in batches):
                return batches
            if on_poll is not None:
                on_poll()
            self.clock.sleep(interval)
            interval = min(interval * 1.5, max(self.settings.poll.max_interval, self.settings.poll.interval))


def refused_as_a_whole(summary: ConversionSummary) -> str:
    """Why a drop with no valid row is refused: the reasons, most frequent first (as the
    conversion summary counts them), and where the refused rows are listed."""
    if summary.rows_read == 0:
        return "input rejected as a whole: no data rows"
    reasons = "; ".join(
        f"{n} {code}" + (f" (e.g. line {ex.line}: {ex.reason})" if (ex := _example(summary, code)) else "")
        for code, n in sorted(summary.rejected.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    )
    where = f"; every refused row is listed in {summary.rejected_file}" if summary.rejected_file else ""
    return f"input rejected as a whole: none of its {summary.rows_read} rows is valid: {reasons}{where}"


def _example(summary: ConversionSummary, code: str) -> Rejection | None:
    return next((r for r in summary.first_rejections if r.code == code), None)


def _refusal_row(rej: Rejection, cols: ColumnMap) -> tuple[int, str, str, str | None, str | None, str | None,
                                                            tuple[str, ...]]:
    cells = rej.cells

    def cell(index: int | None) -> str | None:
        return cells[index] if index is not None and index < len(cells) else None

    return rej.line, rej.code, rej.reason, cell(cols.number), cell(cols.text), cell(cols.correlation_id), cells

class _Recorder:
    """The conversion's sink while a drop is recorded: each file's messages go to its
    batch in bulk, and refused rows to the drop, inside the drop's transaction (so they
    are committed, and synced, with the drop and its batches, before anything is
    uploaded)."""

    def __init__(self, store: Store, drop_id: int, batch_ids: list[int]) -> None:
        self.store = store
        self.drop_id = drop_id
        self.batch_ids = batch_ids  # filled by the namer, which runs before a file's messages arrive

    def accepted(self, batch: MessageColumns) -> None:
        self.store.add_messages(self.batch_ids[batch.file_index], batch)

    def refused(self, rejections: list[Rejection], columns: ColumnMap) -> None:
        self.store.add_refusals(self.drop_id, (_refusal_row(r, columns) for r in rejections))


def _age(iso: str | None, now: datetime) -> float:
    if not iso:
        return 0.0
    try:
        then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds()

