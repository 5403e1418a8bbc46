"""What the CLI prints, and where: results on stdout, progress on stderr.

- On a terminal: rich tables and colours; upload progress bars on stderr, started when
  the first byte leaves and stopped before anything else is printed, so a summary, the
  bars and the final table never share a line.
- In pipes and logs: plain text, 160 columns (names are never cut), no line padded with
  trailing spaces, every progress line as ``HH:MM:SS message`` (warnings too).

`Output.emit` renders the job layer's events (`batcher.events`); it is the `Emit` every
command hands to `batcher.jobs`.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..events import BatchChanged, DropConverted, DropDone, Event, Note, ReconcileDone, ReportWritten, UploadProgress

__all__ = ["Output", "PlainLogHandler"]

PIPE_WIDTH = 160


class Output:
    """The two consoles of a command, and the live progress display between them."""

    def __init__(self, *, stdout: Any = None, stderr: Any = None, force_terminal: bool | None = None) -> None:
        self.out = Console(file=stdout or sys.stdout, highlight=False, force_terminal=force_terminal)
        self.err = Console(file=stderr or sys.stderr, highlight=False, soft_wrap=True, force_terminal=force_terminal)
        self.tty = self.out.is_terminal
        if not self.tty:
            self.out.width = PIPE_WIDTH
        if not self.err.is_terminal:
            self.err.width = PIPE_WIDTH
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        #: a one-line note per drop converted instead of its whole summary
        self.compact = False

    # -- results (stdout) ---------------------------------------------------------------

    def print(self, renderable: Any = "") -> None:
        """Print a result; in pipes, without the padding rich adds to table cells."""
        self.stop_progress()
        if self.tty:
            self.out.print(renderable)
            return
        with self.out.capture() as captured:
            self.out.print(renderable)
        text = "\n".join(line.rstrip() for line in captured.get().splitlines())
        self.out.file.write(text + "\n")
        self.out.file.flush()

    def line(self, text: str) -> None:
        """One plain line of result (no markup)."""
        self.print(escape(text))

    # -- progress (stderr) --------------------------------------------------------------

    def note(self, text: str, level: str = "info") -> None:
        prefix = "" if level == "info" else f"{level}: "
        if self._progress is not None:
            self._progress.console.print(escape(f"{prefix}{text}"))
        elif self.err.is_terminal:
            self.err.print(escape(f"{prefix}{text}"))
        else:
            self.err.file.write(f"{datetime.now():%H:%M:%S} {prefix}{text}\n")
            self.err.file.flush()

    def upload(self, name: str, sent: int, total: int) -> None:
        if not self.err.is_terminal:
            return
        if self._progress is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            self._progress = Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                console=self.err,
            )
            self._progress.start()
            self._tasks = {}
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._progress.add_task(name, total=total)
        self._progress.update(task, completed=sent, total=total, refresh=True)

    def stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None
            self._tasks = {}

    # -- the job layer's events -----------------------------------------------------------

    def emit(self, event: Event) -> None:
        from .present import print_conversion

        if isinstance(event, Note):
            self.note(event.text, event.level)
        elif isinstance(event, UploadProgress):
            self.upload(event.name, event.sent, event.total)
        elif isinstance(event, DropConverted):
            s = event.summary
            if self.compact:
                files = ", ".join(f.name for f in s.files) or "no file"
                refused = ", ".join(f"{n} {code}" for code, n in s.rejected.most_common())
                self.note(f"{s.source.name}: {s.rows_read} rows, {s.accepted} accepted"
                          + (f", {s.rejected_total} refused ({refused})" if refused else "") + f" -> {files}")
            else:
                print_conversion(self, s)
        elif isinstance(event, BatchChanged):
            b = event.batch
            detail = f" ({b.detail})" if b.detail and b.state.value in ("file_rejected", "stuck") else ""
            self.note(f"{b.remote_name}: {b.state.value}{detail}")
        elif isinstance(event, DropDone):
            where = f" -> {event.moved_to}" if event.moved_to else ""
            why = f": {event.reason}" if event.reason else ""
            level = "info" if event.outcome == "archived" else "warning"
            self.note(f"{event.source}: {event.outcome}{where}{why}", level)
        elif isinstance(event, ReconcileDone):
            r = event.result
            changed = ", ".join(f"{n} {state}" for state, n in sorted(r.changes.items())) or "no change"
            paused = "; paused, goes on where it stopped" if r.paused else ""
            self.note(f"reconcile ({r.mode}): {r.requests} request(s), {r.statuses} status(es), {changed}; "
                      f"{r.outstanding} message(s) still outstanding{paused}")
        elif isinstance(event, ReportWritten):
            self.note(f"report written: {event.path} ({event.rows} rows)")

    def close(self) -> None:
        self.stop_progress()


class PlainLogHandler(logging.Handler):
    """Library warnings (paramiko retries, ...) as ``HH:MM:SS warning: message`` on
    stderr, the same form as every other progress line."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.output = output

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = "info" if record.levelno < logging.WARNING else record.levelname.lower()
            self.output.note(record.getMessage(), level)
        except Exception:  # noqa: BLE001 - logging must never break the command
            self.handleError(record)
