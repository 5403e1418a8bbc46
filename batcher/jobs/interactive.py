"""The jobs behind the commands a person types: push, convert, status, report,
reconcile, check, trust-host, purge (the unattended ones are in `jobs.unattended`)."""


from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from ..errors import BatcherError, ConfigError, InputError
from ..events import Note, ReconcileDone
from ..ingest import ColumnChoice

if TYPE_CHECKING:
    from ..check import CheckResult
    from ..convert import ConversionSummary
    from ..pipeline import PushResult
    from ..report import Summary
    from ..status.reconcile import PassResult
    from ..store import BatchRecord, DropRecord, Store

from .base import Context, Session

__all__ = [
    "CheckOutcome",
    "ConvertOutcome",
    "PushOutcome",
    "ReconcileOutcome",
    "ReportOutcome",
    "StatusView",
    "check",
    "convert",
    "push",
    "reconcile",
    "report",
    "resolve_ref",
    "status",
]


# -- push ---------------------------------------------------------------------------


@dataclass
class PushOutcome:
    exit_code: int
    batches: list[BatchRecord] = field(default_factory=list)
    results: list[PushResult] = field(default_factory=list)
    errors: list[BatcherError] = field(default_factory=list)
    outcomes: dict[int, Counter[str]] = field(default_factory=dict)


def push(
    ctx: Context,
    files: Sequence[Path],
    *,
    project: str | None,
    force: bool = False,
    sheet: str | None = None,
    columns: ColumnChoice | None = None,
    wait: bool = True,
) -> PushOutcome:
    """`batcher push`: each file converted, recorded and uploaded (its summary emitted
    before the first byte leaves), then, with `wait`, followed until success/ or error/.
    A file refused as a whole is reported and the others go on; the exit code is the
    worst of them (SPEC 2)."""
    from ..inbox import project_for
    from ..pipeline import exit_code_for_batches

    projects = {source: project_for(source, ctx.settings, project) for source in files}
    outcome = PushOutcome(0)
    with Session(ctx) as session:
        delivery = session.delivery
        batch_ids: list[int] = []
        for source in files:
            try:
                result = delivery.push(source, project=projects[source], force=force, sheet=sheet, columns=columns)
            except InputError as exc:
                _refused(ctx, outcome, exc)
                continue
            outcome.results.append(result)
            batch_ids.extend(b.id for b in result.batches)
        store = session.store
        batches = [b for b in (store.get_batch(i) for i in batch_ids) if b is not None]
        if wait and batches:
            ctx.emit(Note(f"waiting for the platform (up to {ctx.settings.poll.timeout:.0f} s)"))
            batches = delivery.wait(batch_ids)
        delivery.mark_reported(outcome.results)
        outcome.batches = batches
        outcome.outcomes = {b.id: store.outcome_counts(batch_id=b.id) for b in batches}
        outcome.exit_code = max(outcome.exit_code, exit_code_for_batches(batches))
    return outcome


# -- convert (and push --dry-run) ---------------------------------------------------


@dataclass
class ConvertOutcome:
    exit_code: int
    summaries: list[ConversionSummary] = field(default_factory=list)
    errors: list[BatcherError] = field(default_factory=list)


def convert(
    ctx: Context,
    files: Sequence[Path],
    *,
    project: str | None,
    out_dir: Path | None,
    sheet: str | None = None,
    columns: ColumnChoice | None = None,
    on_summary: Callable[[ConversionSummary], None] | None = None,
) -> ConvertOutcome:
    """`batcher convert` (and `push --dry-run` with `out_dir=None`): validate each file
    and write its platform files into `out_dir`, sequence numbers local to that folder.
    Exit 3 for a file refused as a whole (the others are still converted)."""
    from ..convert import convert_drop, local_namer
    from ..inbox import project_for
    from ..pipeline import refused_as_a_whole

    outcome = ConvertOutcome(0)
    for source in files:
        try:
            proj = project_for(source, ctx.settings, project)
            namer = local_namer(out_dir, proj, ctx.today()) if out_dir is not None else None
            summary = convert_drop(source, project=proj, settings=ctx.settings, out_dir=out_dir,
                                   namer=namer, sheet=sheet, columns=columns)
        except InputError as exc:
            _refused(ctx, outcome, exc)
            continue
        outcome.summaries.append(summary)
        if on_summary is not None:
            on_summary(summary)
        if summary.accepted == 0:
            _refused(ctx, outcome, InputError(source, refused_as_a_whole(summary)))
    return outcome


def _refused(ctx: Context, outcome: PushOutcome | ConvertOutcome, exc: InputError) -> None:
    """One file refused as a whole: said, kept, and the worst exit code so far."""
    ctx.emit(Note(f"error: {exc}", "error"))
    outcome.errors.append(exc)
    outcome.exit_code = max(outcome.exit_code, exc.exit_code)


# -- status -------------------------------------------------------------------------


@dataclass
class StatusView:
    batches: list[BatchRecord] = field(default_factory=list)
    outcomes: dict[int, Counter[str]] = field(default_factory=dict)
    detail: BatchRecord | None = None
    drop: DropRecord | None = None
    refused: Counter[str] = field(default_factory=Counter)
    store: Store | None = None  # open while the view is printed (see `status`)


@contextlib.contextmanager
def status(ctx: Context, ref: str | None, *, show_all: bool = False) -> Iterator[StatusView]:
    """`batcher status [REF]`: the latest batches with their messages by outcome, or one
    batch (id or remote name) or drop (``d12``) in detail. A context manager: the view
    reads the store while it is printed."""
    with Session(ctx) as session:
        store = session.store
        if ref is None:
            batches = store.batches()
            shown = batches if show_all else batches[-50:]
            counts = store.outcome_counts_by_batch(b.id for b in shown)
            yield StatusView(batches=shown, outcomes=counts, store=store)
            return
        kind, record = resolve_ref(store, ref)
        if kind == "batch":
            yield StatusView(detail=record, store=store)  # type: ignore[arg-type]
            return
        drop: DropRecord = record  # type: ignore[assignment]
        batches = store.batches(drop_id=drop.id)
        yield StatusView(batches=batches, drop=drop, refused=store.refusal_counts(drop.id), store=store,
                         outcomes={b.id: store.outcome_counts(batch_id=b.id) for b in batches})


def resolve_ref(store: Store, ref: str) -> tuple[Literal["batch", "drop"], BatchRecord | DropRecord]:
    """A batch (``12``, ``#12``, or its remote name) or a drop (``d12``, or the name of
    the file dropped: its latest drop). ConfigError (exit 2) when nothing matches."""
    text = ref.strip()
    lowered = text.lower()
    for prefix in ("drop:", "drop-", "d"):
        rest = lowered.removeprefix(prefix)
        if rest != lowered and rest.isdigit():
            drop = store.drop(int(rest))
            if drop is None:
                raise ConfigError(f"no drop {text!r} (`batcher status` lists the drops as d1, d2...)")
            return "drop", drop
    batch = store.find_batch(text)
    if batch is not None:
        return "batch", batch
    name = Path(text).name
    drops = [d for d in store.all_drops() if d.source_name == name or d.source_path == text]
    if drops:
        return "drop", drops[-1]
    raise ConfigError(
        f"no batch or drop {text!r}: give a batch id (12) or remote name (PROJECT.YYYYMMDD.NN.txt), "
        "or a drop (d12, or the name of the file dropped); `batcher status` lists them"
    )


# -- report -------------------------------------------------------------------------


@dataclass
class ReportOutcome:
    kind: Literal["batch", "drop"]
    ref: str
    path: Path | None
    summary: Summary
    exit_code: int = 0


def report(
    ctx: Context,
    ref: str,
    *,
    fmt: Literal["csv", "json"] = "csv",
    output: Path | None = None,
    stream: IO[str] | None = None,
) -> ReportOutcome:
    """`batcher report REF`: one row per input row of a drop (refused rows included), or
    per message of a batch, to `output` (a new file, never overwritten) or `stream`."""
    from ..report import Summary, write_report

    with Session(ctx) as session:
        store = session.store
        kind, record = resolve_ref(store, ref)
        summary = Summary()
        path = write_report(
            _report_rows(ctx, store, kind, record), fmt=fmt, path=output, stream=stream,
            delimiter=ctx.settings.format.csv_delimiter, summary=summary,
        )
    return ReportOutcome(kind, ref, path, summary)


def _report_rows(ctx: Context, store: Store, kind: str, record: Any) -> Iterator[Any]:
    from ..report import report_rows

    window_h = ctx.settings.api.delivery_window / 3600
    if kind == "batch":
        drop = store.drop(record.drop_id)
        name = drop.source_name if drop else ""
        return report_rows(store.report_rows(batch_id=record.id), file=name, window_hours=window_h)
    return report_rows(store.report_rows(drop_id=record.id), file=record.source_name, window_hours=window_h)


def write_drop_report(ctx: Context, store: Store, drop: DropRecord) -> tuple[Path, int]:
    """A report of one drop into `paths.reports_dir` (for `run` and `watch`): a new file
    named after the drop and the time, never over an earlier one."""
    from ..fsutil import ensure_private_dir
    from ..report import Summary, write_report

    reports = ensure_private_dir(ctx.settings.paths.reports_dir)
    stamp = ctx.clock.now().astimezone(ZoneInfo(ctx.settings.defaults.timezone)).strftime("%Y%m%d-%H%M%S")
    stem = Path(drop.source_name).stem[:80] or "drop"
    summary = Summary()
    path = write_report(_report_rows(ctx, store, "drop", drop), fmt="csv",
                        path=reports / f"{stem}.d{drop.id}.{stamp}.report.csv",
                        delimiter=ctx.settings.format.csv_delimiter, summary=summary)
    assert path is not None
    return path, summary.rows


# -- reconcile ----------------------------------------------------------------------


@dataclass
class ReconcileOutcome:
    exit_code: int
    passes: list[PassResult] = field(default_factory=list)

    @property
    def outstanding(self) -> int:
        return self.passes[-1].outstanding if self.passes else 0


def reconcile_pass(ctx: Context, session: Session, *, should_stop: Callable[[], bool] | None = None,
                   after: int = 0) -> PassResult:
    """One reconcile pass (SPEC 4.4) with the session's store and status client (`after`:
    going on from a paused pass, see `status.reconcile.reconcile_pass`)."""
    from ..status.reconcile import ReconcilePolicy
    from ..status.reconcile import reconcile_pass as one_pass

    s = ctx.settings
    result = one_pass(
        session.store, session.status_source, mode=s.api.status_mode,
        policy=ReconcilePolicy(delivery_window=s.api.delivery_window),
        clock=ctx.clock, chunk=s.api.max_ids_per_query, should_stop=should_stop, after=after,
    )
    ctx.emit(ReconcileDone(result))
    return result


def reconcile(ctx: Context, *, until_final: bool = False, deadline: float | None = None) -> ReconcileOutcome:
    """`batcher reconcile`: one pass over every message not final; with `until_final`,
    passes until none is left or `deadline` seconds have passed. Exit 0 even with
    messages outstanding (they are reported); 2 bad credentials, 4 API unreachable."""
    outcome = ReconcileOutcome(0)
    started = ctx.clock.monotonic()
    interval = ctx.settings.poll.interval
    with Session(ctx) as session:
        while True:
            result = reconcile_pass(ctx, session)
            outcome.passes.append(result)
            if not until_final or result.outstanding == 0:
                break
            waited = ctx.clock.monotonic() - started
            if deadline is not None and waited + interval > deadline:
                ctx.emit(Note(f"deadline reached: {result.outstanding} message(s) still outstanding"))
                break
            ctx.clock.sleep(interval)
            interval = min(interval * 1.5, max(ctx.settings.poll.max_interval, ctx.settings.poll.interval))
    return outcome


# -- purge --------------------------------------------------------------------------


def purge(ctx: Context, *, dry_run: bool = False, session: Session | None = None) -> Any:
    """`batcher purge`: the retention policy of `[retention] days` (see `retention`).
    A ConfigError when no retention is configured (nothing is deleted by default)."""
    from ..retention import purge as run_purge

    days = ctx.settings.retention.days
    if days is None:
        raise ConfigError("no retention configured: set [retention] days in the config to purge "
                          "drops older than that (nothing is ever deleted by default)")
    with contextlib.ExitStack() as stack:
        own = session or stack.enter_context(Session(ctx))
        plan = run_purge(own.store, ctx.settings, ctx.clock, days, dry_run=dry_run)
    return plan


# -- trust-host ---------------------------------------------------------------------


@dataclass
class TrustOutcome:
    lines: list[str]
    trusted: bool


def trust_host(
    ctx: Context,
    *,
    expected: str | None,
    yes: bool,
    replace: bool,
    confirm: Callable[[str], bool] | None,
) -> TrustOutcome:
    """`batcher trust-host`: fetch the SFTP server's host key (no login) and add it to
    `sftp.known_hosts` — when it matches `expected`, or with `yes`, or when `confirm`
    (None: no terminal to ask on) says so. A changed key is replaced only with `replace`.
    Not trusting is a ConfigError (exit 2) that says how to trust without a question."""
    from ..errors import HostKeyError
    from ..transport.hostkeys import KnownHosts, fetch_host_key, fingerprint, host_pattern

    s = ctx.settings.sftp
    known = KnownHosts.load(s.known_hosts)
    key = fetch_host_key(s.host, s.port, s.connect_timeout, prefer=known.key_types(s.host, s.port))
    fp, name = fingerprint(key), host_pattern(s.host, s.port)
    lines = [f"host:        {s.host}", f"port:        {s.port}", f"key type:    {key.get_name()}",
             f"fingerprint: {fp}"]
    if expected is not None:
        wanted = expected.strip().rstrip("=")
        wanted = wanted if wanted.startswith("SHA256:") else f"SHA256:{wanted}"
        if wanted != fp:
            raise ConfigError(f"fingerprint mismatch: the server {name} presented {fp}, but --fingerprint "
                              f"says {wanted}; nothing was written to {s.known_hosts}")
    try:
        known.check(s.host, s.port, key)
        return TrustOutcome([*lines, f"already trusted in {s.known_hosts}"], True)
    except HostKeyError as exc:
        if exc.changed and not replace:
            raise
        changed = exc.changed
    how = (f"check the fingerprint with the platform, then run `batcher trust-host --fingerprint {fp}` "
           "(or --yes)")
    if expected is None and not yes:
        if confirm is None:
            raise ConfigError("\n".join([*lines, f"not trusted: there is no terminal to ask on; {how}"]))
        for line in lines:
            ctx.emit(Note(line))
        if not confirm(f"Trust this key for {name}?"):
            raise ConfigError(f"not trusted: nothing was written to {s.known_hosts}; {how}")
        lines = []
    if changed:
        removed = known.replace(s.host, s.port, key)
        lines.append(f"removed {len(removed)} old line(s) for {name}")
    else:
        known.add(s.host, s.port, key)
    lines.append(f"trusted {name} {key.get_name()} {fp} in {s.known_hosts}")
    return TrustOutcome(lines, True)


# -- check --------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    exit_code: int
    results: list[CheckResult]


def check(ctx: Context, on_result: Callable[[CheckResult], None] | None = None) -> CheckOutcome:
    """`batcher check`: every check at once, each saying what is wrong; exit code of the
    first kind of failure."""
    from ..check import run_checks

    results = run_checks(ctx.settings, on_result=on_result)
    codes = [r.exit_code for r in results if not r.ok and r.exit_code]
    return CheckOutcome(codes[0] if codes else 0, results)

