"""Phone number normalisation (SPEC 3.2): any reasonable way of writing a mobile number
becomes digits with the country code and no '+' (``5511987654321``), or a `PhoneError`
carrying a stable rejection code.

`phonenumbers` is the authority, but it parses only some tens of thousands of numbers a
second. Most cells already hold plain digits, so `PhoneNormalizer` has a fast path for
ASCII digit strings (optionally ``+`` and the region's country code) that replays the
exact decisions `phonenumbers.parse` + `is_valid_number` + `number_type` take for such
strings, using the region's own metadata compiled once. Whenever a string could take a
branch that the replay does not model (an international or national prefix, a leading
zero, an odd length, another country's code) the fast path steps aside and
`phonenumbers` decides. `tests/test_phones.py` checks the two paths agree on random
inputs.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType

__all__ = [
    "MAX_SHOWN",
    "NUMBER_INVALID",
    "NUMBER_MISSING",
    "NUMBER_NOT_MOBILE",
    "NUMBER_SCIENTIFIC_NOTATION",
    "REASONS",
    "PhoneError",
    "PhoneNormalizer",
    "show_value",
]

# Stable codes; `batcher.validate.RejectCode` has a member for each.
NUMBER_MISSING: Final = "number_missing"
NUMBER_INVALID: Final = "number_invalid"
NUMBER_NOT_MOBILE: Final = "number_not_mobile"
NUMBER_SCIENTIFIC_NOTATION: Final = "number_scientific_notation"

# phonenumbers' own limits on a national significant number (phonenumberutil.py)
_MIN_NSN = 2
_MAX_NSN = 17

# 5.5119E+12, 5,5119E+12, 5.5119e12, 5E12 (with an optional sign)
_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+")
# any letter, in any script (digits and '_' excluded)
_LETTER = re.compile(r"[^\W\d_]")
# an integer written as a float by a spreadsheet export: 5511987654321.0
_INTEGRAL_FLOAT = re.compile(r"(\+?[0-9]+)[.,]0+")

# The reason of each code; {value} is the cell as found (quoted by `show_value`).
REASONS: Final[dict[str, str]] = {
    NUMBER_MISSING: "number is empty",
    NUMBER_INVALID: "number {value} is not a valid phone number{hint}",
    NUMBER_NOT_MOBILE: "number {value} is {kind}, not a mobile number; SMS needs a mobile",
    NUMBER_SCIENTIFIC_NOTATION: (
        "number {value} is in scientific notation (Excel lost digits); "
        "format the column as text and export again"
    ),
}

# separators phonenumbers ignores, dropped before the fast path ('.' is left to the
# slow path, where a spreadsheet's "5511987654321.0" is recognised first)


def _drop_separators(s: str) -> str:
    # four str.replace calls: 0.5 us for "+55 (11) 98765-4321", str.translate 1.5 us
    return s.replace(" ", "").replace("(", "").replace(")", "").replace("-", "")


_ACCEPTED_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.UAN: "a company-wide (UAN) number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
}

# the order in which phonenumbers' _number_type_helper tries the special types
_SPECIAL_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)

_UNKNOWN = PhoneNumberType.UNKNOWN


#: the most characters of a cell any message quotes (a cell may hold anything: a
#: symlink named list.csv pointing at a secret file must not print it)
MAX_SHOWN = 32


def show_value(value: str, limit: int = MAX_SHOWN) -> str:
    """A cell value quoted for a human message: control characters made visible and
    long values cut to `limit` characters, so that a reason never breaks a line or a
    report, and never quotes more than a short prefix of the input. Every message that
    quotes input uses it."""
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return "'" + repr(value)[1:-1] + "'"  # repr escapes control characters


class PhoneError(ValueError):
    """A number that cannot be sent to. `code` is a stable rejection code, `reason` a
    plain sentence naming the value."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason

    def __reduce__(self) -> tuple[type[PhoneError], tuple[str, str]]:  # keep both fields when pickled
        return (type(self), (self.code, self.reason))


class PhoneNormalizer:
    """Normalises numbers written for `region` (a phonenumbers region code, e.g. "BR").

    `normalize(raw)` returns the digits with country code and no '+', or raises
    `PhoneError`. `fast=False` sends every number through phonenumbers (used by the
    tests to check the fast path against it).
    """

    def __init__(self, region: str = "BR", *, fast: bool = True) -> None:
        region = region.upper()
        metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            raise ValueError(f"unknown phone region {region!r}")
        self.region = region
        self._cc = str(metadata.country_code)
        self._hint = _example_hint(region)
        self._fast = fast and self._compile_fast_path(metadata)
        #: `plain_mobile(raw)` is not None only when `normalize(raw)` returns `raw` itself:
        #: a mobile written as digits with the country code (a regex `fullmatch`). For a
        #: caller's hot loop: it spares the call to `normalize` (0.15 us a number).
        self.plain_mobile = self._plain_mobile if self._fast else _never

    # -- public -----------------------------------------------------------------

    def normalize(self, raw: str) -> str:
        # The common case, a mobile already in one of the three plain forms, decided by
        # one C-level regex match instead of the steps below (2.8 -> 0.6 us a number,
        # bench/convert.py); anything else takes the steps, which decide the same.
        form = self._mobile_form(raw) if self._fast else None
        if form is not None:
            kind = form.lastgroup
            if kind == "i":  # 5511987654321
                return raw
            if kind == "p":  # +5511987654321
                return raw[1:]
            return self._cc + raw  # 11987654321
        s = raw.strip()
        if self._fast and s.isascii():
            result = self._fast_digits(s) if s.isdigit() else self._fast_formatted(s)
            if result is not None:
                return self._settle(result, raw)
        return self._slow(s, raw)

    def _settle(self, result: str | int, raw: str) -> str:
        """A fast-path verdict: the normalised number, or the type that refuses it."""
        if result.__class__ is str:
            return result
        assert isinstance(result, int)
        raise self._error(result, raw)

    def _fast_formatted(self, s: str) -> str | int | None:
        """ASCII other than plain digits: '+' and digits, or digits with separators."""
        if s[:1] == "+":
            digits = _drop_separators(s[1:])
            if digits.isdigit():
                if self._mobile_form("+" + digits) is not None:  # see normalize
                    return digits
                return self._fast_plus(digits)
            return None
        # '(11) 98765-4321': phonenumbers drops these separators (there is no extension,
        # IDD, RFC 3966 or vanity form without letters, '#', ',', ';', '~' or '/')
        digits = _drop_separators(s)
        if len(digits) >= 3 and digits.isdigit():  # shorter: maybe not "viable"
            form = self._mobile_form(digits)
            if form is not None:
                return digits if form.lastgroup == "i" else self._cc + digits
            return self._fast_digits(digits)
        return None

    # -- the general path (phonenumbers) ---------------------------------------------

    def _slow(self, s: str, raw: str) -> str:
        if not s:
            raise PhoneError(NUMBER_MISSING, REASONS[NUMBER_MISSING])
        if _SCIENTIFIC.fullmatch(s):
            raise PhoneError(
                NUMBER_SCIENTIFIC_NOTATION, REASONS[NUMBER_SCIENTIFIC_NOTATION].format(value=show_value(s))
            )
        if _LETTER.search(s):
            raise self._error(_UNKNOWN, raw)
        integral = _INTEGRAL_FLOAT.fullmatch(s)
        if integral is not None:
            s = integral.group(1)
            if self._fast:  # the same verdict as the slow path, only faster
                result = self._fast_digits(s) if s.isdigit() else self._fast_formatted(s)
                if result is not None:
                    return self._settle(result, raw)
        try:
            number = phonenumbers.parse(s, self.region)
        except NumberParseException:
            raise self._error(_UNKNOWN, raw) from None
        if number.extension:
            raise self._error(_UNKNOWN, raw)
        if not phonenumbers.is_valid_number(number):
            raise self._error(_UNKNOWN, raw)
        kind = phonenumbers.number_type(number)
        if kind not in _ACCEPTED_TYPES:
            raise self._error(kind, raw)
        return f"{number.country_code}{phonenumbers.national_significant_number(number)}"

    def _error(self, kind: int, raw: str) -> PhoneError:
        value = show_value(raw.strip())
        if kind == _UNKNOWN:
            return PhoneError(NUMBER_INVALID, REASONS[NUMBER_INVALID].format(value=value, hint=self._hint))
        what = _TYPE_NAMES.get(kind, "a special number")
        return PhoneError(NUMBER_NOT_MOBILE, REASONS[NUMBER_NOT_MOBILE].format(value=value, kind=what))

    # -- the fast path ---------------------------------------------------------------
    #
    # Each step below names the phonenumbers function whose decision it replays for an
    # ASCII digit string. Returning None hands the number to phonenumbers.

    def _compile_fast_path(self, metadata: PhoneMetadata) -> bool:
        cc = self._cc
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code or 0, ())
        if tuple(regions) != (self.region,):
            # several regions share the code (NANPA, +44, ...): is_valid_number would
            # first pick the region by trying each; not replayed
            return False
        if any(int(cc[:i]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(cc))):
            return False  # _extract_country_code would stop at a shorter code
        general = metadata.general_desc
        if general is None or not general.national_number_pattern or not general.possible_length:
            return False
        self._lcc = len(cc)
        self._max_digits = _MAX_NSN + len(cc)
        self._general_match = re.compile(general.national_number_pattern).fullmatch
        # _test_number_length(full_number, metadata) == TOO_LONG, for each length
        lengths = tuple(general.possible_length)
        local = frozenset(general.possible_length_local_only or ())
        self._too_long = frozenset(
            n for n in range(self._max_digits + 1)
            if n not in local and n != lengths[0] and not lengths[0] > n and lengths[-1] < n
        )
        npfp = metadata.national_prefix_for_parsing
        self._npfp = re.compile(npfp).match if npfp else None
        idd = metadata.international_prefix
        self._idd = re.compile(idd).match if idd else None
        self._same_pattern = bool(metadata.same_mobile_and_fixed_line_pattern)
        # _number_type_helper, unrolled by length: for each length a national number can
        # have, the descriptions whose possible lengths admit it, in phonenumbers' order
        # (a description with no lengths admits every length)
        descs = [(name, getattr(metadata, name)) for name in ("general_desc", "fixed_line", "mobile")]
        specials = [(getattr(metadata, name), kind) for name, kind in _SPECIAL_TYPES]

        def admits(desc: object, length: int) -> bool:
            if desc is None or not getattr(desc, "national_number_pattern", None):
                return False
            lengths = getattr(desc, "possible_length", None) or ()
            return not lengths or length in lengths

        def matcher(desc: Any) -> Callable[[str], re.Match[str] | None]:
            return re.compile(desc.national_number_pattern).fullmatch

        self._plan: dict[int, tuple[Any, ...]] = {}
        for length in range(_MIN_NSN, _MAX_NSN + 1):
            (_, gen), (_, fixed), (_, mobile) = descs
            if not admits(gen, length):
                continue  # UNKNOWN for every number of this length
            self._plan[length] = (
                matcher(gen),
                tuple((matcher(d), kind) for d, kind in specials if admits(d, length)),
                matcher(fixed) if admits(fixed, length) else None,
                matcher(mobile) if admits(mobile, length) else None,
            )
        #: what `_compile_mobile_form` is built from: `batcher.columnar` evaluates the same
        #: conjunction column-wise from these metadata patterns
        self.mobile_form_parts: dict[str, Any] = {
            "cc": cc,
            "general": general.national_number_pattern,
            "idd": idd,
            "npfp": npfp,
            "too_long": self._too_long,
            # per length: the special patterns, then the one whose match accepts
            "accepting": {
                length: (
                    [d.national_number_pattern for d, _ in specials if admits(d, length)],
                    (fixed if self._same_pattern else mobile).national_number_pattern,
                )
                for length in self._plan
                if admits(fixed if self._same_pattern else mobile, length)
            },
        }
        self._mobile_form, self._plain_mobile = _compile_mobile_form(**self.mobile_form_parts)
        return True

    def _prefix_may_apply(self, digits: str) -> bool:
        """_maybe_strip_national_prefix_carrier_code could change `digits`: its pattern
        matches at the start, consuming something or capturing a group."""
        if self._npfp is None or not digits:
            return False
        m = self._npfp(digits)
        return m is not None and (m.end() > 0 or m.lastindex is not None)

    def _fast_plus(self, digits: str) -> str | int | None:
        """'+' and digits: _maybe_strip_i18n_prefix_and_normalize sees the plus sign,
        _extract_country_code takes the region's code (country codes are prefix-free)."""
        if not digits.startswith(self._cc):
            return None  # another country, or no code at all
        nsn = digits[self._lcc :]
        if not _MIN_NSN <= len(nsn) <= _MAX_NSN or nsn[0] == "0" or self._prefix_may_apply(nsn):
            return None
        return self._verdict(nsn)

    def _fast_digits(self, digits: str) -> str | int | None:
        """Digits only: no IDD (_maybe_strip_i18n_prefix_and_normalize), then the
        'starts with the default country code' rule of _maybe_extract_country_code,
        else the whole string is the national number."""
        n = len(digits)
        if n > self._max_digits or (self._idd is not None and self._idd(digits) is not None):
            return None
        if digits.startswith(self._cc):
            rest = digits[self._lcc :]
            if self._prefix_may_apply(rest):
                return None
            if n in self._too_long or (
                self._general_match(digits) is None and self._general_match(rest) is not None
            ):
                if len(rest) < _MIN_NSN or rest[0] == "0":
                    return None
                return self._verdict(rest)
        if n < _MIN_NSN or digits[0] == "0" or self._prefix_may_apply(digits):
            return None
        return self._verdict(digits)

    def _verdict(self, nsn: str) -> str | int:
        """_number_type_helper on the national significant number: the normalised form
        when it is a mobile, else the PhoneNumberType that refuses it."""
        plan = self._plan.get(len(nsn))
        if plan is None:
            return _UNKNOWN
        general, specials, fixed, mobile = plan
        if general(nsn) is None:
            return _UNKNOWN
        for match, kind in specials:
            if match(nsn) is not None:
                return kind
        if fixed is not None and fixed(nsn) is not None:
            if self._same_pattern or (mobile is not None and mobile(nsn) is not None):
                return self._cc + nsn  # FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self._same_pattern and mobile is not None and mobile(nsn) is not None:
            return self._cc + nsn  # MOBILE
        return _UNKNOWN


def _never(raw: str) -> None:
    return None


def _compile_mobile_form(
    cc: str,
    *,
    general: str,
    idd: str | None,
    npfp: str | None,
    too_long: frozenset[int],
    accepting: dict[int, tuple[list[str], str]],
) -> tuple[Any, Any]:
    """One regex (its `fullmatch`) that matches exactly the plain ASCII strings the fast
    path below would accept as mobiles, with no '+' (group "i": country code and
    national number), '+' (group "p") or only the national number (group "n").

    It is the conjunction of the fast path's own tests, each written as a lookahead with
    the same metadata pattern: `_fast_digits` (no IDD; with the country code: too long
    for a national number, or not a valid national number as a whole), `_fast_plus`,
    and `_verdict` unrolled by length (the general pattern, no special pattern, then
    the mobile pattern, or the fixed-line one when the region says they are the same).
    A national prefix pattern that matches at all is refused (stricter than
    `_prefix_may_apply`, which ignores an empty match): such numbers take the steps.
    Matching nothing is always safe; `tests/test_phones.py` checks it never accepts
    what phonenumbers refuses. Also returns the regex of group "i" alone.
    """

    def full(pattern: str) -> str:
        return f"(?:{pattern})\\Z"

    no_prefix = f"(?!0)(?!{npfp})" if npfp else "(?!0)"
    verdicts = {
        length: f"(?=[0-9]{{{length}}}\\Z)(?={full(general)})"
        + "".join(f"(?!{full(sp)})" for sp in specials)
        + full(accept)
        for length, (specials, accept) in sorted(accepting.items(), reverse=True)
    }
    if not verdicts:
        return _never, _never
    national = "|".join(verdicts.values())
    # with the country code: each length on its own, because whether the whole string
    # may also be a national number (then it is one) depends on the length
    international = "|".join(
        f"(?=[0-9]{{{length + len(cc)}}}\\Z)"
        + ("" if length + len(cc) in too_long else f"(?!{full(general)})")
        + f"{cc}{no_prefix}(?:{verdict})"
        for length, verdict in verdicts.items()
    )
    no_idd = f"(?!{idd})" if idd else ""
    pattern = (
        f"(?P<i>{no_idd}(?:{international}))"
        f"|(?P<p>\\+{cc}{no_prefix}(?:{national}))"
        f"|(?P<n>{no_idd}(?!{cc}){no_prefix}(?:{national}))"
    )
    # ASCII: \d is [0-9], so a match is ASCII digits (and the '+') only
    return re.compile(pattern, re.ASCII).fullmatch, re.compile(f"{no_idd}(?:{international})", re.ASCII).fullmatch


def _example_hint(region: str) -> str:
    try:
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    except Exception:  # noqa: BLE001  # pragma: no cover - metadata without examples
        example = None
    if example is None:
        return ""
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    return f" for {region} (expected e.g. {e164} or {national})"
