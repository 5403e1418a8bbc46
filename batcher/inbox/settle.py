"""When is a drop completely written? (SPEC 3.1: "stable for `watch.settle_seconds`".)
Pure: snapshots and times in, decisions out; no I/O, no clock of its own.

The caller stats the candidate files now and then (`scan.py`), hands each complete
snapshot to `SettleTracker.observe(snapshot, now)` with a monotonic time, and gets back
the files that *look* settled: their size, mtime, ctime, inode and device have not
changed since they were first seen that way, at least `settle_seconds` ago. The caller
then confirms each one (a fresh stat, and no process holding it open for writing) and
says what it found: `report` (ready, handed to the job), `hold` (a writer still has it
open: asked again after `recheck_seconds`), `changed` (a fresh stat differs: the wait
starts over) or `forget` (it is gone).

The quiet time is measured between the caller's own observations on its own clock,
never from the file's mtime: on a network folder the server's clock may be minutes
off, and mtime may be coarse (2 s on SMB/FAT). ctime is part of the identity because
no one can set it back: two observations with the same ctime mean nothing was written
in between, however far apart they are.

A file is reported once. It is reported again only if it changes afterwards (then it
is a new drop, and is reported when it has settled again), if it leaves the snapshot
and comes back, or if the caller asks (`requeue`: e.g. the job could not process it
now and wants it again).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["FileStat", "Phase", "SettleTracker"]

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class FileStat:
    """What is compared between two looks at a file."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    @property
    def identity(self) -> tuple[int, int]:
        """(device, inode): the file itself, whatever its name."""
        return (self.dev, self.ino)


class Phase(enum.Enum):
    SETTLING = "settling"  # seen, waiting for settle_seconds without a change
    HELD = "held open for writing"  # settled, but a process still has it open for writing
    REPORTED = "reported"  # handed to the job


@dataclass(slots=True)
class _Entry:
    stat: FileStat
    since: float  # when this stat was first seen
    phase: Phase
    recheck_at: float = 0.0  # HELD: when to ask again


class SettleTracker(Generic[K]):
    """The settle state of every candidate file, keyed by the caller's key (a path)."""

    def __init__(self, settle_seconds: float, *, recheck_seconds: float = 1.0) -> None:
        if settle_seconds < 0 or recheck_seconds <= 0:
            raise ValueError("settle_seconds must be >= 0 and recheck_seconds > 0")
        self.settle_seconds = float(settle_seconds)
        self.recheck_seconds = float(recheck_seconds)
        self._entries: dict[K, _Entry] = {}

    def observe(self, snapshot: Mapping[K, FileStat], now: float) -> list[K]:
        """Record a complete snapshot of the candidates taken at `now`; files missing
        from it are forgotten. Returns the files that look settled and must now be
        confirmed (then `report`, `hold` or `changed` each), in snapshot order."""
        entries = self._entries
        for key in [k for k in entries if k not in snapshot]:
            del entries[key]
        due: list[K] = []
        for key, stat in snapshot.items():
            entry = entries.get(key)
            if entry is None or entry.stat != stat:
                entry = entries[key] = _Entry(stat, now, Phase.SETTLING)
            if entry.phase is Phase.SETTLING:
                if now - entry.since >= self.settle_seconds:
                    due.append(key)
            elif entry.phase is Phase.HELD and now >= entry.recheck_at:
                due.append(key)
        return due

    def report(self, key: K) -> None:
        """`key` was confirmed settled and handed on: never returned again unless it
        changes, disappears and comes back, or is requeued."""
        self._entries[key].phase = Phase.REPORTED

    def hold(self, key: K, now: float) -> None:
        """A writer still holds `key` open: ask again at `now + recheck_seconds`."""
        entry = self._entries[key]
        entry.phase = Phase.HELD
        entry.recheck_at = now + self.recheck_seconds

    def changed(self, key: K, stat: FileStat, now: float) -> None:
        """A fresh look at `key` found `stat`, not what the snapshot said: start over."""
        self._entries[key] = _Entry(stat, now, Phase.SETTLING)

    def forget(self, key: K) -> None:
        """`key` is gone (a fresh look found nothing): drop it until a snapshot has it again."""
        self._entries.pop(key, None)

    def requeue(self, key: K) -> bool:
        """Forget that `key` was reported: it is returned again by the next `observe`
        that still finds it unchanged. False if `key` is not tracked."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry.phase is Phase.REPORTED:
            entry.phase = Phase.SETTLING
        return True

    def next_due(self) -> float | None:
        """The earliest time at which `observe` could return a file it would not return
        now (None: nothing is waiting). Call `observe` again then, or sooner on news."""
        times = [
            e.since + self.settle_seconds if e.phase is Phase.SETTLING else e.recheck_at
            for e in self._entries.values()
            if e.phase is not Phase.REPORTED
        ]
        return min(times) if times else None

    def phase(self, key: K) -> Phase | None:
        entry = self._entries.get(key)
        return entry.phase if entry else None

    def phases(self) -> dict[K, Phase]:
        """Every tracked file and its phase."""
        return {k: e.phase for k, e in self._entries.items()}

    def __len__(self) -> int:
        return len(self._entries)
