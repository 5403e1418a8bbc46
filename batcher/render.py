"""Platform file names and contents (SPEC 1.1, 3.3).

A batch file is named ``PROJECT.YYYYMMDD.NN.txt`` and holds one ``number;text;
correlationId;`` line per message, optionally a column-legend header line first, and
the line ``EOF`` last. Every line, ``EOF`` included, ends with the layout's line
ending. The format has no quoting, so a ``;`` or a line break inside a field would
corrupt the file: the validator never lets one through, and `render_line` refuses one
(a bug upstream) rather than write it.

Pure: the caller encodes the chunks as UTF-8 (no BOM) and writes them.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .peoplecsv import safe_csv_cell  # re-exported: the rejected-rows writer used it from here
from .settings import PROJECT_PATTERN, FormatSettings, Settings

if TYPE_CHECKING:
    from .models import Message

__all__ = [
    "EOF_LINE",
    "HEADER_LINE",
    "FileLayout",
    "batch_file_name",
    "parse_batch_name",
    "render_file",
    "render_line",
    "safe_csv_cell",
]

HEADER_LINE = "number;text;correlationId;"
EOF_LINE = "EOF"

_BATCH_NAME = re.compile(r"([A-Za-z0-9_-]{1,64})\.([0-9]{8})\.([0-9]{2,})\.txt")
_LINES_PER_CHUNK = 1024


@dataclass(frozen=True, slots=True)
class FileLayout:
    """How a batch file is laid out: an optional header line, the line ending, the
    final ``EOF`` line."""

    header: bool = False
    line_ending: Literal["\n", "\r\n"] = "\n"
    eof_marker: bool = True

    def __post_init__(self) -> None:
        if self.line_ending not in ("\n", "\r\n"):
            raise ValueError(f"line_ending must be '\\n' or '\\r\\n', not {self.line_ending!r}")

    @classmethod
    def from_settings(cls, settings: Settings | FormatSettings) -> FileLayout:
        fmt = settings.format if isinstance(settings, Settings) else settings
        return cls(
            header=fmt.header,
            line_ending="\r\n" if fmt.line_ending == "crlf" else "\n",
            eof_marker=fmt.eof_marker,
        )


def batch_file_name(project: str, day: datetime.date, seq: int) -> str:
    """``PROJECT.YYYYMMDD.NN.txt``; NN has two digits from 01 and grows past 99.

    Raises ValueError for a project name the platform would not charge correctly
    (anything but 1 to 64 of ``A-Z a-z 0-9 _ -``) or a sequence below 1.
    """
    if not isinstance(project, str) or not PROJECT_PATTERN.fullmatch(project):
        raise ValueError(f"project name {project!r} is not 1 to 64 of A-Z a-z 0-9 _ -")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"batch sequence number must be an integer from 1, not {seq!r}")
    return f"{project}.{day:%Y%m%d}.{seq:02d}.txt"


def parse_batch_name(name: str) -> tuple[str, str, int] | None:
    """``(project, "YYYYMMDD", seq)`` for a name `batch_file_name` could have produced
    (a real date, a sequence from 01 written as it would write it); None for anything
    else: ``.NAME.part`` upload temporaries, other files, near misses."""
    match = _BATCH_NAME.fullmatch(name)
    if match is None:
        return None
    project, ymd, seq_text = match.groups()
    seq = int(seq_text)
    if seq < 1 or seq_text != f"{seq:02d}":
        return None
    try:
        datetime.date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:]))
    except ValueError:
        return None
    return project, ymd, seq


def render_line(msg: Message) -> str:
    """``number;text;correlationId;`` without a line ending.

    Raises ValueError when a field would corrupt the line (a validator bug)."""
    number, text, cid = msg.number, msg.text, msg.correlation_id
    if (
        not number.isdigit()
        or not number.isascii()
        or not text
        # `in` is several times cheaper than a regex search: this runs on every row
        or ";" in text
        or "\n" in text
        or "\r" in text
        or ";" in cid
        or "\n" in cid
        or "\r" in cid
    ):
        raise ValueError(
            f"line {msg.line}: refusing to write a field holding ';' or a line break, "
            f"an empty text or a number that is not digits: {number!r}, {text[:60]!r}, {cid!r}"
        )
    return f"{number};{text};{cid};"


def render_file(messages: Iterable[Message], layout: FileLayout = FileLayout()) -> Iterator[str]:
    """The text of one batch file, in chunks of about a thousand lines."""
    end = layout.line_ending
    chunk: list[str] = []
    if layout.header:
        chunk.append(HEADER_LINE)
    for msg in messages:
        chunk.append(render_line(msg))
        if len(chunk) >= _LINES_PER_CHUNK:
            chunk.append("")
            yield end.join(chunk)
            chunk = []
    if layout.eof_marker:
        chunk.append(EOF_LINE)
    if chunk:
        chunk.append("")
        yield end.join(chunk)
