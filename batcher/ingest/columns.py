"""Which cell holds the number, the text and the correlationId (SPEC 3.1).

Pure: takes the first non-blank record of a drop (and the columns the operator named,
if any) and answers with a `ColumnMap`. A record where at least one cell is a known
column name is a header; a header cell holding a known name as a word (`Celular do
cliente`) is taken when that is unambiguous; otherwise the columns are positional
(number, text, correlationId). No I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError

if TYPE_CHECKING:
    from ..settings import Settings
from ..models import ColumnMap
from ..phones import show_value

__all__ = ["ALIASES", "ColumnChoice", "find_columns", "normalise_name", "show_cell"]

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
_NON_WORD = re.compile(r"[^0-9a-z]+")
_FIELDS = ("number", "text", "correlationId")
_OPTION = {"number": "--number-column", "text": "--text-column", "correlationId": "--id-column"}
_KEY = {"number": "number", "text": "text", "correlationId": "correlation_id"}
#: how long a quoted header cell may be in a message


def show_cell(cell: str) -> str:
    """A header cell quoted for a message: `phones.show_value`, the one helper every
    message quoting input uses (a short prefix, control characters made visible)."""
    return show_value(cell)


MAX_CELLS_SHOWN = 8


def _cells(cells: Sequence[str]) -> str:
    """Cells of a row for a message: each quoted by `show_cell`, at most MAX_CELLS_SHOWN."""
    shown = ", ".join(show_cell(c) for c in cells[:MAX_CELLS_SHOWN])
    more = len(cells) - MAX_CELLS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class ColumnChoice:
    """Columns the operator named (`--number-column` ..., or the `[columns]` section): a
    header name, or a 1-based position (an int or a string of digits). None: find it."""

    number: str | int | None = None
    text: str | int | None = None
    correlation_id: str | int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ColumnChoice:
        c = settings.columns
        return cls(number=c.number, text=c.text, correlation_id=c.correlation_id)

    def overriding(self, **given: str | int | None) -> ColumnChoice:
        """This choice with the columns given here (not None) replacing its own."""
        return ColumnChoice(**{k: given.get(k) if given.get(k) is not None else getattr(self, k)
                               for k in ("number", "text", "correlation_id")})

    def get(self, field: str) -> str | int | None:
        value = getattr(self, "correlation_id" if field == "correlationId" else field)
        return None if value is None or (isinstance(value, str) and not value.strip()) else value


def normalise_name(cell: str) -> str:
    """`Número` -> `numero`, `Correlation_ID` -> `correlationid`, ` TELE-FONE ` -> `telefone`."""
    decomposed = unicodedata.normalize("NFKD", cell)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().translate(_IGNORED)


def _accepted(field: str) -> str:
    return ", ".join(_SHOWN[field])


def _words(cell: str) -> set[str]:
    """The words of a header cell, normalised: `Celular do cliente` -> {celular, do, cliente}."""
    decomposed = unicodedata.normalize("NFKD", cell)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return {w for w in _NON_WORD.split(bare) if w}


def _resolve_choice(
    field: str, wanted: str | int, first: Sequence[str], names: list[str], *, path: Path, line: int
) -> int:
    """The 0-based position of the column the operator named (a name or a 1-based index)."""
    option = _OPTION[field]
    text = str(wanted).strip()
    if isinstance(wanted, int) or text.isdigit():
        index = int(text)
        if index < 1:
            raise InputError(path, f"{option} {text}: column numbers start at 1", line=line)
        return index - 1
    key = normalise_name(text)
    matches = [i for i, name in enumerate(names) if name == key]
    if len(matches) == 1:
        return matches[0]
    cells = _cells(first)
    if not matches:
        raise InputError(
            path,
            f"{option} {show_cell(text)}: no column of that name in the first row ({cells}); "
            "give the column's name as it is written in the header, or its position (1, 2, ...)",
            line=line,
        )
    raise InputError(path, f"{option} {show_cell(text)}: several columns have that name ({cells}); "
                     "give its position (1, 2, ...) instead", line=line)


def find_columns(
    first: Sequence[str], *, path: Path, line: int, choice: ColumnChoice | None = None
) -> tuple[ColumnMap, bool]:
    """The column map for a drop whose first non-blank record is `first` (found on `line`).

    Returns ``(columns, is_header)``; when `is_header` the record is a header and must
    not be treated as data. Each column is found, in this order of preference:

    1. named by the operator (`choice`: `--number-column` or `[columns] number`...), by
       header name or 1-based position;
    2. a header cell that is one of the ALIASES (`Telefone`, `Mensagem`...);
    3. a header cell that contains one alias as a word (`Celular do cliente`), when
       exactly one cell does (columns already taken are not considered);
    4. without a recognisable header: number, text, correlationId by position.

    Raises InputError when the number or the text column cannot be found (suggesting
    the options), when a header names the number or text column twice, or when the first
    row has no known name yet cannot be data (its number cell has no digit at all).
    """
    choice = choice or ColumnChoice()
    names = [normalise_name(cell) for cell in first]
    taken: dict[str, int] = {}
    how: dict[str, str] = {}

    for field in _FIELDS:
        wanted = choice.get(field)
        if wanted is not None:
            taken[field] = _resolve_choice(field, wanted, first, names, path=path, line=line)
            how[field] = "option"
    named_by_option = any(isinstance(v, str) and not v.strip().isdigit() for v in map(choice.get, _FIELDS))

    exact: dict[str, list[int]] = {}
    for index, name in enumerate(names):
        alias_of = _ALIAS_TO_FIELD.get(name)
        if alias_of is not None and alias_of not in taken and index not in taken.values():
            exact.setdefault(alias_of, []).append(index)
    correlation = exact.get("correlationId")
    if correlation is not None and len(correlation) > 1:
        rank = ALIASES["correlationId"].index
        ranked = sorted(correlation, key=lambda i: rank(names[i]))
        if rank(names[ranked[0]]) < rank(names[ranked[1]]):
            exact["correlationId"] = ranked[:1]
    header = tuple(first)
    for field, indexes in exact.items():
        if len(indexes) > 1:
            twice = _cells([header[i] for i in indexes])
            raise InputError(
                path,
                f"the header names the {field} column more than once ({twice}); "
                f"rename or remove all but one, or choose one with {_OPTION[field]}",
                line=line,
            )
        taken[field] = indexes[0]
        how[field] = "name"

    # a header cell holding a known name as a word; without any exact name, only a row
    # whose number cell cannot be a phone number is taken for a header this way
    words = [_words(cell) for cell in first]
    by_word: dict[str, list[int]] = {}
    for field in _FIELDS:
        if field not in taken:
            aliases = set(ALIASES[field])
            by_word[field] = [i for i, w in enumerate(words) if w & aliases and i not in taken.values()]
    number_cells = by_word.get("number") or ([taken["number"]] if "number" in taken else [])
    word_header = (
        len(by_word.get("number", ())) == 1
        and len(by_word.get("text", ())) == 1
        and by_word["number"] != by_word["text"]
        and not any(sum(ch.isdigit() for ch in first[i]) >= 8 for i in number_cells)
    )
    is_header = bool(exact) or named_by_option or word_header
    if is_header:
        for field, candidates in by_word.items():
            candidates = [i for i in candidates if i not in taken.values()]
            if len(candidates) == 1:
                taken[field] = candidates[0]
                how[field] = "word"
            elif len(candidates) > 1 and field != "correlationId":
                several = _cells([header[i] for i in candidates])
                raise InputError(
                    path,
                    f"several header cells could be the {field} column ({several}); "
                    f"choose one with {_OPTION[field]} (or [columns] {_KEY[field]} in the config)",
                    line=line,
                )
    if not is_header and not taken:
        return _positional(first, path=path, line=line)
    if not is_header:
        # columns chosen by position only: the first row is a header if its number cell
        # cannot be a number (no digit at all), else data
        number_at = taken.get("number", 0)
        cell = first[number_at] if number_at < len(first) else ""
        is_header = bool(cell.strip()) and not any(ch.isdigit() for ch in cell)
        for field, default in (("number", 0), ("text", 1)):
            taken.setdefault(field, default)
            how.setdefault(field, "position")
        if "correlationId" not in taken and len(first) > 2 and 2 not in taken.values() and not is_header:
            taken["correlationId"] = 2
            how["correlationId"] = "position"

    missing = [f for f in ("number", "text") if f not in taken]
    if missing:
        cells = _cells(header)
        wanted = "; ".join(f"{f}: {_accepted(f)}" for f in missing)
        options = " and ".join(_OPTION[f] for f in missing)
        raise InputError(
            path,
            f"header has no {' and no '.join(missing)} column: found {cells}; "
            f"accepted names (any case, accents ignored, also as a word of the header) are {wanted}; "
            f"or name the column with {options} (a header name or a position 1, 2, ...) or in [columns]",
            line=line,
        )
    columns = ColumnMap(
        number=taken["number"],
        text=taken["text"],
        correlation_id=taken.get("correlationId"),
        header=header if is_header else None,
        chosen=tuple(sorted((f, how[f]) for f in taken)),
    )
    return columns, is_header


def _positional(first: Sequence[str], *, path: Path, line: int) -> tuple[ColumnMap, bool]:
    if len(first) < 2:
        shown = show_cell(first[0] if first else "")
        raise InputError(
            path,
            f"no text column: the first row has a single column ({shown}) and no header; "
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
            f"accepted names (any case, accents ignored, also as a word of the header) are number: "
            f"{_accepted('number')}; text: {_accepted('text')}; correlationId (optional): "
            f"{_accepted('correlationId')}; or name the columns with --number-column and --text-column "
            "(a header name or a position 1, 2, ...) or in the [columns] section of the config",
            line=line,
        )
    return ColumnMap(number=0, text=1, correlation_id=2 if len(first) > 2 else None), False
