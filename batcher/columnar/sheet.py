"""The columnar conversion of a spreadsheet drop (.xlsx .xlsm .xls .ods).

The sheet is chosen and checked exactly as the row path does and loaded once by
fastexcel (`excel.load`: calamine, as the row path's python-calamine) as columns of
text from row 1, so that row N of the frame is Excel's row N. fastexcel writes a non-text
cell as text its own way (a number with at most nine decimals, `true`, `2024-01-02
00:00:00`), where the row path's `cell_text` writes digits, `repr`, `TRUE`, ISO 8601;
the two agree on text and on whole numbers, so a value that could differ is checked:

- a number-like value that a float with a different `cell_text` could have printed (a
  short whole number, a decimal) is compared with the cell read again as a number: the
  cell is taken when `cell_text` of that number is the same text;
- anything that looks like a boolean, a date, a time or a duration, and a sheet that
  fastexcel cannot read, make the drop `Ineligible`: the row path converts it.

`_xHHHH_` escapes are decoded by the row path's own `unescape_ooxml`. The header and
the columns come from the row path's `find_columns` on the first non-blank row; blank
rows are skipped as it skips them; then batches of rows go through `verdicts.cells_plan`
and `drop.Drop` as a text drop's lines do.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:100,muzzy_decay_ms:0,narenas:1,tcache:false")

import polars as pl

from ..errors import InputError
from ..ingest.columns import ColumnChoice, find_columns
from ..ingest.sheets import unescape_ooxml
from ..models import ColumnMap, Rejection
from ..render import FileLayout
from ..validate import ValidationPolicy
from . import Ineligible
from .drop import Drop, Outcome, render
from .engine import start
from .excel import Loaded, load_again
from .rules import char_class, python_whitespace
from .verdicts import CANDIDATE_SCHEMA, cells_plan

__all__ = ["BATCH_ROWS", "convert_sheet"]

#: rows through the verdicts at once
BATCH_ROWS = 100_000

# what fastexcel may have printed differently from `cell_text`: its form of a float
# (no leading zero, no trailing zero after the point) for a whole number a float with a
# tiny fraction prints as (below 2**22 a float's fraction can hide under nine
# decimals), -0 (`cell_text`: "0"), and a decimal. Text in any other form is text.
_NUMBER_LIKE = r"^-?(?:0|[1-9][0-9]{0,6})$|^-?(?:0|[1-9][0-9]*)\.[0-9]{0,8}[1-9]$"
# booleans, dates and times (fastexcel and ISO forms) and durations: the row path's
_TYPED_LIKE = r"^(?:true|false)$|^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}|^-?P[0-9T]"
_CANDIDATES = tuple(CANDIDATE_SCHEMA)


def convert_sheet(
    source: Path,
    loaded: Loaded,
    *,
    choice: ColumnChoice | None,
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
    """Convert the spreadsheet `excel.load` loaded column-wise, or raise `Ineligible`
    having left nothing behind; as `engine.convert_text` otherwise."""
    kind, name = loaded.kind, loaded.name
    cells = _exact(source, name, _frame(loaded.columns))
    width = cells.width - 1
    blank = pl.concat_str([pl.col(f"c{i}") for i in range(width)]).str.contains(
        "^" + char_class(python_whitespace()) + "*$"
    )
    rows = cells.filter(~blank)
    if rows.height == 0:
        raise Ineligible("an empty sheet")
    first = rows.row(0)
    try:
        columns, is_header = find_columns(first[1:], path=source, line=first[0], choice=choice)
    except InputError as exc:
        raise Ineligible(f"the row path says: {exc}") from None
    if is_header:
        rows = rows.slice(1)
    outcome = Outcome(kind, None, None, sheet=name, columns=columns)
    start(out_dir, outcome, reject_writer)
    drop: Drop | None = None

    def cells_of(lines: list[int]) -> dict[int, tuple[str, ...]]:
        found = rows.filter(pl.col("line").is_in(pl.Series(lines, dtype=pl.Int64).implode()))
        return {row[0]: row[1:] for row in found.iter_rows()}

    try:
        drop = Drop(policy, columns, drop_key, outcome, out_dir, layout=layout, max_rows=max_rows,
                    cells_of=cells_of, buffer=buffer, keep_rejections=keep_rejections)
        plan = cells_plan(policy, f"{drop_key}-")
        zeros = {"newline": pl.lit(0, pl.Int32), "tab": pl.lit(0, pl.Int32), "transliterated": pl.lit(0, pl.Int32)}

        def cell(index: int | None) -> pl.Expr:
            return pl.col(f"c{index}") if index is not None and index < width else pl.lit("")

        try:
            for at in range(0, rows.height, BATCH_ROWS):
                batch = rows.slice(at, BATCH_ROWS)
                frame = plan.apply(
                    batch.lazy().select(
                        "line", n=cell(columns.number), t=cell(columns.text), c=cell(columns.correlation_id)
                    )
                ).with_columns(**zeros).collect()
                if frame.get_column("foreign").any():
                    raise Ineligible("a correlationId in the generated namespace")
                ok = frame.get_column("ok")
                easy = frame.filter(ok).select(_CANDIDATES)
                refused: list[Rejection] = []
                if not ok.all():
                    hard = batch.filter(~ok)
                    decided, refused = drop.decide((row[0], row[1:]) for row in hard.iter_rows())
                    if decided.height:
                        easy = pl.concat([easy, decided]).sort("line")
                side, lines = render(easy, layout.line_ending)
                drop.add(side, lines, refused)
                outcome.rows_read += batch.height
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


def _frame(columns: Any) -> pl.DataFrame:
    """Arrow columns from `excel` as a frame of columns c0, c1..."""
    frame = pl.DataFrame(columns)
    if frame.width == 0 or frame.height == 0:
        raise Ineligible("an empty sheet")
    return frame.rename({old: f"c{i}" for i, old in enumerate(frame.columns)})


def _exact(source: Path, name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The loaded text as the row path's `cell_text` gives it (empty cells ""), with
    `line` first; `Ineligible` when a value cannot be vouched for."""
    names = frame.columns
    if frame.select(pl.any_horizontal(pl.col(names).str.contains(_TYPED_LIKE).fill_null(False)).any()).item():
        raise Ineligible("booleans, dates, times or durations")
    numbers = frame.select(pl.col(names).str.contains(_NUMBER_LIKE).fill_null(False))
    unsure = [name_ for name_ in names if numbers.get_column(name_).any()]
    if unsure:
        typed = _frame(load_again(source, name, "float"))
        if typed.shape != frame.shape:
            raise Ineligible("the sheet read again as numbers has another shape")
        for column in unsure:
            text = frame.get_column(column)
            value = typed.get_column(column)
            check = pl.DataFrame({"text": text, "value": value, "unsure": numbers.get_column(column)}).filter(
                pl.col("unsure") & pl.col("value").is_not_null()
            )
            if check.height and not _same_text(check):
                raise Ineligible(f"column {column}: a number fastexcel printed otherwise")
    for column in names:  # the few cells with an escape, decoded by the row path's function
        values = frame.get_column(column)
        escaped = values.str.contains("_x", literal=True).fill_null(False)
        if escaped.any():
            at = escaped.arg_true()
            try:
                decoded = pl.Series([unescape_ooxml(v) for v in values.gather(at).to_list()], dtype=pl.String)
            except UnicodeEncodeError:  # a lone surrogate: the row path refuses its row
                raise Ineligible("an escape of a lone UTF-16 surrogate") from None
            frame = frame.with_columns(values.scatter(at, decoded))
    return frame.select(pl.int_range(1, frame.height + 1, dtype=pl.Int64).alias("line"), pl.col(names).fill_null(""))


def _same_text(check: pl.DataFrame) -> bool:
    """`cell_text` of each `value` (digits when whole, else `repr`) is its `text`."""
    whole = check.filter(pl.col("value") == pl.col("value").round(0))
    small = whole.filter(pl.col("value").abs() < 2.0**62)
    if small.height != whole.height:
        return False
    same = small.select((pl.col("value").cast(pl.Int64).cast(pl.String) == pl.col("text")).all()).item()
    rest = check.filter(pl.col("value") != pl.col("value").round(0))
    return bool(same) and all(repr(v) == t for t, v in rest.select("text", "value").iter_rows())
