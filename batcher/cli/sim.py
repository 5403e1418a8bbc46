"""`batcher sim`: the embedded platform simulator in the foreground (SPEC 5)."""

from __future__ import annotations

from pathlib import Path

import click

from ..sim.outcomes import OUTCOMES_HELP as SIM_OUTCOMES_HELP
from . import cli

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
@click.option("--error-project", "error_projects", multiple=True, metavar="PROJECT",
              help="Move every file of this project to error/ (repeatable).")
@click.option("--api-sloppy-json", is_flag=True,
              help="Answer with codes as strings, null fields omitted and unknown extra fields.")
@click.option("--list-page", type=int, default=1000, show_default=True,
              help="Most statuses one /list call returns (0: no limit); the rest wait for the next calls.")
@click.option("--rate-limit", type=float, default=1.0, show_default=True,
              help="Status API requests per second per IP before 429 (0: no limit).")
def sim(host: str, port: int, api_port: int, root: Path, username: str, password: str,
        authorized_keys: Path | None, api_username: str, api_token: str, eof_grace: float, sent_delay: float,
        delivered_delay: float, seed: int, file_error_rate: float, drop_after_bytes: int | None,
        drop_connections: int, processing_delay: float, api_5xx_rate: float, api_latency: float,
        api_sloppy_json: bool, list_page: int, rate_limit: float, error_projects: tuple[str, ...]) -> None:
    from ..sim import Faults, SimConfig, run_foreground

    faults = Faults(seed=seed, file_error_rate=file_error_rate, drop_after_bytes=drop_after_bytes,
                    drop_connections=drop_connections, processing_delay=processing_delay,
                    api_5xx_rate=api_5xx_rate, api_latency=api_latency, api_sloppy_json=api_sloppy_json,
                    error_projects=frozenset(error_projects))
    config = SimConfig(root=root, host=host, port=port, api_port=api_port, username=username, password=password,
                       api_username=api_username, api_token=api_token, authorized_keys=authorized_keys,
                       eof_grace=eof_grace, sent_delay=sent_delay, delivered_delay=delivered_delay,
                       rate_limit_per_second=rate_limit, list_page=list_page, faults=faults)
    run_foreground(config, echo=lambda text: click.echo(text))
