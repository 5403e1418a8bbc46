"""Retention (issue 12), opt-in: `[retention] days`. Off by default: nothing is ever
deleted (SPEC 3.1).

When `days` is set, `batcher purge` (also run by `batcher run`, and by `watch` once a
day) removes, for each drop older than that whose outcome is final (every batch accepted
or moved to error/, every message final; a drop refused as a whole):

- the files: the archived drop (or the one moved to rejected/), its refused-rows or
  errors file, the kept copies of its batch files, error copies, and the reports `run`
  and `watch` wrote for it;
- in the database: the numbers and texts of its messages and the cells of its refused
  rows; counts, states, codes and the audit trail of events stay, so `status` and the
  totals still tell the story.

Nothing of a drop that is not final is ever touched. `dry_run` says what would go and
how much space it frees; a real purge ends with a VACUUM so the texts leave no trace
in the database file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from .clock import Clock
from .settings import Settings
from .store import DropRecord, Store
from .store.records import format_timestamp

__all__ = ["PurgePlan", "plan_purge", "purge"]


@dataclass
class PurgePlan:
    cutoff: str
    drops: list[DropRecord] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    messages: int = 0  # rows whose number and text are cleared (after a real purge)
    refused: int = 0


def _files_of(store: Store, settings: Settings, drop: DropRecord) -> list[Path]:
    paths: list[Path] = []
    for value in (drop.archived_to, drop.refused_file):
        if value:
            paths.append(Path(value))
    for batch in store.batches(drop_id=drop.id):
        paths.append(Path(batch.local_path))
        if batch.error_copy:
            paths.append(Path(batch.error_copy))
    rejected = settings.state_path("rejected", str(drop.id))
    if rejected.is_dir():
        paths.extend(p for p in rejected.iterdir() if p.is_file())
    reports = settings.paths.reports_dir
    if reports.is_dir():
        paths.extend(reports.glob(f"*.d{drop.id}.*.report.*"))
    return sorted({p for p in paths if p.is_file() and not p.is_symlink()})


def plan_purge(store: Store, settings: Settings, clock: Clock, days: float) -> PurgePlan:
    cutoff = format_timestamp(clock.now() - timedelta(days=days))
    plan = PurgePlan(cutoff, store.purgeable_drops(cutoff))
    for drop in plan.drops:
        for path in _files_of(store, settings, drop):
            plan.files.append(path)
            plan.bytes += path.stat().st_size
    return plan


def purge(store: Store, settings: Settings, clock: Clock, days: float, *, dry_run: bool = False) -> PurgePlan:
    """Plan, and unless `dry_run`, carry out the purge (see the module doc)."""
    plan = plan_purge(store, settings, clock, days)
    if dry_run or not plan.drops:
        return plan
    for path in plan.files:
        path.unlink(missing_ok=True)
    for drop in plan.drops:
        rejected = settings.state_path("rejected", str(drop.id))
        if rejected.is_dir() and not any(rejected.iterdir()):
            rejected.rmdir()
        messages, refused = store.purge_drop(drop.id)
        plan.messages += messages
        plan.refused += refused
    store.vacuum()
    return plan
