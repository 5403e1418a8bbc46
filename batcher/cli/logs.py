"""Log lines for the unattended modes (`watch`, `run`): one line per drop and per outcome,
as text for people or JSON for log collectors (`--log-format json`).

    2026-12-01T14:03:07Z converted inbox/ACME/lista.csv: 1200 rows, 1187 accepted, 13 refused (drop d7)
    {"ts": "2026-12-01T14:03:07Z", "event": "converted", "source": "inbox/ACME/lista.csv", ...}

Upload progress is not logged (its start and end are); nothing here sees a secret.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from ..events import BatchChanged, DropConverted, DropDone, Event, Note, ReconcileDone, ReportWritten, UploadProgress

__all__ = ["EventLog"]


class EventLog:
    def __init__(self, fmt: Literal["text", "json"] = "text", stream: IO[str] | None = None) -> None:
        self.fmt = fmt
        self.stream = stream or sys.stderr

    def emit(self, event: Event) -> None:
        record = _record(event)
        if record is None:
            return
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.fmt == "json":
            line = json.dumps({"ts": ts, **record}, ensure_ascii=False, default=str)
        else:
            line = f"{ts} {record['message']}"
        self.stream.write(line + "\n")
        self.stream.flush()

    # the Output interface the commands also use
    def note(self, text: str, level: str = "info") -> None:
        self.emit(Note(text, level))  # type: ignore[arg-type]

    def close(self) -> None:
        self.stream.flush()


def _record(event: Event) -> dict[str, Any] | None:
    if isinstance(event, UploadProgress):
        return None
    if isinstance(event, Note):
        prefix = "" if event.level == "info" else f"{event.level}: "
        return {"event": "note", "level": event.level, "message": f"{prefix}{event.text}"}
    if isinstance(event, DropConverted):
        s = event.summary
        files = [f.name for f in s.files]
        return {"event": "converted", "drop": event.drop_id, "source": str(s.source), "project": s.project,
                "rows": s.rows_read, "accepted": s.accepted, "refused": s.rejected_total,
                "refused_by_code": dict(s.rejected), "files": files,
                "message": f"converted {s.source}: {s.rows_read} rows, {s.accepted} accepted, "
                           f"{s.rejected_total} refused (drop d{event.drop_id}) -> {', '.join(files) or 'no file'}"}
    if isinstance(event, BatchChanged):
        b = event.batch
        detail = f" ({b.detail})" if b.detail else ""
        return {"event": "batch", "batch": b.id, "drop": b.drop_id, "name": b.remote_name, "state": b.state.value,
                "rows": b.rows, "detail": b.detail, "message": f"batch {b.id} {b.remote_name}: {b.state.value}{detail}"}
    if isinstance(event, DropDone):
        where = f" -> {event.moved_to}" if event.moved_to else ""
        why = f": {event.reason}" if event.reason else ""
        return {"event": "drop", "source": str(event.source), "outcome": event.outcome,
                "moved_to": str(event.moved_to) if event.moved_to else None, "reason": event.reason,
                "drop": event.drop_id, **event.extra, "message": f"drop {event.source} {event.outcome}{where}{why}"}
    if isinstance(event, ReconcileDone):
        r = event.result
        changed = ", ".join(f"{n} {state}" for state, n in sorted(r.changes.items())) or "no change"
        return {"event": "reconcile", "mode": r.mode, "requests": r.requests, "statuses": r.statuses,
                "unknown": r.unknown, "changes": dict(r.changes), "outstanding": r.outstanding,
                "paused": r.paused,
                "message": f"reconcile ({r.mode}): {r.requests} request(s), {r.statuses} status(es), {changed}; "
                           f"{r.outstanding} outstanding" + ("; paused" if r.paused else "")}
    if isinstance(event, ReportWritten):
        return {"event": "report", "path": str(event.path), "drop": event.drop_id, "rows": event.rows,
                "message": f"report {event.path} ({event.rows} rows)"}
    return None
