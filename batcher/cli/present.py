"""Human-readable output for the CLI (rich tables on a terminal, plain text otherwise).

Library code returns data; this module only formats it (through `Output.print`, which
keeps pipes free of padding). It never sees a secret.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..convert import ConversionSummary
from ..models import BatchState
from ..report import OUTCOMES
from ..store import BatchRecord, Store

if TYPE_CHECKING:
    from .output import Output

__all__ = ["outcome_line", "print_batch_detail", "print_batches", "print_conversion"]


def print_conversion(console: Output, s: ConversionSummary, *, dry_run: bool = False) -> None:
    how = s.kind
    if s.encoding:
        how += f", {s.encoding}"
    if s.delimiter:
        how += f", delimiter {'TAB' if s.delimiter == chr(9) else repr(s.delimiter)}"
    if s.sheet:
        how += f", sheet {s.sheet!r}"
    console.print(f"[bold]{escape(str(s.source))}[/bold] -> project [bold]{s.project}[/bold] ({escape(how)})")
    if s.columns is not None:
        console.print(escape(f"columns: {s.columns.describe()}"))

    counts = Table(show_header=False, box=None, padding=(0, 2))
    counts.add_row("rows read", str(s.rows_read))
    counts.add_row("accepted", str(s.accepted))
    counts.add_row("rejected", str(s.rejected_total))
    for code, n in sorted(s.rejected.items(), key=lambda kv: (-kv[1], kv[0])):
        example = next((r for r in s.first_rejections if r.code == code), None)
        hint = escape(f"e.g. line {example.line}: {example.reason}") if example else ""
        counts.add_row(f"  {code}", str(n), hint)
    if s.replacements:
        made = ", ".join(f"{k} {v}" for k, v in sorted(s.replacements.items()))
        counts.add_row("replacements", str(sum(s.replacements.values())), made)
    console.print(counts)

    if s.accepted:
        enc = Table(title=None, box=None, padding=(0, 2))
        enc.add_column("encoding")
        enc.add_column("messages", justify="right")
        enc.add_column("segments", justify="right")
        for name in ("GSM", "UCS-2"):
            if s.messages_by_encoding.get(name):
                enc.add_row(name, str(s.messages_by_encoding[name]), str(s.segments_by_encoding[name]))
        enc.add_row("total", str(s.accepted), str(s.segments_total))
        console.print(enc)
        cost = s.estimated_cost
        if cost is not None:
            console.print(f"estimated cost: {cost:.2f} ({s.segments_total} segments x {s.segment_price})")
        else:
            console.print(f"estimated cost: {s.segments_total} segments (set \\[text] segment_price for a price)")

    if dry_run:
        console.print("dry run: nothing written, nothing sent")
    for f in s.files:
        console.print(escape(f"wrote {f.path} ({f.rows} rows, {f.size} bytes)"))
    if s.rejected_file:
        console.print(escape(f"rejected rows: {s.rejected_file}"))


def outcome_line(counts: Counter[str]) -> str:
    """`3 delivered, 1 not_delivered, 2 pending` in the report's order of outcomes."""
    return ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)) or "-"


def print_batches(console: Output, batches: list[BatchRecord],
                  outcomes: dict[int, Counter[str]] | None = None) -> None:
    # fits 80 columns without cutting a name or a state; sizes and hashes are in `status BATCH`
    table = Table(box=None, padding=(0, 1))
    table.add_column("batch", justify="right", no_wrap=True)
    table.add_column("drop", justify="right", no_wrap=True)
    table.add_column("remote file", no_wrap=True, min_width=max((len(b.remote_name) for b in batches), default=11))
    table.add_column("state", no_wrap=True, min_width=max((len(b.state.value) for b in batches), default=5))
    table.add_column("rows", justify="right", no_wrap=True)
    if outcomes is not None:
        table.add_column("messages", overflow="fold")
    table.add_column("updated (UTC)", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for b in batches:
        cells = [str(b.id), f"d{b.drop_id}", b.remote_name, _state(b.state), str(b.rows)]
        if outcomes is not None:
            cells.append(outcome_line(outcomes.get(b.id, Counter())))
        cells += [(b.updated_at or "")[:19].replace("T", " "), escape(b.detail or "")]
        table.add_row(*cells)
    console.print(table)


def print_batch_detail(console: Output, b: BatchRecord, store: Store) -> None:
    drop = store.drop(b.drop_id)
    rows = [
        ("batch", str(b.id)),
        ("remote file", b.remote_name),
        ("project", b.project),
        ("state", _state(b.state)),
        ("rows", str(b.rows)),
        ("size", f"{b.size} bytes (sha256 {b.sha256[:16]}...)"),
        ("local copy", b.local_path),
        ("created", b.created_at),
        ("uploaded", b.uploaded_at or "-"),
        ("finished", b.finished_at or "-"),
    ]
    if b.remote_dir:
        rows.append(("last seen in", f"{b.remote_dir}/"))
    if b.error_copy:
        rows.append(("error copy", b.error_copy))
    if b.detail:
        rows.append(("detail", b.detail))
    if drop is not None:
        rows.append(("drop", f"d{drop.id} {drop.source_name} (read {drop.rows_read}, accepted {drop.rows_accepted}, "
                             f"refused {drop.rows_rejected}; {drop.source_path})"))
    rows.append(("messages", outcome_line(store.outcome_counts(batch_id=b.id))))
    reasons = store.failure_reasons(batch_id=b.id)
    if reasons:
        rows.append(("not delivered", "; ".join(f"{n} {why}" for why, n in reasons.most_common())))
    table = Table(show_header=False, box=None, padding=(0, 2))
    for k, v in rows:
        table.add_row(k, v if k == "state" else escape(v))
    console.print(table)
    events = store.events(batch_id=b.id)
    if events:
        ev = Table(box=None, padding=(0, 2), title="events")
        ev.add_column("at")
        ev.add_column("event")
        ev.add_column("detail")
        for e in events:
            at = str(e.get("at", ""))[:23].replace("T", " ")
            ev.add_row(at, str(e.get("kind", "")), escape(_short(e.get("detail"))))
        console.print(ev)


_STATE_STYLE = {
    BatchState.ACCEPTED: "green",
    BatchState.FILE_REJECTED: "red",
    BatchState.STUCK: "yellow",
}


def _state(state: BatchState) -> str:
    style = _STATE_STYLE.get(state)
    return f"[{style}]{state.value}[/{style}]" if style else state.value


def _short(detail: object) -> str:
    if not detail:
        return ""
    text = detail if isinstance(detail, str) else ", ".join(
        f"{k}={v}" for k, v in dict(detail).items() if v not in ("", None))  # type: ignore[call-overload]
    return text if len(text) <= 100 else text[:97] + "..."
