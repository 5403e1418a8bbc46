"""Finding settled drops: the walk of the inbox, and the poll that combines it with the
settle rule (`settle.py`) and the open-writer check (`writers.py`).

    list_inbox(layout)            one walk: the candidate drops with their stat, and
                                  the entries left alone with the reason (`layout.py`)
    InboxScanner(layout, ...)     .poll(): walk, observe, confirm; the drops that became
                                  ready, each once. The watcher (`watcher.py`) calls it
                                  on file-system events and on a timer; `collect_settled`
                                  calls it for `batcher run`.
    collect_settled(...)          one pass for cron: poll until every drop present at the
                                  start has settled, or `max_wait` has passed

A candidate that looks settled is confirmed before it is reported: it is opened
(read-only, without following links, non-blocking) and fstat'ed. On NFS the open makes
the client revalidate the file's attributes with the server (close-to-open
consistency), so a change that the attribute cache hid during the settle time is seen
here and the wait starts over; a file that turned into something else than a regular
file is dropped. Then one walk of /proc tells, for all confirmed candidates at once,
whether a process holds one open for writing.

The walk reads two levels only (INBOX/* and INBOX/*/*), never follows links and never
enters excluded or hidden folders, so it costs one `scandir` per project folder and one
`lstat` per file, however large the archive is.
"""

from __future__ import annotations

import errno
import os
import stat as stat_mod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..clock import SYSTEM_CLOCK, Clock
from .layout import Decision, EntryKind, InboxLayout, classify
from .settle import FileStat, Phase, SettleTracker
from .writers import WriterProbe, find_writers

__all__ = [
    "Collected",
    "Drop",
    "InboxListing",
    "InboxScanner",
    "Poll",
    "Skipped",
    "collect_settled",
    "confirm_stat",
    "list_inbox",
]

#: errors of `open` that mean "someone else has it": wait, as for a writer
_BUSY = frozenset({errno.EBUSY, errno.ETXTBSY, errno.EAGAIN})
#: the shortest wait between two polls of `collect_settled`
MIN_GAP = 0.05


@dataclass(frozen=True, slots=True)
class Drop:
    """A file of the inbox that is (or may become) a drop."""

    path: Path  # absolute: the resolved inbox / relative
    relative: PurePosixPath  # NAME or PROJECT/NAME
    folder: str | None  # PROJECT, or None for a file directly in the inbox (defaults.project)
    stat: FileStat

    def unchanged(self) -> bool:
        """The file is still there and still what was reported (size, times, inode).
        The job can ask this before archiving a drop it has sent: if it changed since,
        the new content was not sent, and it must stay in the inbox to be a new drop."""
        try:
            return FileStat.of(os.lstat(self.path)) == self.stat
        except OSError:
            return False


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of the inbox left alone, and why (said once while it stays)."""

    path: Path
    reason: str


@dataclass
class InboxListing:
    drops: dict[Path, Drop] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


def _kind(mode: int) -> EntryKind:
    if stat_mod.S_ISREG(mode):
        return EntryKind.FILE
    if stat_mod.S_ISDIR(mode):
        return EntryKind.DIR
    if stat_mod.S_ISLNK(mode):
        return EntryKind.SYMLINK
    return EntryKind.OTHER


def list_inbox(layout: InboxLayout, *, scandir: Callable[[str], object] = os.scandir) -> InboxListing:
    """One walk of the inbox. An OSError listing the inbox itself is raised (the caller
    decides: a network folder that went away is not an empty inbox); a project folder
    that cannot be listed is reported in `skipped`."""
    listing = InboxListing()
    root = layout.root
    for entry in _entries(str(root), scandir):
        _visit(layout, listing, root, entry, (entry.name,), scandir)
    return listing


def _entries(path: str, scandir: Callable[[str], object]) -> list[os.DirEntry[str]]:
    with scandir(path) as it:  # type: ignore[attr-defined]
        return list(it)


def _visit(layout: InboxLayout, listing: InboxListing, root: Path, entry: os.DirEntry[str],
           parts: tuple[str, ...], scandir: Callable[[str], object]) -> None:
    path = root.joinpath(*parts)
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return  # gone between the listing and the stat
    kind = _kind(st.st_mode)
    if kind is EntryKind.DIR and layout.is_excluded(path):
        return
    verdict = classify(parts, kind, default_project=layout.default_project)
    if verdict.decision is Decision.DROP:
        listing.drops[path] = Drop(path, PurePosixPath(*parts), parts[0] if len(parts) > 1 else None,
                                   FileStat.of(st))
    elif verdict.decision is Decision.SKIP:
        listing.skipped.append(Skipped(path, verdict.reason))
    elif verdict.decision is Decision.DESCEND:
        try:
            children = _entries(str(path), scandir)
        except OSError as exc:
            listing.skipped.append(Skipped(path, f"cannot list the folder ({exc.strerror or exc})"))
            return
        for child in children:
            _visit(layout, listing, root, child, (*parts, child.name), scandir)


class _Busy(Exception):
    pass


def confirm_stat(path: Path) -> FileStat | None:
    """A fresh look at `path`: open it read-only (no link followed, never blocking),
    fstat, close. None if it is gone or is no longer a regular file; raises `_Busy`
    when the file system says someone else has it (a sharing violation on SMB). Any
    other error (permission denied...) returns the lstat: the job will then fail to
    read it and say why, which beats leaving it unexplained."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in _BUSY:
            raise _Busy from None
        if exc.errno == errno.ELOOP:
            return None  # became a symlink
        try:
            st = os.lstat(path)
        except OSError:
            return None
        return FileStat.of(st) if stat_mod.S_ISREG(st.st_mode) else None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return FileStat.of(st) if stat_mod.S_ISREG(st.st_mode) else None


WriterFinder = Callable[[Iterable[tuple[Path, tuple[int, int]]]], WriterProbe]


@dataclass
class Poll:
    """What one poll found."""

    ready: list[Drop] = field(default_factory=list)  # settled, confirmed, not held: each once
    skipped: list[Skipped] = field(default_factory=list)  # newly left alone (said once)
    next_due: float | None = None  # monotonic time of the next settle decision
    error: str | None = None  # the inbox itself could not be listed: nothing was decided
    writers: WriterProbe | None = None  # the /proc walk of this poll, if one was needed


class InboxScanner:
    """The threadless core of watching an inbox: `poll()` walks it once and returns the
    drops that became ready. Not thread-safe: one caller at a time (the watcher holds
    a lock around it)."""

    def __init__(
        self,
        layout: InboxLayout,
        *,
        settle_seconds: float,
        clock: Clock = SYSTEM_CLOCK,
        recheck_seconds: float = 1.0,
        find_writers: WriterFinder = find_writers,
        lister: Callable[[InboxLayout], InboxListing] = list_inbox,
        confirm: Callable[[Path], FileStat | None] = confirm_stat,
    ) -> None:
        self.layout = layout
        self.clock = clock
        self.tracker: SettleTracker[Path] = SettleTracker(settle_seconds, recheck_seconds=recheck_seconds)
        self._find_writers = find_writers
        self._lister = lister
        self._confirm = confirm
        self._told: set[Path] = set()  # skipped entries already said
        self._drops: dict[Path, Drop] = {}  # the candidates of the last walk
        self.last_error: str | None = None

    def poll(self) -> Poll:
        now = self.clock.monotonic()
        try:
            listing = self._lister(self.layout)
        except OSError as exc:
            # nothing is decided or forgotten; the next try is the caller's timer, not a
            # settle deadline (a folder that went away would otherwise be hammered)
            self.last_error = f"{self.layout.root}: cannot list the inbox ({exc.strerror or exc})"
            return Poll(error=self.last_error, next_due=None)
        self.last_error = None
        result = Poll()
        seen = {s.path for s in listing.skipped}
        result.skipped = [s for s in listing.skipped if s.path not in self._told]
        self._told = seen
        self._drops = listing.drops
        tracker = self.tracker
        due = tracker.observe({p: d.stat for p, d in listing.drops.items()}, now)
        confirmed: list[Drop] = []
        for path in due:
            drop = listing.drops[path]
            try:
                fresh = self._confirm(path)
            except _Busy:
                tracker.hold(path, now)
                continue
            if fresh is None:
                tracker.forget(path)
            elif fresh != drop.stat:
                tracker.changed(path, fresh, now)
            else:
                confirmed.append(drop)
        if confirmed:
            probe = self._find_writers([(d.path, d.stat.identity) for d in confirmed])
            result.writers = probe
            for drop in confirmed:
                if probe.held(drop.stat.identity):
                    tracker.hold(drop.path, now)
                else:
                    tracker.report(drop.path)
                    result.ready.append(drop)
        result.next_due = tracker.next_due()
        return result

    def requeue(self, path: Path) -> bool:
        """Report `path` again at the next poll if it is still there and settled
        (the job could not process it now). False if it is not a known candidate."""
        return self.tracker.requeue(Path(path))

    def pending(self) -> dict[Path, Phase]:
        """The candidates not yet reported, and their phase (settling, held)."""
        return {p: ph for p, ph in self.tracker.phases().items() if ph is not Phase.REPORTED}

    def candidates(self) -> dict[Path, Drop]:
        """Every candidate drop of the last walk."""
        return dict(self._drops)


@dataclass
class Collected:
    """The result of `collect_settled`."""

    ready: list[Drop]  # settled and confirmed
    pending: dict[Path, Phase]  # still changing or held open when the wait ended
    skipped: list[Skipped]  # left alone
    error: str | None = None  # the inbox could not be listed


def collect_settled(
    layout: InboxLayout,
    *,
    settle_seconds: float,
    clock: Clock = SYSTEM_CLOCK,
    max_wait: float | None = None,
    scanner: InboxScanner | None = None,
) -> Collected:
    """One pass for `batcher run`: the drops of the inbox that are settled.

    A file must be seen unchanged for `settle_seconds` by batcher itself, so a pass
    that finds candidates takes at least that long (it sleeps on `clock`, walking again
    when the next decision is due). Files still changing, or held open, after
    `max_wait` (default: twice `settle_seconds`, at least 1 s) are left for the next
    pass and listed in `pending`."""
    scanner = scanner or InboxScanner(layout, settle_seconds=settle_seconds, clock=clock)
    limit = max_wait if max_wait is not None else max(2 * settle_seconds, 1.0)
    deadline = clock.monotonic() + limit
    ready: list[Drop] = []
    skipped: list[Skipped] = []
    while True:
        result = scanner.poll()
        if result.error:
            return Collected(ready, scanner.pending(), skipped, result.error)
        ready.extend(result.ready)
        skipped.extend(result.skipped)
        now = clock.monotonic()
        if result.next_due is None or result.next_due > deadline:
            return Collected(ready, scanner.pending(), skipped)
        clock.sleep(max(result.next_due - now, MIN_GAP))
