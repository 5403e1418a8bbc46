"""`Table`: what a reader hands over, an open drop with its column map and a row stream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ..models import ColumnMap, RawRow, Rejection

__all__ = ["Table"]


@dataclass
class Table:
    """An opened drop.

    `rows` streams the data records (header excluded, blank records skipped) and may
    raise `InputError` part-way through when the file turns out malformed further down
    (an unclosed quote, bytes that changed under the reader). Use it as a context
    manager, or call `close()`, to release the file.
    """

    path: Path
    kind: str  # "csv" | "xlsx" | "xlsm" | "xls" | "ods"
    columns: ColumnMap
    rows: Iterator[RawRow]
    encoding: str | None = None  # text files: "utf-8", "utf-8-sig", "utf-16", "cp1252"
    delimiter: str | None = None  # text files
    sheet: str | None = None  # spreadsheets: the sheet read
    #: None when the file is strictly valid in its encoding. Otherwise ask it for each
    #: row before validating: a Rejection when the row holds bytes that do not decode
    #: (such a row must not be validated or sent), else None.
    screen: Callable[[RawRow], Rejection | None] | None = None
    _release: Callable[[], None] | None = field(default=None, repr=False, compare=False)

    def close(self) -> None:
        """Stop the row stream and release the file. Safe to call twice."""
        close_rows = getattr(self.rows, "close", None)
        if close_rows is not None:
            close_rows()
        release, self._release = self._release, None
        if release is not None:
            release()

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
