"""The folder watcher (batcher/watcher.py) with a real watchdog observer (inotify) on the
real file system. Tests wait on the watcher's own conditions (its wakeup event, a scan
that started after a write, a phase it reports), never on fixed sleeps."""

from __future__ import annotations

import errno
import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from batcher import watcher as watcher_mod
from batcher.clock import ManualClock
from batcher.errors import ConfigError
from batcher.inbox import Drop, DropFiler, Phase, WholeFileReason
from batcher.settings import load_settings
from batcher.starter import STARTER_CONFIG
from batcher.watcher import InboxWatcher
from tests.fixtures.sim import wait_for

SETTLE = 0.3
ROW = "5511987654{:03d};mensagem número {}\n"


def collect(watcher: InboxWatcher, n: int, timeout: float = 15.0) -> list[Drop]:
    """Wait (on the wakeup event) until `n` drops were reported; fail after `timeout`."""
    got: list[Drop] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"only {len(got)} of {n} drops reported after {timeout:g}s: {[d.relative for d in got]}")
        watcher.wakeup.wait(remaining)
        watcher.wakeup.clear()
        got.extend(watcher.ready())
    return got


def nothing_more(watcher: InboxWatcher) -> None:
    """Two complete walks after this point report nothing new."""
    for _ in range(2):
        assert watcher.scan_now()
        assert watcher.ready() == []


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "inbox"
    (root / "ACME").mkdir(parents=True)
    return root


@pytest.fixture
def make_watcher(inbox: Path) -> Iterator[type[InboxWatcher]]:
    started: list[InboxWatcher] = []

    def factory(**kw: object) -> InboxWatcher:
        kw.setdefault("settle_seconds", SETTLE)
        kw.setdefault("rescan_interval", 30.0)
        w = InboxWatcher(kw.pop("root", inbox), **kw)  # type: ignore[arg-type]
        started.append(w)
        return w.start()

    yield factory  # type: ignore[misc]
    for w in started:
        w.stop()


def test_a_slow_writer_holding_the_file_open_is_reported_once_complete_and_closed(
    inbox: Path, make_watcher: type[InboxWatcher]
) -> None:
    watcher = make_watcher()
    assert watcher.events_active
    path = inbox / "ACME" / "lista.csv"
    key = path.resolve()
    full = "numero;mensagem\n" + "".join(ROW.format(i, i) for i in range(200))
    cuts = [0, 37, 1500, 3001, len(full)]  # mid-row cuts
    with path.open("w", encoding="utf-8") as fh:
        for a, b in itertools.pairwise(cuts[:-1]):
            fh.write(full[a:b])
            fh.flush()
            assert watcher.scan_now()  # a walk has seen this chunk
            # quiet for longer than settle_seconds, but the writer still has it open
            wait_for(lambda: watcher.pending().get(key) is Phase.HELD, message="the drop to be held open")
            assert watcher.ready() == []
        fh.write(full[cuts[-2]:])
    drops = collect(watcher, 1)
    assert [d.path for d in drops] == [key]
    assert drops[0].stat.size == len(full.encode()) and path.read_text(encoding="utf-8") == full
    nothing_more(watcher)


def test_files_present_before_start_are_reported(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    for rel in ("ACME/a.csv", "ACME/b.xlsx", "root.csv"):
        (inbox / rel).write_text("x;y\n")
    watcher = make_watcher()
    drops = collect(watcher, 3)
    assert sorted(d.relative.as_posix() for d in drops) == ["ACME/a.csv", "ACME/b.xlsx", "root.csv"]
    nothing_more(watcher)


def test_twenty_files_dropped_at_once_are_each_reported_once(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    watcher = make_watcher()
    expected = {}
    for i in range(20):
        path = inbox / ("ACME" if i % 2 else "") / f"lista{i:02d}.csv"
        content = "numero;mensagem\n" + ROW.format(i, i) * (i + 1)
        path.write_text(content, encoding="utf-8")
        expected[path.resolve()] = len(content.encode())
    drops = collect(watcher, 20)
    assert {d.path: d.stat.size for d in drops} == expected and len(drops) == 20
    nothing_more(watcher)


def test_temporary_names_are_ignored_until_renamed_into_a_drop(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    watcher = make_watcher()
    part = inbox / "ACME" / "lista.csv.crdownload"
    part.write_text("numero;mensagem\n5511987654321;oi\n")
    for name in ("~$lista.xlsx", ".~lock.lista.csv#", ".lista.csv.swp", "x.tmp", ".hidden.csv"):
        (inbox / "ACME" / name).write_text("junk")
    (inbox / "ACME" / "notes.pdf").write_text("x")
    assert watcher.scan_now()
    assert watcher.ready() == [] and watcher.pending() == {}
    assert [(n.path.name, "unsupported" in n.reason) for n in watcher.notices()] == [("notes.pdf", True)]
    part.rename(inbox / "ACME" / "lista.csv")  # the download finished
    assert [d.path.name for d in collect(watcher, 1)] == ["lista.csv"]
    nothing_more(watcher)
    assert watcher.notices() == []  # said once


def test_without_events_the_rescan_finds_every_drop(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    # what a network folder written from another host looks like: no event at all
    watcher = make_watcher(events=False, rescan_interval=0.2)
    assert not watcher.events_active
    scans = watcher.scans
    (inbox / "ACME" / "a.csv").write_text("x;y\n")
    (inbox / "b.csv").write_text("x;y\n")
    drops = collect(watcher, 2)
    assert sorted(d.path.name for d in drops) == ["a.csv", "b.csv"]
    assert watcher.scans >= scans + 2  # found by the timer: one walk to see them, one to settle


def test_an_observer_that_cannot_start_falls_back_to_the_rescan(
    inbox: Path, make_watcher: type[InboxWatcher], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class NoWatches(watcher_mod.Observer):  # type: ignore[misc,valid-type]
        def schedule(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watcher_mod, "Observer", NoWatches)
    with caplog.at_level(logging.WARNING, logger="batcher.watcher"):
        watcher = make_watcher(rescan_interval=0.2)
    assert not watcher.events_active
    assert "file-system events unavailable (inotify watch limit reached)" in caplog.text
    (inbox / "ACME" / "a.csv").write_text("x;y\n")
    assert [d.path.name for d in collect(watcher, 1)] == ["a.csv"]


def test_settle_decisions_follow_the_injected_clock(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    clock = ManualClock()
    watcher = make_watcher(clock=clock, settle_seconds=5.0)
    path = inbox / "ACME" / "a.csv"
    path.write_text("x;y\n")
    assert watcher.scan_now()
    assert watcher.ready() == [] and watcher.pending() == {path.resolve(): Phase.SETTLING}
    clock.advance(4.9)
    assert watcher.scan_now() and watcher.ready() == []
    clock.advance(0.1)
    assert watcher.scan_now()
    assert [d.path for d in watcher.ready()] == [path.resolve()]


def test_a_drop_changed_after_being_reported_is_reported_again(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    watcher = make_watcher()
    path = inbox / "ACME" / "a.csv"
    path.write_text("x;y\n")
    first = collect(watcher, 1)[0]
    assert first.unchanged()
    with path.open("a") as fh:
        fh.write("z;w\n")
    assert not first.unchanged()  # the job would not archive this one: its new rows were not sent
    second = collect(watcher, 1)[0]
    assert second.path == first.path and second.stat.size == first.stat.size + 4
    nothing_more(watcher)


def test_requeue_reports_a_drop_again(inbox: Path, make_watcher: type[InboxWatcher]) -> None:
    watcher = make_watcher()
    (inbox / "ACME" / "a.csv").write_text("x;y\n")
    drop = collect(watcher, 1)[0]
    nothing_more(watcher)
    assert watcher.requeue(drop.path)
    assert collect(watcher, 1)[0].path == drop.path
    assert not watcher.requeue(inbox / "ACME" / "unknown.csv")


def test_drops_archived_inside_the_inbox_are_never_reported_again(tmp_path: Path) -> None:
    cfg = tmp_path / "batcher.toml"
    cfg.write_text('[paths]\ninbox = "inbox"\narchive_dir = "inbox/archive"\nrejected_dir = "inbox/rejected"\n'
                   '[defaults]\nproject = "DEF"\n[watch]\nsettle_seconds = "300ms"\nrescan_interval = "1m"\n')
    settings = load_settings(cfg, environ={})
    assert settings.watch.rescan_interval == 60.0 and settings.watch.settle_seconds == 0.3
    (tmp_path / "inbox" / "ACME").mkdir(parents=True)
    (tmp_path / "inbox" / "ACME" / "a.csv").write_text("x;y\n")
    (tmp_path / "inbox" / "b.csv").write_text("x;y\n")
    filer = DropFiler.from_settings(settings)
    watcher = InboxWatcher.from_settings(settings, min_scan_gap=0.05)
    with watcher:
        drops = collect(watcher, 2)
        filer.archive(drops[0].path)
        filer.reject(drops[1].path, reason=WholeFileReason("unreadable", "test"))
        nothing_more(watcher)
        assert watcher.pending() == {} and watcher.notices() == []
    assert len(list((tmp_path / "inbox" / "archive").rglob("*.csv"))) == 1
    assert len(list((tmp_path / "inbox" / "rejected").glob("*.csv"))) == 2  # the drop and its errors.csv


def test_a_shared_wakeup_event_and_a_clean_stop(inbox: Path) -> None:
    wakeup = threading.Event()
    watcher = InboxWatcher(inbox, settle_seconds=SETTLE, rescan_interval=30, wakeup=wakeup)
    assert watcher.wakeup is wakeup and not watcher.scan_now()  # not running yet
    before = set(threading.enumerate())
    watcher.start()
    (inbox / "ACME" / "a.csv").write_text("x;y\n")
    assert [d.path.name for d in collect(watcher, 1)] == ["a.csv"]
    watcher.stop()
    watcher.stop()  # idempotent
    assert set(threading.enumerate()) <= before


def test_start_on_a_missing_inbox_is_a_config_error_and_starts_nothing(tmp_path: Path) -> None:
    watcher = InboxWatcher(tmp_path / "nowhere", settle_seconds=1, rescan_interval=30)
    before = set(threading.enumerate())
    with pytest.raises(ConfigError, match=r"\[paths\] inbox .*nowhere: no such folder"):
        watcher.start()
    assert set(threading.enumerate()) == before


def test_an_inbox_that_goes_away_is_said_once_and_watched_again_when_back(
    tmp_path: Path, make_watcher: type[InboxWatcher]
) -> None:
    inbox = tmp_path / "share"
    inbox.mkdir()
    watcher = make_watcher(root=inbox, events=False, rescan_interval=0.2)
    assert watcher.scan_now()
    inbox.rename(tmp_path / "gone")  # an unmounted network folder
    assert watcher.scan_now()
    wait_for(lambda: watcher.notices(), message="the inbox error to be said")
    assert watcher.scan_now() and watcher.notices() == []
    (tmp_path / "gone").rename(inbox)
    (inbox / "a.csv").write_text("x;y\n")
    assert [d.path.name for d in collect(watcher, 1)] == ["a.csv"]


def test_watch_settings_defaults_and_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.watch.settle_seconds == 5.0 and settings.watch.rescan_interval == 30.0
    for bad in ("0.5", "soon"):
        with pytest.raises(ConfigError, match=r"BATCHER_WATCH__RESCAN_INTERVAL: \[watch\] rescan_interval"):
            load_settings(None, environ={"BATCHER_WATCH__RESCAN_INTERVAL": bad})
    assert 'rescan_interval = "30s"' in STARTER_CONFIG


def test_symlinked_inbox_root_is_followed(tmp_path: Path, make_watcher: type[InboxWatcher]) -> None:
    real = tmp_path / "real"
    (real / "P").mkdir(parents=True)
    link = tmp_path / "inbox-link"
    link.symlink_to(real, target_is_directory=True)
    watcher = make_watcher(root=link)
    (real / "P" / "a.csv").write_text("x;y\n")
    drops = collect(watcher, 1)
    assert drops[0].path == (real / "P" / "a.csv").resolve()
    assert os.path.samefile(drops[0].path, link / "P" / "a.csv")


def test_events_are_watched_afresh_when_the_inbox_comes_back(tmp_path: Path, make_watcher: type[InboxWatcher]) -> None:
    inbox = tmp_path / "share"
    inbox.mkdir()
    watcher = make_watcher(root=inbox, rescan_interval=3600)  # only events (and scan_now) wake it
    assert watcher.scan_now() and watcher.events_active
    inbox.rename(tmp_path / "gone")
    assert watcher.scan_now()
    notes = watcher.notices()
    assert len(notes) == 1 and notes[0].reason.endswith("cannot list the inbox (No such file or directory)")
    inbox.mkdir()  # a new folder at the same path: the old watch does not see it
    observer = watcher._observer
    assert watcher.scan_now()  # the walk that finds it back restarts the observer before it ends
    assert watcher.events_active and watcher._observer is not observer
    (inbox / "a.csv").write_text("x;y\n")
    assert [d.path.name for d in collect(watcher, 1)] == ["a.csv"]  # an hour before the rescan
