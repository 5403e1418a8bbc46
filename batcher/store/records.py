"""The rows of the state database as immutable records, and the timestamp format."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ..models import BatchState, MessageState

__all__ = [
    "DROP_NEW",
    "INACTIVE_DROP_STATUSES",
    "IN_BATCH",
    "LINE_BITS",
    "MAX_LINE",
    "BatchRecord",
    "Clock",
    "DropRecord",
    "MessageRecord",
    "batch_range",
    "format_timestamp",
    "message_id_of",
    "utc_now",
]

Clock = Callable[[], datetime]

#: The status of a drop just recorded by `Store.add_drop`.
DROP_NEW = "new"
#: A push converted and recorded the drop (its batches may still be on their way).
DROP_CONVERTED = "converted"
#: A push ran to its end and told the user the outcome: the same content again is a
#: duplicate. Until then, pushing it again resumes and finishes the earlier push.
DROP_REPORTED = "reported"
#: Drop statuses that do not block the same content from being pushed again without
#: --force: nothing of such a drop reached the platform, or it was explicitly replaced.
INACTIVE_DROP_STATUSES = frozenset({"rejected", "superseded"})


#: a message's row id is ``(batch id << LINE_BITS) | line``: a batch is one range of ids
LINE_BITS = 32
MAX_LINE = (1 << LINE_BITS) - 1
#: SQL: the messages `m` of the batch `b` (a range of the primary key, no index needed)
IN_BATCH = f"m.id BETWEEN (b.id << {LINE_BITS}) AND ((b.id << {LINE_BITS}) | {MAX_LINE})"


def message_id_of(batch_id: int, line: int) -> int:
    """The row id of line `line` of batch `batch_id`."""
    return (batch_id << LINE_BITS) | line


def batch_range(batch_id: int) -> tuple[int, int]:
    """The first and last possible row id of a batch's messages."""
    return batch_id << LINE_BITS, (batch_id << LINE_BITS) | MAX_LINE


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds: ``2026-11-28T14:13:45.123Z``. A naive
    datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat is C, strftime a format parser: 0.4 vs 2.5 us, twice per status reconciled
    return moment.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True, slots=True)
class DropRecord:
    """One input file as received (SPEC 3.1). `generation` is 0 for the first time a
    content was pushed for a project and grows by one with each ``--force`` resend."""

    id: int
    project: str
    content_hash: str
    source_path: str
    source_name: str
    created_at: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    status: str
    generation: int = 0
    origin: str = "push"  # push | inbox
    archived_to: str | None = None
    refused_file: str | None = None
    changed_at: str | None = None
    reported_at: str | None = None
    detail: str | None = None
    purged_at: str | None = None


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One remote file (SPEC 3.3, 4.1). `remote_dir` is where it was last seen
    (upload/success/error); `error_copy` the local path of a downloaded error/ file."""

    id: int
    drop_id: int
    project: str
    day: str
    seq: int
    remote_name: str
    state: BatchState
    local_path: str
    size: int
    sha256: str
    rows: int
    created_at: str
    updated_at: str
    uploaded_at: str | None
    finished_at: str | None
    remote_dir: str | None
    error_copy: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One row of a batch and what the status API said about it (SPEC 4.1, 4.4)."""

    id: int
    batch_id: int
    line: int
    number: str
    text: str
    correlation_id: str
    encoding: str
    segments: int
    state: MessageState
    message_id: str | None = None
    carrier_id: str | None = None
    carrier_name: str | None = None
    sent_status_code: int | None = None
    sent_status: str | None = None
    sent_at: str | None = None
    delivered_status_code: int | None = None
    delivered_status: str | None = None
    delivered_at: str | None = None
    updated_at: str | None = None
