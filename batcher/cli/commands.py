"""The commands of SPEC 2 (and `init`, `check`, `trust-host`): options -> Settings -> one
call into `batcher.jobs` -> printed outcome and exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from .. import jobs
from ..ingest import ColumnChoice
from ..settings import Settings, parse_duration
from . import cli, config_option, setup_logging, verbosity
from .output import Output
from .present import outcome_line, print_batch_detail, print_batches, print_conversion

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
PROJECT = click.option("--project", "-p",
                       help="Project (subaccount) to send as; overrides the inbox folder and [defaults] project.")
SHEET = click.option("--sheet", help="Spreadsheet sheet name (or 1-based index); default: the first sheet.")


def column_options(func: Any) -> Any:
    """--number-column / --text-column / --id-column: a header name or a 1-based position."""
    for name, what in (("id", "correlationId"), ("text", "text"), ("number", "number")):
        func = click.option(f"--{name}-column", f"{name}_column", metavar="NAME|N",
                            help=f"The {what} column, by header name or position (1, 2...); "
                                 "else [columns], else found by its name.")(func)
    return func


def _columns(settings: Settings, number: str | None, text: str | None, cid: str | None) -> ColumnChoice:
    return ColumnChoice.from_settings(settings).overriding(number=number, text=text, correlation_id=cid)


def _context(settings: Settings, output: Output) -> jobs.Context:
    setup_logging(output, verbosity())
    return jobs.Context(settings, emit=output.emit)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("batcher.toml"),
              show_default=True, help="Where to write the starter config.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(output: Path, force: bool) -> None:
    """Write a commented starter config (readable by you only: it will hold the password)."""
    from ..starter import write_starter_config

    write_starter_config(output, overwrite=force)
    click.echo(f"wrote {output}; fill in [sftp] and [api], then run `batcher trust-host` and `batcher check`")


@cli.command("trust-host")
@click.option("--fingerprint", "expected", metavar="SHA256:...",
              help="Trust the key only if it has this fingerprint (no question asked).")
@click.option("-y", "--yes", is_flag=True, help="Trust the key shown without asking.")
@click.option("--replace", is_flag=True,
              help="Replace a different key trusted before (only once the platform confirmed the change).")
@config_option()
def trust_host(settings: Settings, expected: str | None, yes: bool, replace: bool) -> None:
    """Show the SFTP server's host key and add it to [sftp] known_hosts."""
    interactive = sys.stdin.isatty()

    def confirm(question: str) -> bool:
        return click.confirm(question, default=False)

    outcome = jobs.trust_host(jobs.Context(settings), expected=expected, yes=yes, replace=replace,
                              confirm=confirm if interactive else None)
    for line in outcome.lines:
        click.echo(line)


@cli.command()
@FILES
@PROJECT
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the platform files and NAME.rejected.csv.")
@SHEET
@column_options
@config_option(needs_config=False)
def convert(files: tuple[Path, ...], project: str | None, out_dir: Path, sheet: str | None,
            number_column: str | None, text_column: str | None, id_column: str | None, settings: Settings) -> int:
    """Validate drops and write platform batch files into DIR, sending nothing.

    Sequence numbers here are local: allocated above the files already in DIR.
    Exit 3 if a file is rejected as a whole (the others are still converted).
    """
    output = Output()
    outcome = jobs.convert(_context(settings, output), files, project=project, out_dir=out_dir, sheet=sheet,
                           columns=_columns(settings, number_column, text_column, id_column),
                           on_summary=lambda s: print_conversion(output, s))
    return outcome.exit_code


@cli.command()
@FILES
@PROJECT
@click.option("--dry-run", is_flag=True, help="Convert and report (rows, rejects, segments, cost) without uploading.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until each file reaches success/ or error/ (bounded by poll.timeout).")
@click.option("--force", is_flag=True, help="Send again content that was already sent for this project.")
@SHEET
@column_options
@config_option(needs_config=lambda kw: not kw.get("dry_run"))
def push(files: tuple[Path, ...], project: str | None, dry_run: bool, wait: bool, force: bool,
         sheet: str | None, number_column: str | None, text_column: str | None, id_column: str | None,
         settings: Settings) -> int:
    """Validate, convert and upload drops; by default wait for the platform's verdict.

    \b
    The same content pushed again for the same project is refused (exit 3) naming the
    earlier batch, unless --force. A push interrupted by a crash is resumed by running
    it again: nothing already sent is sent twice.
    """
    output = Output()
    ctx = _context(settings, output)
    columns = _columns(settings, number_column, text_column, id_column)
    if dry_run:
        outcome = jobs.convert(ctx, files, project=project, out_dir=None, sheet=sheet, columns=columns,
                               on_summary=lambda s: print_conversion(output, s, dry_run=True))
        return outcome.exit_code
    try:
        pushed = jobs.push(ctx, files, project=project, force=force, sheet=sheet, columns=columns, wait=wait)
    finally:
        output.close()
    if pushed.batches:
        print_batches(output, pushed.batches, pushed.outcomes if wait else None)
    return pushed.exit_code


@cli.command()
@click.argument("ref", metavar="[BATCH|DROP]", required=False)
@click.option("--all", "show_all", is_flag=True, help="Show every batch, not only the latest 50.")
@config_option()
def status(ref: str | None, show_all: bool, settings: Settings) -> int:
    """Batches with their messages by outcome, or one BATCH (id or remote name) or DROP
    (d12, or the name of the file dropped) in detail."""
    output = Output()
    with jobs.status(jobs.Context(settings), ref, show_all=show_all) as view:
        if view.detail is not None:
            assert view.store is not None
            print_batch_detail(output, view.detail, view.store)
            return 0
        if view.drop is not None:
            d = view.drop
            output.line(f"drop d{d.id}: {d.source_name} ({d.source_path}), project {d.project}, {d.status}; "
                        f"read {d.rows_read}, accepted {d.rows_accepted}, refused {d.rows_rejected}")
            if d.detail:
                output.line(f"  {d.detail}")
            if view.refused:
                output.line("  refused: " + ", ".join(f"{n} {code}" for code, n in view.refused.most_common()))
            if d.archived_to:
                output.line(f"  archived to {d.archived_to}")
        if not view.batches:
            output.line("no batches yet" if view.drop is None else "  no batch was sent")
            return 0
        print_batches(output, view.batches, view.outcomes)
    return 0


@cli.command()
@click.argument("ref", metavar="BATCH|DROP")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("-o", "--output", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (never over an existing one: NAME.2.csv...); default: stdout.")
@config_option()
def report(ref: str, fmt: str, out: Path | None, settings: Settings) -> int:
    """One row per input row of a DROP (d12, or the name of the file dropped; refused rows
    included, outcome `refused`), or per message of a BATCH (id or remote name).

    \b
    Outcomes: delivered, not_delivered, sent_final, sent, pending, rejected, expired,
    not_sent, refused. CSV is UTF-8 with BOM (in a file), ';'-separated
    (format.csv_delimiter), cells neutralised against formulas; JSON is a list of rows.
    """
    output = Output(stdout=sys.stderr) if out is None else Output()
    outcome = jobs.report(jobs.Context(settings), ref, fmt=fmt,  # type: ignore[arg-type]
                          output=out, stream=sys.stdout if out is None else None)
    s = outcome.summary
    if outcome.path is not None:
        output.line(f"wrote {outcome.path} ({s.rows} rows)")
    output.line(f"{outcome.kind} {ref}: {s.rows} rows: {outcome_line(s.by_outcome)}")
    for why, n in s.by_reason.most_common():
        output.line(f"  {n} {why}")
    return outcome.exit_code


@cli.command()
@click.option("--until-final", is_flag=True, help="Keep reconciling until no message is outstanding.")
@click.option("--deadline", metavar="DURATION", default=None,
              help="With --until-final: stop after this long (e.g. 30m, 2h), messages still outstanding.")
@config_option()
def reconcile(until_final: bool, deadline: str | None, settings: Settings) -> int:
    """Ask the status API about every message not final and record its outcome.

    Exit 0 even with messages outstanding (they stay pending/sent); 2 for bad API
    credentials; 4 when the API is unreachable after retries.
    """
    limit = None
    if deadline is not None:
        try:
            limit = parse_duration(deadline)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--deadline") from None
    output = Output()
    outcome = jobs.reconcile(_context(settings, output), until_final=until_final, deadline=limit)
    last = outcome.passes[-1] if outcome.passes else None
    if last is not None:
        output.line(f"{last.outstanding} message(s) still outstanding" if last.outstanding
                    else "every message has its final outcome")
    return outcome.exit_code


@cli.command()
@config_option(warn_secrets=False)
def check(settings: Settings) -> int:
    """Test SFTP login, host key, remote directories, write permission and API credentials.

    Reports at once (no retries). Exit 0 when everything is in place; otherwise the exit
    code of the first kind of failure (2 configuration, host key or credentials; 4
    unreachable or refused).
    """
    from ..check import CheckResult

    output = Output()

    def show(r: CheckResult) -> None:
        mark = "[yellow]skip[/yellow]" if r.skipped else ("[green]ok[/green]  " if r.ok else "[red]FAIL[/red]")
        output.print(f"{mark}  {r.name}: {escape(r.detail)}")

    return jobs.check(_context(settings, output), on_result=show).exit_code


LOG_FORMAT = click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
                          help="One line per drop and per outcome: text for people, JSON for log collectors.")


def _log_context(settings: Settings, log_format: str) -> tuple[jobs.Context, Any]:
    from .logs import EventLog

    log = EventLog(log_format)  # type: ignore[arg-type]
    setup_logging(log, verbosity())
    return jobs.Context(settings, emit=log.emit), log


@cli.command()
@LOG_FORMAT
@config_option()
def run(log_format: str, settings: Settings) -> int:
    """One pass for cron: send every settled drop of the inbox, poll every outstanding
    upload, reconcile once, write reports, purge if [retention] days is set; then exit.

    \b
    Each processed drop moves to archive/YYYYMMDD/ (refused rows beside it), a drop
    refused as a whole to rejected/ with NAME.errors.csv. Overlapping runs, or a run
    beside a watch, never send anything twice: a run that finds the inbox taken says so
    and does the rest. Exit 3 when the only drops were refused as a whole.
    """
    ctx, _ = _log_context(settings, log_format)
    return jobs.run(ctx).exit_code


@cli.command()
@LOG_FORMAT
@click.option("--reconcile-every", metavar="DURATION", default="60s", show_default=True,
              help="How often to ask the status API about messages not final.")
@config_option()
def watch(log_format: str, reconcile_every: str, settings: Settings) -> int:
    """Daemon: send each drop of the inbox once it is completely written, poll uploads,
    reconcile statuses on a schedule, write reports. Stops cleanly on SIGINT/SIGTERM
    (the current step finishes); a restart resumes where the state says.

    \b
    A drop is read once it has not changed for [watch] settle_seconds and no process
    holds it open for writing; temporary names (~$x.xlsx, *.part, *.tmp, dot-files...)
    are ignored. The inbox is also rescanned every [watch] rescan_interval, so files
    present at start and files on network folders are never left behind.
    """
    import signal
    import threading

    try:
        every = parse_duration(reconcile_every)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--reconcile-every") from None
    ctx, _ = _log_context(settings, log_format)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return jobs.watch(ctx, stop, reconcile_every=every)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@cli.command()
@click.option("--dry-run", is_flag=True, help="Say what would be removed and how much space it frees.")
@config_option()
def purge(dry_run: bool, settings: Settings) -> int:
    """Apply [retention] days: remove the numbers, texts and files of drops older than
    that whose outcome is final (counts, states and events stay). Off by default."""
    output = Output()
    plan = jobs.purge(_context(settings, output), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    output.line(f"{len(plan.drops)} drop(s) older than {plan.cutoff} with a final outcome: {verb} "
                f"{len(plan.files)} file(s), {plan.bytes / 1e6:.1f} MB"
                + ("" if dry_run else f"; numbers and texts of {plan.messages} message(s) and "
                                       f"{plan.refused} refused row(s) cleared"))
    for drop in plan.drops:
        output.line(f"  d{drop.id} {drop.source_name} ({drop.created_at[:10]})")
    if dry_run:
        for path in plan.files:
            output.line(f"  {path}")
    return 0


@cli.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("batcher-demo"),
              show_default=True, help="Folder for the demo (wiped first if an earlier demo made it).")
def demo(workdir: Path) -> int:
    """The whole job end to end on the embedded simulator, with nothing to configure."""
    from ..demo import run_demo

    output = Output()
    try:
        return run_demo(workdir, output=output)
    finally:
        output.close()

