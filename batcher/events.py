"""What the jobs tell the outside world while they work: plain data, no I/O.

The job layer (`jobs.py`, `pipeline.py`) emits these through one callable
(`Emit = Callable[[Event], None]`); the CLI renders them for a terminal or a pipe, and
`batcher watch` logs them one line each (text or JSON). Nothing here decides anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .convert import ConversionSummary
    from .status.reconcile import PassResult
    from .store import BatchRecord

__all__ = [
    "BatchChanged",
    "DropConverted",
    "DropDone",
    "Emit",
    "Event",
    "Note",
    "ReconcileDone",
    "ReportWritten",
    "UploadProgress",
    "ignore",
]


@dataclass(frozen=True)
class Note:
    """A line of progress (`uploading X`, `waiting for the platform`...)."""

    text: str
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class DropConverted:
    """A drop was read, validated and recorded; nothing has been sent yet."""

    summary: ConversionSummary
    drop_id: int


@dataclass(frozen=True)
class UploadProgress:
    name: str
    sent: int
    total: int


@dataclass(frozen=True)
class BatchChanged:
    """A batch reached a new state (uploaded, accepted, file_rejected, stuck)."""

    batch: BatchRecord


@dataclass(frozen=True)
class DropDone:
    """The inbox is done with a drop: where the file went and why."""

    source: Path
    outcome: Literal["archived", "rejected", "skipped"]
    moved_to: Path | None
    reason: str = ""
    drop_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReconcileDone:
    result: PassResult


@dataclass(frozen=True)
class ReportWritten:
    path: Path
    drop_id: int | None
    rows: int


Event = Note | DropConverted | UploadProgress | BatchChanged | DropDone | ReconcileDone | ReportWritten
Emit = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An `Emit` that drops everything (library use without output)."""
