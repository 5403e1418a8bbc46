"""Report files: CSV for people (`peoplecsv`: UTF-8 with BOM, `;` by default, cells
neutralised, never overwritten) or JSON (a list of row objects with the same field
names), to a file or a stream. Rows stream through: a million-row report is never held
in memory."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Literal

from ..fsutil import atomic_output
from ..peoplecsv import DEFAULT_DELIMITER, PeopleCsvWriter, safe_csv_cell
from .rows import REPORT_FIELDS, ReportRow, Summary

__all__ = ["write_report"]


def write_report(
    rows: Iterable[ReportRow],
    *,
    fmt: Literal["csv", "json"],
    path: Path | None = None,
    stream: IO[str] | None = None,
    delimiter: str = DEFAULT_DELIMITER,
    summary: Summary | None = None,
) -> Path | None:
    """Write `rows` to `path` (a new file, never over an existing one: returns where it
    went) or to `stream` (no BOM there: a terminal or a pipe). `summary`, when given,
    is filled in as the rows pass."""

    def counted(it: Iterable[ReportRow]) -> Iterable[ReportRow]:
        for row in it:
            if summary is not None:
                summary.add(row)
            yield row

    rows = counted(rows)
    if path is not None:
        if fmt == "csv":
            with PeopleCsvWriter(path, REPORT_FIELDS, delimiter=delimiter) as out:
                for row in rows:
                    out.writerow(row.cells())
            return out.path
        with atomic_output(path, "w", encoding="utf-8") as (fh, final):
            _json(rows, fh)
        return final
    assert stream is not None
    if fmt == "csv":
        writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
        writer.writerow(REPORT_FIELDS)
        for row in rows:
            writer.writerow([safe_csv_cell(c) for c in row.cells()])
    else:
        _json(rows, stream)
    return None


def _json(rows: Iterable[ReportRow], fh: IO[str]) -> None:
    fh.write("[")
    first = True
    for row in rows:
        fh.write("\n  " if first else ",\n  ")
        fh.write(json.dumps(row.as_dict(), ensure_ascii=False))
        first = False
    fh.write("\n]\n" if not first else "]\n")
