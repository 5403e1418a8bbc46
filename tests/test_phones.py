"""batcher.phones: number normalisation, and the fast path agreeing with phonenumbers."""

from __future__ import annotations

import pickle
import random

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from batcher import phones
from batcher.phones import PhoneError, PhoneNormalizer, show_value
from batcher.validate import RejectCode

FAST = PhoneNormalizer("BR")
SLOW = PhoneNormalizer("BR", fast=False)


def outcome(normalizer: PhoneNormalizer, raw: str) -> tuple[str, str]:
    try:
        return "ok", normalizer.normalize(raw)
    except PhoneError as exc:
        return exc.code, exc.reason


@pytest.mark.parametrize(
    "raw",
    [
        "+55 (11) 98765-4321",
        "+55 11 98765 4321",
        "+5511987654321",
        "5511987654321",
        "11987654321",
        "(11) 98765-4321",
        "(11) 9 8765-4321",
        "11 98765-4321",
        "055 11 98765 4321",  # carrier selection code 55, as phonenumbers reads it
        "0 11 98765-4321",
        "+55 0 11 98765 4321",
        "  5511987654321  ",
        "5511987654321.0",  # a numeric cell exported as a float
        "5511987654321,0",
        "'5511987654321",  # a text-formatted cell as some exports write it
    ],
)
@pytest.mark.parametrize("normalizer", [FAST, SLOW], ids=["fast", "slow"])
def test_accepted_forms(normalizer: PhoneNormalizer, raw: str) -> None:
    assert normalizer.normalize(raw) == "5511987654321"


def test_national_number_from_ddd_55_keeps_its_area_code() -> None:
    # 55 is also an area code (Rio Grande do Sul): 11 digits starting with 55 that form
    # a valid national number are that national number, exactly as phonenumbers says
    assert FAST.normalize("55999887766") == SLOW.normalize("55999887766") == "5555999887766"
    assert FAST.normalize("5555999887766") == "5555999887766"


def test_other_countries_are_accepted_when_mobile() -> None:
    assert FAST.normalize("+54 9 11 2345-6789") == "5491123456789"
    assert FAST.normalize("+1 650 253 0000") == "16502530000"  # FIXED_LINE_OR_MOBILE


@pytest.mark.parametrize("raw", ["5.5119E+12", "5,5119E+12", "5.5119e12", "5E12", " 5.51198765432E+12 "])
def test_scientific_notation_has_its_own_code(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        FAST.normalize(raw)
    assert info.value.code == phones.NUMBER_SCIENTIFIC_NOTATION
    assert "scientific notation" in info.value.reason and raw.strip() in info.value.reason


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_is_missing(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        FAST.normalize(raw)
    assert info.value.code == phones.NUMBER_MISSING


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "11 9876-ABCD",
        "1-800-FLOWERS",  # phonenumbers would read letters as keypad digits
        "5511987654321 ext. 12",
        "tel:+55-11-98765-4321",
        "123",
        "1187654321",  # mobile without the ninth digit
        "551198765432109876",
        "+999 1234567",
        "+",
        "5511987654321#12",
    ],
)
def test_invalid(raw: str) -> None:
    with pytest.raises(PhoneError) as info:
        FAST.normalize(raw)
    assert info.value.code == phones.NUMBER_INVALID
    assert "not a valid phone number" in info.value.reason


@pytest.mark.parametrize(
    ("raw", "kind"),
    [("1132345678", "landline"), ("551132345678", "landline"), ("0800 123 4567", "toll-free")],
)
def test_not_mobile(raw: str, kind: str) -> None:
    with pytest.raises(PhoneError) as info:
        FAST.normalize(raw)
    assert info.value.code == phones.NUMBER_NOT_MOBILE
    assert kind in info.value.reason


def test_codes_are_reject_codes_and_errors_pickle() -> None:
    for code in phones.REASONS:
        assert RejectCode(code).value == code
    err = PhoneError(phones.NUMBER_INVALID, "number 'x' is not a valid phone number")
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.reason) == (err.code, err.reason)


def test_show_value_makes_control_characters_visible_and_cuts() -> None:
    assert show_value("a\nb") == "'a\\nb'"
    shown = show_value("9" * 100)
    assert len(shown) <= 42 and shown.endswith("…'")


def test_fast_path_decides_the_common_forms() -> None:
    """Not a timing test: the forms a list usually holds never reach phonenumbers."""
    for raw in ["5511987654321", "+5511987654321", "11987654321", "(11) 98765-4321",
                "+55 (11) 98765-4321", "551132345678", "5511"]:
        s = raw.strip()
        decided = FAST._fast_digits(s) if s.isdigit() else FAST._fast_formatted(s)
        assert decided is not None, raw


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError):
        PhoneNormalizer("XX")


# -- fast path == phonenumbers ------------------------------------------------------

_digits = st.text(alphabet="0123456789", min_size=0, max_size=20)
_ddd = st.integers(min_value=10, max_value=99).map(str)
_realistic = st.builds(
    lambda prefix, ddd, nine, rest: f"{prefix}{ddd}{nine}{rest}",
    st.sampled_from(["", "55", "+55", "+", "0", "055", "0055", "00", "90", "5555", "+550"]),
    _ddd,
    st.sampled_from(["", "9", "8", "7", "3", "0"]),
    st.text(alphabet="0123456789", min_size=6, max_size=9),
)
_near = st.builds(lambda p, d: p + d, st.sampled_from(["", "55", "+55", "+", "0", "90", "00"]), _digits)


@st.composite
def _formatted(draw: st.DrawFn) -> str:
    """A digit string with separators sprinkled in, maybe a leading '+'."""
    digits = draw(st.one_of(_realistic, _digits))
    out = []
    for ch in digits:
        if draw(st.integers(0, 4)) == 0:
            out.append(draw(st.sampled_from([" ", "(", ")", "-", "+", ".", "  "])))
        out.append(ch)
    return "".join(out)


_junk = st.text(alphabet="0123456789+-() .,eE#/x", max_size=22)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_realistic, _near, _digits, _formatted(), _junk))
@example("5511987654321")
@example("55999887766")
@example("5555")
@example("+55")
@example("+5511")
@example("900011987654321")
@example("01511987654321")
def test_fast_path_agrees_with_phonenumbers(raw: str) -> None:
    assert outcome(FAST, raw) == outcome(SLOW, raw)


@pytest.mark.parametrize("region", ["MX", "DE", "CO", "PT", "AR", "IN", "US", "CL", "IT"])
@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(_digits, st.builds(lambda d: "+" + d, _digits), _formatted()))
def test_fast_path_agrees_in_other_regions(region: str, raw: str) -> None:
    fast, slow = _normalizers(region)
    assert outcome(fast, raw) == outcome(slow, raw)


_CACHE: dict[str, tuple[PhoneNormalizer, PhoneNormalizer]] = {}


def _normalizers(region: str) -> tuple[PhoneNormalizer, PhoneNormalizer]:
    if region not in _CACHE:
        _CACHE[region] = (PhoneNormalizer(region), PhoneNormalizer(region, fast=False))
    return _CACHE[region]


# -- the one-regex shortcut for plain mobiles (PhoneNormalizer._mobile_form) ----------


_OTHER_TYPES = (
    phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.VOIP, phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.UAN,
    phonenumbers.PhoneNumberType.VOICEMAIL,
)


def _near_shortcut(rnd: random.Random, region: str, n: int) -> list[str]:
    """Numbers on both sides of the shortcut's boundary: the region's example mobile
    with digits changed (most stay mobiles, some become landlines, special or invalid
    numbers), longer or shorter, with and without the country code and '+', behind
    national and international prefixes, and a few with separators."""
    types = phonenumbers.PhoneNumberType
    examples = [phonenumbers.example_number_for_type(region, kind) for kind in (types.MOBILE, *_OTHER_TYPES)]
    bases = [phonenumbers.national_significant_number(e) for e in examples if e is not None]
    cc = str(phonenumbers.country_code_for_region(region))
    idd = phonenumbers.PhoneMetadata.metadata_for_region(region).preferred_international_prefix or "00"
    prefixes = ["", "", "", cc, cc, cc, "+" + cc, "+" + cc, "+", "0", "00", "90", "0" + cc,
                "00" + cc, idd, idd + cc, cc + cc, cc + "0", "+" + cc + "0", cc[:-1]]
    out = []
    for _ in range(n):
        digits = list(bases[0] if rnd.randrange(3) else rnd.choice(bases))  # mostly the mobile
        for _ in range(rnd.choice((1, 2, 3, 5, 8))):  # mostly the subscriber digits
            digits[min(len(digits) - 1, int(rnd.triangular(0, len(digits), len(digits))))] = rnd.choice("0123456789")
        body = "".join(digits)
        cut = rnd.randrange(12)
        if cut == 0:
            body = body[:-1]
        elif cut == 1:
            body += rnd.choice("0123456789")
        raw = rnd.choice(prefixes) + body
        if rnd.randrange(8) == 0:
            raw = " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))
        out.append(raw)
    return out


@pytest.mark.parametrize(
    ("region", "count", "min_share"),
    # AR: its national prefix pattern can match the empty string, so the shortcut
    # steps aside for every number (the steps decide)
    [("BR", 50_000, 0.1), ("MX", 5_000, 0.1), ("DE", 5_000, 0.1), ("IN", 5_000, 0.1),
     ("CO", 5_000, 0.1), ("PT", 5_000, 0.1), ("AR", 2_000, 0.0)],
)
def test_mobile_form_shortcut_agrees_with_phonenumbers_near_its_boundary(
    region: str, count: int, min_share: float
) -> None:
    fast, slow = _normalizers(region)
    cc = fast._cc
    rnd = random.Random(f"shortcut-{region}")
    taken = 0
    for raw in _near_shortcut(rnd, region, count):
        form = fast._mobile_form(raw)
        expected = outcome(slow, raw)
        if form is not None:
            taken += 1
            # the shortcut only ever accepts, and exactly what phonenumbers accepts
            assert expected == ("ok", raw.lstrip("+") if raw[:1] == "+" or form.lastgroup == "i" else cc + raw), raw
        if fast.plain_mobile(raw) is not None:
            assert form is not None and form.lastgroup == "i" and expected == ("ok", raw), raw
        assert outcome(fast, raw) == expected, raw
    # both sides of the boundary are exercised
    assert min_share * count <= taken < 0.8 * count
