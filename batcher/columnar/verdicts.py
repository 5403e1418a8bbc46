"""The vectorised verdicts: polars expressions that decide the plain rows of a batch.

`line_plan` turns a batch of physical lines (column `raw`) into candidate columns; a
spreadsheet batch comes as cells already (`cells_plan`). Both end in the same columns,
each row either decided here (`ok`: its `out` line, keys and counts are the row path's
exactly) or left to the row path's `Validator` (`ok` false: the row goes there whole).

A cell is decided here only when it needs no stripping and holds nothing
`rules.unusual` names; the number must be a mobile in a form `rules.NumberRule`
accepts, the text non-empty and within the limits, the correlationId short, ASCII and
free of `;`. Everything else is the Validator's.

The expressions are written for few passes over the bytes: one regular expression per
line for everything unusual (spaces beside a delimiter included), cells split once,
no `;` work when `;` is the delimiter (a plain cell cannot hold one), the duplicate key
from two string hashes.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

import polars as pl

from ..gsm import GSM_MULTI, GSM_SINGLE, UCS2_MULTI, UCS2_SINGLE
from ..models import ColumnMap
from ..validate import MAX_CORRELATION_ID_LENGTH, MAX_TEXT_LENGTH, ValidationPolicy
from .rules import NumberRule, ascii_digits, number_rule, unusual

__all__ = ["CANDIDATE_SCHEMA", "KEY_SEEDS", "Plan", "cells_plan", "id_key", "keys", "line_plan", "number_stages",
           "row_key"]

#: seeds of the two string hashes whose exclusive or is the duplicate-row key, and the
#: correlationId key
KEY_SEEDS = (0x5EED_BA7C, 0x0DD_C0FFEE, 0x1D_5EED)

#: the columns a decided row carries to the drop-wide steps (`drop.py`)
CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(), "k": pl.UInt64(), "h": pl.UInt64(), "number": pl.String(), "text": pl.String(),
    "cid": pl.String(), "gsm": pl.Boolean(), "segments": pl.Int32(), "semicolon": pl.Int32(), "newline": pl.Int32(),
    "tab": pl.Int32(), "transliterated": pl.Int32(),
}


@dataclass(frozen=True)
class Plan:
    """Stages of columns evaluated in order (each materialises what the next reads)."""

    stages: tuple[dict[str, pl.Expr], ...]

    def apply(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        for stage in self.stages:
            frame = frame.select(**stage)
        return frame


def keys(number: pl.Expr, text: pl.Expr, cid: pl.Expr) -> dict[str, pl.Expr]:
    """The duplicate-row key of (number, text) and the correlationId key (null: no id)."""
    return {"k": row_key(number, text), "h": id_key(cid)}


def row_key(number: pl.Expr, text: pl.Expr) -> pl.Expr:
    a, b, _ = KEY_SEEDS
    return number.hash(a).xor(text.hash(b))


def id_key(cid: pl.Expr) -> pl.Expr:
    return pl.when(cid != "").then(cid.hash(KEY_SEEDS[2]))


def line_plan(columns: ColumnMap, policy: ValidationPolicy, delimiter: str, prefix: str) -> Plan:
    """Columns `line`, `raw` -> `line`, `ok`, `odd` (the line holds something unusual:
    the row path's csv reading decides its cells), `raw` (only where not ok),
    `foreign` (a correlationId in the generated namespace) and the candidate columns."""
    raw = pl.col("raw")
    needed = max(i for i in (columns.number, columns.text, columns.correlation_id) if i is not None) + 1
    sep = re.escape(delimiter)
    spaced = f"|^ | $|{sep} | {sep}"  # a cell that strip() would change
    odd = raw.str.contains(unusual(delimiter) + spaced) | (raw.str.len_bytes() > csv.field_size_limit())
    parts = raw.str.splitn(delimiter, needed + 1)

    def cell(index: int | None) -> pl.Expr:
        return parts.struct.field(f"field_{index}").fill_null("") if index is not None else pl.lit("")

    first = {"line": pl.col("line"), "raw": raw, "odd": odd, "n": cell(columns.number), "t": cell(columns.text),
             "c": cell(columns.correlation_id)}
    return Plan((first, *_cell_stages(policy, prefix, semicolons=delimiter != ";", keep=("raw", "odd"))))


def cells_plan(policy: ValidationPolicy, prefix: str) -> Plan:
    """Columns `line`, `n`, `t`, `c` (a spreadsheet's cells as text) -> `line`, `ok`,
    `foreign` and the candidate columns. A cell with a space or anything unusual at
    all is the Validator's."""
    pattern = unusual(None) + "|^ | $"
    plain = ~(pl.col("n").str.contains(pattern) | pl.col("t").str.contains(pattern) | pl.col("c").str.contains(pattern))
    first = {"line": pl.col("line"), "odd": ~plain, "n": pl.col("n"), "t": pl.col("t"), "c": pl.col("c")}
    return Plan((first, *_cell_stages(policy, prefix, semicolons=True, keep=("odd",))))


def _cell_stages(
    policy: ValidationPolicy, prefix: str, *, semicolons: bool, keep: tuple[str, ...]
) -> tuple[dict[str, pl.Expr], ...]:
    """From `line`, `odd`, `n`, `t`, `c` (and what `keep` names) to the verdicts."""
    t, c = pl.col("t"), pl.col("c")
    carried = {name: pl.col(name) for name in ("line", *keep)}
    numbers = number_stages(number_rule(_phone_parts(policy.region)))
    if semicolons:
        text, semis = t.str.replace_all(";", ",", literal=True), t.str.count_matches(";", literal=True)
    else:
        text, semis = t, pl.lit(0)
    # the text and id measures ride along with the number stages (one stage's
    # expressions run in parallel)
    first = {**carried, **numbers[0], "t": text, "semicolon": semis.cast(pl.Int32), "c": c,
             "h": id_key(c), "foreign": c.str.starts_with(prefix)}
    chars = t.str.len_chars()
    cid_bytes = c.str.len_bytes()
    cid_ok = (cid_bytes <= MAX_CORRELATION_ID_LENGTH) & (cid_bytes == c.str.len_chars())
    if semicolons:
        cid_ok &= ~c.str.contains(";", literal=True)
    measures = {"chars": chars.cast(pl.Int32), "ascii": t.str.len_bytes() == chars,
                "brackets": t.str.contains("[\\[\\]|]"), "cid_ok": cid_ok}
    along = ("t", "c", "semicolon", "h", "foreign")
    stages = [first]
    for at, stage in enumerate(numbers[1:]):
        extra = measures if at == 0 else {name: pl.col(name) for name in measures}
        stages.append({**carried, **stage, **{name: pl.col(name) for name in along}, **extra})
    if len(numbers) == 1:  # no number rule: the measures in a stage of their own
        stages.append({**carried, "number_ok": pl.col("number_ok"), "number": pl.col("number"),
                       **{name: pl.col(name) for name in along}, **measures})
    chars, ascii_, brackets = pl.col("chars"), pl.col("ascii"), pl.col("brackets")
    ok = pl.col("number_ok") & (chars > 0) & (chars <= MAX_TEXT_LENGTH) & pl.col("cid_ok") & ~pl.col("odd")
    if policy.transliterate:  # only texts the transliteration leaves as they are: printable ASCII but [ ] |
        ok &= ascii_ & ~brackets
    if policy.on_semicolon == "reject":
        ok &= pl.col("semicolon") == 0
    gsm = ascii_ & ~brackets  # no character beyond the BMP in a plain cell: UTF-16 units = characters
    segments = (
        pl.when(gsm)
        .then(pl.when(chars <= GSM_SINGLE).then(1).otherwise((chars + GSM_MULTI - 1) // GSM_MULTI))
        .otherwise(pl.when(chars <= UCS2_SINGLE).then(1).otherwise((chars + UCS2_MULTI - 1) // UCS2_MULTI))
    )
    generated = pl.lit(prefix) + pl.col("line").cast(pl.String)
    last = {
        **{name: pl.col(name) for name in ("line", *keep) if name != "raw"},
        **({"raw": pl.when(~ok).then(pl.col("raw"))} if "raw" in keep else {}),
        "ok": ok,
        "foreign": pl.col("foreign"),
        "k": row_key(pl.col("number"), t),
        "h": pl.col("h"),
        "number": pl.col("number"),
        "text": t,
        "cid": pl.when(c == "").then(generated).otherwise(c),
        "gsm": gsm,
        "segments": segments.cast(pl.Int32),
        "semicolon": pl.col("semicolon"),
    }
    return (*stages, last)


#: what phonenumbers ignores between digits and the fast path drops first (`phones._drop_separators`)
_SEPARATORS = [" ", "(", ")", "-"]


def _phone_parts(region: str) -> dict[str, object] | None:
    from ..phones import PhoneNormalizer

    return getattr(PhoneNormalizer(region), "mobile_form_parts", None)


def number_stages(rule: NumberRule | None) -> list[dict[str, pl.Expr]]:
    """Column stages from the cell `n` to `number_ok` (a mobile in a plain or typed form
    the rule accepts) and `number` (its normal form). The metadata patterns are
    matched with ASCII digits only, so that a match also says "digits only"."""
    n = pl.col("n")
    if rule is None:
        return [{"number_ok": pl.lit(False), "number": n}]

    def matches(column: pl.Expr, pattern: str) -> pl.Expr:
        return column.str.contains(ascii_digits(pattern))

    plus = pl.col("plus")
    d = pl.col("d")
    nsn = pl.col("nsn")
    cc_start = d.str.starts_with(rule.cc)
    length = nsn.str.len_bytes()
    verdict = length.is_in(list(rule.lengths)) & matches(nsn, rule.general) & matches(nsn, rule.accept)
    for lengths, pattern in rule.specials:
        verdict &= ~(length.is_in(list(lengths)) & matches(nsn, pattern))
    verdict &= ~nsn.str.starts_with("0")
    if rule.npfp:
        verdict &= ~matches(nsn, rule.npfp)
    no_idd = ~matches(d, rule.idd) if rule.idd else pl.lit(True)
    i_form = ~plus & no_idd & cc_start & (d.str.len_bytes().is_in(list(rule.too_long)) | ~matches(d, rule.general))
    n_form = ~plus & no_idd & ~cc_start
    starts_plus = n.str.starts_with("+")
    return [
        {"plus": starts_plus,
         "d": pl.when(starts_plus).then(n.str.slice(1)).otherwise(n).str.replace_many(_SEPARATORS, [""] * 4)},
        {"plus": plus, "d": d, "nsn": pl.when(cc_start).then(d.str.slice(len(rule.cc))).otherwise(d)},
        {
            "number_ok": verdict & (i_form | (plus & cc_start) | n_form),
            "number": pl.when(n_form).then(pl.lit(rule.cc) + d).otherwise(d),
        },
    ]
