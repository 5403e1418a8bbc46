"""Spreadsheet drops (.xlsx .xlsm .xls .ods) through python-calamine.

The only module that imports python_calamine; its errors become InputError here.
calamine loads the chosen sheet eagerly (in Rust); rows are turned into Python
strings one at a time as they are consumed. Cells become text exactly:
an integral number -> its digits (5511987654321.0 -> "5511987654321"), any other
number -> its shortest repr, dates and times -> ISO 8601, booleans -> TRUE/FALSE,
empty -> "". `RawRow.line` is the row number Excel or LibreOffice shows.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path

from python_calamine import CalamineSheet, CalamineWorkbook, SheetVisibleEnum

from ..errors import InputError
from ..models import RawRow
from ..phones import show_value
from .columns import ColumnChoice, find_columns
from .sheetguard import check_sheet, check_workbook
from .table import Table

__all__ = ["cell_text", "checked_sheet", "open_sheet", "unescape_ooxml"]


def cell_text(value: object) -> str:
    """One calamine cell value as the text a person would type for it."""
    kind = type(value)
    if kind is str:
        return unescape_ooxml(value)  # type: ignore[arg-type]
    if kind is float:
        number: float = value  # type: ignore[assignment]
        return str(int(number)) if number.is_integer() else repr(number)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if value is None:
        return ""
    return str(value)  # timedelta, anything newer


# `_xHHHH_`: OOXML's escape of a UTF-16 code unit (ST_Xstring). calamine decodes those
# from _x0000_ to _x00FF_ (and `_x005F_`, Excel's escape of the underscore that makes a
# literal "_x0041_"), so what is left starting with 00 is literal text.
_OOXML_ESCAPES = re.compile(r"(?:_x(?!00)[0-9A-Fa-f]{4}_)+")


def unescape_ooxml(text: str) -> str:
    """Decode the `_xHHHH_` escapes calamine leaves (code units from U+0100) as Excel
    does: consecutive escapes form UTF-16 (a surrogate pair is one character); a lone
    surrogate stays one, so that validation refuses the row instead of sending it
    (text_invalid_character). A literal `_x20AC_` written by Excel as `_x005F_x20AC_`
    reaches us after calamine exactly like the escape itself, and is decoded too."""
    if "_x" not in text:
        return text

    def decode(match: re.Match[str]) -> str:
        units = match.group()[2:-1].split("__x")  # "_xD83D__xDE00_" -> ["D83D", "DE00"]
        return b"".join(int(u, 16).to_bytes(2, "little") for u in units).decode("utf-16-le", "surrogatepass")

    return _OOXML_ESCAPES.sub(decode, text)


def open_sheet(path: Path, kind: str, sheet: str | None, choice: ColumnChoice | None = None) -> Table:
    """Open one sheet of a workbook: find the columns, stream the rows.

    `sheetguard` first checks what calamine would allocate (it aborts the process when
    an allocation fails), before the workbook is opened and again before the sheet is
    loaded."""
    check_workbook(path, kind)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own errors, and ValueError/OSError
        raise InputError(path, f"cannot read spreadsheet: {_describe(exc)}") from exc
    try:
        name = _choose_sheet(workbook, sheet, path)
        check_sheet(path, kind, name)
        try:
            data = workbook.get_sheet_by_name(name)
        except Exception as exc:
            raise InputError(path, f"cannot read spreadsheet: sheet {show_value(name)}: {_describe(exc)}") from exc
    finally:
        workbook.close()  # the sheet's cells are already loaded

    if data.start is None:
        raise InputError(path, f"sheet {show_value(name)} is empty")
    rows = _rows(data)
    first: RawRow | None = next(rows, None)
    if first is None:
        raise InputError(path, f"sheet {show_value(name)} is empty")
    columns, is_header = find_columns(first.cells, path=path, line=first.line, choice=choice)
    stream = rows if is_header else _prepend(first, rows)
    return Table(path=path, kind=kind, columns=columns, rows=stream, sheet=name)


def checked_sheet(path: Path, kind: str, sheet: str | None) -> str:
    """The name of the sheet `open_sheet` would read, after the same `sheetguard`
    checks (for a reader that loads the sheet itself: `batcher.columnar`). Raises the
    `InputError` `open_sheet` would raise up to that point."""
    check_workbook(path, kind)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own errors, and ValueError/OSError
        raise InputError(path, f"cannot read spreadsheet: {_describe(exc)}") from exc
    try:
        name = _choose_sheet(workbook, sheet, path)
    finally:
        workbook.close()
    check_sheet(path, kind, name)
    return name


def _prepend(first: RawRow, rest: Iterator[RawRow]) -> Iterator[RawRow]:
    yield first
    yield from rest


def _rows(data: CalamineSheet) -> Iterator[RawRow]:
    """Non-blank rows with Excel's row numbers.

    `iter_rows` yields the sheet from row 1 (rows above the used range come as empty
    lists), so counting from 1 gives the row number shown to the user."""
    new = tuple.__new__  # RawRow(...) without its generated Python __new__
    for line, values in enumerate(data.iter_rows(), 1):
        cells = tuple([v if v.__class__ is str and "_x" not in v else cell_text(v) for v in values])
        # as in ingest/text.py: the first cell settles nearly every row without a join
        first = cells[0] if cells else ""
        if not first or first.isspace():
            joined = "".join(cells)
            if not joined or joined.isspace():
                continue
        yield new(RawRow, (line, cells))


def _choose_sheet(workbook: CalamineWorkbook, sheet: str | None, path: Path) -> str:
    names = workbook.sheet_names
    if not names:
        raise InputError(path, "cannot read spreadsheet: it has no sheets")
    if sheet is None:
        visible = [m.name for m in workbook.sheets_metadata if m.visible == SheetVisibleEnum.Visible]
        return visible[0] if visible else names[0]
    if sheet in names:
        return sheet
    if sheet.strip().isdigit() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    listed = ", ".join(f"{i}: {show_value(n)}" for i, n in enumerate(names[:20], 1))
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    raise InputError(path, f"no sheet {show_value(sheet)}; the sheets are {listed}{more}")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
