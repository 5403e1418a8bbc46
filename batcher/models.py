"""Plain data shared by the layers: rows as read, messages as validated, rejections,
and the batch and message lifecycles (enums with a table of allowed transitions).

Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from .errors import StateError

__all__ = [
    "BATCH_TRANSITIONS",
    "MESSAGE_TRANSITIONS",
    "BatchState",
    "ColumnMap",
    "Encoding",
    "Message",
    "MessageState",
    "RawRow",
    "Rejection",
    "check_batch_transition",
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


class Message(NamedTuple):
    """A row that passed validation: what will be written to the platform file.

    A NamedTuple for the same reason as `RawRow`: one is built per accepted row."""

    line: int
    number: str  # digits with country code, no '+'
    text: str  # never contains ';', '\r' or '\n'
    correlation_id: str  # never empty, never contains ';'
    encoding: Encoding
    segments: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row that was refused: the original cells, the stable code and a plain reason."""

    line: int
    code: str
    reason: str
    cells: tuple[str, ...] = field(default=())


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
    """One message's lifecycle (SPEC 4.1)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    REJECTED = "rejected"
    SENT_FINAL = "sent_final"
    EXPIRED = "expired"


MESSAGE_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    MessageState.PENDING: frozenset(
        {
            MessageState.SENT,
            MessageState.REJECTED,
            MessageState.EXPIRED,
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
}

FINAL_BATCH_STATES = frozenset({BatchState.ACCEPTED, BatchState.FILE_REJECTED})
FINAL_MESSAGE_STATES = frozenset(s for s, nxt in MESSAGE_TRANSITIONS.items() if not nxt)


def check_batch_transition(old: BatchState, new: BatchState) -> None:
    if new not in BATCH_TRANSITIONS[old]:
        raise StateError(f"illegal batch transition {old.value} -> {new.value}")


def check_message_transition(old: MessageState, new: MessageState) -> None:
    if new not in MESSAGE_TRANSITIONS[old]:
        raise StateError(f"illegal message transition {old.value} -> {new.value}")
