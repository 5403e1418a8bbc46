"""Retention (issue 12): purge removes the numbers, texts and files of old drops whose
outcome is final, and nothing else; checked on a real store, real files, and the bytes
of the SQLite file itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from batcher.clock import ManualClock
from batcher.errors import ConfigError
from batcher.jobs import Context, purge
from batcher.models import BatchState, DropState, Message, MessageChange, MessageState
from batcher.settings import load_settings
from batcher.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)


def make_drop(store: Store, tmp: Path, name: str, marker: str, *, final: bool, seq: int) -> int:
    drop = store.add_drop("P", f"hash-{name}", str(tmp / name), name)
    batch_file = tmp / "state" / "batches" / f"P.20260101.{seq:02d}.txt"
    batch_file.parent.mkdir(parents=True, exist_ok=True)
    batch_file.write_text(f"5511987654321;{marker};c;\nEOF\n")
    batch = store.add_batch(drop.id, "P", "20260101", seq, batch_file.name, str(batch_file), 0, "", 0)
    store.add_messages(batch.id, [Message(2, "5511987654321", f"{marker} um", "c1", "GSM", 1),
                                  Message(3, "5511987654322", f"{marker} dois", "c2", "GSM", 1)])
    store.add_refusals(drop.id, [(4, "number_invalid", "not a number", "abc", f"{marker} refused", None,
                                  ("abc", f"{marker} refused"))])
    store.set_drop_state(drop.id, DropState.CONVERTED)
    for state in (BatchState.UPLOADING, BatchState.UPLOADED, BatchState.ACCEPTED):
        store.set_batch_state(batch.id, state)
    archived = tmp / "archive" / "20260101" / name
    archived.parent.mkdir(parents=True, exist_ok=True)
    archived.write_text(f"telefone;mensagem\n5511987654321;{marker} um\n")
    report = tmp / "reports" / f"{Path(name).stem}.d{drop.id}.20260102-000000.report.csv"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(marker)
    store.set_drop_files(drop.id, archived_to=str(archived))
    ids = [c.id for c in store.reconcile_candidates() if c.batch_id == batch.id]
    done = ids if final else ids[:1]
    store.apply_changes([MessageChange(i, MessageState.PENDING, MessageState.DELIVERED, "status") for i in done])
    return drop.id


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = tmp_path / "batcher.toml"
    cfg.write_text("[retention]\ndays = 30\n")
    settings = load_settings(cfg, environ={})
    clock = ManualClock(START)
    store = Store.open(settings.paths.state_dir, clock=clock.now)
    old_final = make_drop(store, tmp_path, "antigo.csv", "AAA-OLD-FINAL", final=True, seq=1)
    old_open = make_drop(store, tmp_path, "aberto.csv", "BBB-OLD-OPEN", final=False, seq=2)
    clock.advance(20 * 86400)
    recent = make_drop(store, tmp_path, "recente.csv", "CCC-RECENT", final=True, seq=3)
    clock.advance(15 * 86400)  # now: 35 days after the first two, 15 after the last
    yield settings, clock, store, (old_final, old_open, recent)
    store.close()


def test_dry_run_lists_only_old_final_drops_and_touches_nothing(world) -> None:  # type: ignore[no-untyped-def]
    settings, clock, store, (old_final, _old_open, _recent) = world
    plan = purge(Context(settings, clock=clock), dry_run=True, session=_session(settings, clock, store))
    assert [d.id for d in plan.drops] == [old_final]
    assert sorted(p.name for p in plan.files) == ["P.20260101.01.txt", "antigo.csv",
                                                  f"antigo.d{old_final}.20260102-000000.report.csv"]
    assert plan.bytes == sum(p.stat().st_size for p in plan.files) > 0
    assert all(p.exists() for p in plan.files)
    assert "AAA-OLD-FINAL" in next(store.report_rows(drop_id=old_final)).text  # type: ignore[operator]


def test_purge_removes_what_it_says_and_nothing_else(world) -> None:  # type: ignore[no-untyped-def]
    settings, clock, store, (old_final, old_open, recent) = world
    before = {d: store.outcome_counts(drop_id=d) for d in (old_final, old_open, recent)}
    plan = purge(Context(settings, clock=clock), session=_session(settings, clock, store))
    assert [d.id for d in plan.drops] == [old_final] and (plan.messages, plan.refused) == (2, 1)
    assert not any(p.exists() for p in plan.files)
    # counts, states and codes are unchanged: status still tells the story
    assert {d: store.outcome_counts(drop_id=d) for d in (old_final, old_open, recent)} == before
    rows = list(store.report_rows(drop_id=old_final))
    assert [(r.line, r.state, r.number, r.text) for r in rows] == [
        (2, "delivered", "", ""), (3, "delivered", "", ""), (4, "refused", None, None)]
    assert store.drop(old_final).purged_at is not None  # type: ignore[union-attr]
    assert any(e["kind"] == "drop.purged" for e in store.events(drop_id=old_final))
    # the texts are gone from the database file itself (VACUUM), the others are there
    raw = b"".join(p.read_bytes() for p in settings.paths.state_dir.glob("batcher.db*"))
    assert b"AAA-OLD-FINAL" not in raw
    assert b"BBB-OLD-OPEN" in raw and b"CCC-RECENT" in raw
    # files of drops not purged are all still there
    assert (settings.paths.state_dir / "batches" / "P.20260101.02.txt").exists()
    assert (settings.paths.archive_dir / "20260101" / "aberto.csv").exists()
    assert (settings.paths.archive_dir / "20260101" / "recente.csv").exists()
    # a second purge finds nothing more
    again = purge(Context(settings, clock=clock), session=_session(settings, clock, store))
    assert again.drops == []


def test_no_retention_means_nothing_is_deleted(tmp_path: Path) -> None:
    settings = load_settings(None, environ={})
    with pytest.raises(ConfigError, match=r"no retention configured.*\[retention\] days"):
        purge(Context(settings))


def _session(settings, clock, store):  # type: ignore[no-untyped-def]
    from batcher.jobs import Session

    session = Session(Context(settings, clock=clock))
    session._store = store  # the fixture's store, with its clock
    return session
