"""The command line: click only. Each command turns options into Settings, makes one
call into the library core, and prints the result. Errors from the core are mapped to
the exit codes of SPEC 2 in one place (`main`).
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import BatcherError, exit_code_for
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
@click.option("--file-error-rate", type=click.FloatRange(0, 1), default=0.0, help="Fraction of good files sent to error/.")
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
    sys.exit(rv if isinstance(rv, int) else 0)


__all__ = ["cli", "config_option", "main", "Settings"]
