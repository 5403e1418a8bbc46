"""The command line: click only. Each command turns options into Settings, makes one
call into the library core, and prints the result. Errors from the core are mapped to
the exit codes of SPEC 2 in one place (`main`).
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.markup import escape

from . import __version__
from .errors import BatcherError, ConfigError, InputError, PlatformUnreachable, exit_code_for
from .settings import Settings, load_settings
from .sim.outcomes import OUTCOMES_HELP as SIM_OUTCOMES_HELP

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("batcher")


def config_option(func: F) -> F:
    """`--config PATH` on every command; the loaded Settings arrive as `settings`."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file (default: $BATCHER_CONFIG, else ./batcher.toml).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, config_path: Path | None, **kwargs: Any) -> Any:
        return func(*args, settings=load_settings(config_path), **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="batcher")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """batcher: CSV and spreadsheet drops to Wavy (Sinch LATAM) SMS batches over SFTP.

    \b
    Exit codes: 0 all accepted (rows refused inside a good drop are reported, still 0)
                1 unexpected error          2 usage or configuration error
                3 input rejected as a whole 4 platform unreachable after retries
                5 a file was moved to error/ by the platform
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("batcher.toml"),
              show_default=True, help="Where to write the starter config.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(output: Path, force: bool) -> None:
    """Write a commented starter config."""
    from .starter import write_starter_config

    write_starter_config(output, overwrite=force)
    click.echo(f"wrote {output}; edit [sftp] and [api], then run `batcher check`")


@cli.command("trust-host")
@click.option("--fingerprint", "expected", metavar="SHA256:...",
              help="Trust the key only if it has this fingerprint (no question asked).")
@click.option("-y", "--yes", is_flag=True, help="Trust the key shown without asking.")
@click.option("--replace", is_flag=True,
              help="Replace a different key trusted before (only once the platform confirmed the change).")
@config_option
def trust_host(settings: Settings, expected: str | None, yes: bool, replace: bool) -> None:
    """Show the SFTP server's host key and add it to [sftp] known_hosts."""
    from .errors import ConfigError, HostKeyError
    from .transport.hostkeys import KnownHosts, fetch_host_key, fingerprint, host_pattern

    s = settings.sftp
    known = KnownHosts.load(s.known_hosts)
    key = fetch_host_key(s.host, s.port, s.connect_timeout, prefer=known.key_types(s.host, s.port))
    fp, name = fingerprint(key), host_pattern(s.host, s.port)
    click.echo(f"host:        {s.host}\nport:        {s.port}\nkey type:    {key.get_name()}\nfingerprint: {fp}")
    if expected is not None:
        wanted = expected.strip().rstrip("=")
        wanted = wanted if wanted.startswith("SHA256:") else f"SHA256:{wanted}"
        if wanted != fp:
            raise ConfigError(f"fingerprint mismatch: the server {name} presented {fp}, but --fingerprint "
                              f"says {wanted}; nothing was written to {s.known_hosts}")
    try:
        known.check(s.host, s.port, key)
        click.echo(f"already trusted in {s.known_hosts}")
        return
    except HostKeyError as exc:
        if exc.changed and not replace:
            raise
        changed = exc.changed
    if expected is None and not yes:
        click.confirm(f"Trust this key for {name}?", abort=True)
    if changed:
        removed = known.replace(s.host, s.port, key)
        click.echo(f"removed {len(removed)} old line(s) for {name}")
    else:
        known.add(s.host, s.port, key)
    click.echo(f"trusted {name} {key.get_name()} {fp} in {s.known_hosts}")


def _today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.defaults.timezone)).date()


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # logs and pipes: never truncate file names to 80 columns
    return console


def _convert_one(
    console: Console,
    source: Path,
    *,
    settings: Settings,
    project: str | None,
    out_dir: Path | None,
    sheet: str | None,
) -> int:
    """Convert (or dry-run) one drop; returns its exit code. Whole-file errors are printed."""
    from .convert import LocalNamer, convert_drop
    from .inbox import project_for
    from .present import print_conversion

    proj = project_for(source, settings, project)
    namer = LocalNamer(out_dir, proj, _today(settings)) if out_dir is not None else None
    try:
        summary = convert_drop(
            source, project=proj, settings=settings, out_dir=out_dir, namer=namer, sheet=sheet
        )
    except InputError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    print_conversion(console, summary, dry_run=out_dir is None)
    if summary.accepted == 0:
        reason = "no data rows" if summary.rows_read == 0 else "no valid row (see the rejected rows)"
        click.echo(f"error: {source}: input rejected as a whole: {reason}", err=True)
        return InputError.exit_code
    return 0


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "-p",
              help="Project (subaccount) to send as; overrides the inbox folder and [defaults] project.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the platform files and NAME.rejected.csv.")
@click.option("--sheet", help="Spreadsheet sheet name (or 1-based index); default: the first sheet.")
@config_option
def convert(files: tuple[Path, ...], project: str | None, out_dir: Path, sheet: str | None, settings: Settings) -> int:
    """Validate drops and write platform batch files into DIR, sending nothing.

    Sequence numbers here are local: allocated above the files already in DIR.
    Exit 3 if a file is rejected as a whole (the others are still converted).
    """
    console = _console()
    worst = 0
    for source in files:
        worst = max(worst, _convert_one(console, source, settings=settings, project=project,
                                        out_dir=out_dir, sheet=sheet))
    return worst


class _Feedback:
    """Progress for the core: a rich progress bar on a terminal, plain log lines otherwise."""

    def __init__(self, console: Console):
        self.console = console
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.tty = self.err.is_terminal
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _Feedback:
        if self.tty:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            self._progress = Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=self.err, transient=True,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End the progress display (before the final tables are printed)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def notify(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(escape(message))
        else:
            click.echo(f"{datetime.now().strftime('%H:%M:%S')} {message}", err=True)

    def upload(self, name: str, sent: int, total: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total)
        self._progress.update(task, completed=sent)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--project", "-p",
              help="Project (subaccount) to send as; overrides the inbox folder and [defaults] project.")
@click.option("--dry-run", is_flag=True, help="Convert and report (rows, rejects, segments, cost) without uploading.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until each file reaches success/ or error/ (bounded by poll.timeout).")
@click.option("--force", is_flag=True, help="Send again content that was already sent for this project.")
@click.option("--sheet", help="Spreadsheet sheet name (or 1-based index); default: the first sheet.")
@config_option
def push(files: tuple[Path, ...], project: str | None, dry_run: bool, wait: bool, force: bool,
         sheet: str | None, settings: Settings) -> int:
    """Validate, convert and upload drops; by default wait for the platform's verdict.

    \b
    The same content pushed again for the same project is refused (exit 3) naming the
    earlier batch, unless --force. A push interrupted by a crash is resumed by running
    it again: nothing already sent is sent twice.
    """
    from .inbox import project_for

    console = _console()
    if dry_run:
        worst = 0
        for source in files:
            worst = max(worst, _convert_one(console, source, settings=settings, project=project,
                                            out_dir=None, sheet=sheet))
        return worst

    from .pipeline import Delivery, PushResult, exit_code_for_batches
    from .present import print_batches, print_conversion
    from .store import Store
    from .transport import SftpTransport

    projects = {source: project_for(source, settings, project) for source in files}
    worst = 0
    batch_ids: list[int] = []
    results: list[PushResult] = []
    with Store.open(settings.paths.state_dir) as store, \
            SftpTransport(settings.sftp, settings.sftp_password()) as transport, \
            _Feedback(console) as feedback:
        delivery = Delivery(settings, store, transport, notify=feedback.notify, progress=feedback.upload)
        for source in files:
            try:
                result = delivery.push(source, project=projects[source], force=force, sheet=sheet)
            except InputError as exc:
                click.echo(f"error: {exc}", err=True)
                worst = max(worst, exc.exit_code)
                continue
            if result.summary is not None:
                print_conversion(console, result.summary)
            results.append(result)
            batch_ids.extend(b.id for b in result.batches)
        feedback.stop()
        batches = [b for b in (store.get_batch(i) for i in batch_ids) if b is not None]
        if wait and batches:
            feedback.notify(f"waiting for the platform (up to {settings.poll.timeout:.0f} s)")
            batches = delivery.wait(batch_ids)
        if batches:
            print_batches(console, batches)
        delivery.mark_reported(results)
        worst = max(worst, exit_code_for_batches(batches))
    return worst


@cli.command()
@click.argument("batch", required=False)
@click.option("--all", "show_all", is_flag=True, help="Show every batch, not only the latest 50.")
@config_option
def status(batch: str | None, show_all: bool, settings: Settings) -> int:
    """Batches and their states, or one BATCH (id or remote name) in detail."""
    from .present import print_batch_detail, print_batches
    from .store import Store

    console = _console()
    with Store.open(settings.paths.state_dir) as store:
        if batch is None:
            batches = store.batches()
            if not batches:
                console.print("no batches yet")
                return 0
            print_batches(console, batches if show_all else batches[-50:])
            return 0
        record = store.find_batch(batch)
        if record is None:
            raise click.UsageError(f"no batch {batch!r} (give a batch id or a remote file name)")
        print_batch_detail(console, record, store)
    return 0


@cli.command()
@config_option
def check(settings: Settings) -> int:
    """Test SFTP login, host key, remote directories, write permission and API credentials.

    Exit 0 when everything is in place; otherwise the exit code of the first kind of
    failure (2 configuration, host key or credentials; 4 unreachable or refused).
    """
    from .check import CheckResult, run_checks

    console = _console()

    def show(r: CheckResult) -> None:
        mark = "[yellow]skip[/yellow]" if r.skipped else ("[green]ok[/green]  " if r.ok else "[red]FAIL[/red]")
        console.print(f"{mark}  {r.name}: {escape(r.detail)}")

    results = run_checks(settings, on_result=show)
    codes = [r.exit_code for r in results if not r.ok and r.exit_code]
    return codes[0] if codes else 0


_SIM_HELP = """Run the embedded platform simulator (SFTP server, file processor, status API)
in the foreground until Ctrl-C / SIGTERM. Prints how to connect.

\b
""" + SIM_OUTCOMES_HELP


@cli.command(help=_SIM_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=2222, show_default=True, help="SFTP port (0: a free one).")
@click.option("--api-port", type=int, default=8022, show_default=True, help="Status API port (0: a free one).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("sim-root"),
              show_default=True, help="Directory holding upload/ success/ error/ and the host key.")
@click.option("--username", default="batcher", show_default=True, help="SFTP user.")
@click.option("--password", default="batcher", show_default=True, help="SFTP password.")
@click.option("--authorized-keys", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="OpenSSH authorized_keys file enabling public-key login for the SFTP user.")
@click.option("--api-username", default="batcher", show_default=True, help="Status API username header.")
@click.option("--api-token", default="batcher-token", show_default=True, help="Status API authenticationtoken.")
@click.option("--eof-grace", type=float, default=30.0, show_default=True,
              help="Seconds an unchanged file without EOF waits before going to error/.")
@click.option("--sent-delay", type=float, default=1.0, show_default=True, help="Seconds until the sent status.")
@click.option("--delivered-delay", type=float, default=3.0, show_default=True,
              help="Seconds until the delivered status.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every simulated fault.")
@click.option("--file-error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="Fraction of good files sent to error/.")
@click.option("--drop-after-bytes", type=click.IntRange(min=0), default=None,
              help="Drop an SFTP connection after this many bytes of file data.")
@click.option("--drop-connections", type=click.IntRange(min=0), default=1, show_default=True,
              help="How many connections --drop-after-bytes drops.")
@click.option("--processing-delay", type=float, default=0.0, help="Seconds a complete file waits before it is moved.")
@click.option("--api-5xx-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of API requests answered 5xx.")
@click.option("--api-latency", type=float, default=0.0, help="Seconds every API answer is delayed.")
def sim(host: str, port: int, api_port: int, root: Path, username: str, password: str,
        authorized_keys: Path | None, api_username: str, api_token: str, eof_grace: float, sent_delay: float,
        delivered_delay: float, seed: int, file_error_rate: float, drop_after_bytes: int | None,
        drop_connections: int, processing_delay: float, api_5xx_rate: float, api_latency: float) -> None:
    from .sim import Faults, SimConfig, run_foreground

    faults = Faults(seed=seed, file_error_rate=file_error_rate, drop_after_bytes=drop_after_bytes,
                    drop_connections=drop_connections, processing_delay=processing_delay,
                    api_5xx_rate=api_5xx_rate, api_latency=api_latency)
    config = SimConfig(root=root, host=host, port=port, api_port=api_port, username=username, password=password,
                       api_username=api_username, api_token=api_token, authorized_keys=authorized_keys,
                       eof_grace=eof_grace, sent_delay=sent_delay, delivered_delay=delivered_delay, faults=faults)
    run_foreground(config, echo=lambda text: click.echo(text))


@cli.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("batcher-demo"),
              show_default=True, help="Folder for the demo (wiped first if an earlier demo made it).")
def demo(workdir: Path) -> int:
    """The whole job end to end on the embedded simulator, with nothing to configure."""
    from .demo import run_demo

    return run_demo(workdir, console=_console())


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to SPEC exit codes."""
    try:
        rv = cli.main(args=argv, prog_name="batcher", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BatcherError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except (ConnectionError, TimeoutError, socket.gaierror) as exc:
        # the last resort: adapters translate these; one that slipped through still
        # means the platform could not be reached
        _report_stray(exc, f"network error: {_os_text(exc)}")
        sys.exit(PlatformUnreachable.exit_code)
    except OSError as exc:
        # the last resort for the environment (a path that is not what it should be,
        # permissions, a full disk): the path and the reason, never a traceback
        _report_stray(exc, _os_text(exc))
        sys.exit(ConfigError.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line (-v for the traceback)
        _report_stray(exc, f"unexpected error ({type(exc).__name__}: {exc}); this is a bug in batcher", bug=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _os_text(exc: OSError) -> str:
    """``PATH: reason`` for an OSError (both paths for a rename), else the reason."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.filename is not None and exc.filename2 is not None:
        return f"{exc.filename} -> {exc.filename2}: {reason}"
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason


def _report_stray(exc: BaseException, message: str, *, bug: bool = False) -> None:
    verbose = logging.getLogger().isEnabledFor(logging.INFO)
    if verbose:
        log.error("%s", message, exc_info=exc)
    else:
        hint = " (run with -v for the traceback)" if bug else ""
        click.echo(f"error: {message}{hint}", err=True)


__all__ = ["Settings", "cli", "config_option", "main"]
