"""Which cell holds the number, the text and the correlationId (SPEC 3.1).

Pure: takes the first non-blank record of a drop and answers with a `ColumnMap`.
A record where at least one cell is a known column name is a header; otherwise the
columns are positional (number, text, correlationId). No I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..models import ColumnMap
from ..phones import show_value

__all__ = ["ALIASES", "find_columns", "normalise_name"]

# Accepted header names per column, already in normalised form (see normalise_name).
ALIASES: dict[str, tuple[str, ...]] = {
    "number": ("number", "phone", "destination", "telefone", "celular", "msisdn", "numero", "fone"),
    "text": ("text", "message", "messagetext", "mensagem", "texto", "sms", "msg"),
    # most specific first: when a header has several of these, the first listed wins
    "correlationId": ("correlationid", "referencia", "ref", "id"),
}
# What the error messages show (correlation_id is written as the SPEC lists it).
_SHOWN: dict[str, tuple[str, ...]] = {
    "number": ALIASES["number"],
    "text": ALIASES["text"],
    "correlationId": ("correlationid", "correlation_id", "id", "ref", "referencia"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_IGNORED = str.maketrans("", "", " _-.\t\ufeff\u00a0")


def normalise_name(cell: str) -> str:
    """`Número` -> `numero`, `Correlation_ID` -> `correlationid`, ` TELE-FONE ` -> `telefone`."""
    decomposed = unicodedata.normalize("NFKD", cell)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().translate(_IGNORED)


def _accepted(field: str) -> str:
    return ", ".join(_SHOWN[field])


MAX_CELLS_SHOWN = 8


def _cells(cells: Sequence[str]) -> str:
    """Header cells for a message: each a short quoted prefix (`show_value`), at most
    MAX_CELLS_SHOWN of them."""
    shown = ", ".join(show_value(c) for c in cells[:MAX_CELLS_SHOWN])
    more = len(cells) - MAX_CELLS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def find_columns(first: Sequence[str], *, path: Path, line: int) -> tuple[ColumnMap, bool]:
    """The column map for a drop whose first non-blank record is `first` (found on `line`).

    Returns ``(columns, is_header)``; when `is_header` the record is a header and must
    not be treated as data. Raises InputError when the number or the text column cannot
    be found, when a header names the number or text column twice (several
    correlationId candidates are settled by the order of ALIASES), or when the first
    row has no known name yet cannot be data (its number cell has no digit at all).
    """
    found: dict[str, list[int]] = {}
    names: list[str] = []
    for index, cell in enumerate(first):
        names.append(normalise_name(cell))
        field = _ALIAS_TO_FIELD.get(names[-1])
        if field is not None:
            found.setdefault(field, []).append(index)

    if not found:
        if len(first) < 2:
            shown = first[0] if first else ""
            raise InputError(
                path,
                f"no text column: the first row has a single column ({show_value(shown)}) and no header; "
                "expected number and text columns (and optionally a correlationId), "
                f"or a header naming them (number: {_accepted('number')}; text: {_accepted('text')})",
                line=line,
            )
        if first[0].strip() and not any(ch.isdigit() for ch in first[0]):
            # A number column without a single digit: this is a header we do not know,
            # and guessing positions would reject every row or send to the wrong column.
            cells = _cells(first)
            raise InputError(
                path,
                f"the first row looks like a header but names no known column: found {cells}; "
                f"accepted names (any case, accents ignored) are number: {_accepted('number')}; "
                f"text: {_accepted('text')}; correlationId (optional): {_accepted('correlationId')}",
                line=line,
            )
        return ColumnMap(number=0, text=1, correlation_id=2 if len(first) > 2 else None), False

    header = tuple(first)
    cells = _cells(header)
    correlation = found.get("correlationId")
    if correlation is not None and len(correlation) > 1:
        rank = ALIASES["correlationId"].index
        ranked = sorted(correlation, key=lambda i: rank(names[i]))
        if rank(names[ranked[0]]) < rank(names[ranked[1]]):
            found["correlationId"] = ranked[:1]
    for field, indexes in found.items():
        if len(indexes) > 1:
            twice = _cells([header[i] for i in indexes])
            raise InputError(
                path,
                f"the header names the {field} column more than once ({twice}); "
                "rename or remove all but one",
                line=line,
            )
    missing = [f for f in ("number", "text") if f not in found]
    if missing:
        wanted = "; ".join(f"{f}: {_accepted(f)}" for f in missing)
        raise InputError(
            path,
            f"header has no {' and no '.join(missing)} column: found {cells}; "
            f"accepted names (any case, accents ignored) are {wanted}",
            line=line,
        )
    columns = ColumnMap(
        number=found["number"][0],
        text=found["text"][0],
        correlation_id=found["correlationId"][0] if "correlationId" in found else None,
        header=header,
    )
    return columns, True
