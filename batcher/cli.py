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
