"""batcher.validate: rows to messages or rejections (SPEC 3.2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batcher.gsm import segments
from batcher.models import ColumnMap, Message, RawRow, Rejection
from batcher.render import render_line
from batcher.settings import Settings, TextSettings
from batcher.validate import (
    MAX_CORRELATION_ID_LENGTH,
    MAX_TEXT_LENGTH,
    REASONS,
    RejectCode,
    ValidationPolicy,
    Validator,
)

COLUMNS = ColumnMap(number=0, text=1, correlation_id=2)
KEY = "3f2a9c1d"
NUMBER = "5511987654321"


def validator(**policy: object) -> Validator:
    return Validator(ValidationPolicy(**policy), COLUMNS, KEY)  # type: ignore[arg-type]


def check(*cells: str, line: int = 2, v: Validator | None = None, **policy: object) -> Message | Rejection:
    return (v or validator(**policy)).check(RawRow(line, cells))


def accepted(result: Message | Rejection) -> Message:
    assert isinstance(result, Message), result
    return result


def rejected(result: Message | Rejection, code: RejectCode) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.code == code.value, result
    return result


# -- every code, from a realistic row -------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "policy", "code", "in_reason"),
    [
        (("", "", ""), {}, RejectCode.ROW_EMPTY, "empty"),
        (("", "Olá", ""), {}, RejectCode.NUMBER_MISSING, "number is empty"),
        (("11 9876-ABCD", "Olá", ""), {}, RejectCode.NUMBER_INVALID, "'11 9876-ABCD'"),
        (("(11) 3234-5678", "Olá", ""), {}, RejectCode.NUMBER_NOT_MOBILE, "landline"),
        (("5.5119E+12", "Olá", ""), {}, RejectCode.NUMBER_SCIENTIFIC_NOTATION, "'5.5119E+12' is in scientific notation"),
        ((NUMBER, "   ", ""), {}, RejectCode.TEXT_MISSING, "text is empty"),
        ((NUMBER, "x" * 1281, ""), {}, RejectCode.TEXT_TOO_LONG, "1,281 characters"),
        ((NUMBER, "Linha 1\nLinha 2", ""), {"on_newline": "reject"}, RejectCode.TEXT_NEWLINE, "line break"),
        ((NUMBER, "Oi; tudo bem?", ""), {"on_semicolon": "reject"}, RejectCode.TEXT_SEMICOLON, "';'"),
        ((NUMBER, "Oi\x07", ""), {}, RejectCode.TEXT_CONTROL_CHARACTER, "U+0007"),
        ((NUMBER, "Oi \ud83d", ""), {}, RejectCode.TEXT_INVALID_CHARACTER, "U+D83D"),
        ((NUMBER, "Oi", "x" * 65), {}, RejectCode.CORRELATION_ID_TOO_LONG, "65 characters"),
        ((NUMBER, "Oi", "pedido;42"), {}, RejectCode.CORRELATION_ID_SEMICOLON, "'pedido;42'"),
        ((NUMBER, "Oi", "pedido\n42"), {}, RejectCode.CORRELATION_ID_NEWLINE, "'pedido\\n42'"),
        ((NUMBER, "Oi", "pedido\t42"), {}, RejectCode.CORRELATION_ID_CONTROL_CHARACTER, "U+0009"),
    ],
)
def test_each_code(cells: tuple[str, ...], policy: dict[str, object], code: RejectCode, in_reason: str) -> None:
    result = rejected(check(*cells, **policy), code)
    assert in_reason in result.reason
    assert result.cells == cells and result.line == 2


def test_duplicate_codes_name_the_first_line() -> None:
    v = validator()
    accepted(check(NUMBER, "Oi", "A-1", line=2, v=v))
    dup_id = rejected(check("5511987654322", "Outro", "A-1", line=3, v=v), RejectCode.CORRELATION_ID_DUPLICATE)
    assert dup_id.reason == "correlationId 'A-1' was already used on line 2"
    dup_row = rejected(check("+55 11 98765-4321", "Oi", "", line=4, v=v), RejectCode.DUPLICATE_ROW)
    assert "line 2" in dup_row.reason


def test_every_code_has_a_reason_and_stable_values() -> None:
    assert set(REASONS) == set(RejectCode)
    assert all(code.value == code.name.lower() for code in RejectCode)


# -- numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["+55 (11) 98765-4321", "11987654321", "5511987654321", "055 11 98765 4321", "(11) 98765-4321"])
def test_accepted_number_forms(raw: str) -> None:
    assert accepted(check(raw, "Oi")).number == NUMBER


# -- text ------------------------------------------------------------------------------


def test_text_length_limit_after_replacements() -> None:
    assert len(accepted(check(NUMBER, "x" * MAX_TEXT_LENGTH)).text) == 1280
    rejected(check(NUMBER, "x" * 1281), RejectCode.TEXT_TOO_LONG)
    # surrounding whitespace does not count; transliteration that grows the text does
    accepted(check(NUMBER, "  " + "x" * 1280 + "\n"))
    rejected(check(NUMBER, "x" * 1278 + "€", transliterate=True), RejectCode.TEXT_TOO_LONG)


def test_newlines_become_one_space_each_and_are_counted() -> None:
    v = validator()
    m = accepted(check(NUMBER, "\r\nL1\r\nL2\nL3\rL4\u2028L5\n", v=v))
    assert m.text == "L1 L2 L3 L4 L5"
    assert v.replacements["newline"] == 4
    accepted(check(NUMBER, "a\n\nb", v=v, line=3))
    assert v.replacements["newline"] == 6


def test_semicolons_become_commas_and_are_counted() -> None:
    v = validator()
    assert accepted(check(NUMBER, "a;b;c", v=v)).text == "a,b,c"
    assert v.replacements == {"semicolon": 2}


def test_tabs_become_spaces_other_controls_are_refused() -> None:
    v = validator()
    assert accepted(check(NUMBER, "a\tb", v=v)).text == "a b"
    assert v.replacements == {"tab": 1}
    for ch in "\x00\x0b\x0c\x1b\x7f\x9b":
        rejected(check(NUMBER, f"a{ch}b", v=v), RejectCode.TEXT_CONTROL_CHARACTER)


def test_replacements_of_refused_rows_are_not_counted() -> None:
    v = validator()
    rejected(check("", "a;b\nc", v=v), RejectCode.NUMBER_MISSING)
    rejected(check(NUMBER, "a;b\nc\x01", v=v), RejectCode.TEXT_CONTROL_CHARACTER)
    rejected(check(NUMBER, "x" * 1281 + ";", v=v), RejectCode.TEXT_TOO_LONG)
    assert not v.replacements


def test_transliteration_policy() -> None:
    v = validator(transliterate=True)
    m = accepted(check(NUMBER, "Promoção “só hoje” – [50%]", v=v))
    assert m.text == 'Promocao "so hoje" - (50%)'
    assert (m.encoding, m.segments) == ("GSM", 1)
    assert v.replacements["transliterated"] == 8
    # off by default: the message stays UCS-2
    m = accepted(check(NUMBER, "Promoção"))
    assert (m.text, m.encoding) == ("Promoção", "UCS-2")


def test_a_semicolon_produced_by_transliteration_is_still_handled() -> None:
    # U+037E GREEK QUESTION MARK decomposes to ';'
    assert accepted(check(NUMBER, "a\u037eb", transliterate=True)).text == "a,b"
    rejected(check(NUMBER, "a\u037eb", transliterate=True, on_semicolon="reject"), RejectCode.TEXT_SEMICOLON)


def test_encoding_and_segments() -> None:
    assert (accepted(check(NUMBER, "a" * 161)).encoding, accepted(check(NUMBER, "a" * 161)).segments) == ("GSM", 2)
    m = accepted(check(NUMBER, "[" + "a" * 70))
    assert (m.encoding, m.segments) == ("UCS-2", 2)
    m = accepted(check(NUMBER, "ç" * 70))
    assert (m.encoding, m.segments) == ("UCS-2", 1)


# -- correlationIds --------------------------------------------------------------------


def test_correlation_id_limits_and_no_silent_change() -> None:
    assert accepted(check(NUMBER, "Oi", "  x" * 1 + "y" * 62 + "  ")).correlation_id == "x" + "y" * 62
    assert len(accepted(check(NUMBER, "Oi", "z" * MAX_CORRELATION_ID_LENGTH)).correlation_id) == 64
    rejected(check(NUMBER, "Oi", "z" * 65), RejectCode.CORRELATION_ID_TOO_LONG)


def test_generated_ids_are_deterministic() -> None:
    rows = [RawRow(i, (f"55119876543{i:02d}", f"Oi {i}", "")) for i in range(2, 30)]
    first = [validator().check(r) for r in rows]
    v = validator()
    second = [v.check(r) for r in rows]
    assert first == second
    assert [m.correlation_id for m in first] == [f"{KEY}-{i}" for i in range(2, 30)]  # type: ignore[union-attr]


def test_generated_ids_never_collide_with_given_ones() -> None:
    v = validator()
    # the file already used the id that line 5 would get
    accepted(check("5511987654302", "a", f"{KEY}-5", line=2, v=v))
    accepted(check("5511987654303", "b", "", line=3, v=v))  # gets KEY-3
    # a given id equal to an id generated earlier is a duplicate of that line
    dup = rejected(check("5511987654304", "c", f"{KEY}-3", line=4, v=v), RejectCode.CORRELATION_ID_DUPLICATE)
    assert "line 3" in dup.reason
    assert accepted(check("5511987654305", "d", "", line=5, v=v)).correlation_id == f"{KEY}-5-2"
    dup = rejected(check("5511987654306", "e", f"{KEY}-5-2", line=6, v=v), RejectCode.CORRELATION_ID_DUPLICATE)
    assert "line 5" in dup.reason
    # look-alikes that were never generated are fine
    for line, cid in [(7, f"{KEY}-07"), (8, f"{KEY}-99"), (9, f"{KEY}-x")]:
        accepted(check(f"55119876543{line:02d}", "f", cid, line=line, v=v))


def test_rejected_rows_leave_no_trace() -> None:
    v = validator()
    rejected(check(NUMBER, "x" * 2000, "A", line=2, v=v), RejectCode.TEXT_TOO_LONG)
    accepted(check("5511987654323", "Hi", "B", line=3, v=v))
    rejected(check(NUMBER, "Oi", "B", line=4, v=v), RejectCode.CORRELATION_ID_DUPLICATE)
    # the id A and the row (NUMBER, "Oi") were not taken by the refused rows
    accepted(check(NUMBER, "Oi", "A", line=5, v=v))
    rejected(check(NUMBER, "Oi", "C", line=6, v=v), RejectCode.DUPLICATE_ROW)
    assert accepted(check("5511987654322", "Oi", "C", line=7, v=v)).correlation_id == "C"


# -- duplicates ------------------------------------------------------------------------


def test_duplicates_compare_normalised_number_and_final_text() -> None:
    v = validator()
    accepted(check("+55 (11) 98765-4321", "Oi;\ntudo", line=2, v=v))
    rejected(check("11987654321", "  Oi, tudo ", line=3, v=v), RejectCode.DUPLICATE_ROW)
    accepted(check(NUMBER, "Oi, tudo!", line=4, v=v))


def test_allow_duplicates() -> None:
    v = validator(allow_duplicates=True)
    a = accepted(check(NUMBER, "Oi", line=2, v=v))
    b = accepted(check(NUMBER, "Oi", line=3, v=v))
    assert a.correlation_id != b.correlation_id


def test_duplicates_are_found_across_table_growth() -> None:
    v = validator()
    for i in range(1, 20001):
        accepted(v.check(RawRow(i, (f"55119{i:08d}", "Oi", f"id{i}"))))
    for i in (1, 4096, 20000):
        dup = rejected(v.check(RawRow(30000 + i, (f"55119{i:08d}", "Oi", ""))), RejectCode.DUPLICATE_ROW)
        assert f"line {i}" in dup.reason
        dup = rejected(v.check(RawRow(40000 + i, (NUMBER, f"new {i}", f"id{i}"))), RejectCode.CORRELATION_ID_DUPLICATE)
        assert f"line {i}" in dup.reason


# -- rows and configuration ------------------------------------------------------------


def test_short_rows_treat_missing_cells_as_empty() -> None:
    rejected(check(NUMBER), RejectCode.TEXT_MISSING)
    assert accepted(check(NUMBER, "Oi")).correlation_id == f"{KEY}-2"
    v = Validator(ValidationPolicy(), ColumnMap(number=3, text=0), KEY)
    rejected(v.check(RawRow(2, ("Oi", "", ""))), RejectCode.NUMBER_MISSING)
    assert accepted(v.check(RawRow(3, ("Oi", "x", "y", NUMBER)))).text == "Oi"


def test_policy_from_settings_and_checks() -> None:
    s = Settings(text=TextSettings(on_newline="reject", on_semicolon="reject", allow_duplicates=True, transliterate=True))
    assert ValidationPolicy.from_settings(s) == ValidationPolicy(
        region="BR", on_newline="reject", on_semicolon="reject", allow_duplicates=True, transliterate=True
    )
    with pytest.raises(ValueError):
        ValidationPolicy(on_newline="keep")  # type: ignore[arg-type]
    for bad in ["", "a;b", "a\nb", "x" * 41]:
        with pytest.raises(ValueError):
            Validator(ValidationPolicy(), COLUMNS, bad)


# -- properties ------------------------------------------------------------------------

_cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.sampled_from(
    ["", ";", "\n", "\r\n", "a;b\nc", "\t", " x ", "[|]", "“€”", "\u2028", "\x85", "😀" * 40, "a\ud800"]
)
_numbers = st.sampled_from([NUMBER, "11987654321", "+55 21 99876-5432", "5521998765432", "", "abc", "5.5E+12"])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_numbers, _cells, _cells), min_size=1, max_size=12),
    st.sampled_from(["replace", "reject"]),
    st.sampled_from(["replace", "reject"]),
    st.booleans(),
    st.booleans(),
)
def test_accepted_messages_always_render_to_one_clean_line(
    rows: list[tuple[str, str, str]], on_newline: str, on_semicolon: str, translit: bool, allow_dup: bool
) -> None:
    policy = {"on_newline": on_newline, "on_semicolon": on_semicolon, "transliterate": translit,
              "allow_duplicates": allow_dup}
    raw = [RawRow(i, cells) for i, cells in enumerate(rows, start=2)]
    v1, v2 = validator(**policy), validator(**policy)
    first = [v1.check(r) for r in raw]
    assert first == [v2.check(r) for r in raw]  # deterministic
    assert v1.replacements == v2.replacements
    ids = set()
    for result in first:
        if isinstance(result, Rejection):
            assert result.code in {c.value for c in RejectCode} and result.reason
            assert "\n" not in result.reason and "\r" not in result.reason
            continue
        line = render_line(result)
        assert line.count(";") == 3 and line.endswith(";")
        assert "\r" not in line and "\n" not in line
        assert 0 < len(result.text) <= MAX_TEXT_LENGTH
        assert 0 < len(result.correlation_id) <= MAX_CORRELATION_ID_LENGTH
        assert result.number.isdigit()
        assert (result.encoding, result.segments) == segments(result.text)
        assert result.correlation_id not in ids
        ids.add(result.correlation_id)


def test_seen_table_never_matches_across_two_keys() -> None:
    """Keys are packed side by side in a bucket: a key whose bytes straddle two stored
    keys must not be taken for a duplicate (a wrongly refused row)."""
    from batcher.validate import _FirstSeen

    def key(raw: bytes) -> int:
        return int.from_bytes(raw, "little", signed=True)

    table = _FirstSeen()
    table.put(key(b"AA\x00\x00AAxy"), 10)  # record: 8 key bytes + 4 line bytes
    straddling = key(b"AAxy\x0a\x00\x00\x00")  # key tail + line bytes of that record
    assert table.first_line(straddling) is None
    assert table.add(straddling, 12) is None
    assert table.first_line(straddling) == 12
    assert table.add(key(b"AA\x00\x00AAxy"), 99) == 10  # a real repeat names the first line
    assert len(table) == 2


def test_a_text_that_transliterates_to_nothing_is_missing() -> None:
    """Found by the property test: a text of only a soft hyphen folds to "" and must not
    reach the platform file (render refuses an empty text)."""
    v = Validator(ValidationPolicy(transliterate=True), ColumnMap(0, 1), "k")
    result = v.check(RawRow(2, ("5511987654321", "\u00ad")))
    assert isinstance(result, Rejection) and result.code == "text_missing"
