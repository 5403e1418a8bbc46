"""batcher.columnar's vectorised number rule against the row path's PhoneNormalizer:
it may only accept, and only what the row path accepts, with the same normal form;
on plain digit strings it accepts exactly what the row path's one-regex shortcut does."""

from __future__ import annotations

import random

import pytest

from batcher.columnar.engine import number_verdicts
from batcher.columnar.rules import python_whitespace, unusual
from tests.test_phones import _near_shortcut, _normalizers, outcome

REGIONS = [("BR", 30_000), ("MX", 3_000), ("DE", 3_000), ("IN", 3_000), ("CO", 3_000), ("PT", 3_000), ("AR", 1_000),
           ("US", 1_000)]


def _typed(rnd: random.Random, raw: str) -> str:
    """The number as people type it: separators, a '+', spaces around."""
    digits = raw.lstrip("+")
    plus = "+" if raw.startswith("+") or rnd.randrange(3) == 0 else ""
    out = []
    for i, ch in enumerate(digits):
        if i and rnd.randrange(4) == 0:
            out.append(rnd.choice([" ", "-", "(", ")", " (", ") ", "  "]))
        out.append(ch)
    return plus + "".join(out)


@pytest.mark.parametrize(("region", "count"), REGIONS)
def test_the_number_rule_accepts_only_what_the_row_path_accepts(region: str, count: int) -> None:
    fast, slow = _normalizers(region)
    rnd = random.Random(f"columnar-{region}")
    plain = _near_shortcut(rnd, region, count)
    typed = [_typed(rnd, raw) for raw in plain[: count // 2]]
    cells = plain + typed + ["", " ", "+", "++55", "５５１１９８７６５４３２１", "5511987654321.0"]
    accepted = 0
    for raw, verdict in zip(cells, number_verdicts(region, cells), strict=True):
        if verdict is not None:
            accepted += 1
            assert outcome(slow, raw) == ("ok", verdict), raw
            assert outcome(fast, raw) == ("ok", verdict), raw
        if fast._fast and raw.isascii() and raw.isdigit():  # the plain forms: exactly the shortcut's
            assert (verdict is not None) == (fast._mobile_form(raw) is not None), raw
    if region not in ("AR", "US"):  # AR: the shortcut steps aside; US: no fast path (NANPA)
        assert accepted > 0.1 * len(cells)


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_a_plain_line_holds_no_whitespace_but_spaces_and_no_control(delimiter: str) -> None:
    """A line the vectorised rules decide needs no strip (only spaces can border a
    cell, and those lines are sent to the row path) and holds no control character."""
    import polars as pl

    odd = [ch for ch in python_whitespace() if ch not in (" ", delimiter)]
    odd += [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if chr(c) != delimiter]
    odd += ['"', "\u2028", "\u2029", "😀", "\U0010ffff"]
    found = pl.Series([f"a{ch}b" for ch in odd]).str.contains(unusual(delimiter)).to_list()
    assert all(found), [ch for ch, hit in zip(odd, found, strict=True) if not hit]
    plain = ["5511987654321;Olá, ação ½ € “x”;ref-1", "[x] | {y} ~ ^ \\ `", delimiter, "\u00e9\u4e2d\uffff"]
    assert not any(pl.Series(plain).str.contains(unusual(delimiter)).to_list())


@pytest.mark.parametrize(
    ("pattern", "ascii"),
    [
        (r"9\d{8}", r"9[0-9]{8}"),
        (r"[1-9\d]\d", r"[1-90-9][0-9]"),
        (r"[^\d]", r"[^0-9]"),
        (r"[]\d]", r"[\]0-9]"),
        (r"\\d\(\d\)", r"\\d\([0-9]\)"),
    ],
)
def test_metadata_patterns_match_ascii_digits_only(pattern: str, ascii: str) -> None:
    """The number rule's patterns say "ASCII digits" where the metadata says \\d (which
    is any Unicode digit to Python and to Rust), so that a match means digits only."""
    import re

    from batcher.columnar.rules import ascii_digits

    assert ascii_digits(pattern) == ascii
    assert re.fullmatch(ascii_digits(r"\d+"), "5511") and not re.fullmatch(ascii_digits(r"\d+"), "５５")
