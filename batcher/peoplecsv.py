"""CSV files meant for people: reports, refused rows, errors of a rejected drop (SPEC 4.4).

They open cleanly in Excel set to Brazilian Portuguese: UTF-8 with a BOM (so accents
show), `;` between cells by default (`format.csv_delimiter = ","` for other locales),
and every cell neutralised against formula injection (a cell starting with ``= + - @``,
TAB, CR or LF gets a leading ``'``). They are written atomically under a name that is
never overwritten (`fsutil.atomic_output`): a second report of the same drop becomes
``NAME.2.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from .fsutil import atomic_output

__all__ = ["DEFAULT_DELIMITER", "PeopleCsvWriter", "safe_csv_cell", "write_people_csv"]

DEFAULT_DELIMITER = ";"
_FORMULA_START = frozenset("=+-@\t\r\n")


def safe_csv_cell(value: object) -> str:
    """`value` as text made inert for a spreadsheet: a leading ``= + - @``, TAB, CR or LF
    would make Excel or LibreOffice read the cell as a formula, so such a cell gets a
    leading ``'``."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if text and text[0] in _FORMULA_START:
        return "'" + text
    return text


class PeopleCsvWriter:
    """Streams rows into a people's CSV; the file appears (complete) when the block ends.

        with PeopleCsvWriter(dir / "x.report.csv", ["line", "outcome"]) as out:
            out.writerow([1, "delivered"])
        out.path   # where it was written (x.report.2.csv if x.report.csv existed)

    An exception inside the block leaves no file behind."""

    def __init__(self, path: Path, header: Sequence[object], *, delimiter: str = DEFAULT_DELIMITER,
                 unique: bool = True) -> None:
        if delimiter not in (";", ",", "\t"):
            raise ValueError(f"csv delimiter must be ';', ',' or TAB, not {delimiter!r}")
        self.requested = Path(path)
        self.header = list(header)
        self.delimiter = delimiter
        self.unique = unique
        self.path = self.requested
        self.rows = 0
        self._cm: Any = None
        self._writer: Any = None

    def __enter__(self) -> PeopleCsvWriter:
        self._cm = atomic_output(self.requested, "w", unique=self.unique, encoding="utf-8-sig", newline="")
        fh, self.path = self._cm.__enter__()
        self._writer = csv.writer(fh, delimiter=self.delimiter, lineterminator="\r\n")
        self._writer.writerow([safe_csv_cell(h) for h in self.header])
        return self

    def writerow(self, cells: Iterable[object]) -> None:
        self._writer.writerow([safe_csv_cell(c) for c in cells])
        self.rows += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._cm.__exit__(exc_type, exc, tb)


def write_people_csv(path: Path, header: Sequence[object], rows: Iterable[Iterable[object]], *,
                     delimiter: str = DEFAULT_DELIMITER, unique: bool = True) -> Path:
    """Write a whole people's CSV; returns the path written (see `PeopleCsvWriter`)."""
    with PeopleCsvWriter(path, header, delimiter=delimiter, unique=unique) as out:
        for row in rows:
            out.writerow(row)
    return out.path
