"""batcher.gsm: the platform's character table, segment counts, transliteration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batcher.gsm import GSM_CHARACTERS, is_gsm, segments, transliterate, utf16_length


def test_table_is_printable_ascii_without_brackets_and_bar() -> None:
    assert len(GSM_CHARACTERS) == 95 - 3
    for ch in "{}\\^~`;@_ !\"#$%&'*+,-./:<=>?":
        assert ch in GSM_CHARACTERS, ch
    for ch in "[]|\t\n\r\x7f€çá“”‘’":
        assert ch not in GSM_CHARACTERS, repr(ch)


@pytest.mark.parametrize("ch", [*list("{}\\^~`;"), "A", "z", "0", " "])
def test_gsm_edges_in_the_table(ch: str) -> None:
    assert is_gsm(ch)
    assert segments(ch * 160) == ("GSM", 1)  # one character each, no escape


@pytest.mark.parametrize("ch", ["[", "]", "|", "€", "ç", "á", "“", "”", "‘", "’", "\t", "\n", "😀", "\x00"])
def test_characters_outside_the_table_make_ucs2(ch: str) -> None:
    assert not is_gsm(f"hello {ch}")
    assert segments(f"hello {ch}")[0] == "UCS-2"


@pytest.mark.parametrize(
    ("length", "parts"), [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_segment_boundaries(length: int, parts: int) -> None:
    assert segments("a" * length) == ("GSM", parts)


@pytest.mark.parametrize(("length", "parts"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_segment_boundaries(length: int, parts: int) -> None:
    assert segments("ç" * length) == ("UCS-2", parts)
    assert segments("[" * length) == ("UCS-2", parts)  # ASCII, but not in the table


def test_ucs2_counts_utf16_code_units() -> None:
    assert utf16_length("😀") == 2
    assert segments("😀" * 35) == ("UCS-2", 1)  # 70 units
    assert segments("😀" * 35 + "a") == ("UCS-2", 2)  # 71 units
    assert segments("a" * 133 + "😀") == ("UCS-2", 3)  # 135 units


def _reference_segments(text: str) -> tuple[str, int]:
    if all(ch in GSM_CHARACTERS for ch in text):
        n, single, multi, enc = len(text), 160, 153, "GSM"
    else:
        n = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, enc = 70, 67, "UCS-2"
    if n <= single:
        return enc, 1
    return enc, (n + multi - 1) // multi


@given(st.text(max_size=400) | st.text(alphabet="ab[]|{}~\t ", max_size=400))
def test_segments_match_a_plain_reference(text: str) -> None:
    assert segments(text) == _reference_segments(text)


def test_transliterate_portuguese_and_typography() -> None:
    text = "Promoção “imperdível” – só hoje… ‘já’ [oferta] | €5\u00a0à vista — ok"
    folded, count = transliterate(text)
    assert folded == "Promocao \"imperdivel\" - so hoje... 'ja' (oferta) / EUR5 a vista - ok"
    assert is_gsm(folded)
    # ç ã “ í ” – ó … ‘ á ’ [ ] | € nbsp à —
    assert count == 18


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ÁÉÍÓÚ ÂÊÔ ÃÕ Ç à ü ñ", "AEIOU AEO AO C a u n"),
        ("Straße", "Strasse"),
        ("e\u0301", "e"),  # a decomposed accent
        ("ﬁm", "fim"),
        ("Ｈｅｌｌｏ", "Hello"),
    ],
)
def test_transliterate_letters(text: str, expected: str) -> None:
    assert transliterate(text)[0] == expected


def test_transliterate_keeps_what_has_no_gsm_form() -> None:
    folded, count = transliterate("Olá 😀 你好")
    assert folded == "Ola 😀 你好"
    assert count == 1
    assert segments(folded)[0] == "UCS-2"


def test_transliterate_gsm_text_is_unchanged() -> None:
    text = "Hello {world} ~ ^ \\ ok"
    assert transliterate(text) == (text, 0)


@given(st.text(max_size=200))
def test_transliterate_is_idempotent_and_never_adds_non_gsm(text: str) -> None:
    folded, count = transliterate(text)
    assert transliterate(folded) == (folded, 0)
    non_gsm = sum(ch not in GSM_CHARACTERS for ch in text)
    assert sum(ch not in GSM_CHARACTERS for ch in folded) <= non_gsm
    assert count <= non_gsm
    assert (count == 0) == (folded == text)
