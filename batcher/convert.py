"""One drop -> platform batch files + rejected rows + a summary (SPEC 3).

This is the glue between the readers (`ingest`), the pure validation (`validate`) and
the pure formatting (`render`): it streams rows one at a time, so memory stays flat
however large the drop is, and it does the file I/O of the outputs:

- platform files are written to a hidden temp name and renamed into place only when
  complete, so a crash never leaves a half file that looks finished;
- a drop over `format.max_rows_per_file` accepted rows becomes several files;
- refused rows go to `NAME.rejected.csv` (the original cells, then `line`, `code`,
  `reason`), a CSV for people (`peoplecsv`: UTF-8 with a BOM, `;`-separated by
  default, every cell neutralised against formula injection, never overwritten).

Two engines produce the same bytes: the row path here (`_pump`, one row at a time,
the reference) and the columnar engine (`batcher.columnar`, vectorised batches, with
every row its expressions cannot decide handed to the same `Validator`).
`convert_drop(engine="auto")` uses the columnar one when polars is installed and the
drop is one it can read exactly as the row path does, else the row path.

What was converted reaches the caller through a `ConversionSink`: accepted messages
as columns per output file (`MessageColumns`), refused rows as `Rejection` lists (with
the drop's column map), each file's messages only after `namer` has named that file.

The input file is only ever read.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import logging
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from .errors import ConfigError, InputError
from .fsutil import ensure_private_dir, open_private
from .ingest import SHEET_SUFFIXES, TEXT_SUFFIXES, ColumnChoice, Table, open_regular, open_table
from .models import ColumnMap, Message, MessageColumns, RawRow, Rejection
from .peoplecsv import DEFAULT_DELIMITER, PeopleCsvWriter
from .render import EOF_LINE, HEADER_LINE, FileLayout, batch_file_name, parse_batch_name, render_line
from .sequence import next_sequence
from .settings import Settings
from .validate import ValidationPolicy, Validator

__all__ = [
    "ENGINES",
    "ConversionSink",
    "ConversionSummary",
    "LocalNamer",
    "MessageColumns",
    "WrittenFile",
    "content_hash",
    "convert_drop",
    "rejected_file_name",
]

HASH_CHUNK = 1 << 20
MAX_NAME_TRIES = 10_000
PROGRESS_EVERY = 10_000

#: called with the index (0, 1, ...) of each output file when it is opened; returns its name
Namer = Callable[[int], str]
#: called for each accepted message with the index of the file it was written to
MessageSink = Callable[[int, Message], None]
Engine = Literal["auto", "row", "columnar"]
ENGINES: tuple[Engine, ...] = ("auto", "row", "columnar")
SINK_CHUNK = 50_000  # rows per MessageColumns / per refused list the row path hands a sink

log = logging.getLogger(__name__)


class ConversionSink(Protocol):
    """Where a conversion's rows go besides the files (`push` records them).

    `accepted` gets each output file's messages in line order, in one or more chunks,
    after `namer` named that file (a dry run has one file, index 0); `refused` gets the
    refused rows in line order, in chunks, with the drop's column map (which cell is the
    number, the text, the correlationId). Nothing arrives for a conversion that fails.
    Both are called before `convert_drop` returns."""

    def accepted(self, batch: MessageColumns) -> None: ...

    def refused(self, rejections: list[Rejection], columns: ColumnMap) -> None: ...


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    name: str
    rows: int
    size: int
    sha256: str


@dataclass
class ConversionSummary:
    source: Path
    project: str
    kind: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    content_hash: str = ""
    rows_read: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    replacements: Counter[str] = field(default_factory=Counter)
    messages_by_encoding: Counter[str] = field(default_factory=Counter)
    segments_by_encoding: Counter[str] = field(default_factory=Counter)
    segment_price: float = 0.0
    files: list[WrittenFile] = field(default_factory=list)
    rejected_file: Path | None = None
    first_rejections: list[Rejection] = field(default_factory=list)
    columns: ColumnMap | None = None
    engine: str = "row"  # which engine produced it: "row" or "columnar"

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def segments_total(self) -> int:
        return sum(self.segments_by_encoding.values())

    @property
    def estimated_cost(self) -> float | None:
        return self.segments_total * self.segment_price if self.segment_price else None


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: how a drop is recognised when it comes again.

    Only a regular file is read (`ingest.open_regular`): a FIFO or a device named like
    a drop is refused before the first byte, instead of hashing for ever."""
    with open_regular(path) as fh:
        try:
            return _sha256_of(fh)
        except OSError as exc:
            raise InputError(path, f"cannot read the file ({exc.strerror or exc})") from None


#: the longest name (in UTF-8 bytes) derived from an input name: room under NAME_MAX
#: (255) for the hidden ".NAME.tmp" of an atomic write and a ".NNNNN" collision suffix
MAX_DERIVED_NAME = 200


def rejected_file_name(source: Path) -> str:
    """``NAME.rejected.csv`` for input ``NAME.csv``. A stem so long that the name (or
    its temporary ``.NAME.rejected.csv.tmp``) would pass the file system's 255-byte
    limit keeps its start and gets a short hash of the whole stem instead."""
    return bounded_name(source.stem, ".rejected.csv")


def bounded_name(stem: str, suffix: str, limit: int = MAX_DERIVED_NAME) -> str:
    """``stem + suffix`` when it fits in `limit` UTF-8 bytes, else the start of `stem`,
    ``~`` and 8 hex digits of its SHA-256, then `suffix` (distinct stems stay distinct)."""
    name = stem + suffix
    if len(name.encode("utf-8", "surrogateescape")) <= limit:
        return name
    tag = "~" + hashlib.sha256(stem.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    room = limit - len((tag + suffix).encode("utf-8"))
    head = stem.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return head + tag + suffix


class LocalNamer:
    """Names for `batcher convert -o DIR`: ``PROJECT.YYYYMMDD.NN.txt`` with NN above the
    highest already in DIR, each name claimed exclusively (an ``O_EXCL`` placeholder
    made by the file writer), so that concurrent runs into one folder never share a
    file: when another run took NN first, this one takes the next NN."""

    def __init__(self, out_dir: Path, project: str, day: date):
        self.project = project
        self.day = day
        names = [p.name for p in out_dir.iterdir()] if out_dir.is_dir() else []
        self.next = next_sequence(names, project, day)

    def __call__(self, index: int) -> str:
        name = batch_file_name(self.project, self.day, self.next)
        self.next += 1
        return name

    def taken(self, name: str) -> None:
        """`name` was claimed by someone else meanwhile: the next call gives a higher NN."""
        parsed = parse_batch_name(name)
        if parsed is not None:
            self.next = max(self.next, parsed[2] + 1)


def local_namer(out_dir: Path, project: str, day: date) -> LocalNamer:
    """Names for `batcher convert -o DIR`: sequence numbers local to DIR, allocated above
    the platform files already there, each claimed exclusively (see `LocalNamer`)."""
    return LocalNamer(out_dir, project, day)


def convert_drop(
    source: Path,
    *,
    project: str,
    settings: Settings,
    out_dir: Path | None,
    namer: Namer | None = None,
    rejected_dir: Path | None = None,
    sheet: str | None = None,
    columns: ColumnChoice | None = None,
    drop_key: str | None = None,
    digest: str | None = None,
    on_message: MessageSink | None = None,
    progress: Callable[[int], None] | None = None,
    keep_rejections: int = 20,
    sink: ConversionSink | None = None,
    engine: Engine = "auto",
) -> ConversionSummary:
    """Convert one drop.

    `out_dir=None` is a dry run: everything is validated and counted, nothing written.
    `columns` names columns explicitly (default: the `[columns]` section of `settings`).
    `namer(i)` names output file i (required when writing). `drop_key` seeds generated
    correlationIds (default: the first 12 hex digits of the content hash), so the same
    drop always yields the same ids. Raises `InputError` when the file as a whole
    cannot be used; a drop whose rows were all refused is returned with accepted == 0
    (the caller decides what that means).

    `sink` receives the accepted messages (in bulk) and the refused rows; `on_message`
    is the older per-message callback. `engine`: "auto" (columnar when it can, else
    the row path), "row", or "columnar" (raises `batcher.columnar.Ineligible` for a
    drop it cannot take); both give the same files, rejections and summary.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    columnar = engine == "columnar" or (engine == "auto" and source.suffix.lower() in TEXT_SUFFIXES + SHEET_SUFFIXES)
    if columnar and source.suffix.lower() in TEXT_SUFFIXES:
        _import_soon("batcher.columnar.engine")  # while the drop is hashed
    digest = digest or content_hash(source)
    summary = ConversionSummary(
        source=source,
        project=project,
        content_hash=digest,
        segment_price=settings.text.segment_price,
    )
    layout = FileLayout.from_settings(settings)
    policy = ValidationPolicy.from_settings(settings)
    max_rows = settings.format.max_rows_per_file
    if out_dir is not None and namer is None:
        raise ValueError("namer is required when writing files")
    key = drop_key or digest[:12]
    rejected_path = (rejected_dir or out_dir) / rejected_file_name(source) if out_dir is not None else None
    choice = columns or ColumnChoice.from_settings(settings)

    def opener() -> Table:
        """The row path's reader, the same for both engines (encoding, delimiter, columns)."""
        return open_table(source, sheet=sheet, columns=choice)

    if columnar:
        done = _convert_columnar(
            source, summary, opener, settings=settings, out_dir=out_dir, namer=namer, rejected_path=rejected_path,
            drop_key=key, on_message=on_message, sink=sink, progress=progress, sheet=sheet, choice=choice,
            keep_rejections=keep_rejections, forced=engine == "columnar",
        )
        if done:
            return summary

    with opener() as table:
        summary.kind, summary.encoding = table.kind, table.encoding
        summary.delimiter, summary.sheet = table.delimiter, table.sheet
        summary.columns = table.columns
        buffer = _SinkBuffer(sink, table.columns) if sink is not None else None
        if buffer is not None:
            on_message = buffer.message if on_message is None else _both(on_message, buffer.message)
        validator = Validator(policy, table.columns, key)
        checker = validator if table.screen is None else _Screened(table.screen, validator)
        files = _FileRotator(out_dir, namer, layout, max_rows) if out_dir is not None else None
        rejects = _RejectWriter(rejected_path, table.columns, settings.format.csv_delimiter)
        try:
            with _cyclic_gc_paused():
                _pump(table.rows, checker, summary, files, rejects, on_message, progress, keep_rejections,
                      buffer.refused if buffer is not None else None)
        except BaseException:
            if files is not None:
                files.abort()
            rejects.abort()
            raise
        if files is not None:
            summary.files = files.finish()
        summary.rejected_file = rejects.finish()
        summary.replacements.update(validator.replacements)
    if buffer is not None:
        buffer.flush()
    return summary


def _import_soon(module: str) -> None:
    """Import the columnar engine in a thread while this one hashes a text drop or
    loads a sheet (importing polars takes 0.15 s; hashlib and calamine let go of the
    GIL); an import that fails there fails again, and is handled, where it is used."""
    if module not in sys.modules:
        threading.Thread(target=_quietly_import, args=(module,), name="batcher-import", daemon=True).start()


def _quietly_import(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - imported again where it is used, failing there if it must
        log.debug("importing %s ahead: %s", module, exc)


def _convert_columnar(
    source: Path,
    summary: ConversionSummary,
    opener: Callable[[], Table],
    *,
    settings: Settings,
    out_dir: Path | None,
    namer: Namer | None,
    rejected_path: Path | None,
    drop_key: str,
    on_message: MessageSink | None,
    sink: ConversionSink | None,
    progress: Callable[[int], None] | None,
    keep_rejections: int,
    sheet: str | None,
    choice: ColumnChoice,
    forced: bool,
) -> bool:
    """The columnar engine into `summary`; False when the row path must do it instead."""
    from .columnar import Ineligible

    try:
        if source.suffix.lower() in SHEET_SUFFIXES:
            from .columnar import excel

            name = excel.check(source, sheet)
            _import_soon("batcher.columnar.sheet")  # while calamine loads it, without the GIL
            loaded = excel.load(source, name)
            from .columnar import sheet as columnar_sheet
        else:
            from .columnar import engine as columnar
    except ImportError:
        if forced:
            raise
        return False
    except Ineligible as exc:
        if forced:
            raise
        log.debug("%s: the row path converts it (columnar engine: %s)", source, exc)
        return False
    common: dict[str, Any] = {
        "policy": ValidationPolicy.from_settings(settings),
        "drop_key": drop_key,
        "layout": FileLayout.from_settings(settings),
        "max_rows": settings.format.max_rows_per_file,
        "out_dir": out_dir,
        "reject_writer": lambda columns: _RejectWriter(rejected_path, columns, settings.format.csv_delimiter),
        "buffer": sink is not None or on_message is not None,
        "progress": progress,
        "keep_rejections": keep_rejections,
    }
    try:
        with _cyclic_gc_paused():
            if source.suffix.lower() in SHEET_SUFFIXES:
                outcome = columnar_sheet.convert_sheet(source, loaded, choice=choice, **common)
            else:
                outcome = columnar.convert_text(source, opener=opener, **common)
    except Ineligible as exc:
        if forced:
            raise
        log.debug("%s: the row path converts it (columnar engine: %s)", source, exc)
        return False
    try:
        if out_dir is not None:
            assert namer is not None
            for index, output in enumerate(outcome.files):
                name, final = claim_batch_name(out_dir, namer, index)
                os.replace(output.path, final)  # over our own placeholder
                outcome.named.append(final)
                summary.files.append(WrittenFile(final, name, output.rows, output.size, output.sha256))
        summary.rejected_file = outcome.rejects.finish()
        summary.kind, summary.encoding, summary.delimiter = outcome.kind, outcome.encoding, outcome.delimiter
        summary.sheet = outcome.sheet
        summary.columns = outcome.columns
        summary.rows_read, summary.accepted = outcome.rows_read, outcome.accepted
        summary.rejected.update(outcome.rejected)
        summary.replacements.update(outcome.replacements)
        summary.messages_by_encoding.update(outcome.messages_by_encoding)
        summary.segments_by_encoding.update(outcome.segments_by_encoding)
        summary.first_rejections = outcome.first_rejections
        summary.engine = "columnar"
        if progress is not None:
            progress(outcome.rows_read)

        def accepted(index: int, *columns: list) -> None:
            batch = MessageColumns(index, *columns)
            if on_message is not None:
                for msg in batch.messages():
                    on_message(index, msg)
            if sink is not None:
                sink.accepted(batch)

        def refused(rejections: list[Rejection]) -> None:
            assert sink is not None and outcome.columns is not None
            sink.refused(rejections, outcome.columns)

        outcome.replay(accepted if sink is not None or on_message is not None else None,
                       refused if sink is not None else None)
    except BaseException:
        outcome.rejects.abort()
        raise
    finally:
        outcome.close()
    return True


class _SinkBuffer:
    """The row path's side of a `ConversionSink`: messages gathered into columns per
    file, refused rows into lists, handed over every SINK_CHUNK rows."""

    def __init__(self, sink: ConversionSink, columns: ColumnMap) -> None:
        self.sink = sink
        self.table_columns = columns
        self.index = 0
        self.columns: tuple[list, ...] = ([], [], [], [], [], [])
        self.rejections: list[Rejection] = []

    def message(self, index: int, msg: Message) -> None:
        if index != self.index:
            self._flush_messages()
            self.index = index
        for column, value in zip(self.columns, msg, strict=True):
            column.append(value)
        if len(self.columns[0]) >= SINK_CHUNK:
            self._flush_messages()

    def refused(self, rej: Rejection) -> None:
        self.rejections.append(rej)
        if len(self.rejections) >= SINK_CHUNK:
            self.sink.refused(self.rejections, self.table_columns)
            self.rejections = []

    def _flush_messages(self) -> None:
        if self.columns[0]:
            self.sink.accepted(MessageColumns(self.index, *self.columns))
            self.columns = ([], [], [], [], [], [])

    def flush(self) -> None:
        self._flush_messages()
        if self.rejections:
            self.sink.refused(self.rejections, self.table_columns)
            self.rejections = []


def _both(first: MessageSink, second: MessageSink) -> MessageSink:
    def both(index: int, msg: Message) -> None:
        first(index, msg)
        second(index, msg)

    return both


def claim_batch_name(out_dir: Path, namer: Namer, index: int) -> tuple[str, Path]:
    """The name of output file `index`, claimed by creating its empty placeholder
    exclusively (0600). A name someone else holds is never overwritten: a namer with a
    `taken` method (`LocalNamer`) is told and asked again; any other namer's collision
    is an error."""
    taken = getattr(namer, "taken", None)
    for _ in range(MAX_NAME_TRIES):
        name = namer(index)
        try:
            open_private(out_dir / name, "wb", exclusive=True).close()
        except FileExistsError:
            if taken is None:
                raise ConfigError(f"{out_dir / name}: already exists; refusing to overwrite a batch file") from None
            taken(name)
            continue
        return name, out_dir / name
    raise ConfigError(f"{out_dir}: no free batch file name after {MAX_NAME_TRIES} tries")


class _Screened:
    """A validator behind the reader's screen (`Table.screen`): a row the reader refuses
    (bytes that do not decode) never reaches validation."""

    def __init__(self, screen: Callable[[RawRow], Rejection | None], validator: Validator):
        self.screen = screen
        self.validator_check = validator.check

    def check(self, row: RawRow) -> Message | Rejection:
        refused = self.screen(row)
        return refused if refused is not None else self.validator_check(row)


def _pump(
    rows: Iterator,
    validator: Validator | _Screened,
    summary: ConversionSummary,
    files: _FileRotator | None,
    rejects: _RejectWriter,
    on_message: MessageSink | None,
    progress: Callable[[int], None] | None,
    keep_rejections: int,
    on_rejection: Callable[[Rejection], None] | None = None,
) -> None:
    # the hot loop of a million-row drop: locals only, no call layer that can be avoided
    check = validator.check
    by_enc = summary.messages_by_encoding
    seg_by_enc = summary.segments_by_encoding
    rejected = summary.rejected
    read = 0
    accepted = 0
    nl = files.nl if files is not None else ""
    room = 0  # rows the current output file can still take
    write_line = None
    for row in rows:
        read += 1
        result = check(row)
        if type(result) is Message:
            accepted += 1
            encoding = result.encoding
            by_enc[encoding] += 1
            seg_by_enc[encoding] += result.segments
            if files is not None:
                if room == 0:
                    # the file being closed is full; its count is kept here, not per row
                    files.rows = files.max_rows
                    write_line = files.next_file()
                    room = files.max_rows
                write_line(render_line(result) + nl)  # type: ignore[misc]
                room -= 1
                if on_message is not None:
                    on_message(files.index, result)
            elif on_message is not None:
                on_message(0, result)
        else:
            assert type(result) is Rejection
            rejected[result.code] += 1
            if len(summary.first_rejections) < keep_rejections:
                summary.first_rejections.append(result)
            rejects.write(result)
            if on_rejection is not None:
                on_rejection(result)
        if progress is not None and read % PROGRESS_EVERY == 0:
            progress(read)
    if files is not None and write_line is not None:
        files.rows = files.max_rows - room  # the last file, not full
    summary.rows_read = read
    summary.accepted = accepted
    if progress is not None:
        progress(read)


class _FileRotator:
    """Writes accepted messages into numbered files, `max_rows` per file, atomically.

    Each file's final name is claimed first with an empty ``O_EXCL`` placeholder, the
    content goes to the hidden ``.NAME.tmp`` and replaces the placeholder when complete.
    A name someone else holds is never overwritten: a namer with a `taken` method
    (`LocalNamer`) is told and asked again; any other namer's collision is an error."""

    def __init__(self, out_dir: Path, namer: Namer | None, layout: FileLayout, max_rows: int):
        assert namer is not None
        self.out_dir = out_dir
        self.namer = namer
        self.layout = layout
        self.max_rows = max_rows
        self.nl = layout.line_ending
        self.index = -1
        self.rows = 0
        self.fh: IO[str] | None = None
        self.tmp: Path | None = None
        self.name = ""
        self.done: list[WrittenFile] = []
        self.claimed: Path | None = None
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None
        if not out_dir.is_dir():
            raise ConfigError(f"{out_dir}: the output folder is not a directory")

    def next_file(self) -> Callable[[str], object]:
        """Close the current file (if any), open the next one; returns its write method."""
        self._rotate()
        assert self.fh is not None
        return self.fh.write

    def _rotate(self) -> None:
        if self.fh is not None:
            self._close_current()
        self.index += 1
        self.rows = 0
        self.name = self._claim()
        self.tmp = self.out_dir / f".{self.name}.tmp"
        self.fh = open_private(self.tmp, "w", exclusive=True, encoding="utf-8", newline="", buffering=1 << 20)
        if self.layout.header:
            self.fh.write(HEADER_LINE + self.nl)

    def _claim(self) -> str:
        name, self.claimed = claim_batch_name(self.out_dir, self.namer, self.index)
        return name

    def _close_current(self) -> None:
        assert self.fh is not None and self.tmp is not None
        if self.layout.eof_marker:
            self.fh.write(EOF_LINE + self.nl)
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        final = self.out_dir / self.name
        os.replace(self.tmp, final)  # over our own placeholder
        self.claimed = None
        self.done.append(WrittenFile(final, self.name, self.rows, final.stat().st_size, _sha256(final)))
        self.fh = None
        self.tmp = None

    def finish(self) -> list[WrittenFile]:
        if self.fh is not None:
            self._close_current()
        return self.done

    def abort(self) -> None:
        if self.fh is not None:
            self.fh.close()
            if self.tmp is not None:
                self.tmp.unlink(missing_ok=True)
            self.fh = None
        if self.claimed is not None:  # the empty placeholder of the file never finished
            self.claimed.unlink(missing_ok=True)
            self.claimed = None


class _RejectWriter:
    """`NAME.rejected.csv` (a people's CSV, `peoplecsv`), opened lazily on the first
    refused row; an existing file of that name is never overwritten (NAME.rejected.2.csv)."""

    def __init__(self, path: Path | None, columns: ColumnMap, delimiter: str = DEFAULT_DELIMITER):
        self.path = path
        self.columns = columns
        self.delimiter = delimiter
        self.out: PeopleCsvWriter | None = None
        self.width = len(columns.header) if columns.header else 0

    def write(self, rej: Rejection) -> None:
        if self.path is None:
            return
        if self.out is None:
            self._open(len(rej.cells))
        assert self.out is not None
        cells = [_encodable(c) for c in rej.cells] + [""] * (self.width - len(rej.cells))
        self.out.writerow([*cells, rej.line, rej.code, rej.reason])

    def _open(self, first_width: int) -> None:
        assert self.path is not None
        ensure_private_dir(self.path.parent)
        header = list(self.columns.header or ())
        if not header:
            self.width = max(first_width, 3)
            header = [f"column{i + 1}" for i in range(self.width)]
        self.out = PeopleCsvWriter(self.path, [*header, "line", "code", "reason"], delimiter=self.delimiter)
        self.out.__enter__()

    def finish(self) -> Path | None:
        if self.out is None:
            return None
        self.out.__exit__(None, None, None)
        return self.out.path

    def abort(self) -> None:
        if self.out is not None:
            self.out.__exit__(RuntimeError, RuntimeError("conversion aborted"), None)
            self.out = None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(cell: str) -> str:
    """A refused cell as UTF-8 can hold it: a lone surrogate (from a damaged file or a
    spreadsheet's `_xD800_` escape) is shown as U+FFFD instead of failing the write."""
    return cell if cell.isascii() else _LONE_SURROGATE.sub("\ufffd", cell)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the row loop.

    The loop allocates a few short-lived tuples and strings per row and creates no
    reference cycles, so reference counting frees all of it; but every few thousand
    allocations the cyclic collector would sweep the large, long-lived heap of imported
    modules and phone metadata, which cost a quarter of the conversion time
    (bench/convert.py). It is restored however the loop ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return _sha256_of(fh)


def _sha256_of(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(HASH_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
