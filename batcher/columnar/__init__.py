"""The columnar conversion engine behind `batcher.convert.convert_drop` (issue 11).

    engine.py    a text drop: chunks of lines through the verdicts, in worker threads
    sheet.py     a spreadsheet: the sheet as columns of text, exactly `cell_text`'s
    excel.py     the only module importing fastexcel: the sheet checked, then loaded
    verdicts.py  the vectorised rules as polars expressions (decided rows rendered)
    drop.py      hard rows through the row path's `Validator`, duplicates across the
                 drop, the platform files (SHA-256 as written), counts and refusals
    rules.py     pure: the row path's decisions as portable patterns

polars is imported only in this package (engine, sheet, verdicts, drop).
`convert_drop(engine="auto")` tries this engine and falls back to the row path when
the drop is `Ineligible`; the row path stays the reference, and the differential
tests (tests/test_columnar_differential.py, tests/test_columnar_sheets.py) hold the
two to byte-identical output.
"""

from __future__ import annotations

__all__ = ["Ineligible"]


class Ineligible(Exception):
    """The columnar reader cannot vouch for reading this drop as the row path does."""
