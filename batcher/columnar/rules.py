"""The row path's decisions restated as patterns a column engine can evaluate (pure).

Everything here is derived from the row path's own definitions, never typed anew:
Python's whitespace (what `str.strip` removes), the control and separator classes of
`batcher.validate`, the GSM table of `batcher.gsm`, and the metadata patterns the
phone fast path (`PhoneNormalizer.mobile_form_parts`) is compiled from. The patterns
use only what every regex engine agrees on (classes, groups, alternation, counted
repeats; no look-around), so a full match means the same in Rust as in Python.

A rule here may only ever *accept* a cell with the row path's exact result; whatever
it does not accept goes to the row path's code (`Validator`), which decides it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["NumberRule", "ascii_digits", "char_class", "number_rule", "python_whitespace", "unusual"]


def unusual(delimiter: str | None) -> str:
    """A line (a cell, for `delimiter` None) holding one of these goes to the row path
    whole: C0 and C1 controls and DEL (tabs too, unless TAB is the delimiter), a quote
    (in a line: it changes how the csv module reads it), U+2028/U+2029, every
    whitespace character but the space (so that only spaces can need stripping), and
    characters beyond the BMP (which count 2 in UCS-2)."""
    controls = "".join(chr(c) for c in (*range(0x20), 0x7F) if chr(c) != delimiter)
    quote = '"' if delimiter is not None else ""
    others = "".join(c for c in python_whitespace() if c != " " and not c.isascii())
    return "[" + char_class(controls + quote + others)[1:-1] + "\\x{80}-\\x{9f}\\x{10000}-\\x{10ffff}]"


def ascii_digits(pattern: str) -> str:
    """`pattern` with each `\\d` (any Unicode digit, in Python and in Rust) made ASCII
    `0-9`: inside a character class as a range, elsewhere as a class of its own."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(("0-9" if in_class else "[0-9]") if pair == "\\d" else pair)
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":  # a literal ] first in a class
                out.append("\\]")
                i += 1
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@functools.cache
def python_whitespace() -> str:
    """Every character `str.strip()` removes (they all lie below U+3100)."""
    return "".join(chr(c) for c in range(0x3100) if chr(c).isspace())


def char_class(chars: str) -> str:
    """A regex character class matching exactly `chars`."""
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


@dataclass(frozen=True)
class NumberRule:
    """The plain-mobile forms of `phones._compile_mobile_form`, as separate full-match
    patterns (their conjunction is what the Python regex expresses with look-aheads).

    For a candidate `d` (ASCII digits, '+' removed) and `nsn` (d without the country
    code when it starts with it, else d): with the country code (no '+'), the i form
    needs no IDD, a total length in `too_long` or not matching `general`, then the
    national verdict on nsn; after a '+', the p form needs the verdict on nsn; without
    the code, the n form needs no IDD and the verdict on d. The national verdict: no
    leading 0, no national prefix match, `general` and `accept` match, the length is
    one of `lengths`, and no special pattern admitted at that length matches.
    """

    cc: str
    general: str
    accept: str
    lengths: tuple[int, ...]
    too_long: tuple[int, ...]
    idd: str | None
    npfp: str | None
    #: (lengths, one alternation of the special patterns admitted at those lengths)
    specials: tuple[tuple[tuple[int, ...], str], ...]


def number_rule(parts: dict[str, object] | None) -> NumberRule | None:
    """The rule for a region, from `PhoneNormalizer.mobile_form_parts` (None: the region
    has no fast path, and every number goes to the row path)."""
    if not parts:
        return None
    accepting: dict[int, tuple[list[str], str]] = parts["accepting"]  # type: ignore[assignment]
    if not accepting:
        return None
    accepts = {accept for _, accept in accepting.values()}
    if len(accepts) != 1:  # one pattern accepts at every length (fixed or mobile): always so
        return None
    groups: dict[tuple[str, ...], list[int]] = {}
    for length, (specials, _) in sorted(accepting.items()):
        if specials:
            groups.setdefault(tuple(specials), []).append(length)
    return NumberRule(
        cc=str(parts["cc"]),
        general=_full(str(parts["general"])),
        accept=_full(accepts.pop()),
        lengths=tuple(sorted(accepting)),
        too_long=tuple(sorted(parts["too_long"])),  # type: ignore[call-overload]
        idd=_start(parts["idd"]),  # type: ignore[arg-type]
        npfp=_start(parts["npfp"]),  # type: ignore[arg-type]
        specials=tuple(
            (tuple(lengths), _full("|".join(f"(?:{p})" for p in patterns))) for patterns, lengths in groups.items()
        ),
    )


def _full(pattern: str) -> str:
    return f"^(?:{pattern})$"


def _start(pattern: str | None) -> str | None:
    return f"^(?:{pattern})" if pattern else None
