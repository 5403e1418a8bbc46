"""Readers: open a drop (SPEC 3.1) and stream its rows.

    open_table(path, sheet=None) -> Table
        .csv .tsv .txt      text.py    encoding + delimiter detection, csv streaming
        .xlsx .xlsm .xls .ods  sheets.py  python-calamine
    columns.py  pure: header aliases or positional columns -> ColumnMap

Every whole-file problem is an `InputError(path, reason, line=...)`. The input file is
only ever opened for reading, and only when it is a regular file (`files.open_regular`,
also used by the content hash): a FIFO or a device is refused before the first byte.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .columns import ColumnChoice
from .files import check_regular, open_regular
from .sheets import open_sheet
from .table import Table
from .text import open_text

__all__ = ["SHEET_SUFFIXES", "TEXT_SUFFIXES", "ColumnChoice", "Table", "check_regular", "open_regular", "open_table"]

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


def open_table(path: Path, *, sheet: str | None = None, columns: ColumnChoice | None = None) -> Table:
    """Open a drop for reading.

    `sheet` picks a spreadsheet's sheet by name, or by 1-based position when no sheet
    has that name (default: the first visible sheet); it is ignored for text files.
    `columns` names columns the operator chose (see `ColumnChoice`).
    The returned Table streams its rows; close it (or use `with`) when done.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_SUFFIXES and suffix not in SHEET_SUFFIXES:
        supported = " ".join(TEXT_SUFFIXES + SHEET_SUFFIXES)
        shown = suffix or "no extension"
        raise InputError(path, f"unsupported file type ({shown}); supported: {supported}")
    check_regular(path)  # a FIFO or a device would block or never end: refused before reading
    if suffix in TEXT_SUFFIXES:
        return open_text(path, columns)
    return open_sheet(path, suffix[1:], sheet, columns)
