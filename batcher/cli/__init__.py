"""The command line: click and rich only. Each command turns options into Settings, makes
one call into the job layer (`batcher.jobs`), and prints what it returns. Errors are mapped
to the exit codes of SPEC 2 in one place (`main`).

    __init__.py   the group, --config (before or after the command), main()
    commands.py   the commands
    sim.py        `batcher sim`
    output.py     stdout/stderr, progress bars, plain lines for pipes
    present.py    tables and summaries
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .. import __version__
from ..errors import BatcherError, ConfigError, PlatformUnreachable, exit_code_for
from ..settings import load_settings

__all__ = ["cli", "config_option", "main"]

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"]}


def config_option(needs_config: bool | Callable[[dict[str, Any]], bool] = True, *,
                  warn_secrets: bool = True) -> Callable[[F], F]:
    """`--config PATH` on a command (also accepted before it: `batcher --config F push`);
    the loaded Settings arrive as `settings`. With `needs_config` (or when it says so for
    the command's options), running with no config file at all is an error (exit 2):
    commands that talk to the platform or write state never run on production defaults.
    A secret readable by others is warned about once (`warn_secrets`; `check` lists it
    as a failure instead)."""

    def decorate(func: F) -> F:
        @click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Config file (default: $BATCHER_CONFIG, else ./batcher.toml).",
        )
        @functools.wraps(func)
        def wrapper(*args: Any, config_path: Path | None, **kwargs: Any) -> Any:
            if config_path is None:
                root = click.get_current_context().find_root()
                config_path = (root.obj or {}).get("config_path")
            required = needs_config(kwargs) if callable(needs_config) else needs_config
            settings = load_settings(config_path, require=required)
            if required and warn_secrets:
                warn_loose_secrets(settings)
            return func(*args, settings=settings, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="batcher")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Config file for the command (default: $BATCHER_CONFIG, else ./batcher.toml).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug); tracebacks of bugs.")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """batcher: CSV and spreadsheet drops to Wavy (Sinch LATAM) SMS batches over SFTP.

    \b
    Exit codes: 0 all accepted (rows refused inside a good drop are reported, still 0)
                1 unexpected error          2 usage or configuration error
                3 input rejected as a whole 4 platform unreachable after retries
                5 a file was moved to error/ by the platform
    """
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path
    ctx.obj["verbose"] = verbose


def warn_loose_secrets(settings: Any) -> None:
    """Once per command: a secret readable by others, as OpenSSH warns about a key."""
    from ..privacy import loose_secrets
    from .output import Output

    for exposure in loose_secrets(settings):
        Output().note(exposure.message(), "warning")


def verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    return int(((ctx.find_root().obj or {}) if ctx else {}).get("verbose", 0))


def setup_logging(output: Any, verbose: int) -> None:
    """Library log records through the command's output: warnings always, info with -v."""
    from .output import PlainLogHandler

    root = logging.getLogger("batcher")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = PlainLogHandler(output)
    root.addHandler(handler)
    root.setLevel(max(logging.DEBUG, logging.WARNING - 10 * verbose))
    root.propagate = False


from . import commands as _commands  # noqa: E402  - registers the commands on `cli`
from . import sim as _sim  # noqa: E402

del _commands, _sim


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and map errors to SPEC exit codes."""
    try:
        rv = cli.main(args=argv, prog_name="batcher", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(2)
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
        _report_stray(exc, f"network error: {_os_text(exc)}", argv)
        sys.exit(PlatformUnreachable.exit_code)
    except OSError as exc:
        # the last resort for the environment (a path that is not what it should be,
        # permissions, a full disk): the path and the reason, never a traceback
        _report_stray(exc, _os_text(exc), argv)
        sys.exit(ConfigError.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line (-v for the traceback)
        _report_stray(exc, f"unexpected error ({type(exc).__name__}: {exc}); this is a bug in batcher", argv,
                      bug=True)
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


def _report_stray(exc: BaseException, message: str, argv: list[str] | None, *, bug: bool = False) -> None:
    args = sys.argv[1:] if argv is None else argv
    if any(a == "--verbose" or (a.startswith("-v") and set(a[1:]) == {"v"}) for a in args):
        click.echo(f"error: {message}", err=True)
        traceback.print_exception(exc, file=sys.stderr)
    else:
        hint = " (run with -v for the traceback)" if bug else ""
        click.echo(f"error: {message}{hint}", err=True)

