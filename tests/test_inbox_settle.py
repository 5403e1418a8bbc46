"""The settle rule (batcher/inbox/settle.py, pure) and the poll that applies it to a real
inbox (scan.InboxScanner, collect_settled), with a ManualClock: time moves only when
the test says so, so every decision is deterministic."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from batcher.clock import ManualClock
from batcher.inbox import FileStat, InboxLayout, InboxScanner, Phase, SettleTracker, collect_settled
from batcher.inbox.writers import WriterProbe

A = FileStat(size=10, mtime_ns=1, ctime_ns=1, ino=7, dev=1)
B = FileStat(size=20, mtime_ns=2, ctime_ns=2, ino=7, dev=1)


# -- the tracker (pure) ---------------------------------------------------------------


def test_a_file_is_due_after_settle_seconds_unchanged() -> None:
    t: SettleTracker[str] = SettleTracker(5.0)
    assert t.observe({"a": A}, 100.0) == []
    assert t.next_due() == 105.0
    assert t.observe({"a": A}, 104.9) == []
    assert t.observe({"a": A}, 105.0) == ["a"]
    t.report("a")
    assert t.observe({"a": A}, 200.0) == []  # reported once
    assert t.next_due() is None


def test_a_change_restarts_the_wait() -> None:
    t: SettleTracker[str] = SettleTracker(5.0)
    t.observe({"a": A}, 0.0)
    assert t.observe({"a": B}, 4.0) == []
    assert t.observe({"a": B}, 8.9) == []
    assert t.next_due() == 9.0
    assert t.observe({"a": B}, 9.0) == ["a"]


def test_sparse_observations_are_enough_because_ctime_cannot_go_back() -> None:
    t: SettleTracker[str] = SettleTracker(5.0)
    t.observe({"a": A}, 0.0)
    assert t.observe({"a": A}, 3600.0) == ["a"]


def test_each_field_counts_as_a_change() -> None:
    for other in (FileStat(11, 1, 1, 7, 1), FileStat(10, 2, 1, 7, 1), FileStat(10, 1, 2, 7, 1),
                  FileStat(10, 1, 1, 8, 1), FileStat(10, 1, 1, 7, 2)):
        t: SettleTracker[str] = SettleTracker(1.0)
        t.observe({"a": A}, 0.0)
        assert t.observe({"a": other}, 1.0) == [], other


def test_a_held_file_is_asked_again_after_recheck_seconds() -> None:
    t: SettleTracker[str] = SettleTracker(5.0, recheck_seconds=1.0)
    t.observe({"a": A}, 0.0)
    assert t.observe({"a": A}, 5.0) == ["a"]
    t.hold("a", 5.0)
    assert t.phase("a") is Phase.HELD and t.next_due() == 6.0
    assert t.observe({"a": A}, 5.5) == []
    assert t.observe({"a": A}, 6.0) == ["a"]
    t.hold("a", 6.0)
    assert t.observe({"a": B}, 6.5) == []  # written again: settles from scratch
    assert t.phase("a") is Phase.SETTLING and t.next_due() == 11.5


def test_changed_and_forget_and_requeue() -> None:
    t: SettleTracker[str] = SettleTracker(5.0)
    t.observe({"a": A, "b": A}, 0.0)
    assert t.observe({"a": A, "b": A}, 5.0) == ["a", "b"]
    t.changed("a", B, 5.0)  # a fresh look saw something else
    t.forget("b")
    assert t.phases() == {"a": Phase.SETTLING}
    assert t.observe({"a": B}, 10.0) == ["a"]
    t.report("a")
    assert t.requeue("a") and t.observe({"a": B}, 10.0) == ["a"]
    assert not t.requeue("zzz")


def test_a_reported_file_that_changes_or_comes_back_is_a_new_drop() -> None:
    t: SettleTracker[str] = SettleTracker(1.0)
    t.observe({"a": A}, 0.0)
    assert t.observe({"a": A}, 1.0) == ["a"]
    t.report("a")
    assert t.observe({"a": B}, 2.0) == []
    assert t.observe({"a": B}, 3.0) == ["a"]
    t.report("a")
    assert t.observe({}, 4.0) == [] and len(t) == 0
    t.observe({"a": B}, 5.0)
    assert t.observe({"a": B}, 6.0) == ["a"]


def test_zero_settle_reports_at_first_sight() -> None:
    t: SettleTracker[str] = SettleTracker(0.0)
    assert t.observe({"a": A}, 0.0) == ["a"]


# -- the poll on a real inbox ---------------------------------------------------------


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    root = tmp_path / "inbox"
    (root / "ACME").mkdir(parents=True)
    return root


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def scanner_for(inbox: Path, clock: ManualClock, settle: float = 5.0, **kw: object) -> InboxScanner:
    return InboxScanner(InboxLayout.create(inbox), settle_seconds=settle, clock=clock, **kw)  # type: ignore[arg-type]


@pytest.fixture
def writer(inbox: Path) -> Iterator[list[object]]:
    opened: list[object] = []
    yield opened
    for fh in opened:
        fh.close()  # type: ignore[attr-defined]


def test_a_file_written_in_chunks_and_held_open_is_reported_once_complete_and_closed(
    inbox: Path, clock: ManualClock
) -> None:
    path = inbox / "ACME" / "lista.csv"
    scanner = scanner_for(inbox, clock)
    full = "numero;mensagem\n" + "".join(f"55119876543{i:02d};mensagem {i}\n" for i in range(30))
    cut = [full[:40], full[40:333], full[333:]]  # cut mid-row
    fh = path.open("w", encoding="utf-8")
    try:
        for chunk in cut[:-1]:
            fh.write(chunk)
            fh.flush()
            assert scanner.poll().ready == []
            clock.advance(60)  # far beyond settle_seconds: only the open writer holds it back
            poll = scanner.poll()
            assert poll.ready == [] and scanner.pending() == {path.resolve(): Phase.HELD}
            st = os.stat(path)
            assert poll.writers is not None and poll.writers.held((st.st_dev, st.st_ino))
        fh.write(cut[-1])
    finally:
        fh.close()
    clock.advance(1)
    assert scanner.poll().ready == []  # closed, but its last write is new: settle from there
    clock.advance(5)
    ready = scanner.poll().ready
    assert [d.path for d in ready] == [path.resolve()]
    assert ready[0].stat.size == len(full.encode()) and path.read_text(encoding="utf-8") == full
    for _ in range(3):
        clock.advance(60)
        assert scanner.poll().ready == []  # exactly once
    assert scanner.pending() == {}


def test_closing_a_quiet_held_file_reports_it_at_the_next_poll(inbox: Path, clock: ManualClock) -> None:
    path = inbox / "ACME" / "lista.csv"
    scanner = scanner_for(inbox, clock)
    with path.open("w") as fh:
        fh.write("numero;mensagem\n5511987654321;oi\n")
        fh.flush()
        scanner.poll()
        clock.advance(5)
        assert scanner.poll().ready == []
        assert scanner.pending()[path.resolve()] is Phase.HELD
    clock.advance(1)  # the recheck of a held file
    assert [d.path.name for d in scanner.poll().ready] == ["lista.csv"]


def test_a_file_opened_only_for_reading_does_not_hold_it(inbox: Path, clock: ManualClock) -> None:
    path = inbox / "ACME" / "lista.csv"
    path.write_text("x;y\n")
    scanner = scanner_for(inbox, clock)
    with path.open("r"), path.open("rb"):
        scanner.poll()
        clock.advance(5)
        assert [d.path.name for d in scanner.poll().ready] == ["lista.csv"]


def test_a_change_seen_only_by_the_fresh_look_restarts_the_wait(inbox: Path, clock: ManualClock) -> None:
    # what NFS's attribute cache would do: the walk sees old attributes, the open sees new ones
    path = inbox / "ACME" / "lista.csv"
    path.write_text("x;y\n")
    grown: list[bool] = []

    def confirm(p: Path) -> FileStat | None:
        if not grown:
            grown.append(True)
            with p.open("a") as fh:
                fh.write("more;rows\n")
        return FileStat.of(os.stat(p))

    scanner = scanner_for(inbox, clock, confirm=confirm)
    scanner.poll()
    clock.advance(5)
    assert scanner.poll().ready == [] and scanner.pending()[path.resolve()] is Phase.SETTLING
    clock.advance(5)
    assert [d.stat.size for d in scanner.poll().ready] == [len("x;y\nmore;rows\n")]


def test_a_file_gone_or_replaced_before_the_fresh_look_is_not_reported(inbox: Path, clock: ManualClock) -> None:
    path = inbox / "ACME" / "lista.csv"
    path.write_text("x;y\n")
    scanner = scanner_for(inbox, clock, confirm=lambda p: None)
    scanner.poll()
    clock.advance(5)
    assert scanner.poll().ready == [] and scanner.pending() == {}


def test_unknown_writers_leave_the_settle_time_alone_to_decide(inbox: Path, clock: ManualClock) -> None:
    (inbox / "ACME" / "lista.csv").write_text("x;y\n")
    scanner = scanner_for(inbox, clock, find_writers=lambda files: WriterProbe(available=False))
    scanner.poll()
    clock.advance(5)
    assert len(scanner.poll().ready) == 1


def test_notices_are_said_once_while_the_entry_stays(inbox: Path, clock: ManualClock) -> None:
    scanner = scanner_for(inbox, clock)
    (inbox / "ACME" / "notes.pdf").write_text("x")
    assert [s.path.name for s in scanner.poll().skipped] == ["notes.pdf"]
    assert scanner.poll().skipped == []
    (inbox / "ACME" / "notes.pdf").unlink()
    assert scanner.poll().skipped == []
    (inbox / "ACME" / "notes.pdf").write_text("x")
    assert [s.path.name for s in scanner.poll().skipped] == ["notes.pdf"]


def test_an_inbox_that_cannot_be_listed_decides_nothing_and_forgets_nothing(tmp_path: Path, clock: ManualClock) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "P").mkdir(parents=True)
    (inbox / "P" / "a.csv").write_text("x;y\n")
    scanner = scanner_for(inbox, clock)
    scanner.poll()
    aside = tmp_path / "unmounted"
    inbox.rename(aside)  # a network folder that went away
    clock.advance(5)
    poll = scanner.poll()
    assert poll.error and "cannot list the inbox" in poll.error and poll.ready == []
    assert list(scanner.pending().values()) == [Phase.SETTLING]
    aside.rename(inbox)
    assert [d.path.name for d in scanner.poll().ready] == ["a.csv"]


def test_collect_settled_waits_on_the_clock_for_a_one_shot_run(inbox: Path, clock: ManualClock) -> None:
    (inbox / "ACME" / "a.csv").write_text("x;y\n")
    (inbox / "b.csv").write_text("x;y\n")
    (inbox / "ACME" / "c.pdf").write_text("x")
    start = clock.monotonic()
    got = collect_settled(InboxLayout.create(inbox), settle_seconds=5, clock=clock)
    assert sorted(d.path.name for d in got.ready) == ["a.csv", "b.csv"]
    assert got.pending == {} and [s.path.name for s in got.skipped] == ["c.pdf"]
    assert clock.monotonic() - start == pytest.approx(5.0)


def test_collect_settled_leaves_a_held_file_for_the_next_run(inbox: Path, clock: ManualClock) -> None:
    path = inbox / "ACME" / "a.csv"
    (inbox / "ACME" / "done.csv").write_text("x;y\n")
    start = clock.monotonic()
    with path.open("w") as fh:
        fh.write("x;y\n")
        fh.flush()
        got = collect_settled(InboxLayout.create(inbox), settle_seconds=5, clock=clock, max_wait=12)
    assert [d.path.name for d in got.ready] == ["done.csv"]
    assert got.pending == {path.resolve(): Phase.HELD}
    assert 12.0 <= clock.monotonic() - start <= 13.0


def test_collect_settled_on_an_empty_inbox_returns_at_once(inbox: Path, clock: ManualClock) -> None:
    got = collect_settled(InboxLayout.create(inbox), settle_seconds=5, clock=clock)
    assert got.ready == [] and clock.sleeps == []
