"""A spreadsheet's sheet loaded by fastexcel: the only module that imports it.

Kept apart from polars (`sheet.py` turns what is loaded here into a frame), so that
the sheet can be checked and loaded, with the GIL let go while calamine parses it,
while polars is still being imported (`batcher.convert` starts that import early).
`check` runs the row path's own checks (`ingest.sheets.checked_sheet`: the
`sheetguard` bounds) and must come before `load`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import fastexcel

from ..ingest.sheets import checked_sheet
from . import Ineligible

__all__ = ["SHEET_SUFFIXES", "Loaded", "check", "load", "load_again"]

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


class _Capsules:
    """An Arrow record batch already exported (PyCapsule interface), for polars."""

    def __init__(self, pair: tuple[object, object]) -> None:
        self.pair = pair

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        return self.pair


@dataclass(frozen=True)
class Loaded:
    """The chosen sheet's name and its cells from row 1 as Arrow columns of text (the
    first column of its used range first)."""

    kind: str
    name: str
    columns: _Capsules


def check(source: Path, sheet: str | None) -> str:
    """The name of the sheet `open_table(source, sheet=sheet)` would read, after its
    checks (raising its `InputError` for what they refuse)."""
    kind = source.suffix.lower()[1:]
    if "." + kind not in SHEET_SUFFIXES:
        raise Ineligible("not a spreadsheet")
    return checked_sheet(source, kind, sheet)


def load(source: Path, name: str) -> Loaded:
    """The checked sheet `name` (`check`), loaded; `Ineligible` when fastexcel fails."""
    return Loaded(source.suffix.lower()[1:], name, load_again(source, name, "string"))


def load_again(source: Path, name: str, dtype: Literal["string", "float"]) -> _Capsules:
    """Sheet `name` from row 1, every cell as `dtype` (fastexcel's `use_columns` counts
    from column A, not from the used range: not used)."""
    try:
        loaded = fastexcel.read_excel(source).load_sheet(name, header_row=None, skip_rows=0, dtypes=dtype)
        return _Capsules(loaded.__arrow_c_array__())
    except Exception as exc:  # fastexcel's own errors, and what calamine raises through it
        raise Ineligible(f"fastexcel: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
