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
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from .convert import ConversionSummary, MessageColumns, content_hash, convert_drop
from .errors import DuplicateDropError, InputError, RemoteError
from .failpoints import failpoint
from .models import BatchState, Rejection
from .render import batch_file_name
from .sequence import next_sequence, yyyymmdd
from .settings import Settings
from .store import DROP_CONVERTED, DROP_REPORTED, BatchRecord, DropRecord, Store
from .transport import RemoteFile, SftpTransport

__all__ = ["Delivery", "PushResult", "exit_code_for_batches"]

log = logging.getLogger(__name__)

OUTSTANDING = (BatchState.UPLOADED, BatchState.STUCK)
MESSAGE_CHUNK = 5_000
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
        notify: Notify | None = None,
        progress: Progress | None = None,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.store = store
        self.transport = transport
        self.notify = notify or (lambda msg: log.info("%s", msg))
        self.progress = progress
        self.now = now or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self.sftp = settings.sftp
        self.batch_dir = settings.state_path("batches")
        self.error_dir = settings.state_path("errors")
        self.staging_dir = settings.state_path("staging")

    # -- push: ingest, record, upload ---------------------------------------------------

    def push(
        self,
        source: Path,
        *,
        project: str,
        force: bool = False,
        sheet: str | None = None,
        on_rows: Callable[[int], None] | None = None,
    ) -> PushResult:
        """Convert and record one drop, then upload its batches (no waiting)."""
        digest = content_hash(source)
        with self.store.lock():
            earlier = None if force else self.store.find_drop(project, digest)
            if earlier is not None:
                result = self._resume_or_refuse(source, project, earlier)
            else:
                result = self._record_drop(source, project, digest, force=force, sheet=sheet, on_rows=on_rows)
                failpoint("after_convert")
            result.batches = self.upload_pending(b.id for b in result.batches)
        return result

    def _resume_or_refuse(self, source: Path, project: str, drop: DropRecord) -> PushResult:
        """The same content again: a duplicate once an earlier push reported its outcome;
        otherwise that push died (crash, lost network) and this one finishes it."""
        batches = self.store.batches(drop_id=drop.id)
        names = ", ".join(f"{b.remote_name} (batch {b.id}, {b.state.value})" for b in batches) or "no batch"
        if drop.status == DROP_REPORTED:
            raise DuplicateDropError(
                source,
                f"the same content was already sent for project {project} on {drop.created_at[:10]} "
                f"as {names}; use --force to send it again",
            )
        note = f"{source}: finishing the earlier, interrupted push of this content: {names}"
        self.notify(note)
        self.store.add_event("drop_resumed", drop_id=drop.id, detail={"source": str(source)})
        return PushResult(source, project, drop, batches, resumed=True, notes=[note])

    def mark_reported(self, results: Iterable[PushResult]) -> None:
        """The user has been told how these pushes ended: the same content is now a duplicate."""
        for result in results:
            self.store.set_drop_status(result.drop.id, DROP_REPORTED)

    def _record_drop(
        self,
        source: Path,
        project: str,
        digest: str,
        *,
        force: bool,
        sheet: str | None,
        on_rows: Callable[[int], None] | None,
    ) -> PushResult:
        day = self._today()
        remote_names = self._remote_names()
        staging = self.staging_dir / digest[:16]
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        self.batch_dir.mkdir(parents=True, exist_ok=True)
        store = self.store
        try:
            with store.transaction():
                drop = store.add_drop(project, digest, str(source.resolve()), source.name, force=force)
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
                    rejected_dir=self.settings.state_path("rejected", str(drop.id)),
                    sheet=sheet,
                    drop_key=key,
                    digest=digest,
                    sink=_Recorder(store, batch_ids),
                    progress=on_rows,
                )
                if summary.accepted == 0:
                    reason = "no data rows" if summary.rows_read == 0 else "no valid row"
                    raise InputError(source, f"input rejected as a whole: {reason}")
                kept = []
                for batch_id, written in zip(batch_ids, summary.files, strict=True):
                    final = self.batch_dir / written.name
                    written.path.replace(final)
                    kept.append(dataclasses.replace(written, path=final))
                    store.update_batch_file(batch_id, size=written.size, sha256=written.sha256, rows=written.rows)
                summary.files = kept
                store.update_drop_counts(
                    drop.id,
                    rows_read=summary.rows_read,
                    rows_accepted=summary.accepted,
                    rows_rejected=summary.rejected_total,
                    status=DROP_CONVERTED,
                )
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
            if self.progress is not None:
                self.progress(batch.remote_name, sent, total)
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
        self.store.set_batch_state(batch.id, BatchState.UPLOADED, remote_dir=self.sftp.upload_dir)
        self.notify(f"uploaded {batch.remote_name}")

    def _recover(self, batch: BatchRecord, listings: dict[str, dict[str, RemoteFile]]) -> None:
        """A batch left in `uploading` by a crash or a dropped connection."""
        name = batch.remote_name
        local = Path(batch.local_path)
        up = listings[self.sftp.upload_dir]
        if name in listings[self.sftp.success_dir]:
            self.notify(f"{name}: already uploaded and accepted by the platform")
            self.store.set_batch_state(
                batch.id, BatchState.ACCEPTED,
                detail="found in success/ after a restart", remote_dir=self.sftp.success_dir,
            )
            return
        if name in listings[self.sftp.error_dir]:
            copy = self._download_error_copy(batch)
            if copy.read_bytes() == local.read_bytes():  # the whole file: the platform refused it
                self.store.set_batch_state(
                    batch.id,
                    BatchState.FILE_REJECTED,
                    detail="found in error/ after a restart",
                    remote_dir=self.sftp.error_dir,
                    error_copy=str(copy),
                )
                return
            # a partial copy timed out on the platform: nothing of it was sent; resend under a new name
            self._rename_for_resend(batch, reason=f"a partial copy of {name} was moved to error/ by the platform")
            return
        part = f".{name}.part"
        if name in up and up[name].size == batch.size:
            self.notify(f"{name}: already complete in {self.sftp.upload_dir}/; not sending it again")
            self.store.set_batch_state(batch.id, BatchState.UPLOADED, detail="found complete after a restart")
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
        self.store.rename_batch(batch.id, seq=seq, remote_name=new_name, local_path=str(new_local))
        self.notify(f"{batch.remote_name}: {reason}; sending it again as {new_name}")
        renamed = self.store.get_batch(batch.id)
        assert renamed is not None
        self.store.set_batch_state(batch.id, BatchState.UPLOADING, detail=f"{reason}; resent as {new_name}")
        self._send(renamed, new_local, attempt=attempt)

    def _download_error_copy(self, batch: BatchRecord) -> Path:
        self.error_dir.mkdir(parents=True, exist_ok=True)
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
                self.notify(f"{new.remote_name}: {new.state.value}")
        return changed

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
            self.sleep(interval)
            interval = min(interval * 1.5, max(self.settings.poll.max_interval, self.settings.poll.interval))


class _Recorder:
    """The conversion's sink while a drop is recorded: each file's messages go to its
    batch in bulk, inside the drop's transaction (so they are committed, and synced,
    with the drop and its batches, before anything is uploaded)."""

    def __init__(self, store: Store, batch_ids: list[int]) -> None:
        self.store = store
        self.batch_ids = batch_ids  # filled by the namer, which runs before a file's messages arrive

    def accepted(self, batch: MessageColumns) -> None:
        self.store.add_messages(self.batch_ids[batch.file_index], batch)

    def refused(self, rejections: list[Rejection]) -> None:
        pass  # issue 7 part 4: refused rows are to be stored with the drop


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

