"""The folder watcher of `batcher watch`: which drops of the inbox are ready, as soon as
they are. The only module importing watchdog.

    watcher = InboxWatcher.from_settings(settings, clock=clock)   # or InboxWatcher(inbox, ...)
    with watcher:                          # start(): first scan at once, then events + timer
        while not stopping:
            watcher.wakeup.wait(timeout)   # set when something was queued (share it with
            watcher.wakeup.clear()         #   your signal handler: pass wakeup=)
            for drop in watcher.ready():   # each settled drop once
                ...                        # process it, then move it out of the inbox
            for note in watcher.notices(): # entries left alone, each said once
                log(note.path, note.reason)

Two sources feed one scanning thread, which walks the inbox (`inbox.scan.InboxScanner`)
and applies the settle rule:

- a watchdog Observer (inotify on Linux, recursive): any change below the inbox wakes
  the scanner at once, so a drop is seen within `min_scan_gap` of being written and
  reported `settle_seconds` after its last change (or at once when its writer closes
  it, if it was already quiet that long). Bursts of events are folded into one walk.
- a timer: a full walk every `rescan_interval` seconds whatever happens, and a walk
  exactly when a settle decision is due (a file seen `settle_seconds` ago; a file held
  open, every `recheck_seconds`). That is what finds files present at start, files whose
  events were lost (inotify queue overflow, an observer that could not start: too many
  watches), and files on a network folder written from other hosts, which produce no
  inotify event at all on this host.

The walk is the only source of truth; events only say "walk now". So nothing depends on
events being complete, ordered or present, and the settle time is measured between the
scanner's own looks, on `clock`, never from a file's mtime.

A drop is reported once while it stays in the inbox unchanged (the job moves it out
when done). If it changes after being reported it is a new drop, reported again when
it has settled; `requeue(path)` asks for it again (the job could not process it now).
A watcher started anew (a restart of `batcher watch`) reports every settled file it
finds, including one a crashed run had processed but not yet moved: the job's store
recognises those.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigError
from .inbox.layout import InboxLayout
from .inbox.scan import Drop, InboxScanner, Poll, Skipped
from .inbox.settle import Phase
from .settings import Settings

__all__ = ["InboxWatcher"]

log = logging.getLogger(__name__)
# watchdog warns when an event arrives as its emitter stops ("queue_events() called when
# the thread is inactive"): harmless at shutdown, and the rescan never depends on events
if logging.getLogger("watchdog").level == logging.NOTSET:
    logging.getLogger("watchdog").setLevel(logging.ERROR)

#: events that say nothing about a file's content (our own reads cause them)
_QUIET_EVENTS = frozenset({"opened", "closed_no_write"})


class InboxWatcher:
    """Watches an inbox and queues its settled drops (see the module docstring)."""

    def __init__(
        self,
        inbox: Path | InboxLayout,
        *,
        settle_seconds: float,
        rescan_interval: float,
        clock: Clock = SYSTEM_CLOCK,
        exclude: Iterable[Path] = (),
        default_project: bool = True,
        events: bool = True,
        wakeup: threading.Event | None = None,
        min_scan_gap: float = 0.1,
        recheck_seconds: float = 1.0,
        scanner: InboxScanner | None = None,
    ) -> None:
        """`inbox`: the folder (or a ready `InboxLayout`; then `exclude` and
        `default_project` are ignored). `exclude`: batcher's own folders, never read
        when inside the inbox. `events=False` runs on the timer alone (what a network
        folder amounts to). `wakeup` is set whenever drops or notices are queued.
        `scanner`: a ready `InboxScanner` (its own I/O injected), instead of one built
        from `inbox` and `settle_seconds`."""
        if rescan_interval <= 0 or min_scan_gap < 0:
            raise ValueError("rescan_interval must be > 0 and min_scan_gap >= 0")
        self.layout = inbox if isinstance(inbox, InboxLayout) else InboxLayout.create(
            inbox, exclude=exclude, default_project=default_project
        )
        self.clock = clock
        self.rescan_interval = float(rescan_interval)
        self.min_scan_gap = float(min_scan_gap)
        self.use_events = events
        self.wakeup = wakeup if wakeup is not None else threading.Event()
        self._scanner = scanner or InboxScanner(
            self.layout, settle_seconds=settle_seconds, clock=clock, recheck_seconds=recheck_seconds
        )
        self._cond = threading.Condition()
        self._poke = threading.Event()
        self._stopping = threading.Event()
        self._ready: list[Drop] = []
        self._notices: list[Skipped] = []
        self._scan_seq = 0  # scans started
        self._done_seq = 0  # the last scan finished
        self._next_due: float | None = None
        self._last_scan = 0.0
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        #: True while file-system events are being received (False: timer only)
        self.events_active = False

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> InboxWatcher:
        """The watcher of `paths.inbox` with `[watch]` settings; the archive, rejected,
        state and reports folders are excluded when inside the inbox."""
        return cls(
            InboxLayout.from_settings(settings),
            settle_seconds=settings.watch.settle_seconds,
            rescan_interval=settings.watch.rescan_interval,
            clock=clock,
            **kwargs,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> InboxWatcher:
        """Start watching: the first walk happens at once (files already there are
        found by it). ConfigError if the inbox is not a folder."""
        if self._thread is not None:
            raise RuntimeError("InboxWatcher already started")
        root = self.layout.root
        if not root.is_dir():
            raise ConfigError(
                f"[paths] inbox {root}: {'not a folder' if root.exists() else 'no such folder'}; "
                "create it (the people who drop files need write access to it)"
            )
        self._stopping.clear()
        if self.use_events:
            self._start_observer()
        self._thread = threading.Thread(target=self._run, name="batcher-inbox-scan", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and join every thread started. Queued drops stay queued."""
        self._stopping.set()
        self._poke.set()
        # the scanner first: after it has ended, no one else replaces the observer
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("inbox scanner did not stop within %.0f s", timeout)
        observer, self._observer = self._observer, None
        if observer is not None:
            _stop_observer(observer, timeout)
        self.events_active = False

    def __enter__(self) -> InboxWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the job loop calls ----------------------------------------------------------

    def ready(self) -> list[Drop]:
        """The drops that became ready since the last call, oldest first."""
        with self._cond:
            drops, self._ready = self._ready, []
        return drops

    def has_ready(self) -> bool:
        """Whether a drop is ready (without taking it): long steps yield to it."""
        with self._cond:
            return bool(self._ready)

    def notices(self) -> list[Skipped]:
        """Entries left alone (and inbox errors) found since the last call, each said
        once while it stays as it is."""
        with self._cond:
            notes, self._notices = self._notices, []
        return notes

    def requeue(self, path: Path) -> bool:
        """Report `path` again as soon as it is found unchanged (the job could not
        process it now). False if the watcher does not know it."""
        with self._cond:
            known = self._scanner.requeue(Path(path))
        if known:
            self._poke.set()
        return known

    def pending(self) -> dict[Path, Phase]:
        """The candidates not reported yet, and why (settling, held open for writing)."""
        with self._cond:
            return self._scanner.pending()

    def scan_now(self, timeout: float = 10.0) -> bool:
        """Ask for a walk and wait until one that started after this call has finished
        (the queues then reflect the inbox as it was at this call). False on timeout or
        when the watcher is not running."""
        if self._thread is None:
            return False
        with self._cond:
            wanted = self._scan_seq + 1
            self._poke.set()
            return self._cond.wait_for(lambda: self._done_seq >= wanted, timeout)

    @property
    def scans(self) -> int:
        """How many walks have finished."""
        with self._cond:
            return self._done_seq

    # -- the scanning thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._poke.clear()
            self._scan()
            if self._poke.wait(self._timeout()) and not self._stopping.is_set():
                # woken by an event: let the rest of a burst arrive, then walk once
                self._stopping.wait(self.min_scan_gap)

    def _timeout(self) -> float:
        now = self.clock.monotonic()
        nxt = self._last_scan + self.rescan_interval
        if self._next_due is not None:
            nxt = min(nxt, self._next_due)
        return max(nxt - now, self.min_scan_gap, 0.01)

    def _scan(self) -> None:
        queued = recovered = False
        with self._cond:
            self._scan_seq += 1
            seq = self._scan_seq
            try:
                result: Poll | None = self._scanner.poll()
            except Exception:  # a bug or an unforeseen OS error must not end the watch
                log.exception("inbox scan failed; retrying at the next scan")
                result = None
            self._last_scan = self.clock.monotonic()
            if result is not None:
                self._next_due = result.next_due
                if result.ready or result.skipped:
                    self._ready.extend(result.ready)
                    self._notices.extend(result.skipped)
                    queued = True
                if result.error != self._last_error:
                    recovered = self._last_error is not None and result.error is None
                    self._last_error = result.error
                    if result.error:
                        self._notices.append(Skipped(self.layout.root, result.error))
                        queued = True
        if recovered and self.use_events and not self._stopping.is_set():
            # the inbox is back (a remounted network folder, a folder made anew): the old
            # watches point at what was there before, so watch it afresh, and walk once
            # more for what arrived before the new watches were in place
            self._restart_observer()
            self._poke.set()
        with self._cond:
            self._done_seq = seq
            self._cond.notify_all()
        if queued:
            self.wakeup.set()

    # -- watchdog -------------------------------------------------------------------------

    def _start_observer(self) -> None:
        observer = None
        try:
            observer = Observer(timeout=0.2)
            observer.schedule(_Nudger(self), str(self.layout.root), recursive=True)
            observer.start()
        except OSError as exc:
            # EMFILE: fs.inotify.max_user_instances, ENOSPC: max_user_watches reached;
            # the timer still finds everything, only later
            log.warning("%s: file-system events unavailable (%s); relying on the rescan every %.0f s",
                        self.layout.root, exc.strerror or exc, self.rescan_interval)
            if observer is not None:
                _stop_observer(observer, 5.0)
            return
        self._observer = observer
        self.events_active = True

    def _restart_observer(self) -> None:
        observer, self._observer = self._observer, None
        self.events_active = False
        if observer is not None:
            _stop_observer(observer, 5.0)
        self._start_observer()

    def _on_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _QUIET_EVENTS:
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw and not self.layout.is_excluded(Path(os.fsdecode(raw))):
                self._poke.set()
                return


def _stop_observer(observer: BaseObserver, timeout: float) -> None:
    # stop() also ends the inotify reader thread that InotifyObserver starts in __init__,
    # so an observer that never started leaves nothing behind either
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)
    except Exception:
        log.exception("stopping the file-system observer failed")


class _Nudger(FileSystemEventHandler):
    """Turns every watchdog event into a poke of the scanner."""

    def __init__(self, watcher: InboxWatcher) -> None:
        super().__init__()
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._watcher._on_event(event)
