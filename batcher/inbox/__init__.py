"""The inbox (SPEC 3.1): which files are drops, when a drop is completely written, and
where it goes once it has been dealt with. Nothing here knows about batches, the
store or SFTP; the job layer (`jobs.py`) does, on top of this.

    layout.py   pure: project_for, check_project, DROP_SUFFIXES, InboxLayout, what is a drop
    settle.py   pure: SettleTracker, successive snapshots -> the files that look settled
    writers.py  Linux /proc: is a file held open for writing by some process?
    scan.py     the walk, InboxScanner.poll() (settle + confirm + writers), collect_settled
    archive.py  DropFiler: archive/YYYYMMDD/NAME, rejected/NAME + NAME.errors.csv

The folder watcher that calls `InboxScanner` on file-system events and on a timer is
`batcher/watcher.py` (the only module importing watchdog).
"""

from __future__ import annotations

from .archive import DropFiler, Filed, Refused, RefusedRows, WholeFileReason, duplicate_reason
from .layout import DROP_SUFFIXES, InboxLayout, check_project, is_temporary_name, project_for
from .scan import Collected, Drop, InboxScanner, Poll, Skipped, collect_settled, list_inbox
from .settle import FileStat, Phase, SettleTracker
from .writers import WriterProbe, find_writers

__all__ = [
    "DROP_SUFFIXES",
    "Collected",
    "Drop",
    "DropFiler",
    "FileStat",
    "Filed",
    "InboxLayout",
    "InboxScanner",
    "Phase",
    "Poll",
    "Refused",
    "RefusedRows",
    "SettleTracker",
    "Skipped",
    "WholeFileReason",
    "WriterProbe",
    "check_project",
    "collect_settled",
    "duplicate_reason",
    "find_writers",
    "is_temporary_name",
    "list_inbox",
    "project_for",
]
