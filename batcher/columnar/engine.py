"""The columnar conversion of a text drop.

A text drop is read as physical lines by polars (`read_csv` of each chunk of whole
lines with no quoting and a separator that cannot occur, so line N of the file is row
N); each chunk is split, validated and rendered with vectorised expressions
(`verdicts.line_plan`), the next chunk computed in a worker thread while this one is
handled, and every row those expressions cannot decide goes to the row path's own
`Validator` (`drop.Drop.decide`), so the hard cases have one source of truth. Duplicate
rows and duplicate correlationIds across the whole drop, and the outputs, are `Drop`'s.

Nothing is final until the end: platform files are written under temporary names and
named (`namer`) and renamed only when the whole drop has been read, the rejected-rows
file is an atomic output, and what a sink receives is buffered on disk. So when the
input turns out to be something the columnar reader cannot parse the way the row path
does (`Ineligible`, raised at any point), everything is discarded and `convert_drop`
runs the row path instead. What is ineligible (conservative on purpose):

- text whose encoding the row path did not settle as strictly valid UTF-8, UTF-8 with
  BOM, UTF-16 or Windows-1252 (after transcoding, any invalid byte);
- a line holding a CR that is not part of its CRLF ending, a NUL, a 0x1F, or longer
  than `csv.field_size_limit()` bytes;
- a quoted field that does not close on its own line (a record over several lines);
- a correlationId in the generated namespace (``{drop_key}-...``);
- a drop with no data rows, and anything polars itself refuses.

Spreadsheets are `sheet.py`'s.
"""

from __future__ import annotations

import codecs
import collections
import csv
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# polars allocates through jemalloc, which by default keeps freed pages for 10 s: with
# a chunk's columns allocated and freed many times a second, a conversion's RSS would
# creep up by tens of MB. Read once, when the allocator starts (the first import of
# polars in the process); a value already set is left alone.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0,narenas:1,tcache:false")

import polars as pl

from ..errors import InputError
from ..ingest import TEXT_SUFFIXES, Table
from ..models import ColumnMap
from ..render import FileLayout
from ..validate import ValidationPolicy
from . import Ineligible
from .drop import Drop, Outcome, render
from .rules import number_rule
from .verdicts import CANDIDATE_SCHEMA, _phone_parts, line_plan, number_stages

__all__ = ["CHUNK_BYTES", "Ineligible", "Outcome", "convert_text", "number_verdicts"]

#: bytes of lines per batch: about 20,000 rows of a typical drop
CHUNK_BYTES = 2 << 20
#: chunks computed at once while the caller handles the one before
WORKERS = 2
_TRANSCODE_CHUNK = 1 << 20
_CANDIDATES = tuple(CANDIDATE_SCHEMA)


def convert_text(
    source: Path,
    *,
    opener: Callable[[], Table],
    policy: ValidationPolicy,
    drop_key: str,
    layout: FileLayout,
    max_rows: int,
    out_dir: Path | None,
    reject_writer: Callable[[ColumnMap], Any],
    buffer: bool,
    progress: Callable[[int], None] | None,
    keep_rejections: int,
) -> Outcome:
    """Convert a text drop column-wise, or raise `Ineligible` having left nothing behind.

    `opener()` is the row path's reader (`ingest.open_table` with the caller's
    arguments): the encoding, delimiter, column map and first data row come from it.

    `reject_writer(columns)` makes the rejected-rows writer (`write`, `abort`; the
    caller finishes it, as `outcome.rejects`). The platform files come back under
    temporary names (`outcome.files`) for the caller to name; with `buffer`, the
    accepted and refused rows are kept on disk for `outcome.replay`. Call
    `outcome.close()` when done. `InputError` from the row path's reader is passed on.
    """
    if source.suffix.lower() not in TEXT_SUFFIXES:
        raise Ineligible("a spreadsheet")
    table = opener()
    try:
        if table.kind != "csv" or table.encoding not in ("utf-8", "utf-8-sig", "utf-16", "cp1252"):
            raise Ineligible(f"{table.kind} in {table.encoding}")
        if table.screen is not None:  # the reader refuses some rows itself (bytes that do not decode)
            raise Ineligible("rows the reader screens out")
        try:
            first = next(table.rows, None)
        except InputError as exc:
            raise Ineligible(f"the reader refused it: {exc}") from None
        if first is None:
            raise Ineligible("no data rows")
        columns, encoding, delimiter = table.columns, table.encoding, table.delimiter
    finally:
        table.close()
    assert delimiter is not None
    outcome = Outcome("csv", encoding, delimiter, columns=columns)
    start(out_dir, outcome, reject_writer)
    assert outcome.work is not None
    drop: Drop | None = None
    try:
        path = source if encoding in ("utf-8", "utf-8-sig") else _transcode(source, encoding, outcome.work)
        lines = _Lines(path, delimiter)
        drop = Drop(policy, columns, drop_key, outcome, out_dir, layout=layout, max_rows=max_rows,
                    cells_of=lines.cells_of, buffer=buffer, keep_rejections=keep_rejections)
        try:
            for batch in _batches(lines, first.line, columns, policy, delimiter, f"{drop_key}-", layout.line_ending):
                if batch.line == first.line and lines.first_cells(batch.chunk, batch.line) != first.cells:
                    raise Ineligible("its first row is not where the reader found it")
                _chunk(drop, outcome, delimiter, batch)
                if progress is not None:
                    progress(outcome.rows_read)
            drop.finish()
        except pl.exceptions.PolarsError as exc:
            raise Ineligible(f"polars: {str(exc).splitlines()[0]}") from None
    except BaseException:
        if drop is not None:
            drop.abort()
        outcome.rejects.abort()
        outcome.close()
        raise
    return outcome


def start(out_dir: Path | None, outcome: Outcome, reject_writer: Callable[[ColumnMap], Any]) -> None:
    """A conversion about to start: its work folder (`outcome.work`) and rejected-rows
    writer (`outcome.rejects`)."""
    if out_dir is not None:  # as the row path does before its first row
        out_dir.mkdir(parents=True, exist_ok=True)
    # beside the outputs when there are some: the same disk, cleaned up with them
    work = Path(tempfile.mkdtemp(prefix=".columnar-", dir=out_dir) if out_dir is not None
                else tempfile.mkdtemp(prefix="batcher-columnar-"))
    outcome.work = work
    assert outcome.columns is not None
    outcome.rejects = reject_writer(outcome.columns)


def _chunk(drop: Drop, outcome: Outcome, delimiter: str, batch: _Batch) -> None:
    """One chunk's verdicts into `drop`: the decided rows as they are, the others
    through the Validator (a blank record is skipped, as the reader skips it)."""
    if batch.foreign:
        raise Ineligible("a correlationId in the generated namespace")
    if batch.hard is None:
        drop.add(batch.side, batch.lines, [])
        outcome.rows_read += batch.side.height
        return
    hard = batch.hard
    rows: list[tuple[int, tuple[str, ...]]] = []
    limit = csv.field_size_limit()
    for line, raw, odd in zip(
        hard.get_column("line").to_list(), hard.get_column("raw").to_list(), hard.get_column("odd").to_list(),
        strict=True,
    ):
        if odd:
            if "\r" in raw or "\x00" in raw or len(raw) > limit:
                raise Ineligible(f"line {line}: a lone CR, a NUL, or longer than the csv field limit")
            cells = _cells(raw, delimiter, line)
        else:
            cells = tuple(raw.split(delimiter))
        if not "".join(cells).strip():  # the reader skips it: not a row
            continue
        rows.append((line, cells))
    decided, refused = drop.decide(rows)
    outcome.rows_read += batch.side.height + len(rows)
    if decided.height == 0:
        drop.add(batch.side, batch.lines, refused)
        return
    assert batch.easy is not None
    side, lines = render(pl.concat([batch.easy, decided]).sort("line"), drop.nl)
    drop.add(side, lines, refused)


@dataclass
class _Batch:
    """One chunk's verdicts: the decided rows rendered (`render`), the rows left to
    the Validator (None: none), whether a correlationId was in the generated
    namespace; `easy` keeps the decided rows themselves when there are others."""

    line: int
    chunk: bytes
    side: pl.DataFrame
    lines: bytes
    hard: pl.DataFrame | None
    easy: pl.DataFrame | None
    foreign: bool


def _transcode(source: Path, encoding: str, work: Path) -> Path:
    """Windows-1252 or UTF-16 -> a UTF-8 copy (strict: any undecodable byte -> Ineligible)."""
    target = work / "drop.utf8.csv"
    try:
        with open(source, encoding=encoding, errors="strict", newline="") as src, open(
            target, "w", encoding="utf-8", newline=""
        ) as dst:
            while chunk := src.read(_TRANSCODE_CHUNK):
                dst.write(chunk)
    except UnicodeError as exc:
        raise Ineligible(f"not valid {encoding}: {exc}") from None
    return target


def _batches(
    lines: _Lines, first_line: int, columns: ColumnMap, policy: ValidationPolicy, delimiter: str, prefix: str, nl: str
) -> Iterator[_Batch]:
    """The drop's lines from `first_line` on, in chunks, with every vectorised verdict."""
    plan = line_plan(columns, policy, delimiter, prefix)
    zeros = {"newline": pl.lit(0, pl.Int32), "tab": pl.lit(0, pl.Int32), "transliterated": pl.lit(0, pl.Int32)}

    def verdicts(line: int, chunk: bytes) -> _Batch:
        frame = pl.read_csv(
            chunk,
            has_header=False,
            separator="\x1f",
            quote_char=None,
            infer_schema=False,
            new_columns=["raw"],
            raise_if_empty=False,
            empty_string_is_null=False,
        )
        frame = plan.apply(
            frame.lazy().with_row_index("line", offset=line).with_columns(pl.col("line").cast(pl.Int64))
        ).with_columns(**zeros).collect()
        ok = frame.get_column("ok")
        foreign = bool(frame.get_column("foreign").any())
        if ok.all():
            side, rendered = render(frame.select(_CANDIDATES), nl)
            return _Batch(line, chunk, side, rendered, None, None, foreign)
        easy = frame.filter(ok).select(_CANDIDATES)
        side, rendered = render(easy, nl)
        return _Batch(line, chunk, side, rendered, frame.filter(~ok).select("line", "raw", "odd"), easy, foreign)

    # the chunks ahead are computed (polars, without the GIL) while the caller handles
    # this one, in order
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="batcher-columnar") as pool:
        ahead: collections.deque[Future[_Batch]] = collections.deque()
        line = first_line
        for offset, chunk in lines.chunks(first_line):
            lines.numbered(line, offset, len(chunk))
            ahead.append(pool.submit(verdicts, line, chunk))
            line += chunk.count(b"\n")
            if len(ahead) > WORKERS:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


class _Lines:
    """The UTF-8 text of the drop as chunks of whole lines, and lines read again by
    number (the cells of a refused duplicate)."""

    def __init__(self, path: Path, delimiter: str) -> None:
        self.path = path
        self.delimiter = delimiter
        self.starts: list[tuple[int, int, int]] = []  # (first line, byte offset, length) of each chunk

    def chunks(self, first_line: int) -> Iterator[tuple[int, bytes]]:
        """(byte offset, bytes) of whole lines from `first_line` on, about CHUNK_BYTES
        at a time (a UTF-8 byte order mark at the very start left out). Who numbers the
        lines calls `numbered` for each chunk, in order."""
        with self.path.open("rb") as fh:
            buf = fh.read(3)
            offset = 0
            if buf == codecs.BOM_UTF8:
                buf, offset = b"", 3
            skip = first_line - 1
            at = 0
            while skip:
                found = buf.find(b"\n", at)
                if found < 0:
                    data = fh.read(1 << 16)
                    if not data:
                        raise Ineligible("the reader found its first row further down than the lines go")
                    offset += at
                    buf, at = buf[at:] + data, 0
                    continue
                at = found + 1
                skip -= 1
            offset += at
            tail = buf[at:]
            while True:
                data = fh.read(CHUNK_BYTES)
                cut = data.rfind(b"\n") + 1 if data else len(data)
                if not data:
                    if tail:
                        yield offset, tail
                    return
                if cut:
                    part = tail + data[:cut] if tail else data[:cut]
                    tail = data[cut:]
                    yield offset, part
                    offset += len(part)
                else:
                    tail += data

    def numbered(self, line: int, offset: int, length: int) -> None:
        """The chunk at `offset` starts at `line` (for `cells_of`)."""
        self.starts.append((line, offset, length))

    def first_cells(self, chunk: bytes, line: int) -> tuple[str, ...]:
        end = chunk.find(b"\n")
        raw = (chunk if end < 0 else chunk[:end]).decode("utf-8")
        return _cells(raw[:-1] if raw.endswith("\r") else raw, self.delimiter, line)

    def cells_of(self, lines: list[int]) -> dict[int, tuple[str, ...]]:
        """The cells of these lines, read again from the file."""
        wanted = sorted(set(lines))
        found: dict[int, tuple[str, ...]] = {}
        with self.path.open("rb") as fh:
            bounds = [first for first, _, _ in self.starts[1:]] + [1 << 62]
            for (first, offset, length), end in zip(self.starts, bounds, strict=True):
                inside = [w for w in wanted if first <= w < end]
                if not inside:
                    continue
                fh.seek(offset)
                text = fh.read(length).split(b"\n", inside[-1] - first + 1)  # only as far as needed
                for w in inside:
                    raw = text[w - first].decode("utf-8")
                    found[w] = _cells(raw[:-1] if raw.endswith("\r") else raw, self.delimiter, w)
        return found


def _cells(raw: str, delimiter: str, line: int) -> tuple[str, ...]:
    """A line's cells as the csv module reads them, when the record ends on that line."""
    if '"' not in raw:
        return tuple(raw.split(delimiter))
    records = list(csv.reader([raw + "\n"], delimiter=delimiter))
    if len(records) != 1 or any("\n" in c for c in records[0]):
        raise Ineligible(f"line {line}: a quoted field runs past the end of its line")
    return tuple(records[0])


def number_verdicts(region: str, cells: list[str]) -> list[str | None]:
    """The vectorised number rule alone, for tests: each cell's normal form when the
    rule accepts it, else None (the row path decides)."""
    frame = pl.DataFrame({"n": cells}, schema={"n": pl.String}).lazy()
    for stage in number_stages(number_rule(_phone_parts(region))):
        frame = frame.with_columns(**stage)
    out = frame.select(pl.when(pl.col("number_ok")).then(pl.col("number"))).collect()
    return out.to_series().to_list()

