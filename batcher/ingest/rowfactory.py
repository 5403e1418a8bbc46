"""Building `RawRow`s cheaply on the hot path.

`RawRow` is a frozen, slotted dataclass: its generated `__init__` stores each field
through `object.__setattr__`, which costs about as much as parsing the CSV record
itself (~1 us a row). The readers instead create the instance and fill its two slots
directly, which gives an identical, equal, hashable, still-frozen object at under half
the cost. If `RawRow` ever changes shape (another field, a `__post_init__`), `FAST` is
False and the readers fall back to the ordinary constructor; `tests/test_ingest.py`
checks both ways give the same row.
"""

from __future__ import annotations

import dataclasses

from ..models import RawRow

__all__ = ["FAST", "new_row", "set_cells", "set_line"]

FAST: bool = (
    tuple(f.name for f in dataclasses.fields(RawRow)) == ("line", "cells")
    and "__slots__" in RawRow.__dict__
    and not hasattr(RawRow, "__post_init__")
)
new_row = object.__new__
set_line = RawRow.line.__set__  # type: ignore[attr-defined]  # slot member descriptors
set_cells = RawRow.cells.__set__  # type: ignore[attr-defined]
