"""The columnar conversion engine behind `batcher.convert.convert_drop` (issue 11).

    engine.py  the only module importing polars: lines in batches, vectorised rules,
               hard rows through the row path's `Validator`, drop-wide duplicates
    rules.py   pure: the row path's decisions as portable patterns

`convert_drop(engine="auto")` tries this engine and falls back to the row path when
the drop is `Ineligible`; the row path stays the reference, and the differential test
(tests/test_columnar_differential.py) holds the two to byte-identical output.
"""

from __future__ import annotations

__all__ = ["Ineligible"]


class Ineligible(Exception):
    """The columnar reader cannot vouch for reading this drop as the row path does."""
