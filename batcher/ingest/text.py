"""Text drops (.csv .tsv .txt): encoding detection, delimiter sniffing, csv streaming.

- Encoding: a BOM decides (UTF-8 BOM -> "utf-8-sig", UTF-16 LE/BE BOM -> "utf-16");
  otherwise the whole file is checked as UTF-8 in one streaming pass (1 MB chunks,
  incremental decoder), and a file that is not UTF-8 is read as Windows-1252, as
  Excel writes it. Binary content and empty files are refused.
- Delimiter: sniffed among `,` `;` TAB `|` from the first 64 KB (see `sniff_delimiter`).
- Rows: `csv.reader` over a `TextIOWrapper(newline="")`, one record at a time; the
  file is never held in memory. `RawRow.line` is the physical line where the record
  starts, so lines stay right after quoted fields that hold line breaks.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import InputError
from ..models import RawRow
from .columns import ColumnChoice, find_columns
from .table import Table

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = ["DELIMITERS", "detect_encoding", "open_text", "sniff_delimiter"]

CHUNK = 1 << 20  # bytes per read in the encoding pass
SAMPLE = 1 << 16  # characters / bytes looked at for sniffing and binary detection
DELIMITERS = (";", ",", "\t", "|")  # in tie-break order: `;` is what pt-BR Excel writes
NOT_TEXT = "not a text file (binary content?)"
EMPTY = "file is empty"

# C0 controls other than TAB LF VT FF CR, plus DEL.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r") + b"\x7f"
_CONTROL_SHARE = 0.3  # above this share of control bytes in the first 64 KB: binary
_PHONE_LIKE = re.compile(r"\s*\+?[\d ().\-]{8,24}\s*")


def detect_encoding(raw: BinaryIO, path: Path) -> str:
    """The encoding of an open binary file, after checking all of it decodes.

    Reads the file once (twice for Windows-1252) in 1 MB chunks; leaves the position
    unspecified. Raises InputError for binary content or an empty file.
    """
    head = raw.read(4)
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16"
    else:
        try:
            nonblank = _scan(raw, "utf-8", path, binary_checks=True)
            encoding = "utf-8"
        except UnicodeDecodeError:
            try:
                nonblank = _scan(raw, "cp1252", path, binary_checks=True)
            except UnicodeDecodeError as exc:  # 0x81 0x8D 0x8F 0x90 0x9D: not Windows-1252
                raise InputError(path, NOT_TEXT) from exc
            encoding = "cp1252"
        if not nonblank:
            raise InputError(path, EMPTY)
        return encoding

    label = "UTF-8" if encoding == "utf-8-sig" else "UTF-16"
    try:
        nonblank = _scan(raw, encoding, path, binary_checks=False)
    except UnicodeDecodeError as exc:
        raise InputError(
            path, f"starts with a {label} byte order mark but is not valid {label} ({exc.reason})"
        ) from exc
    if not nonblank:
        raise InputError(path, EMPTY)
    return encoding


def _scan(raw: BinaryIO, encoding: str, path: Path, *, binary_checks: bool) -> bool:
    """Decode the whole file chunk by chunk; True when it holds a non-whitespace character."""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    nonblank = False
    first = True
    while chunk := raw.read(CHUNK):
        if binary_checks:
            if b"\x00" in chunk:
                raise InputError(path, NOT_TEXT)
            if first:
                head = chunk[:SAMPLE]
                controls = len(head) - len(head.translate(None, _CONTROL))
                if controls > len(head) * _CONTROL_SHARE:
                    raise InputError(path, NOT_TEXT)
        first = False
        text = decoder.decode(chunk)
        if not nonblank and text and not text.isspace():
            nonblank = True
    decoder.decode(b"", True)
    return nonblank


def sniff_delimiter(sample: str, *, complete: bool, default: str = ",") -> str:
    """The delimiter among `,` `;` TAB `|` that best splits `sample` into records.

    Each candidate parses the sample with real csv quoting (so a quoted `;` or line
    break does not count). A candidate is ranked by: the share of records holding a
    phone-number-like cell (only the true delimiter isolates the number), then the
    share of records having the most common field count, then that count; ties go to
    `default`, then `;` `,` TAB `|`. A candidate that never splits a record is out.
    `complete` is False when the sample was cut, so its last record may be partial.
    """
    order = (default, *(d for d in DELIMITERS if d != default))
    best, best_score = default, (-1.0, 0.0, 0)
    for delimiter in order:
        counts: list[int] = []
        phones = 0
        try:
            for cells in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter):
                if not cells or (len(cells) == 1 and cells[0].isspace()):
                    continue  # a blank line (a line of bare delimiters still counts)
                counts.append(len(cells))
                phones += any(_looks_like_phone(c) for c in cells)
        except csv.Error:
            continue
        if not complete and len(counts) > 1:
            counts.pop()
        if not counts:
            continue
        width, seen = max(Counter(counts).items(), key=lambda kv: (kv[1], kv[0]))
        if width < 2:
            continue
        score = (round(phones / len(counts), 1), seen / len(counts), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_phone(cell: str) -> bool:
    return _PHONE_LIKE.fullmatch(cell) is not None and sum(ch.isdigit() for ch in cell) >= 8


def open_text(path: Path, choice: ColumnChoice | None = None) -> Table:
    """Open a text drop: detect encoding and delimiter, find the columns, stream rows."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by Table.close, or below on error
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror or exc}") from exc
    try:
        encoding = detect_encoding(raw, path)
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, newline="")
        sample = text.read(SAMPLE)
        text.seek(0)
        default = "\t" if path.suffix.lower() == ".tsv" else ","
        delimiter = sniff_delimiter(sample, complete=len(sample) < SAMPLE, default=default)
        reader = csv.reader(text, delimiter=delimiter)

        line = 0
        first: list[str] | None = None
        start = 0
        try:
            for cells in reader:
                start, line = line + 1, reader.line_num
                if "".join(cells).strip():
                    first = cells
                    break
        except csv.Error as exc:
            raise InputError(path, f"malformed CSV ({exc})", line=line + 1) from exc
        if first is None:
            raise InputError(path, EMPTY)
        first = _strip_cr(first)
        columns, is_header = find_columns(first, path=path, line=start, choice=choice)
        held = None if is_header else RawRow(start, tuple(first))
        rows = _records(reader, line, held, line != start, path, encoding)
    except BaseException:
        raw.close()
        raise
    return Table(
        path=path,
        kind="csv",
        columns=columns,
        rows=rows,
        encoding=encoding,
        delimiter=delimiter,
        _release=text.close,
    )


def _records(
    reader: CsvReader,
    line: int,
    held: RawRow | None,
    held_multiline: bool,
    path: Path,
    encoding: str,
) -> Iterator[RawRow]:
    """The hot loop. A record spanning several lines is held back one step: if it is
    the last record of the file and its quote was never closed, the file is refused
    instead of passing the rest of the file on as one text."""
    new = tuple.__new__  # RawRow(...) without its generated Python __new__ (0.1 us a row)
    try:
        for cells in reader:
            start = line + 1
            line = reader.line_num
            # blank or whitespace-only cells only: skipped. The first cell settles nearly
            # every record without joining them all (0.15 us a row, bench/convert.py)
            first = cells[0] if cells else ""
            if not first or first.isspace():
                joined = "".join(cells)
                if not joined or joined.isspace():
                    continue
            if held is not None:
                yield held
                held = None
            if line == start:  # one physical line: no "\r" can be inside a cell
                yield new(RawRow, (start, tuple(cells)))
            else:
                held_multiline = True
                held = RawRow(start, tuple(_strip_cr(cells)))
    except csv.Error as exc:
        raise InputError(
            path, f"malformed CSV ({exc}); is a quote left open above?", line=line + 1
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(path, f"cannot decode as {encoding}: the file changed while read?") from exc
    if held is not None:
        if held_multiline and _quote_left_open(path, encoding, reader, held.line):
            raise InputError(
                path,
                "a quoted field starting on this line is never closed: it runs to the end "
                "of the file (add the missing closing quote)",
                line=held.line,
            )
        yield held


def _quote_left_open(path: Path, encoding: str, reader: CsvReader, from_line: int) -> bool:
    """Re-read the tail from `from_line` strictly: does it end inside a quoted field?

    Runs only when the last record of the file spans several lines."""
    delimiter = reader.dialect.delimiter
    with open(path, encoding=encoding, newline="") as tail:
        for _ in itertools.islice(tail, from_line - 1):
            pass
        try:
            for _ in csv.reader(tail, delimiter=delimiter, strict=True):
                pass
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
    return False


def _strip_cr(cells: list[str]) -> list[str]:
    return [c[:-1] if c.endswith("\r") else c for c in cells]
