"""Row validation (SPEC 3.2): each `RawRow` becomes a `Message` ready to be written, or
a `Rejection` with a stable code and a plain reason.

A `Validator` lives for one drop: it remembers which correlationIds and which
(number, text) pairs it has accepted, so that repeats are refused with the line of the
first occurrence. It keeps no row: each accepted key is a 64-bit hash packed with its
first line into compact buckets, 12 MB per table for a million rows; the
duplicate-row table is not kept when duplicates are allowed, and the correlationId
table only holds ids that came from the file.

Pure: no disk, network or clock.
"""

from __future__ import annotations

import collections
import hashlib
import operator
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from .gsm import GSM_MULTI, GSM_SINGLE, UCS2_MULTI, UCS2_SINGLE, segments, transliterate
from .models import ColumnMap, Message, RawRow, Rejection
from .phones import REASONS as PHONE_REASONS
from .phones import PhoneError, PhoneNormalizer, show_value

if TYPE_CHECKING:
    from .settings import Settings

__all__ = [
    "MAX_CORRELATION_ID_LENGTH",
    "MAX_TEXT_LENGTH",
    "REASONS",
    "RejectCode",
    "ValidationPolicy",
    "Validator",
]

MAX_TEXT_LENGTH = 1280
MAX_CORRELATION_ID_LENGTH = 64


class RejectCode(StrEnum):
    """Why a row was refused. The values are stable: reports and scripts use them."""

    ROW_EMPTY = "row_empty"
    NUMBER_MISSING = "number_missing"
    NUMBER_INVALID = "number_invalid"
    NUMBER_NOT_MOBILE = "number_not_mobile"
    NUMBER_SCIENTIFIC_NOTATION = "number_scientific_notation"
    TEXT_MISSING = "text_missing"
    TEXT_TOO_LONG = "text_too_long"
    TEXT_NEWLINE = "text_newline"
    TEXT_SEMICOLON = "text_semicolon"
    TEXT_CONTROL_CHARACTER = "text_control_character"
    TEXT_INVALID_CHARACTER = "text_invalid_character"
    ROW_INVALID_ENCODING = "row_invalid_encoding"
    CORRELATION_ID_TOO_LONG = "correlation_id_too_long"
    CORRELATION_ID_SEMICOLON = "correlation_id_semicolon"
    CORRELATION_ID_NEWLINE = "correlation_id_newline"
    CORRELATION_ID_CONTROL_CHARACTER = "correlation_id_control_character"
    CORRELATION_ID_DUPLICATE = "correlation_id_duplicate"
    DUPLICATE_ROW = "duplicate_row"


# One plain-language template per code; `Validator` fills the {placeholders}.
REASONS: dict[RejectCode, str] = {
    RejectCode.ROW_EMPTY: "the row is empty",
    **{RejectCode(code): template for code, template in PHONE_REASONS.items()},
    RejectCode.TEXT_MISSING: "text is empty",
    RejectCode.TEXT_TOO_LONG: "text is {length} characters long; the limit is {limit}",
    RejectCode.TEXT_NEWLINE: (
        "text contains a line break, which the platform file cannot hold "
        "(set text.on_newline = \"replace\" to send it as a space)"
    ),
    RejectCode.TEXT_SEMICOLON: (
        "text contains ';', which the platform file cannot hold "
        "(set text.on_semicolon = \"replace\" to send it as ',')"
    ),
    RejectCode.TEXT_CONTROL_CHARACTER: "text contains the control character {char}",
    RejectCode.TEXT_INVALID_CHARACTER: (
        "text contains {char}, which is not a character (the file is probably damaged)"
    ),
    RejectCode.ROW_INVALID_ENCODING: (
        "{where} holds {what}, which is not valid {encoding} (the encoding of the rest of the file){hint}"
    ),
    RejectCode.CORRELATION_ID_TOO_LONG: (
        "correlationId {value} is {length} characters long; the limit is {limit}"
    ),
    RejectCode.CORRELATION_ID_SEMICOLON: (
        "correlationId {value} contains ';', which the platform file cannot hold"
    ),
    RejectCode.CORRELATION_ID_NEWLINE: (
        "correlationId {value} contains a line break, which the platform file cannot hold"
    ),
    RejectCode.CORRELATION_ID_CONTROL_CHARACTER: (
        "correlationId {value} contains the control character or non-character {char}"
    ),
    RejectCode.CORRELATION_ID_DUPLICATE: "correlationId {value} was already used on line {first}",
    RejectCode.DUPLICATE_ROW: (
        "same number and text as line {first}; skipped (set text.allow_duplicates = true to send both)"
    ),
}

# Line breaks: each CRLF, CR or LF is one break; NEL and the Unicode line and paragraph
# separators also end a line for many readers.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# What needs a closer look in a text: C0 and C1 controls, DEL, the Unicode separators,
# and lone surrogates (which cannot be written as UTF-8).
_TEXT_SPECIAL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CID_SPECIAL = re.compile("[;\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_DROP_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")

_EMPTY_CELL = ""
# Message(...) runs the NamedTuple's generated Python __new__; tuple.__new__ builds the
# same object without that frame (0.1 us a row, bench/convert.py)
_new = tuple.__new__
_MAX_LINE = 2**32 - 1  # what a table record's 4-byte line can hold


@dataclass(frozen=True, slots=True)
class ValidationPolicy:
    """The choices SPEC 3.2 leaves to the configuration."""

    region: str = "BR"
    on_newline: Literal["replace", "reject"] = "replace"
    on_semicolon: Literal["replace", "reject"] = "replace"
    allow_duplicates: bool = False
    transliterate: bool = False

    def __post_init__(self) -> None:
        for name in ("on_newline", "on_semicolon"):
            if getattr(self, name) not in ("replace", "reject"):
                raise ValueError(f"{name} must be 'replace' or 'reject', not {getattr(self, name)!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ValidationPolicy:
        return cls(
            region=settings.defaults.country,
            on_newline=settings.text.on_newline,
            on_semicolon=settings.text.on_semicolon,
            allow_duplicates=settings.text.allow_duplicates,
            transliterate=settings.text.transliterate,
        )


_BUCKET_BITS = 14
_BUCKET_MASK = (1 << _BUCKET_BITS) - 1
_RECORD = 12  # bytes a key: the 8-byte key, then its 4-byte first line


class _FirstSeen:
    """64-bit keys -> the line where each was first accepted, in 12 bytes a key.

    Each key and its line are packed into one of 16,384 bytearrays chosen by the key's
    low bits; a lookup is one C-speed `bytearray.find` over a bucket (about 60 records
    at a million rows), with no Python object kept per key. A built-in set probes about
    twice as fast but costs ~100 bytes a key: its two tables took a million-row
    conversion to 225 MB peak RSS, over SPEC 7's 200 MB (bench/convert.py).
    """

    __slots__ = ("_buckets", "_count")

    def __init__(self) -> None:
        self._buckets = [bytearray() for _ in range(1 << _BUCKET_BITS)]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def first_line(self, key: int) -> int | None:
        packed = key.to_bytes(8, "little", signed=True)
        bucket = self._buckets[key & _BUCKET_MASK]
        pos = bucket.find(packed)
        while pos >= 0:
            if pos % _RECORD == 0:  # a match across a line and the next key is not a match
                return int.from_bytes(bucket[pos + 8 : pos + _RECORD], "little")
            pos = bucket.find(packed, pos + 1)
        return None

    def put(self, key: int, line: int) -> None:
        """Remember `key` (known to be new) at `line`."""
        kept = line if 0 <= line <= _MAX_LINE else _MAX_LINE
        self._buckets[key & _BUCKET_MASK] += key.to_bytes(8, "little", signed=True) + kept.to_bytes(4, "little")
        self._count += 1

    def add(self, key: int, line: int) -> int | None:
        """Remember `key` at `line`; if it was already there, its first line instead.
        (One method rather than first_line + put: it runs on every row.)"""
        packed = key.to_bytes(8, "little", signed=True)
        bucket = self._buckets[key & _BUCKET_MASK]
        pos = bucket.find(packed)
        while pos >= 0:
            if pos % _RECORD == 0:
                return int.from_bytes(bucket[pos + 8 : pos + _RECORD], "little")
            pos = bucket.find(packed, pos + 1)
        bucket += packed + (line if 0 <= line <= _MAX_LINE else _MAX_LINE).to_bytes(4, "little")
        self._count += 1
        return None


if sys.hash_info.width >= 64:
    # SipHash of the process: fast, and 64 bits make a false match between two
    # different keys of a million-row drop about a 1 in 30 million event. The builtin
    # itself rather than a wrapper: two calls a row (0.15 us a row, bench/convert.py).
    _key = hash

else:  # pragma: no cover - 32-bit builds

    def _key(value: object) -> int:
        data = repr(value).encode("utf-8", "surrogatepass")
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True) or 1


class Validator:
    """Validates the rows of one drop, in order. Not thread-safe.

    `drop_key` (a short hex id of the drop's content hash) prefixes the correlationIds
    generated for rows that have none: ``{drop_key}-{line}``, so that converting the
    same drop again gives the same ids. `replacements` counts the changes made to the
    texts of accepted rows: ``newline``, ``semicolon``, ``tab``, ``transliterated``
    (one per character or line break replaced). `remember=False` keeps no duplicate
    table: each row is judged on its own (the columnar engine's hard rows).
    """

    def __init__(self, policy: ValidationPolicy, columns: ColumnMap, drop_key: str, *, remember: bool = True) -> None:
        if not _DROP_KEY.fullmatch(drop_key):
            raise ValueError(f"drop_key must be 1 to 40 of A-Z a-z 0-9 _ . -, not {drop_key!r}")
        self.policy = policy
        self.columns = columns
        self.drop_key = drop_key
        self.replacements: collections.Counter[str] = collections.Counter()
        self._phones = PhoneNormalizer(policy.region)
        self._normalize = self._phones.normalize
        self._plain_mobile = self._phones.plain_mobile
        self._number_i = columns.number
        self._text_i = columns.text
        self._cid_i = columns.correlation_id
        self._needed = max(i for i in (columns.number, columns.text, columns.correlation_id) if i is not None) + 1
        # (number, text, correlationId) of a row of at least _needed cells, in one C call
        if columns.correlation_id is not None:
            self._pick: Callable[[tuple[str, ...]], tuple[str, str, str]] = operator.itemgetter(
                columns.number, columns.text, columns.correlation_id
            )
        else:
            pick_two = operator.itemgetter(columns.number, columns.text)
            self._pick = lambda cells: (*pick_two(cells), _EMPTY_CELL)
        self._replace_newline = policy.on_newline == "replace"
        self._replace_semicolon = policy.on_semicolon == "replace"
        self._transliterate = policy.transliterate
        self._rows: _FirstSeen | None = None if policy.allow_duplicates else _FirstSeen()
        self._cids = _FirstSeen()
        self._row_add = self._rows.add if self._rows is not None else None
        self._cid_first_line, self._cid_put = self._cids.first_line, self._cids.put
        if not remember:
            # each row judged on its own, with no duplicate tables: for batcher.columnar,
            # which keeps the drop's tables itself and asks this class about single rows
            self._row_add = None
            self._cid_first_line, self._cid_put = _nothing, _ignore
        # generated ids, so that no id is ever given twice (see _generated_id)
        self._prefix = f"{drop_key}-"
        self._generated_lines = bytearray()  # bit L set: line L got "{drop_key}-{L}"
        self._generated_other: dict[str, int] = {}  # the rare suffixed ones -> line
        self._given_in_namespace: set[str] = set()  # ids from the file that look generated

    # -- the one public method ---------------------------------------------------------

    def check(self, row: RawRow) -> Message | Rejection:
        line, cells = row
        if len(cells) >= self._needed:
            raw_number, raw_text, raw_cid = self._pick(cells)
        else:  # a short row: the missing cells are empty
            raw_number, raw_text, raw_cid = self._short_row(cells)

        if self._plain_mobile(raw_number) is not None:  # normalize() would return it as is
            number = raw_number
        else:
            try:
                number = self._normalize(raw_number)
            except PhoneError as exc:
                if exc.code == RejectCode.NUMBER_MISSING and not any(c.strip() for c in cells):
                    return self._reject(row, RejectCode.ROW_EMPTY)
                return Rejection(line, exc.code, exc.reason, cells)

        # -- text
        text = raw_text.strip()
        if not text:
            return self._reject(row, RejectCode.TEXT_MISSING)
        newlines = tabs = semicolons = folded = 0
        ascii_text = text.isascii()
        if (not text.isprintable()) if ascii_text else (_TEXT_SPECIAL.search(text) is not None):
            if _LINE_BREAK.search(text) is not None:
                if not self._replace_newline:
                    return self._reject(row, RejectCode.TEXT_NEWLINE)
                text, newlines = _LINE_BREAK.subn(" ", text)
            if "\t" in text:
                tabs = text.count("\t")
                text = text.replace("\t", " ")
            bad = _CONTROL.search(text)
            if bad is not None:
                return self._reject(row, RejectCode.TEXT_CONTROL_CHARACTER, char=_char_name(bad.group()))
            bad = _SURROGATE.search(text)
            if bad is not None:
                return self._reject(row, RejectCode.TEXT_INVALID_CHARACTER, char=_char_name(bad.group()))
        if self._transliterate:
            text, folded = transliterate(text)
            if folded:
                ascii_text = text.isascii()
                if not text.strip():  # only characters that fold to nothing (a soft hyphen)
                    return self._reject(row, RejectCode.TEXT_MISSING)
        if ";" in text:  # after transliteration, which can produce one (U+037E)
            if not self._replace_semicolon:
                return self._reject(row, RejectCode.TEXT_SEMICOLON)
            semicolons = text.count(";")
            text = text.replace(";", ",")
        if len(text) > MAX_TEXT_LENGTH:
            return self._reject(row, RejectCode.TEXT_TOO_LONG, length=f"{len(text):,}", limit=MAX_TEXT_LENGTH)

        # -- correlationId (never changed: a bad one is refused)
        cid = raw_cid.strip() if raw_cid else raw_cid
        if cid:
            # printable ASCII holds none of _CID_SPECIAL but ';' (three C calls, cheaper
            # than the regex search: 0.1 us a row, bench/convert.py)
            if not (cid.isascii() and cid.isprintable()) or ";" in cid:
                bad = _CID_SPECIAL.search(cid)
                if bad is not None:
                    return self._reject_cid(row, cid, bad.group())
            if len(cid) > MAX_CORRELATION_ID_LENGTH:
                return self._reject(
                    row, RejectCode.CORRELATION_ID_TOO_LONG,
                    value=show_value(cid), length=len(cid), limit=MAX_CORRELATION_ID_LENGTH,
                )
            cid_key = _key(cid)
            in_namespace = cid.startswith(self._prefix)
            first = self._cid_first_line(cid_key)
            if first is None and in_namespace:
                first = self._generated_first_line(cid)
            if first is not None:
                return self._reject(row, RejectCode.CORRELATION_ID_DUPLICATE, value=show_value(cid), first=first)

        # -- exact duplicate (the last check: the row is remembered when it passes)
        if self._row_add is not None:
            first = self._row_add(_key((number, text)), line)
            if first is not None:
                return self._reject(row, RejectCode.DUPLICATE_ROW, first=first)

        # -- accepted
        if cid:
            self._cid_put(cid_key, line)
            if in_namespace:
                self._given_in_namespace.add(cid)
        else:
            cid = self._generated_id(line)
        if newlines or tabs or semicolons or folded:
            counts = self.replacements
            if newlines:
                counts["newline"] += newlines
            if tabs:
                counts["tab"] += tabs
            if semicolons:
                counts["semicolon"] += semicolons
            if folded:
                counts["transliterated"] += folded
        if ascii_text:
            # printable by now, so the GSM table (gsm.segments) unless [ ] | is there
            n = len(text)
            if "[" in text or "]" in text or "|" in text:
                return _new(Message, (line, number, text, cid, "UCS-2", 1 if n <= UCS2_SINGLE else -(-n // UCS2_MULTI)))
            return _new(Message, (line, number, text, cid, "GSM", 1 if n <= GSM_SINGLE else -(-n // GSM_MULTI)))
        encoding, parts = segments(text)
        return _new(Message, (line, number, text, cid, encoding, parts))

    # -- helpers ---------------------------------------------------------------------

    def _short_row(self, cells: tuple[str, ...]) -> tuple[str, str, str]:
        n = len(cells)
        number_i, text_i, cid_i = self._number_i, self._text_i, self._cid_i
        return (
            cells[number_i] if number_i < n else _EMPTY_CELL,
            cells[text_i] if text_i < n else _EMPTY_CELL,
            cells[cid_i] if cid_i is not None and cid_i < n else _EMPTY_CELL,
        )

    def _reject(self, row: RawRow, code: RejectCode, **values: object) -> Rejection:
        return Rejection(row.line, code.value, REASONS[code].format(**values), row.cells)

    def _reject_cid(self, row: RawRow, cid: str, char: str) -> Rejection:
        if char == ";":
            return self._reject(row, RejectCode.CORRELATION_ID_SEMICOLON, value=show_value(cid))
        if _LINE_BREAK.match(char):
            return self._reject(row, RejectCode.CORRELATION_ID_NEWLINE, value=show_value(cid))
        return self._reject(
            row, RejectCode.CORRELATION_ID_CONTROL_CHARACTER, value=show_value(cid), char=_char_name(char)
        )

    def _generated_id(self, line: int) -> str:
        """``{drop_key}-{line}``; in the (contrived) case where the file itself already
        used that id, ``{drop_key}-{line}-2``, ``-3``... Deterministic: converting the
        same drop again gives the same ids."""
        cid = f"{self._prefix}{line}"
        if line >= 0 and (not self._given_in_namespace or cid not in self._given_in_namespace):
            bits = self._generated_lines
            byte = line >> 3
            if byte >= len(bits):
                bits.extend(bytes(max(byte + 1 - len(bits), len(bits), 1024)))
            bit = 1 << (line & 7)
            if not bits[byte] & bit:
                bits[byte] |= bit
                return cid
        k = 2  # taken by the file, or a line number seen twice
        while f"{cid}-{k}" in self._given_in_namespace or f"{cid}-{k}" in self._generated_other:
            k += 1
        cid = f"{cid}-{k}"
        self._generated_other[cid] = line
        return cid

    def _generated_first_line(self, cid: str) -> int | None:
        """The line whose generated id is `cid`, if one was generated."""
        if cid in self._generated_other:
            return self._generated_other[cid]
        rest = cid[len(self._prefix) :]
        if not (rest.isascii() and rest.isdigit()) or (rest[0] == "0" and rest != "0"):
            return None
        line = int(rest)
        bits = self._generated_lines
        byte = line >> 3
        if byte < len(bits) and bits[byte] & (1 << (line & 7)):
            return line
        return None


def _nothing(key: int) -> None:
    return None


def _ignore(key: int, line: int) -> None:
    return None


def _char_name(ch: str) -> str:
    """U+0009 (CHARACTER TABULATION) and the like, for a reason."""
    name = unicodedata.name(ch, "")
    if not name:
        name = {
            "\x00": "NULL", "\x07": "BELL", "\x08": "BACKSPACE", "\x0b": "LINE TABULATION",
            "\x0c": "FORM FEED", "\x1b": "ESCAPE", "\x7f": "DELETE",
        }.get(ch, "")
    code = f"U+{ord(ch):04X}"
    return f"{code} ({name})" if name else code
