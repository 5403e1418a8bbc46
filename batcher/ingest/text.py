"""Text drops (.csv .tsv .txt): encoding detection, delimiter sniffing, csv streaming.

- Encoding: a BOM decides (UTF-8 BOM -> "utf-8-sig", UTF-16 LE/BE BOM -> "utf-16");
  otherwise the whole file is checked as UTF-8 in one streaming pass (1 MB chunks,
  incremental decoder). A file that is not entirely UTF-8 gets a second pass that
  sorts its lines holding non-ASCII bytes into valid UTF-8 and not (`_census`):
  a Windows-1252 accent followed by ASCII is never valid UTF-8, and a Windows-1252 line
  that happens to be valid UTF-8 is rare, so
    * UTF-8 lines at least 3 times as many as the others: the file is UTF-8 and each
      record holding bytes that are not UTF-8 is refused on its own
      (`row_invalid_encoding`, naming the byte), never read as mojibake;
    * the other way round: Windows-1252, as Excel writes it;
    * in between: refused as a whole, naming a line of each kind (which one is right
      cannot be told, and guessing would send mojibake).
  A UTF-16 file holding a lone surrogate is read with those records refused
  (`text_invalid_character`). A NUL byte (named with its line), binary content and
  empty files are refused as a whole.
- Delimiter: sniffed among `,` `;` TAB `|` from the first 64 KB (see `sniff_delimiter`).
- Rows: `csv.reader` over a `TextIOWrapper(newline="")`, one record at a time; the
  file is never held in memory. `RawRow.line` is the physical line where the record
  starts, so lines stay right after quoted fields that hold line breaks.
- A file that is not strictly valid in its encoding comes with `Table.screen`, which
  the converter asks before validating each row; for a clean file it is None.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import InputError
from ..models import ColumnMap, RawRow, Rejection
from ..validate import REASONS, RejectCode
from .columns import ColumnChoice, find_columns
from .files import open_regular
from .table import Table

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

__all__ = ["DELIMITERS", "Detected", "detect_encoding", "open_text", "sniff_delimiter"]

CHUNK = 1 << 20  # bytes per read in the encoding pass
SAMPLE = 1 << 16  # characters / bytes looked at for sniffing and binary detection
DELIMITERS = (";", ",", "\t", "|")  # in tie-break order: `;` is what pt-BR Excel writes
NOT_TEXT = "not a text file (binary content?)"
EMPTY = "file is empty"
MAJORITY = 3  # one kind of line must outnumber the other this many times to decide

# C0 controls other than TAB LF VT FF CR, plus DEL.
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\x0b\x0c\r") + b"\x7f"
_CONTROL_SHARE = 0.3  # above this share of control bytes in the first 64 KB: binary
_PHONE_LIKE = re.compile(r"\s*\+?[\d ().\-]{8,24}\s*")
# what a byte that is not valid UTF-8 (surrogateescape) or a lone UTF-16 surrogate
# (surrogatepass) becomes once decoded
_ESCAPED = re.compile("[\udc80-\udcff]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252"}


@dataclass(frozen=True)
class Detected:
    """The encoding of a text drop, and how to decode it: `errors` is "strict" for a
    file valid throughout, "surrogateescape" for a UTF-8 file with a few lines that are
    not (their bytes come out as U+DC80..U+DCFF and those records are refused), and
    "surrogatepass" for a UTF-16 file holding lone surrogates."""

    encoding: str
    errors: str = "strict"


def detect_encoding(raw: BinaryIO, path: Path) -> Detected:
    """The encoding of an open binary file, after checking all of it decodes.

    Reads the file once when it is valid UTF-8 or UTF-16, up to three times otherwise,
    in 1 MB chunks; leaves the position unspecified. Raises InputError for binary
    content, a NUL byte, an empty file or a mix of encodings that cannot be told apart.
    """
    head = raw.read(4)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) and not head.startswith(codecs.BOM_UTF8):
        return _detect_utf16(raw, path)
    bom = head.startswith(codecs.BOM_UTF8)
    try:
        nonblank = _scan(raw, "utf-8-sig" if bom else "utf-8", path, binary_checks=True)
    except _BadBytes:
        return _detect_8bit(raw, path, bom=bom)
    if not nonblank:
        raise InputError(path, EMPTY)
    return Detected("utf-8-sig" if bom else "utf-8")


def _detect_utf16(raw: BinaryIO, path: Path) -> Detected:
    errors = "strict"
    try:
        nonblank = _scan(raw, "utf-16", path, binary_checks=False)
    except _BadBytes:
        try:  # a lone surrogate (a cut emoji) refuses its record, not the file
            nonblank = _scan(raw, "utf-16", path, binary_checks=False, errors="surrogatepass")
        except _BadBytes as exc:
            raise InputError(
                path, f"starts with a UTF-16 byte order mark but is not valid UTF-16 ({exc.reason})"
            ) from None
        errors = "surrogatepass"
    if not nonblank:
        raise InputError(path, EMPTY)
    return Detected("utf-16", errors)


def _detect_8bit(raw: BinaryIO, path: Path, *, bom: bool) -> Detected:
    """Not entirely UTF-8: decide between UTF-8 with a few bad lines and Windows-1252."""
    census = _census(raw, path)
    good, bad = census.utf8_lines, census.other_lines
    where_bad = f"line {census.first_other} (byte 0x{census.first_byte:02X})"
    if good >= MAJORITY * bad:
        return Detected("utf-8-sig" if bom else "utf-8", "surrogateescape")
    if bom:
        raise InputError(
            path,
            f"starts with a UTF-8 byte order mark, but {bad:,} of its lines are not UTF-8 "
            f"(the first: {where_bad}); save it again as CSV UTF-8",
        )
    if bad < MAJORITY * good:
        raise InputError(
            path,
            f"mixes encodings: {good:,} lines with accents are UTF-8 (the first: line {census.first_utf8}) "
            f"and {bad:,} are not (the first: {where_bad}), so which is right cannot be told; "
            "save the file again as CSV UTF-8",
        )
    try:
        nonblank = _scan(raw, "cp1252", path, binary_checks=False)
    except _BadBytes as exc:  # 0x81 0x8D 0x8F 0x90 0x9D: not Windows-1252
        raise InputError(
            path, f"{NOT_TEXT}: byte 0x{exc.byte:02X} is neither UTF-8 nor Windows-1252",
            line=_line_of(raw, exc.offset),
        ) from None
    if not nonblank:
        raise InputError(path, EMPTY)
    return Detected("cp1252")


def _scan(raw: BinaryIO, encoding: str, path: Path, *, binary_checks: bool, errors: str = "strict") -> bool:
    """Decode the whole file chunk by chunk; True when it holds a non-whitespace character."""
    raw.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)(errors)
    nonblank = False
    first = True
    offset = 0
    while chunk := raw.read(CHUNK):
        if binary_checks:
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise _nul_error(raw, path, offset + nul)
            if first:
                head = chunk[:SAMPLE]
                controls = len(head) - len(head.translate(None, _CONTROL))
                if controls > len(head) * _CONTROL_SHARE:
                    raise InputError(path, NOT_TEXT)
        first = False
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _BadBytes(offset, exc) from None
        offset += len(chunk)
        if not nonblank and text and not text.isspace():
            nonblank = True
    try:
        decoder.decode(b"", True)
    except UnicodeDecodeError as exc:
        raise _BadBytes(offset, exc) from None
    return nonblank


class _BadBytes(Exception):
    """Bytes that do not decode: where in the file (roughly, for the line), which byte."""

    def __init__(self, chunk_offset: int, exc: UnicodeDecodeError):
        super().__init__(exc.reason)
        data = exc.object
        self.reason = exc.reason
        self.byte = data[exc.start] if exc.start < len(data) else 0
        self.offset = chunk_offset + min(exc.start, len(data))


def _nul_error(raw: BinaryIO, path: Path, offset: int) -> InputError:
    return InputError(
        path,
        "holds a NUL byte (0x00), which no text file contains: this is a binary file, or text "
        "saved as UTF-16 without a byte order mark; save it again as CSV UTF-8",
        line=_line_of(raw, offset),
    )


def _line_of(raw: BinaryIO, offset: int) -> int:
    """The 1-based line holding byte `offset` (re-reads the file up to there)."""
    raw.seek(0)
    line, left = 1, offset
    while left > 0 and (chunk := raw.read(min(CHUNK, left))):
        line += chunk.count(b"\n")
        left -= len(chunk)
    return line


@dataclass
class _Census:
    utf8_lines: int = 0  # lines holding non-ASCII bytes, all valid UTF-8
    other_lines: int = 0  # lines holding bytes that are not valid UTF-8
    first_utf8: int = 0
    first_other: int = 0
    first_byte: int = 0


def _census(raw: BinaryIO, path: Path) -> _Census:
    """Sort the lines holding non-ASCII bytes into valid UTF-8 and not, in one pass.

    A line is fed to an incremental decoder piece by piece (a line longer than a
    chunk is never held whole); LF is never part of a UTF-8 sequence, so splitting on
    it cannot cut a valid character."""
    raw.seek(0)
    census = _Census()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    line = 1
    wide = bad = False  # the current line so far: has non-ASCII bytes / is not UTF-8
    offset = 0

    def close_line() -> None:
        nonlocal wide, bad
        if wide and not bad:
            try:
                decoder.decode(b"", True)  # a sequence cut by the end of the line
            except UnicodeDecodeError as exc:
                bad = True
                if not census.first_other:
                    census.first_byte = exc.object[exc.start] if exc.start < len(exc.object) else 0
        if bad:
            census.other_lines += 1
            if not census.first_other:
                census.first_other = line
        elif wide:
            census.utf8_lines += 1
            if not census.first_utf8:
                census.first_utf8 = line
        decoder.reset()
        wide = bad = False

    while chunk := raw.read(CHUNK):
        nul = chunk.find(b"\x00")
        if nul >= 0:
            raise _nul_error(raw, path, offset + nul)
        offset += len(chunk)
        pieces = chunk.split(b"\n")
        for i, piece in enumerate(pieces):
            if i:
                close_line()
                line += 1
            if bad or piece.isascii():
                continue
            wide = True
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                bad = True
                if not census.first_other:
                    census.first_byte = exc.object[exc.start]
    close_line()
    return census


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
    raw = open_regular(path)
    try:
        detected = detect_encoding(raw, path)
        encoding = detected.encoding
        raw.seek(0)
        text = io.TextIOWrapper(raw, encoding=encoding, errors=detected.errors, newline="")
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
        shown = [_clean(c) for c in first] if detected.errors != "strict" else first
        columns, is_header = find_columns(shown, path=path, line=start, choice=choice)
        held = None if is_header else RawRow(start, tuple(first))
        rows = _records(reader, line, held, line != start, path, detected)
        screen = None
        if detected.errors != "strict":
            screener = _Screen(columns, detected)
            rows, screen = screener.rows(rows), screener
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
        screen=screen,
        _release=text.close,
    )


def _clean(cell: str) -> str:
    """A cell with undecodable bytes and lone surrogates shown as U+FFFD."""
    return _SURROGATE.sub("\ufffd", cell) if not cell.isascii() else cell


class _Screen:
    """For a file that is not strictly valid in its encoding: refuses each record whose
    number, text or correlationId holds undecodable bytes (UTF-8) or a lone surrogate
    (UTF-16), and shows such characters in the other cells as U+FFFD, so that nothing
    undecodable is sent or written to NAME.rejected.csv."""

    def __init__(self, columns: ColumnMap, detected: Detected):
        self.fields = {
            columns.number: "the number",
            columns.text: "the text",
            **({columns.correlation_id: "the correlationId"} if columns.correlation_id is not None else {}),
        }
        self.escaped = detected.errors == "surrogateescape"
        self.label = _LABELS.get(detected.encoding, detected.encoding)
        self.pattern = _ESCAPED if self.escaped else _SURROGATE

    def rows(self, rows: Iterator[RawRow]) -> Iterator[RawRow]:
        fields, pattern = self.fields, self.pattern
        for row in rows:
            cells = row.cells
            if not "".join(cells).isascii() and any(
                i not in fields and pattern.search(c) for i, c in enumerate(cells)
            ):
                cells = tuple(c if i in fields else _clean(c) for i, c in enumerate(cells))
                row = RawRow(row.line, cells)
            yield row

    def __call__(self, row: RawRow) -> Rejection | None:
        cells = row.cells
        if "".join(cells).isascii():
            return None
        for index, name in self.fields.items():
            bad = self.pattern.search(cells[index]) if index < len(cells) else None
            if bad is None:
                continue
            clean = tuple(_clean(c) for c in cells)
            run = bad.group()
            if self.escaped:
                hexes = " ".join(f"0x{ord(ch) - 0xDC00:02X}" for ch in run[:4])
                what = f"the byte {hexes}" if len(run) == 1 else f"the bytes {hexes}"
                hint = "; the line was probably pasted from a Windows-1252 file: correct it and save the file as UTF-8"
            else:
                if name == "the text":
                    char = f"U+{ord(run):04X} (a lone UTF-16 surrogate)"
                    code = RejectCode.TEXT_INVALID_CHARACTER
                    return Rejection(row.line, code.value, REASONS[code].format(char=char), clean)
                what = f"a lone surrogate U+{ord(run):04X}"
                hint = "; the file is probably damaged"
            code = RejectCode.ROW_INVALID_ENCODING
            reason = REASONS[code].format(where=name, what=what, encoding=self.label, hint=hint)
            return Rejection(row.line, code.value, reason, clean)
        return None


def _records(
    reader: CsvReader,
    line: int,
    held: RawRow | None,
    held_multiline: bool,
    path: Path,
    detected: Detected,
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
        label = _LABELS.get(detected.encoding, detected.encoding)
        raise InputError(path, f"cannot decode as {label}: the file changed while read?") from exc
    if held is not None:
        if held_multiline and _quote_left_open(path, detected, reader, held.line):
            raise InputError(
                path,
                "a quoted field starting on this line is never closed: it runs to the end "
                "of the file (add the missing closing quote)",
                line=held.line,
            )
        yield held


def _quote_left_open(path: Path, detected: Detected, reader: CsvReader, from_line: int) -> bool:
    """Re-read the tail from `from_line` strictly: does it end inside a quoted field?

    Runs only when the last record of the file spans several lines."""
    delimiter = reader.dialect.delimiter
    raw = open_regular(path)
    with io.TextIOWrapper(raw, encoding=detected.encoding, errors=detected.errors, newline="") as tail:
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
