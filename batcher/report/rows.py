"""Report rows (pure): one per input row, with its outcome and why.

Outcomes, in the order a report summary lists them:

    delivered      the phone received it (delivered status 4)
    not_delivered  the carrier accepted it but could not deliver it (104)
    sent_final     the carrier accepted it (sent 2); no delivery report will come: the
                   carrier gives none (Oi, Sercomtel) or none came within api.delivery_window
    sent           the carrier accepted it; a delivery report may still come
    pending        on the platform, no status yet
    rejected       the platform or the carrier refused it (a sent status other than 2)
    expired        no status came within the platform's 3-day retention
    not_sent       its file was moved to error/ by the platform: nothing was sent
    refused        batcher refused the row (code and reason), it was never sent
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..store.outcomes import ReportSourceRow

__all__ = ["OUTCOMES", "REPORT_FIELDS", "ReportRow", "Summary", "report_rows", "summarize"]

OUTCOMES = ("delivered", "not_delivered", "sent_final", "sent", "pending", "rejected", "expired", "not_sent",
            "refused")

REPORT_FIELDS = (
    "file", "line", "batch", "number", "correlation_id", "text", "outcome", "code", "reason",
    "sent_status_code", "sent_status", "delivered_status_code", "delivered_status", "carrier",
    "sent_at", "delivered_at", "updated_at",
)

# The platform document's meaning of each status code, shortened.
SENT_MEANING = {
    2: "delivered to the carrier",
    101: "expired before being delivered to the device",
    102: "communication error with the carrier",
    103: "the carrier rejected the message",
    201: "the account's message limit or credit is exhausted",
    202: "the destination is not a valid mobile number",
    203: "the destination number is blacklisted by your company",
    204: "the destination opted out of this subaccount",
    205: "the destination reached the carriers' message limit",
    207: "the text contains words the carrier does not accept",
    301: "internal error of the platform",
}
DELIVERED_MEANING = {
    4: "delivered to the device",
    104: "the carrier accepted it but could not deliver it to the device (off, no signal, inactive)",
}


@dataclass(frozen=True, slots=True)
class ReportRow:
    file: str
    line: int
    batch: str
    number: str
    correlation_id: str
    text: str
    outcome: str
    code: str
    reason: str
    sent_status_code: int | None
    sent_status: str
    delivered_status_code: int | None
    delivered_status: str
    carrier: str
    sent_at: str
    delivered_at: str
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REPORT_FIELDS}

    def cells(self) -> list[object]:
        return [getattr(self, name) for name in REPORT_FIELDS]


def _no_second_level(carrier: str | None) -> bool:
    words = (carrier or "").strip().casefold().split()
    return bool(words) and words[0] in ("oi", "sercomtel")


def _reason(src: ReportSourceRow, window_hours: float) -> tuple[str, str]:
    """(code, reason) of a row: the rejection code for a refused row, the platform's
    status for the others (empty for a success)."""
    state = src.state
    if src.refused:
        return src.code or "", src.reason or ""
    if state == "rejected":
        code = src.sent_status_code
        meaning = SENT_MEANING.get(code or -1, "refused by the platform")
        return str(code or ""), f"{src.sent_status or 'rejected'}: {meaning}"
    if state == "not_delivered":
        return "104", f"{src.delivered_status or 'NOT_DELIVERED'}: {DELIVERED_MEANING[104]}"
    if state == "sent_final":
        if _no_second_level(src.carrier_name):
            return "", f"carrier {src.carrier_name} gives no delivery reports; accepted by the carrier"
        return "", f"no delivery report within {window_hours:g} h of the carrier accepting it"
    if state == "expired":
        return "", "no status from the platform within its 3-day retention"
    if state == "not_sent":
        return "", f"the platform moved {src.remote_name or 'its file'} to error/: nothing was sent"
    if state == "pending":
        return "", "waiting for the platform's status"
    if state == "sent":
        return "", "accepted by the carrier; waiting for the delivery report"
    return "", ""


def report_rows(sources: Iterable[ReportSourceRow], *, file: str, window_hours: float = 48) -> Iterator[ReportRow]:
    for src in sources:
        code, reason = _reason(src, window_hours)
        yield ReportRow(
            file=file,
            line=src.line,
            batch=src.remote_name or "",
            number=src.number or "",
            correlation_id=src.correlation_id or "",
            text=src.text or "",
            outcome=src.state,
            code=code,
            reason=reason,
            sent_status_code=src.sent_status_code,
            sent_status=src.sent_status or "",
            delivered_status_code=src.delivered_status_code,
            delivered_status=src.delivered_status or "",
            carrier=src.carrier_name or "",
            sent_at=src.sent_at or "",
            delivered_at=src.delivered_at or "",
            updated_at=src.updated_at or "",
        )


@dataclass
class Summary:
    rows: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)  # failures only: "code reason" -> count

    def add(self, row: ReportRow) -> None:
        self.rows += 1
        self.by_outcome[row.outcome] += 1
        if row.outcome in _FAILURES:
            label = row.code if row.outcome == "refused" else (row.reason.split(":")[0] or row.outcome)
            self.by_reason[f"{row.outcome}: {label}"] += 1

    def ordered(self) -> list[tuple[str, int]]:
        return [(o, self.by_outcome[o]) for o in OUTCOMES if self.by_outcome.get(o)]


_FAILURES = frozenset({"not_delivered", "rejected", "expired", "not_sent", "refused"})


def summarize(rows: Iterable[ReportRow]) -> Summary:
    s = Summary()
    for row in rows:
        s.add(row)
    return s
