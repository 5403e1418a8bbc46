"""How much memory a spreadsheet will take once calamine loads it, found before loading.

calamine (`sheets.py`) holds a sheet as one dense rows x columns grid spanning its
first to its last non-empty cell, 32 bytes a cell. One cell at XFD1048576 in a 1 KB
.xlsx asks for 17 billion cells (549 GB): the allocation fails and Rust aborts the
process (SIGABRT, exit 134), which no Python code can catch. Some header fields are
trusted the same way (an .xlsx `uniqueCount`, an .xls DIMENSIONS record), and a
1 KB .ods can repeat one cell into 100 million (12 GB). So before calamine sees a
file, this module reads the parts that decide those sizes, streaming and in bounded
memory, and refuses (`InputError`, exit 3) a grid over `MAX_CELLS`:

- .xlsx/.xlsm: the `uniqueCount` of the shared strings, then the chosen sheet's XML.
  Fast path, one regular-expression pass over the decompressed XML: every cell tag is
  `<c r="REF" [s="N"] [t="T"]>` with REF within A..P and below row 1,000,000, so the
  grid is at most 16 x 999,999 cells. Anything else (a wider or taller sheet, cells
  without `r`, unusual attributes, namespace prefixes) takes a careful pass: the exact
  first and last refs of canonical cells, or an XML parse that follows calamine's own
  rules (cells without `r` continue the row; empty `<c/>` do not count).
- .ods: the whole content.xml (calamine reads every table when the file is opened),
  with row and column repeats counted as calamine expands them.
- .xls: the BIFF records of every sheet (read at open too): DIMENSIONS and each cell's
  position.

Only the standard library: zipfile, zlib, re, struct, expat.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO
from xml.etree import ElementTree
from xml.parsers import expat

from ..errors import InputError
from ..phones import show_value
from .files import open_regular

__all__ = ["MAX_CELLS", "MAX_SHARED_STRINGS", "check_sheet", "check_workbook", "column_name"]

#: the largest grid batcher lets calamine build: 1,048,576 rows x 16 columns (Excel's
#: full height at 16 columns), about 0.5 GB
MAX_CELLS = 1 << 24
MAX_SHARED_STRINGS = MAX_CELLS
EXCEL_ROWS = 1_048_576
EXCEL_COLUMNS = 16_384
CHUNK = 1 << 18  # bytes per read, and most bytes a decompressed piece has (stays in cache)
WINDOW = 96  # bytes each side of a piece boundary looked at again (a cell tag is shorter)
SMALL_PART = 16 << 20  # workbook.xml and its relationships are read whole, up to this

# A cell tag that is not `<c r="REF"( s="N")?( t="T")?/?>` with REF in A1..P999999: any
# such tag sends the sheet to the careful pass. `<col`, `<cfRule`, `<color` are not
# cells (the tag name must end at whitespace, '>' or '/').
_SUSPECT = re.compile(rb'<c(?=[\s>/])(?! r="[A-Pa-p][0-9]{1,6}"(?: s="[0-9]{1,6}")?(?: t="[A-Za-z]{1,12}")?/?>)')
# a cell element with a namespace prefix (`<x:c ...>`, `</x:c>`): calamine reads those too
_PREFIXED = re.compile(rb":c[\s>/]")
# canonical cell tags of any size, for the exact extent
_CANONICAL = re.compile(
    rb'<c(?=[\s>/])(?: r="([A-Za-z]{1,3})([0-9]{1,7})"(?: s="[0-9]{1,6}")?(?: t="[A-Za-z]{1,12}")?(/?)>)?'
)
_UNIQUE_COUNT = re.compile(rb"""\buniqueCount\s*=\s*["']([0-9]+)["']""")


def column_name(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 16383 -> XFD."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _column_index(letters: bytes) -> int:
    col = 0
    for ch in letters.upper():
        col = col * 26 + ch - 64
    return col - 1


@dataclass
class _Extent:
    """First and last row and column (0-based) of the non-empty cells seen."""

    top: int = -1
    bottom: int = -1
    left: int = -1
    right: int = -1

    def add(self, row: int, col: int) -> None:
        if self.top < 0:
            self.top = self.bottom = row
            self.left = self.right = col
            return
        self.top, self.bottom = min(self.top, row), max(self.bottom, row)
        self.left, self.right = min(self.left, col), max(self.right, col)

    @property
    def cells(self) -> int:
        if self.top < 0:
            return 0
        return (self.bottom - self.top + 1) * (self.right - self.left + 1)

    def ref(self, row: int, col: int) -> str:
        return f"{column_name(col)}{row + 1}"


def _too_big(path: Path, sheet: str, extent: _Extent) -> InputError:
    rows, cols = extent.bottom - extent.top + 1, extent.right - extent.left + 1
    first, last = extent.ref(extent.top, extent.left), extent.ref(extent.bottom, extent.right)
    return InputError(
        path,
        f"sheet {show_value(sheet)} spans {first}:{last}, {rows:,} rows x {cols:,} columns = {rows * cols:,} cells; "
        f"batcher reads at most {MAX_CELLS:,} cells a sheet (rows x columns, e.g. {EXCEL_ROWS:,} rows x 16 "
        f"columns). Delete the stray cells near {last} (in Excel, Ctrl+End goes to the last used cell), "
        "or copy the contacts into a new sheet",
    )


# --- entry points ---------------------------------------------------------------------------


def check_workbook(path: Path, kind: str) -> None:
    """What calamine sizes when it opens the file: .xlsx shared strings, every sheet of
    an .ods or .xls. Raises `InputError` when a size is over the limits."""
    if kind in ("xlsx", "xlsm"):
        with _open_zip(path) as zf:
            _check_shared_strings(path, zf)
    elif kind == "ods":
        with _open_zip(path) as zf:
            _check_ods(path, zf)
    elif kind == "xls":
        _check_xls(path)


def check_sheet(path: Path, kind: str, sheet: str) -> None:
    """What calamine sizes when it loads `sheet` of an .xlsx/.xlsm (other formats are
    fully checked by `check_workbook`)."""
    if kind not in ("xlsx", "xlsm"):
        return
    with _open_zip(path) as zf:
        parts = _sheet_parts(zf, sheet)
        for part in parts:
            _check_xlsx_sheet(path, zf, part, sheet)


# --- xlsx -----------------------------------------------------------------------------------


def _open_zip(path: Path) -> zipfile.ZipFile:
    fh = open_regular(path)
    try:
        return _ClosingZip(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        fh.close()
        raise InputError(path, f"cannot read spreadsheet: not a valid zip archive ({exc})") from None


class _ClosingZip(zipfile.ZipFile):
    """A ZipFile that closes the file object it was given."""

    def __init__(self, fh: IO[bytes]):
        self._owned = fh
        super().__init__(fh)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned.close()


def _members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Zip members by lower-cased name, as calamine looks them up."""
    return {info.filename.lower().lstrip("/").replace("\\", "/"): info for info in zf.infolist()}


def _read_small(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(SMALL_PART + 1)
    if len(data) > SMALL_PART:
        raise InputError(path, f"cannot read spreadsheet: {info.filename} is over {SMALL_PART >> 20} MB")
    return data


def _check_shared_strings(path: Path, zf: zipfile.ZipFile) -> None:
    for name, info in _members(zf).items():
        if not name.endswith("sharedstrings.xml"):
            continue
        with zf.open(info) as fh:
            head = fh.read(1 << 20)
        if _utf16(head):
            head = head.decode("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le", "ignore").encode()
        start = head.find(b"sst")
        end = head.find(b">", start) if start >= 0 else -1
        if start >= 0 and end < 0:
            raise InputError(path, f"cannot read spreadsheet: the shared strings header of {info.filename} is bad")
        match = _UNIQUE_COUNT.search(head, start, end) if start >= 0 else None
        if match is not None and int(match.group(1)) > MAX_SHARED_STRINGS:
            raise InputError(
                path,
                f"the workbook declares {int(match.group(1)):,} distinct texts (uniqueCount); batcher reads at "
                f"most {MAX_SHARED_STRINGS:,}: the file is damaged or was not written by a spreadsheet program",
            )


def _sheet_parts(zf: zipfile.ZipFile, sheet: str) -> list[zipfile.ZipInfo]:
    """The worksheet part(s) of `sheet`: resolved through workbook.xml and its
    relationships; when that fails, every worksheet part (never fewer than calamine reads)."""
    members = _members(zf)
    everything = [info for name, info in members.items()
                  if name.endswith(".xml") and "worksheets/" in name and "_rels" not in name]
    try:
        book_name = next(n for n in members if n.endswith("workbook.xml") and "_rels" not in n)
        base = PurePosixPath(book_name).parent
        rels_name = str(base / "_rels" / "workbook.xml.rels").lower()
        book = ElementTree.fromstring(zf.read(members[book_name]))
        rels = ElementTree.fromstring(zf.read(members[rels_name]))
    except (StopIteration, KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError, ValueError):
        return everything
    rid = None
    for element in book.iter():
        if element.tag.rsplit("}", 1)[-1] == "sheet" and element.get("name") == sheet:
            rid = next((v for k, v in element.attrib.items() if k.rsplit("}", 1)[-1] == "id"), None)
            break
    target = None
    for element in rels.iter():
        if element.tag.rsplit("}", 1)[-1] == "Relationship" and element.get("Id") == rid:
            target = element.get("Target")
    if not target:
        return everything
    full = target.lstrip("/") if target.startswith("/") else str(base / target)
    parts: list[str] = []
    for piece in full.replace("\\", "/").split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    info = members.get("/".join(parts).lower())
    return [info] if info is not None else everything


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes, decompressed chunk by chunk (raw zlib for deflate: no CRC
    pass; calamine checks the archive itself)."""
    if info.compress_type != zipfile.ZIP_DEFLATED or zf.fp is None:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK * 4):
                yield chunk
        return
    fp = zf.fp
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    inflater = zlib.decompressobj(-15)
    left = info.compress_size
    while left > 0:
        data = fp.read(min(CHUNK >> 3, left))  # XML deflates about 10:1
        if not data:
            break
        left -= len(data)
        while data:
            out = inflater.decompress(data, CHUNK)
            if out:
                yield out
            data = inflater.unconsumed_tail
    tail = inflater.flush()
    if tail:
        yield tail


def _tag_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut `chunks` at a '<', so that no tag start is split between two pieces (an
    attribute value cannot hold '<'); a piece with no '<' at all is passed on whole."""
    carry = b""
    for chunk in chunks:
        buf = carry + chunk if carry else chunk
        cut = buf.rfind(b"<")
        if cut <= 0 or len(buf) - cut > CHUNK:
            carry = b""
            yield buf
        else:
            carry = buf[cut:]
            yield buf[:cut]
    if carry:
        yield carry


def _check_xlsx_sheet(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: str) -> None:
    try:
        if _fast_pass(zf, info):
            return
        extent = _canonical_extent(zf, info)
        if extent is None:
            extent = _parsed_extent(path, zf, info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise InputError(path, f"cannot read spreadsheet: {info.filename}: {exc}") from None
    if extent.cells > MAX_CELLS:
        raise _too_big(path, sheet, extent)


def _utf16(head: bytes) -> bool:
    """XML in UTF-16 (a BOM, or NUL bytes among the first characters): the byte
    patterns cannot see it, so it takes the XML parser."""
    return head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:64]


def _fast_pass(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """True when every cell tag is canonical and within A1:P999999 (no closer look needed).

    Each decompressed piece is searched as it is (no copy); a match within WINDOW bytes
    of its end may only look suspect because the tag is cut, so it is decided again on
    the window around the boundary, together with tags that start in the cut."""
    suspect, prefixed = _SUSPECT.search, _PREFIXED.search
    previous = b""
    for piece in _inflate(zf, info):
        if not previous:
            if _utf16(piece):
                return False
            head = re.sub(rb"<[?!][^>]*>", b"", piece[:4096])
            root = re.search(rb"<([A-Za-z_][\w.\-]*)[\s>/]", head)
            if root is None or b":" in root.group(1):
                return False  # a prefixed document: the careful pass
        else:
            window = previous[-WINDOW:] + piece[:WINDOW]
            for rx in (suspect, prefixed):
                hit = rx(window)
                if hit is not None and hit.start() < WINDOW:
                    return False
        for rx in (suspect, prefixed):
            hit = rx(piece)
            if hit is not None and hit.start() < len(piece) - WINDOW:
                return False
        previous = piece
    if previous:
        tail = previous[-WINDOW:]
        if suspect(tail) is not None or prefixed(tail) is not None:
            return False
    return True


def _canonical_extent(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Extent | None:
    """The exact extent when every cell tag is canonical (any ref); None otherwise."""
    extent = _Extent()
    for number, piece in enumerate(_tag_chunks(_inflate(zf, info))):
        if (number == 0 and _utf16(piece)) or _PREFIXED.search(piece) is not None:
            return None
        found = _CANONICAL.findall(piece)
        if not found:
            continue
        letters, digits, empty = zip(*found, strict=True)
        if b"" in letters:
            return None  # a cell tag in another form
        if b"/" in empty:  # <c r="X1" s="3"/>: a style only, calamine skips it
            kept = [(c, r) for c, r, e in found if not e]
            if not kept:
                continue
            letters, digits = zip(*kept, strict=True)
        rows = [int(d) for d in digits]
        if min(rows) < 1:
            return None
        columns = [_column_index(c) for c in set(letters)]
        extent.add(min(rows) - 1, min(columns))
        extent.add(max(rows) - 1, max(columns))
    return extent


class _CellWalk:
    """calamine's cell positions (`XlsxCellReader::next_cell`) followed through expat
    events, as upper bounds (see `_parsed_extent`)."""

    def __init__(self) -> None:
        self.extent = _Extent()
        self.row = 0
        self.col = 0
        self.cell: tuple[int, int] | None = None
        self.filled = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.cell is not None:  # any element inside a cell may hold its value
            self.filled = True
            return
        tag = name.rpartition(":")[2]
        if tag == "row":
            r = attrs.get("r")
            if r is not None and r.isdigit() and int(r) > 0:
                self.row = max(self.row, int(r) - 1)
        elif tag == "c":
            ref = attrs.get("r")
            pos = _parse_ref(ref) if ref is not None else None
            if pos is None:
                pos = (self.row, self.col)
            else:
                self.col = max(self.col, pos[1])
            self.cell = pos
            self.filled = False

    def end(self, name: str) -> None:
        tag = name.rpartition(":")[2]
        if tag == "c" and self.cell is not None:
            row, col = self.cell
            if self.filled:
                self.extent.add(row, col)
            self.col = max(self.col, col) + 1
            self.cell = None
        elif tag == "row" and self.cell is None:
            self.row += 1
            self.col = 0


def _parsed_extent(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Extent:
    """The extent as calamine's cell reader would find it, from a real XML parse.

    Follows `XlsxCellReader::next_cell`: a `row` start with `r` sets the row, a `row`
    end moves to the next and back to column 0; a cell with `r` sets the position,
    one without takes the current one, and each cell moves one column right. expat
    cannot tell `<c/>` (ignored by calamine) from `<c></c>`, so the counters only move
    forward in doubt, and the extent is measured from A1: it can only come out larger."""
    walk = _CellWalk()
    parser = expat.ParserCreate()
    parser.StartElementHandler = walk.start
    parser.EndElementHandler = walk.end
    try:
        for chunk in _inflate(zf, info):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise InputError(
            path, f"cannot read spreadsheet: the XML of {info.filename} is malformed ({exc}); "
            "save it again from a spreadsheet program"
        ) from None
    extent = walk.extent
    if extent.top >= 0:
        extent.top = extent.left = 0  # from A1: never smaller than calamine's grid
    return extent


def _parse_ref(ref: str) -> tuple[int, int] | None:
    """`XFD1048576` -> (1048575, 16383); None when calamine would not read it either.
    A ref past Excel's last cell gets Excel's last row or column, which only makes
    the extent larger (calamine wraps such numbers around)."""
    match = re.fullmatch(r"([A-Za-z]+)([0-9]+)", ref)
    if match is None:
        return None
    letters, digits = match.groups()
    row = int(digits) - 1 if len(digits) <= 10 else 1 << 32
    col = _column_index(letters.encode()) if len(letters) <= 7 else 1 << 32
    if row < 0:
        return None
    return min(row, 1 << 32), min(col, 1 << 32)


# --- ods ------------------------------------------------------------------------------------


class _OdsWalk:
    """expat events of content.xml -> one `_OdsTable` per `table:table` (calamine
    matches these qualified names exactly)."""

    def __init__(self) -> None:
        self.tables: list[tuple[str, _OdsTable]] = []
        self.table: _OdsTable | None = None
        self.in_cell = False
        self.repeats = 1
        self.filled = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "table:table":
            self.table = _OdsTable()
            self.tables.append((attrs.get("table:name", "?"), self.table))
        elif self.table is None:
            return
        elif self.in_cell:
            self.filled = True
        elif name == "table:table-row":
            self.table.start_row(_count(attrs.get("table:number-rows-repeated")))
        elif name in ("table:table-cell", "table:covered-table-cell"):
            self.in_cell = True
            self.repeats = _count(attrs.get("table:number-columns-repeated"))
            self.filled = any(k in attrs for k in _ODS_VALUE_ATTRS)

    def end(self, name: str) -> None:
        table = self.table
        if table is None:
            return
        if name in ("table:table-cell", "table:covered-table-cell") and self.in_cell:
            table.add_cell(self.repeats, self.filled)
            self.in_cell = False
        elif name == "table:table-row" and not self.in_cell:
            table.end_row()
        elif name == "table:table":
            self.table = None
        if table.pushed > MAX_CELLS or table.cells > MAX_CELLS:
            raise _OdsTooBig(self.tables[-1][0], table)


def _check_ods(path: Path, zf: zipfile.ZipFile) -> None:
    """Every table of content.xml, as calamine's `read_table` expands it."""
    info = _members(zf).get("content.xml")
    if info is None:
        return  # calamine refuses it itself
    walk = _OdsWalk()
    parser = expat.ParserCreate()
    parser.StartElementHandler = walk.start
    parser.EndElementHandler = walk.end
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK * 4):
                parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _OdsTooBig as big:
        raise _too_big(path, big.name, big.table.extent()) from None
    except expat.ExpatError as exc:
        raise InputError(path, f"cannot read spreadsheet: content.xml is malformed ({exc})") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise InputError(path, f"cannot read spreadsheet: content.xml: {exc}") from None


_ODS_VALUE_ATTRS = (
    "office:value", "office:string-value", "office:date-value", "office:time-value",
    "office:boolean-value", "office:value-type", "table:formula",
)


def _count(value: str | None) -> int:
    if value is None:
        return 1
    value = value.strip()
    return int(value) if value.isdigit() else 1


class _OdsTooBig(Exception):
    def __init__(self, name: str, table: _OdsTable):
        super().__init__(name)
        self.name = name
        self.table = table


class _OdsTable:
    """calamine's `read_table` + `get_range`, counting instead of storing: rows are
    capped at 1,048,576 in all, columns at 16,384 a row; empty cells at the end of a row
    are never stored; the grid spans the first to the last row holding a value (with
    every repeat in between) and the leftmost to the rightmost value."""

    def __init__(self) -> None:
        self.total_rows = 0
        self.rows_seen = 0  # row elements (calamine's row index)
        self.first_row = -1  # index of the first and last row elements holding a value
        self.last_row = -1
        self.repeats: list[int] = []  # of row elements since the first holding a value
        self.grid_rows = 0  # sum of repeats from first_row to last_row
        self.pending_rows = 0
        self.left = EXCEL_COLUMNS
        self.right = -1
        self.pushed = 0  # cells calamine stores before building the grid
        self.row_repeat = 1
        self.col = 0
        self.row_left = -1
        self.row_right = -1

    def start_row(self, repeats: int) -> None:
        self.row_repeat = min(repeats, max(EXCEL_ROWS - self.total_rows, 0))
        self.total_rows += self.row_repeat
        self.col = 0
        self.row_left = self.row_right = -1

    def add_cell(self, repeats: int, filled: bool) -> None:
        repeats = min(repeats, max(EXCEL_COLUMNS - self.col, 0))
        if filled and repeats:
            if self.row_left < 0:
                self.row_left = self.col
            self.row_right = self.col + repeats - 1
        self.col += repeats

    def end_row(self) -> None:
        if self.row_right >= 0:
            self.pushed += self.row_right + 1
            self.left = min(self.left, self.row_left)
            self.right = max(self.right, self.row_right)
            if self.first_row < 0:
                self.first_row = self.rows_seen
                self.grid_rows = self.row_repeat
            else:
                self.grid_rows += self.pending_rows + self.row_repeat
            self.pending_rows = 0
            self.last_row = self.rows_seen
        elif self.first_row >= 0:
            self.pending_rows += self.row_repeat
        self.rows_seen += 1

    @property
    def cells(self) -> int:
        if self.right < 0:
            return 0
        return self.grid_rows * (self.right - self.left + 1)

    def extent(self) -> _Extent:
        return _Extent(0, max(self.grid_rows - 1, 0), max(self.left, 0), max(self.right, 0))


# --- xls ------------------------------------------------------------------------------------

_CELL_RECORDS = frozenset({0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006})


def _check_xls(path: Path) -> None:
    with open_regular(path) as fh:
        data = fh.read()
    stream = _cfb_stream(data, ("Workbook", "Book"))
    if stream is None:
        return  # not a compound file calamine can read: it reports that itself
    for name, offset in _boundsheets(stream):
        extent, declared = _xls_sheet(stream, offset)
        if declared > MAX_CELLS:
            raise InputError(
                path,
                f"sheet {show_value(name)} declares a used range of {declared:,} cells (its DIMENSIONS record); "
                f"batcher reads at most {MAX_CELLS:,}: the file is damaged or was not written by a spreadsheet program",
            )
        if extent.cells > MAX_CELLS:
            raise _too_big(path, name, extent)


def _boundsheets(stream: bytes) -> Iterator[tuple[str, int]]:
    """(name, offset of its BOF) for each BOUNDSHEET record of the workbook globals."""
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        typ, size = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if typ == 0x0085 and len(body) >= 8:
            offset = struct.unpack_from("<I", body)[0]
            length = body[6]
            raw = body[8 : 8 + length * (2 if len(body) > 7 and body[7] & 1 else 1)]
            try:
                name = raw.decode("utf-16-le" if body[7] & 1 else "latin-1")
            except UnicodeDecodeError:
                name = "?"
            yield name, offset
        elif typ == 0x000A:  # EOF of the globals
            return


def _xls_sheet(stream: bytes, offset: int) -> tuple[_Extent, int]:
    """The extent of the cells of the sheet substream at `offset` (nested substreams
    included: never smaller than what calamine reads), and the cells its DIMENSIONS
    record makes calamine reserve."""
    extent = _Extent()
    declared = 0
    pos, end = offset, len(stream)
    depth = 0
    unpack = struct.unpack_from
    while pos + 4 <= end:
        typ, size = unpack("<HH", stream, pos)
        body_at = pos + 4
        pos = body_at + size
        if typ in _CELL_RECORDS and size >= 4:
            row, col = unpack("<HH", stream, body_at)
            extent.add(row, col)
        elif typ == 0x00BD and size >= 6:  # MULRK: row, first column, ..., last column
            row, first = unpack("<HH", stream, body_at)
            last = unpack("<H", stream, body_at + size - 2)[0]
            count = (size - 6) // 6
            extent.add(row, first)
            extent.add(row, max(last, first + max(count - 1, 0)))
        elif typ == 0x0200:
            declared = max(declared, _dimensions(stream[body_at : body_at + size]))
        elif typ == 0x0809:
            depth += 1
        elif typ == 0x000A:
            depth -= 1
            if depth <= 0:
                break
    return extent, declared


def _dimensions(body: bytes) -> int:
    """What calamine reserves for a DIMENSIONS record: rows x columns, in u32 arithmetic."""
    if len(body) == 14:
        rf, rl, cf, cl = struct.unpack_from("<IIHH", body)
    elif len(body) == 10:
        rf, rl, cf, cl = struct.unpack_from("<HHHH", body)
    else:
        return 0
    # calamine's parse_dimensions, then Xls::new's reserve
    if cf > 0xFF or cl < cf:
        cf = 0
    end_row, end_col = (rl - 1, cl - 1) if rl >= 1 and cl >= 1 else (rf, cf)
    rows = (end_row - rf + 1) & 0xFFFFFFFF
    cols = (end_col - cf + 1) & 0xFFFFFFFF
    return rows * cols


def _cfb_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """A stream of an OLE2 compound file (MS-CFB), by name; None when `data` is not a
    readable compound file or has no such stream."""
    if len(data) < 512 or data[:8] != b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return None
    sector_shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if not 7 <= sector_shift <= 16 or not 1 <= mini_shift < sector_shift:
        return None
    size = 1 << sector_shift
    mini_size = 1 << mini_shift
    n_fat, first_dir = struct.unpack_from("<II", data, 0x2C)
    cutoff, first_minifat, _n_minifat, first_difat, n_difat = struct.unpack_from("<IIIII", data, 0x38)
    n_sectors = (len(data) - size) // size + 1

    def sector(i: int) -> bytes:
        start = size + i * size
        return data[start : start + size]

    fat_sectors: list[int] = list(struct.unpack_from("<109I", data, 0x4C))
    d, seen = first_difat, 0
    while d < n_sectors and seen < n_difat and seen <= n_sectors:
        difat = struct.unpack(f"<{size // 4}I", sector(d).ljust(size, b"\xff"))
        fat_sectors.extend(difat[:-1])
        d = difat[-1]
        seen += 1
    fat: list[int] = []
    for s in fat_sectors[:n_fat]:
        if s >= n_sectors:
            break
        fat.extend(struct.unpack(f"<{size // 4}I", sector(s).ljust(size, b"\xff")))

    def chain(start: int, table: list[int], limit: int) -> Iterator[int]:
        count = 0
        while start < len(table) and count <= limit:
            yield start
            start = table[start]
            count += 1

    directory = b"".join(sector(s) for s in chain(first_dir, fat, n_sectors))
    entries: list[tuple[str, int, int, int]] = []
    for at in range(0, len(directory) - 127, 128):
        name_len = struct.unpack_from("<H", directory, at + 64)[0]
        name = directory[at : at + max(min(name_len, 64) - 2, 0)].decode("utf-16-le", "replace")
        kind = directory[at + 66]
        start, length = struct.unpack_from("<II", directory, at + 116)
        entries.append((name, kind, start, length))
    if not entries:
        return None
    root = entries[0]
    for wanted in names:
        for name, kind, start, length in entries:
            if kind != 2 or name != wanted:
                continue
            length = min(length, len(data))
            if length < cutoff:
                mini_stream = b"".join(sector(s) for s in chain(root[2], fat, n_sectors))
                minifat_raw = b"".join(sector(s) for s in chain(first_minifat, fat, n_sectors))
                minifat = list(struct.unpack(f"<{len(minifat_raw) // 4}I", minifat_raw[: len(minifat_raw) // 4 * 4]))
                blob = b"".join(
                    mini_stream[m * mini_size : (m + 1) * mini_size]
                    for m in chain(start, minifat, len(mini_stream) // mini_size + 1)
                )
            else:
                blob = b"".join(sector(s) for s in chain(start, fat, n_sectors))
            return blob[:length]
    return None
