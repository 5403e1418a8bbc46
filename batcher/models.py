"""Plain data shared by the layers: rows as read, messages as validated, rejections,
and the batch and message lifecycles (enums with a table of allowed transitions).

Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from .errors import StateError

__all__ = [
    "BATCH_TRANSITIONS",
    "DROP_TRANSITIONS",
    "FINAL_BATCH_STATES",
    "FINAL_MESSAGE_STATES",
    "MESSAGE_TRANSITIONS",
    "BatchState",
    "ColumnMap",
    "DropState",
    "Encoding",
    "Message",
    "MessageChange",
    "MessageColumns",
    "MessageState",
    "RawRow",
    "Rejection",
    "check_batch_transition",
    "check_drop_transition",
    "check_message_transition",
]

Encoding = Literal["GSM", "UCS-2"]


class RawRow(NamedTuple):
    """One record as a reader found it.

    `line` is what a person opening the file would call the row: the physical line
    where the record starts in a text file (1-based, header included), or the
    spreadsheet row number. `cells` are strings; a numeric spreadsheet cell arrives as
    its exact digits (``5511987654321``, never ``5.511987654321e+12``).

    A NamedTuple rather than a dataclass: one is built per input row, and a tuple is
    about five times cheaper to build than a frozen dataclass (bench/convert.py).
    """

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Zero-based positions of the columns batcher uses within `RawRow.cells`."""

    number: int
    text: int
    correlation_id: int | None = None
    header: tuple[str, ...] | None = None  # the header row as found, if there was one
    #: how each column was found: (field, "option" | "name" | "word" | "position"), for the summary
    chosen: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """`number 'Celular do cliente' (column 2, by a word of its name), text ...`."""
        how_shown = {"option": "as asked", "name": "by its name", "word": "by a word of its name",
                     "position": "by position"}
        how = dict(self.chosen)
        parts = []
        for name, index in (("number", self.number), ("text", self.text), ("correlationId", self.correlation_id)):
            if index is None:
                parts.append(f"{name}: none (generated)")
                continue
            label = f" {self.header[index]!r}" if self.header and index < len(self.header) else ""
            by = f", {how_shown[how[name]]}" if name in how else ""
            parts.append(f"{name}{label} (column {index + 1}{by})")
        return "; ".join(parts)


class Message(NamedTuple):
    """A row that passed validation: what will be written to the platform file.

    A NamedTuple for the same reason as `RawRow`: one is built per accepted row."""

    line: int
    number: str  # digits with country code, no '+'
    text: str  # never contains ';', '\r' or '\n'
    correlation_id: str  # never empty, never contains ';'
    encoding: Encoding
    segments: int


class MessageColumns(NamedTuple):
    """Accepted messages written to one output file, as columns in line order (the
    store inserts them in bulk; the columnar engine hands them over so)."""

    file_index: int
    line: list[int]
    number: list[str]
    text: list[str]
    correlation_id: list[str]
    encoding: list[str]
    segments: list[int]

    @property
    def size(self) -> int:
        return len(self.line)

    def messages(self) -> Iterator[Message]:
        for row in zip(self.line, self.number, self.text, self.correlation_id, self.encoding, self.segments,
                       strict=True):
            yield Message(*row)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was refused: the original cells, the stable code and a plain reason."""

    line: int
    code: str
    reason: str
    cells: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class MessageChange:
    """A decided change of one message's state, with what the platform said (None: not
    said; a stored value is then kept). `cause` says why: ``status`` (a status from the
    API), ``carrier`` (a carrier without delivery reports), ``window`` (no delivery report
    within api.delivery_window), ``retention`` (no status within the 3-day retention),
    ``file_rejected`` (its file went to error/)."""

    message_id: int  # the store's row id
    old: MessageState
    new: MessageState
    cause: str
    platform_id: str | None = None
    sent_status_code: int | None = None
    sent_status: str | None = None
    sent_at: str | None = None  # ISO 8601 UTC
    delivered_status_code: int | None = None
    delivered_status: str | None = None
    delivered_at: str | None = None
    carrier_id: str | None = None
    carrier_name: str | None = None


class BatchState(enum.StrEnum):
    """One remote file's lifecycle (SPEC 4.1)."""

    CONVERTED = "converted"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    ACCEPTED = "accepted"
    FILE_REJECTED = "file_rejected"
    STUCK = "stuck"


BATCH_TRANSITIONS: dict[BatchState, frozenset[BatchState]] = {
    BatchState.CONVERTED: frozenset({BatchState.UPLOADING}),
    # uploading -> uploading: a retry after a crash or a dropped connection
    # uploading -> accepted/file_rejected: found already processed in the remote listings
    BatchState.UPLOADING: frozenset(
        {BatchState.UPLOADING, BatchState.UPLOADED, BatchState.ACCEPTED, BatchState.FILE_REJECTED}
    ),
    BatchState.UPLOADED: frozenset({BatchState.ACCEPTED, BatchState.FILE_REJECTED, BatchState.STUCK}),
    # a stuck batch keeps being polled: the platform may still move it
    BatchState.STUCK: frozenset({BatchState.ACCEPTED, BatchState.FILE_REJECTED}),
    BatchState.ACCEPTED: frozenset(),
    BatchState.FILE_REJECTED: frozenset(),
}


class MessageState(enum.StrEnum):
    """One message's lifecycle (SPEC 4.1):

        pending -> sent -> delivered | not_delivered | sent_final
        pending -> rejected     a sent status other than 2 (with its code and name)
        pending -> sent_final   sent 2 by a carrier without delivery reports (Oi, Sercomtel)
        pending -> expired      no status at all within the platform's 3-day retention
        pending -> not_sent     its file was moved to error/ by the platform
    """

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    REJECTED = "rejected"
    SENT_FINAL = "sent_final"
    EXPIRED = "expired"
    NOT_SENT = "not_sent"


MESSAGE_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    MessageState.PENDING: frozenset(
        {
            MessageState.SENT,
            MessageState.REJECTED,
            MessageState.EXPIRED,
            MessageState.NOT_SENT,
            # the first status seen may already carry the delivery report
            MessageState.DELIVERED,
            MessageState.NOT_DELIVERED,
            MessageState.SENT_FINAL,
        }
    ),
    MessageState.SENT: frozenset(
        {MessageState.DELIVERED, MessageState.NOT_DELIVERED, MessageState.SENT_FINAL}
    ),
    MessageState.DELIVERED: frozenset(),
    MessageState.NOT_DELIVERED: frozenset(),
    MessageState.REJECTED: frozenset(),
    MessageState.SENT_FINAL: frozenset(),
    MessageState.EXPIRED: frozenset(),
    MessageState.NOT_SENT: frozenset(),
}


class DropState(enum.StrEnum):
    """One input file's lifecycle:

        new -> converted -> reported     a push recorded it, then told the user its outcome
        new -> rejected                  refused as a whole (no valid row): nothing was sent
        converted | reported -> superseded   replaced by a --force resend (kept for the audit)

    Until a push has reported, pushing the same content again resumes it; afterwards the
    same content is a duplicate (unless --force)."""

    NEW = "new"
    CONVERTED = "converted"
    REPORTED = "reported"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


DROP_TRANSITIONS: dict[DropState, frozenset[DropState]] = {
    DropState.NEW: frozenset({DropState.CONVERTED, DropState.REJECTED}),
    DropState.CONVERTED: frozenset({DropState.REPORTED, DropState.SUPERSEDED}),
    DropState.REPORTED: frozenset({DropState.SUPERSEDED}),
    DropState.REJECTED: frozenset(),
    DropState.SUPERSEDED: frozenset(),
}

FINAL_BATCH_STATES = frozenset({BatchState.ACCEPTED, BatchState.FILE_REJECTED})
FINAL_MESSAGE_STATES = frozenset(s for s, nxt in MESSAGE_TRANSITIONS.items() if not nxt)


def check_batch_transition(old: BatchState, new: BatchState) -> None:
    if new not in BATCH_TRANSITIONS[old]:
        raise StateError(f"illegal batch transition {old.value} -> {new.value}")


def check_drop_transition(old: DropState, new: DropState) -> None:
    if new not in DROP_TRANSITIONS[old]:
        raise StateError(f"illegal drop transition {old.value} -> {new.value}")


def check_message_transition(old: MessageState, new: MessageState) -> None:
    if new not in MESSAGE_TRANSITIONS[old]:
        raise StateError(f"illegal message transition {old.value} -> {new.value}")
