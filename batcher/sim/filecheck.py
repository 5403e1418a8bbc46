"""The platform's file rules (SPEC 1.1), checked strictly and independently of batcher.

Pure functions: bytes and a name in, a verdict out. Deliberately NOT shared with
batcher's own renderer, so the simulator catches batcher's mistakes.

- name: `^[A-Za-z0-9_-]{1,64}\\.YYYYMMDD\\.NN+\\.txt$` with a real calendar date;
- strict UTF-8, no byte-order mark;
- lines end with `\\n` or `\\r\\n` (a lone `\\r` is an error), no empty line anywhere;
- an optional column legend as the first line, exactly `number;text;correlationId;` or
  `number;text;correlationId(optional);` (the platform document shows the latter);
- each row `^\\d{8,15};[^;\\r\\n]{1,1280};[^;\\r\\n]{0,64};$` (text 1..1280 characters,
  correlationId at most 64, the trailing `;` required);
- the last line `EOF`, with or without a final line ending; at least one row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["LEGENDS", "CheckResult", "Row", "check_file", "check_name", "has_eof_marker"]

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\.(\d{8})\.\d{2,}\.txt$")
ROW_RE = re.compile(r"^(\d{8,15});([^;\r\n]{1,1280});([^;\r\n]{0,64});$")
LEGENDS = ("number;text;correlationId;", "number;text;correlationId(optional);")
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Row:
    destination: str
    text: str
    correlation_id: str


@dataclass
class CheckResult:
    ok: bool
    reason: str = ""
    rows: list[Row] = field(default_factory=list)


def check_name(name: str) -> str | None:
    """The reason the name is refused, or None when it is a valid batch file name."""
    m = NAME_RE.match(name)
    if not m:
        return f"file name {name!r} does not match PROJECT.YYYYMMDD.NN.txt"
    try:
        datetime.strptime(m.group(1), "%Y%m%d")
    except ValueError:
        return f"file name {name!r} has no real date ({m.group(1)})"
    return None


def has_eof_marker(tail: bytes, whole: bool) -> bool:
    """Whether data ending in `tail` ends with an `EOF` line (`whole`: tail is the file)."""
    for ending in (b"\r\n", b"\n"):
        if tail.endswith(ending):
            tail = tail[: -len(ending)]
            break
    if not tail.endswith(b"EOF"):
        return False
    before = tail[:-3]
    return before.endswith(b"\n") or (whole and before == b"")


def check_file(name: str, data: bytes) -> CheckResult:
    """Check one uploaded file completely."""
    reason = check_name(name)
    if reason:
        return CheckResult(False, reason)
    if data.startswith(BOM):
        return CheckResult(False, "starts with a UTF-8 byte-order mark")
    try:
        text = data.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        return CheckResult(False, f"not valid UTF-8 at byte {exc.start}")
    if not text:
        return CheckResult(False, "empty file")
    lines = text.split("\n")
    final_newline = lines[-1] == ""
    if final_newline:
        lines.pop()
    rows: list[Row] = []
    last = len(lines)
    for number, raw in enumerate(lines, start=1):
        terminated = number < last or final_newline  # followed by "\n" in the file
        line = raw[:-1] if terminated and raw.endswith("\r") else raw
        if "\r" in line:
            return CheckResult(False, f"line {number}: carriage return that does not end the line")
        if number == last:
            if line != "EOF":
                return CheckResult(False, f"line {number}: last line is not EOF")
            break
        if line == "":
            return CheckResult(False, f"line {number}: empty line")
        if number == 1 and line in LEGENDS:
            continue
        m = ROW_RE.match(line)
        if not m:
            return CheckResult(False, f"line {number}: {_row_problem(line)}")
        rows.append(Row(m.group(1), m.group(2), m.group(3)))
    if not rows:
        return CheckResult(False, "no message rows")
    return CheckResult(True, rows=rows)


def _row_problem(line: str) -> str:
    if line == "EOF":
        return "EOF before the last line"
    parts = line.split(";")
    if len(parts) != 4 or parts[3] != "":
        return f"expected 3 fields each followed by ';', found {line.count(';')} ';'"
    number, text, corr = parts[:3]
    if not re.fullmatch(r"\d{8,15}", number):
        return "number must be 8 to 15 digits"
    if not text:
        return "empty text"
    if len(text) > 1280:
        return f"text longer than 1280 characters ({len(text)})"
    if len(corr) > 64:
        return f"correlationId longer than 64 characters ({len(corr)})"
    return "malformed row"
