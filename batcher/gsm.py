"""Message cost: the GSM character class, segment counts, and optional transliteration
(SPEC 3.2).

The platform bills a message at 160 characters a segment when every character is in
its table (printable ASCII 0x20-0x7E except ``[ ] |``; the table also lists ``{ } \\ ^
~`` as ordinary characters, and the GSM 03.38 extension table is not supported), else
at 70. A long message is sent in parts of 153 (GSM) or 67 (UCS-2) characters, the rest
of each part carrying the concatenation header. UCS-2 lengths count UTF-16 code
units, so an emoji (outside the Basic Multilingual Plane) counts 2.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Final

from .models import Encoding

__all__ = [
    "GSM_CHARACTERS",
    "GSM_MULTI",
    "GSM_SINGLE",
    "UCS2_MULTI",
    "UCS2_SINGLE",
    "is_gsm",
    "segments",
    "transliterate",
    "utf16_length",
]

GSM_SINGLE: Final = 160
GSM_MULTI: Final = 153
UCS2_SINGLE: Final = 70
UCS2_MULTI: Final = 67

GSM_CHARACTERS: Final = frozenset(chr(c) for c in range(0x20, 0x7F)) - {"[", "]", "|"}

# one character outside the table; 0x5B '[', 0x5D ']' and 0x7C '|' are left out
_NOT_GSM = re.compile(r"[^\x20-\x5a\x5c\x5e-\x7b\x7d\x7e]")


def is_gsm(text: str) -> bool:
    """Whether every character of `text` is in the platform's GSM table."""
    return _NOT_GSM.search(text) is None


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units (a character beyond U+FFFF counts 2)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) >> 1


def segments(text: str) -> tuple[Encoding, int]:
    """The encoding the platform will use for `text` and the number of segments billed.

    An empty text counts one segment (an SMS is still sent).
    """
    if text.isascii():
        n = len(text)
        # printable ASCII without [ ] | is exactly the table (isprintable: no C0, no DEL)
        if text.isprintable() and "[" not in text and "]" not in text and "|" not in text:
            return "GSM", 1 if n <= GSM_SINGLE else -(-n // GSM_MULTI)
    else:
        n = len(text.encode("utf-16-le", "surrogatepass")) >> 1
    return "UCS-2", 1 if n <= UCS2_SINGLE else -(-n // UCS2_MULTI)


# Replacements applied before (and after) Unicode decomposition. Characters that the
# decomposition handles by itself (accents, ligatures, wide forms, most spaces) are
# not listed.
_EXPLICIT: Final[dict[str, str]] = {
    # quotes
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2033": '"', "\u2036": '"',
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2039": "'", "\u203a": "'",
    "\u2032": "'", "\u2035": "'", "\u00b4": "'", "\u02bc": "'", "\u02b9": "'",
    # dashes and hyphens
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2043": "-",
    # dots and bullets
    "\u2026": "...", "\u2022": "-", "\u00b7": ".",
    # spaces, and invisible characters that carry nothing in an SMS
    "\u00a0": " ", "\u202f": " ", "\u2007": " ",
    "\u00ad": "", "\u200b": "", "\u2060": "", "\ufeff": "",
    # the three ASCII characters missing from the table
    "[": "(", "]": ")", "|": "/",
    # letters without a decomposition
    "\u00df": "ss", "\u1e9e": "SS", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0111": "d", "\u0110": "D", "\u0142": "l", "\u0141": "L",
    "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "Th", "\u0131": "i",
    # symbols
    "\u20ac": "EUR", "\u2044": "/",
}


@functools.lru_cache(maxsize=4096)
def _fold(ch: str) -> str | None:
    """A GSM replacement for one character outside the table, or None to keep it."""
    explicit = _EXPLICIT.get(ch)
    if explicit is not None:
        return explicit
    if unicodedata.combining(ch):
        return ""  # a stray combining accent: its base letter is already there
    decomposed = unicodedata.normalize("NFKD", ch)
    folded = "".join(_EXPLICIT.get(c, c) for c in decomposed if not unicodedata.combining(c))
    if not folded or folded == ch or _NOT_GSM.search(folded) is not None:
        return None
    if not folded.strip() and unicodedata.category(ch) != "Zs":
        return None  # a spacing accent (U+00A8 ¨) would become a bare space
    return folded


def transliterate(text: str) -> tuple[str, int]:
    """Fold `text` towards the GSM table: accents dropped (``ç`` -> ``c``), typographic
    quotes to ``'``/``"``, dashes to ``-``, ``…`` to ``...``, non-breaking spaces to
    spaces, ``[ ] |`` to ``( ) /``, ``€`` to ``EUR``.

    Returns the new text and how many characters were replaced. Characters with no GSM
    equivalent (emoji, CJK, ...) are kept, so such a message stays UCS-2.
    """
    if _NOT_GSM.search(text) is None:
        return text, 0
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        ch = match.group()
        folded = _fold(ch)
        if folded is None:
            return ch
        count += 1
        return folded

    return _NOT_GSM.sub(replace, text), count
