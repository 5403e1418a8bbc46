"""The job layer: one function per command, shared by push, run, watch and demo.

A command parses its options, calls one function here, and prints what it returns;
progress reaches it as events (`batcher.events`) through `Context.emit`. Everything that
must hold in every mode (exactly once, nothing lost, reports) lives below this layer, in
`pipeline.Delivery` (batches), `status.reconcile` (messages) and `inbox` (files), so
`push`, `run`, `watch` and `demo` cannot disagree about it.

    base.py         Context (settings, the one clock, events) and Session (store,
                    transport, status client: opened when first used, closed together)
    interactive.py  push, convert, status, report, reconcile, check, trust_host, purge
    unattended.py   run (the cron pass), watch (the daemon), process_drop (one inbox drop)

Exit codes (SPEC 2) come from the error tree (`errors.exit_code_for`) and the batch
states (`pipeline.exit_code_for_batches`), never from here ad hoc.
"""

from .base import Context, Session
from .interactive import (
    CheckOutcome,
    ConvertOutcome,
    PushOutcome,
    ReconcileOutcome,
    ReportOutcome,
    StatusView,
    TrustOutcome,
    check,
    convert,
    purge,
    push,
    reconcile,
    reconcile_pass,
    report,
    resolve_ref,
    status,
    trust_host,
    write_drop_report,
)
from .unattended import DropOutcome, RunOutcome, WatchSchedule, inbox_lock, process_drop, run, watch

__all__ = [
    "CheckOutcome",
    "Context",
    "ConvertOutcome",
    "DropOutcome",
    "PushOutcome",
    "ReconcileOutcome",
    "ReportOutcome",
    "RunOutcome",
    "Session",
    "StatusView",
    "TrustOutcome",
    "WatchSchedule",
    "check",
    "convert",
    "inbox_lock",
    "process_drop",
    "purge",
    "push",
    "reconcile",
    "reconcile_pass",
    "report",
    "resolve_ref",
    "run",
    "status",
    "trust_host",
    "watch",
    "write_drop_report",
]
