"""The unattended modes (SPEC 2): `batcher run`, the nightly cron pass, and `batcher watch`,
the daemon. Both go through `process_drop` for every file of the inbox, so the
exactly-once rules (`pipeline.Delivery`) and the inbox rules (`inbox`) are the same in
both, and the same as `push`.

A drop of the inbox, once settled:

1. is pushed (`Delivery.push`, origin "inbox"): recorded, then uploaded; the same content
   again is a duplicate, unless an earlier run died before telling its outcome (then
   this run finishes it);
2. moves out of the inbox: to `archive/YYYYMMDD/` with `NAME.rejected.csv` beside it when
   rows were refused, or to `rejected/` with `NAME.errors.csv` when refused as a whole
   (no valid row, unreadable, already sent: the note names the batch);
3. a drop that could not be sent now (platform unreachable) stays in the inbox for the
   next pass; a drop changed while it was processed stays too (it is a new drop).

Two processes never work on the inbox at once (`state_dir/inbox.lock`, never waited
for): a run that finds it taken says so and does the rest of its work (polling,
reconciling, reports), and a watch takes it per pass. Nothing is sent twice either way:
the store under its own lock decides.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import filelock

from ..errors import (
    AuthenticationError,
    ConfigError,
    DropRejected,
    DuplicateDropError,
    HostKeyError,
    InputError,
    PlatformUnreachable,
)
from ..events import DropDone, Note, ReportWritten
from ..failpoints import failpoint
from ..fsutil import ensure_private_dir
from ..inbox import DropFiler, WholeFileReason, duplicate_reason, project_for
from ..models import BatchState
from ..store.records import format_timestamp
from .base import Context, Session
from .interactive import reconcile_pass, write_drop_report

if TYPE_CHECKING:
    from ..status.reconcile import PassResult
    from ..store import BatchRecord
    from ..watcher import InboxWatcher

__all__ = ["DropOutcome", "RunOutcome", "inbox_lock", "process_drop", "run", "watch"]

INBOX_LOCK = "inbox.lock"


@dataclass
class DropOutcome:
    source: Path
    outcome: str  # archived | rejected | retry | changed | gone
    exit_code: int
    drop_id: int | None = None
    batches: list[int] = field(default_factory=list)


@contextlib.contextmanager
def inbox_lock(ctx: Context) -> Iterator[bool]:
    """The inbox for this process only, or False at once when another has it."""
    state = ensure_private_dir(ctx.settings.paths.state_dir)
    lock = filelock.FileLock(str(state / INBOX_LOCK), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def process_drop(ctx: Context, session: Session, path: Path, *, unchanged: Callable[[], bool] | None = None,
                 filer: DropFiler | None = None) -> DropOutcome:
    """One settled drop of the inbox: pushed, then filed (see the module doc). The caller
    holds the inbox lock, so a drop still there is nobody else's."""
    filer = filer or DropFiler.from_settings(ctx.settings, clock=ctx.clock)
    settings = ctx.settings
    if not path.is_file():  # another run or watch took it before we had the inbox
        return DropOutcome(path, "gone", 0)
    try:
        project = project_for(path, settings)
        result = session.delivery.push(path, project=project, origin="inbox")
    except DuplicateDropError as exc:
        earlier = exc.earlier_drop_id
        batches = session.store.batches(drop_id=earlier) if earlier is not None else []
        reason = (duplicate_reason(batch=batches[0].id, remote_names=[b.remote_name for b in batches],
                                   sent_at=_when(batches[0].created_at), timezone=settings.defaults.timezone)
                  if batches else WholeFileReason("duplicate_content", exc.reason))
        filed = filer.reject(path, reason=reason)
        ctx.emit(DropDone(path, "rejected", filed.path, reason.reason, extra={"errors": str(filed.companion)}))
        return DropOutcome(path, "rejected", exc.exit_code)
    except InputError as exc:
        drop_id = exc.drop_id if isinstance(exc, DropRejected) else None
        if isinstance(exc, DropRejected) and exc.rejected_file is not None:
            filed = filer.reject(path, refused=exc.rejected_file)
        else:
            filed = filer.reject(path, reason=WholeFileReason("refused", exc.reason))
        if drop_id is not None:
            session.store.set_drop_files(drop_id, archived_to=str(filed.path), refused_file=str(filed.companion))
        ctx.emit(DropDone(path, "rejected", filed.path, exc.reason, drop_id=drop_id,
                          extra={"errors": str(filed.companion)}))
        return DropOutcome(path, "rejected", exc.exit_code, drop_id)
    except ConfigError as exc:  # e.g. a project folder that is not a valid name
        filed = filer.reject(path, reason=WholeFileReason("config", str(exc)))
        ctx.emit(DropDone(path, "rejected", filed.path, str(exc), extra={"errors": str(filed.companion)}))
        return DropOutcome(path, "rejected", 3)
    if unchanged is not None and not unchanged():
        ctx.emit(Note(f"{path}: changed while it was being sent; its sent content is recorded "
                      f"(drop d{result.drop.id}), the new content will be taken as a new drop", "warning"))
        return DropOutcome(path, "changed", 0, result.drop.id, [b.id for b in result.batches])
    failpoint("before_archive")
    refused = result.summary.rejected_file if result.summary is not None else None
    if refused is None and result.drop.refused_file:
        refused = Path(result.drop.refused_file)
    filed = filer.archive(path, refused=refused)
    session.store.set_drop_files(result.drop.id, archived_to=str(filed.path))
    session.delivery.mark_reported([result])
    ctx.emit(DropDone(path, "archived", filed.path, drop_id=result.drop.id,
                      extra={"batches": [b.remote_name for b in result.batches],
                             "rejected_rows": str(filed.companion) if filed.companion else None}))
    return DropOutcome(path, "archived", 0, result.drop.id, [b.id for b in result.batches])


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


# -- the steps both modes share -------------------------------------------------------


def follow_batches(ctx: Context, session: Session) -> list[BatchRecord]:
    """Upload what a crash left behind (converted/uploading, under the store's lock) and
    poll every outstanding batch once. Returns the batches that changed."""
    store, delivery = session.store, session.delivery
    if store.batches(states=[BatchState.CONVERTED, BatchState.UPLOADING]):
        with store.lock():
            delivery.upload_pending()
    changed = delivery.poll_once()
    failpoint("polling")
    return changed


def write_reports(ctx: Context, session: Session) -> list[Path]:
    """A report in paths.reports_dir for every drop whose messages changed since its
    last report."""
    store = session.store
    written = []
    for drop in store.drops_to_report():
        at = format_timestamp(ctx.clock.now())  # before writing: a change meanwhile is reported next time
        path, rows = write_drop_report(ctx, store, drop)
        store.mark_drop_reported(drop.id, at)
        ctx.emit(ReportWritten(path, drop.id, rows))
        written.append(path)
    return written


def _reconcile_if_configured(ctx: Context, session: Session, should_stop: Callable[[], bool] | None = None,
                             after: int = 0) -> PassResult | None:
    """One reconcile pass (going on after message id `after`), or None when there is
    nothing to ask or no credentials to ask with. `PlatformUnreachable` is the caller's."""
    api = ctx.settings.api
    if not api.username or (api.token is None and api.token_file is None):
        ctx.emit(Note("no [api] credentials: statuses are not reconciled", "warning"))
        return None
    if session.store.count_outstanding() == 0 and not session.store.batches(states=[BatchState.FILE_REJECTED]):
        return None
    return reconcile_pass(ctx, session, should_stop=should_stop, after=after)


# -- run --------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    exit_code: int
    drops: list[DropOutcome] = field(default_factory=list)
    changed: list[BatchRecord] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)
    inbox_busy: bool = False


def run(ctx: Context) -> RunOutcome:
    """`batcher run`: one pass for cron. Every settled drop of the inbox (in name order),
    followed to success/ or error/ like a push (bounded by poll.timeout), every other
    outstanding upload polled once, one reconcile pass, reports for drops whose messages
    changed, the retention purge when configured; then the exit code of SPEC 2 (3 when
    the only drops were rejected as a whole, 5 when a batch went to error/, 4 when the
    platform could not be reached or a batch is stuck)."""
    from ..inbox import InboxLayout, collect_settled
    from ..pipeline import exit_code_for_batches

    outcome = RunOutcome(0)
    settings = ctx.settings
    with Session(ctx) as session:
        with inbox_lock(ctx) as mine:
            if not mine:
                outcome.inbox_busy = True
                ctx.emit(Note("the inbox is being processed by another batcher process (watch or run); "
                              "leaving it to that one, doing the rest"))
            elif not settings.paths.inbox.is_dir():
                ctx.emit(Note(f"no inbox folder {settings.paths.inbox}: nothing to send", "warning"))
            else:
                collected = collect_settled(InboxLayout.from_settings(settings),
                                            settle_seconds=settings.watch.settle_seconds, clock=ctx.clock)
                for skipped in collected.skipped:
                    ctx.emit(Note(f"{skipped.path}: left in the inbox: {skipped.reason}", "warning"))
                for path, phase in collected.pending.items():
                    ctx.emit(Note(f"{path}: still being written ({phase.value}); left for the next run"))
                for drop in sorted(collected.ready, key=lambda d: str(d.path)):
                    try:
                        outcome.drops.append(process_drop(ctx, session, drop.path, unchanged=drop.unchanged))
                    except PlatformUnreachable as exc:
                        ctx.emit(Note(f"{drop.path}: not sent now, left in the inbox: {exc}", "error"))
                        outcome.drops.append(DropOutcome(drop.path, "retry", exc.exit_code))
                        break  # the platform is down: the others would fail the same way
        sent_now = [b for d in outcome.drops for b in d.batches]
        try:
            if sent_now:  # tonight's files: their verdict decides the exit code, as for push
                ctx.emit(Note(f"waiting for the platform (up to {settings.poll.timeout:.0f} s)"))
                session.delivery.wait(sent_now)
            outcome.changed = follow_batches(ctx, session)
        except PlatformUnreachable as exc:
            ctx.emit(Note(f"polling: {exc}", "error"))
            outcome.exit_code = max(outcome.exit_code, exc.exit_code)
        api_code = 0
        try:
            _reconcile_if_configured(ctx, session)
        except PlatformUnreachable as exc:
            ctx.emit(Note(f"reconcile: {exc}", "error"))
            api_code = exc.exit_code
        outcome.reports = write_reports(ctx, session)
        if settings.retention.days is not None:
            from .interactive import purge

            plan = purge(ctx, session=session)
            if plan.drops:
                ctx.emit(Note(f"retention: purged {len(plan.drops)} drop(s) older than {plan.cutoff}"))
        batch_ids = [b for d in outcome.drops for b in d.batches]
        batches = [b for b in (session.store.get_batch(i) for i in batch_ids) if b is not None]
        codes = [d.exit_code for d in outcome.drops]
        if codes and all(c == 3 for c in codes):
            outcome.exit_code = max(outcome.exit_code, 3)
        outcome.exit_code = max([outcome.exit_code, api_code, exit_code_for_batches(batches + outcome.changed),
                                 *(c for c in codes if c != 3)])
    return outcome


# -- watch ------------------------------------------------------------------------------


@dataclass
class WatchSchedule:
    """When the daemon next does each periodic step (monotonic seconds). Pure."""

    poll_every: float
    reconcile_every: float
    purge_every: float = 86400.0
    next_poll: float = 0.0
    next_reconcile: float = 0.0
    next_purge: float = 0.0
    reconcile_after: int = 0  # where a paused reconcile pass goes on (a message id)

    def reconcile_ended(self, now: float, *, paused: bool, resume_after: int | None) -> None:
        """A pass paused for a drop or a poll is due again at once and goes on where it
        stopped; a finished one starts from the first message next time."""
        if paused:
            self.next_reconcile = now
        self.reconcile_after = (resume_after or 0) if paused else 0

    def due(self, now: float) -> list[str]:
        steps = []
        if now >= self.next_poll:
            steps.append("poll")
            self.next_poll = now + self.poll_every
        if now >= self.next_reconcile:
            steps.append("reconcile")
            self.next_reconcile = now + self.reconcile_every
        if now >= self.next_purge:
            steps.append("purge")
            self.next_purge = now + self.purge_every
        return steps

    def next_wake(self, now: float) -> float:
        return max(0.0, min(self.next_poll, self.next_reconcile, self.next_purge) - now)


def watch(ctx: Context, stop: threading.Event, *, watcher: InboxWatcher | None = None,
          reconcile_every: float = 60.0) -> int:
    """`batcher watch`: until `stop` is set, send each drop of the inbox once it is
    settled, poll outstanding uploads every `poll.interval`, reconcile every
    `reconcile_every` seconds, write reports for changed drops, purge daily when
    `[retention] days` is set. The current step finishes when `stop` is set (a signal);
    a restart resumes from the state. Returns 0, or the exit code of what stopped it."""
    from ..watcher import InboxWatcher

    settings = ctx.settings
    ensure_private_dir(settings.paths.inbox)
    own = watcher or InboxWatcher.from_settings(settings, clock=ctx.clock, wakeup=threading.Event())
    wakeup = own.wakeup
    schedule = WatchSchedule(poll_every=settings.poll.interval, reconcile_every=reconcile_every)
    said: set[Path] = set()
    ctx.emit(Note(f"watching {settings.paths.inbox} (settle {settings.watch.settle_seconds:g} s, "
                  f"rescan every {settings.watch.rescan_interval:g} s)"))
    retry_after: dict[Path, float] = {}

    def yield_to_drops() -> bool:
        """Asked between a reconcile pass's requests (a pass over a million messages takes
        17 minutes at 1 request/s): pause it for a signal, a drop ready to send, or an
        upload awaiting the platform's verdict when its poll is due."""
        if stop.is_set() or own.has_ready():
            return True
        return (ctx.clock.monotonic() >= schedule.next_poll
                and bool(session.store.batches(states=[BatchState.UPLOADED])))

    with Session(ctx) as session, own:
        while not stop.is_set():
            ready = own.ready()
            if ready:
                with inbox_lock(ctx) as mine:
                    if not mine:
                        for drop in ready:
                            own.requeue(drop.path)
                        ctx.emit(Note("the inbox is being processed by another batcher process; waiting"))
                        stop.wait(1.0)
                    else:
                        for drop in ready:
                            if stop.is_set():
                                own.requeue(drop.path)
                                continue
                            try:
                                process_drop(ctx, session, drop.path, unchanged=drop.unchanged)
                            except PlatformUnreachable as exc:
                                ctx.emit(Note(f"{drop.path}: not sent now, will try again: {exc}", "error"))
                                retry_after[drop.path] = ctx.clock.monotonic() + settings.poll.max_interval
                            except (AuthenticationError, HostKeyError):
                                raise  # every drop would fail the same way: the operator must act (exit 2)
                            except ConfigError as exc:  # this drop only (it cannot be moved...): said, kept
                                ctx.emit(Note(f"{drop.path}: left in the inbox: {exc}", "error"))
            for note in own.notices():
                if note.path not in said:
                    said.add(note.path)
                    ctx.emit(Note(f"{note.path}: left in the inbox: {note.reason}", "warning"))
            now = ctx.clock.monotonic()
            for path, when in list(retry_after.items()):
                if now >= when:
                    del retry_after[path]
                    own.requeue(path)
            for step in schedule.due(now):
                if stop.is_set():
                    break
                try:
                    if step == "poll":
                        follow_batches(ctx, session)  # each change is emitted as it happens
                    elif step == "reconcile":
                        result = _reconcile_if_configured(ctx, session, should_stop=yield_to_drops,
                                                          after=schedule.reconcile_after)
                        paused = bool(result and result.paused)
                        schedule.reconcile_ended(ctx.clock.monotonic(), paused=paused,
                                                 resume_after=result.resume_after if result else None)
                        if not paused:  # one report per drop per pass, not one per pause
                            write_reports(ctx, session)
                    elif step == "purge" and settings.retention.days is not None:
                        from .interactive import purge

                        purge(ctx, session=session)
                except PlatformUnreachable as exc:
                    ctx.emit(Note(f"{step}: {exc}; trying again later", "error"))
            # at most a second: a stop (signal) is noticed within it
            wakeup.wait(timeout=min(schedule.next_wake(ctx.clock.monotonic()), 1.0))
            wakeup.clear()
        ctx.emit(Note("stopping: the current step is done; a restart resumes from the state"))
    return 0

