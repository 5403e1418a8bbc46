"""Reconciliation (SPEC 4.1, 4.4): what the status API says about each message, turned
into the message state machine, one pass at a time.

    decide(candidate, status, now, policy)   pure: the change a status (or the lack of
                                             one, as time goes by) makes to a message
    match(candidates, statuses)              pure: which status is which message's
    reconcile_pass(store, source, ...)       one pass: query, match, decide, record

The rules (the platform document, "Sent Status Codes" and "Delivered Status Codes"):

- delivered status 4 -> `delivered`; 104 -> `not_delivered`;
- sent status 2 -> `sent`; any other sent status -> `rejected` (its code and name kept);
- sent 2 from a carrier that never sends the second level (Oi, Sercomtel; the name is
  matched case-insensitively) -> `sent_final` at once;
- `sent` with no delivery report within `api.delivery_window` -> `sent_final`;
- `pending` with no status at all within the platform's 3-day retention (counted from
  the moment its file was seen in success/) -> `expired`;
- messages of a file the platform moved to error/ -> `not_sent` (nothing was sent).

Final messages are never queried again (`Store.reconcile_candidates` yields only the
others). Every change is recorded with the platform's codes, carrier and timestamps.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol

from ..models import FINAL_MESSAGE_STATES, MESSAGE_TRANSITIONS, BatchState, MessageChange, MessageState
from ..store.records import format_timestamp

if TYPE_CHECKING:
    from ..clock import Clock
    from ..store import Store
    from ..store.outcomes import Candidate

__all__ = [
    "NO_SECOND_LEVEL",
    "PassResult",
    "ReconcilePolicy",
    "StatusLike",
    "StatusSource",
    "decide",
    "match",
    "reconcile_pass",
]

log = logging.getLogger(__name__)

#: carriers that never send a delivery report (the document: "Oi and Sercomtel")
NO_SECOND_LEVEL = frozenset({"oi", "sercomtel"})
RETENTION_SECONDS = 3 * 86400.0  # "Statuses are available for 3 days"


class StatusLike(Protocol):
    """What reconcile reads of one status (`batcher.status.models.PlatformStatus`)."""

    @property
    def id(self) -> str | None: ...
    @property
    def correlation_id(self) -> str | None: ...
    @property
    def destination(self) -> str | None: ...
    @property
    def carrier_id(self) -> str | None: ...
    @property
    def carrier_name(self) -> str | None: ...
    @property
    def sent_status_code(self) -> int | None: ...
    @property
    def sent_status(self) -> str | None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def delivered_status_code(self) -> int | None: ...
    @property
    def delivered_status(self) -> str | None: ...
    @property
    def delivered_at(self) -> datetime | None: ...


class StatusSource(Protocol):
    """Where statuses come from (the HTTP client; a second source could slot in)."""

    def search(self, correlation_ids: Sequence[str], ids: Sequence[str] = ()) -> Sequence[StatusLike]: ...

    def drain(self) -> Iterator[Sequence[StatusLike]]: ...


@dataclass(frozen=True, slots=True)
class ReconcilePolicy:
    delivery_window: float = 48 * 3600.0
    retention: float = RETENTION_SECONDS


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _no_second_level(carrier: str | None) -> bool:
    words = (carrier or "").strip().casefold().split()
    return bool(words) and words[0] in NO_SECOND_LEVEL


def decide(c: Candidate, status: StatusLike | None, now: datetime, policy: ReconcilePolicy) -> MessageChange | None:
    """The change that `status` (None: no status in this pass) makes to message `c` at
    `now`, or None. Pure."""
    new: MessageState | None = None
    cause = "status"
    if status is not None:
        delivered, sent = status.delivered_status_code, status.sent_status_code
        if delivered == 4:
            new = MessageState.DELIVERED
        elif delivered == 104:
            new = MessageState.NOT_DELIVERED
        elif sent == 2:
            if _no_second_level(status.carrier_name):
                new, cause = MessageState.SENT_FINAL, "carrier"
            else:
                new = MessageState.SENT
        elif sent is not None:
            new = MessageState.REJECTED
    after = new or c.state
    if after is MessageState.SENT:
        sent_at = (status.sent_at if status is not None else None) or _parse(c.sent_at) or _parse(c.accepted_at)
        if sent_at is not None and (now - sent_at).total_seconds() > policy.delivery_window:
            new, cause = MessageState.SENT_FINAL, "window"
        elif _no_second_level(c.carrier_name):  # known from an earlier pass
            new, cause = MessageState.SENT_FINAL, "carrier"
    elif after is MessageState.PENDING and status is None:
        accepted = _parse(c.accepted_at)
        if accepted is not None and (now - accepted).total_seconds() > policy.retention:
            new, cause = MessageState.EXPIRED, "retention"
    if new is None or new is c.state or new not in MESSAGE_TRANSITIONS[c.state]:
        return None
    if status is None:
        return MessageChange(c.id, c.state, new, cause)
    return MessageChange(
        c.id, c.state, new, cause,
        platform_id=status.id,
        sent_status_code=status.sent_status_code,
        sent_status=status.sent_status,
        sent_at=_ts(status.sent_at),
        delivered_status_code=status.delivered_status_code,
        delivered_status=status.delivered_status,
        delivered_at=_ts(status.delivered_at),
        carrier_id=status.carrier_id,
        carrier_name=status.carrier_name,
    )


def match(candidates: Iterable[Candidate], statuses: Iterable[StatusLike]) -> tuple[dict[int, StatusLike], int]:
    """Pair statuses with messages: by the platform's id once known, else by
    correlationId and destination; when several messages share both (a list sent twice
    with --force and its own ids), in order of sending. Returns ({message id: status},
    number of statuses that match no message). Pure."""
    by_cid: dict[str, list[Candidate]] = defaultdict(list)
    by_pid: dict[str, Candidate] = {}
    for c in candidates:
        by_cid[c.correlation_id].append(c)
        if c.platform_id:
            by_pid[c.platform_id.lower()] = c
    found: dict[int, StatusLike] = {}
    waiting: dict[tuple[str, str], list[StatusLike]] = defaultdict(list)
    unknown = 0
    for s in statuses:
        known = by_pid.get((s.id or "").lower())
        if known is not None:
            found[known.id] = _later(found.get(known.id), s)
            continue
        cid = s.correlation_id or ""
        if cid not in by_cid:
            unknown += 1
            continue
        waiting[(cid, s.destination or "")].append(s)
    for (cid, destination), group in waiting.items():
        mine = [c for c in by_cid[cid] if c.id not in found and (not c.platform_id)
                and (not destination or c.number == destination)]
        if not mine:
            unknown += len(group)
            continue
        group.sort(key=lambda s: (s.sent_at or datetime.max.replace(tzinfo=UTC)))
        mine.sort(key=lambda c: (c.accepted_at or "", c.id))
        for c, s in zip(mine, group, strict=False):
            found[c.id] = s
        unknown += max(0, len(group) - len(mine))
    return found, unknown


def _later(held: StatusLike | None, new: StatusLike) -> StatusLike:
    """Of two statuses of one message, the one that says more (a delivery report)."""
    if held is None:
        return new
    return new if (new.delivered_status_code is not None or held.delivered_status_code is None) else held


@dataclass
class PassResult:
    mode: Literal["search", "list"]
    queried: int = 0  # messages asked about (search) or statuses drained (list)
    statuses: int = 0  # statuses received
    unknown: int = 0  # statuses of messages batcher does not know (ignored)
    changes: Counter[str] = field(default_factory=Counter)  # new state -> how many
    outstanding: int = 0  # messages still not final after the pass
    requests: int = 0
    paused: bool = False  # `should_stop` ended the pass early
    resume_after: int | None = None  # search paused: where the next pass goes on (after this id)

    @property
    def changed(self) -> int:
        return sum(self.changes.values())


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    chunk: list[Candidate] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def mark_not_sent(store: Store) -> int:
    """Messages still pending in batches the platform moved to error/ become `not_sent`."""
    changed = 0
    for batch in store.batches(states=[BatchState.FILE_REJECTED]):
        ids = store.pending_of_batch(batch.id)
        if ids:
            changed += len(store.apply_changes(
                [MessageChange(i, MessageState.PENDING, MessageState.NOT_SENT, "file_rejected") for i in ids]))
    return changed


def reconcile_pass(
    store: Store,
    source: StatusSource,
    *,
    mode: Literal["search", "list"],
    policy: ReconcilePolicy,
    clock: Clock,
    chunk: int = 1000,
    on_progress: Callable[[PassResult], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    after: int = 0,
) -> PassResult:
    """One pass over every message not final: ask the platform (one search request per
    `chunk` messages, or drain the list endpoint), match, decide, record. Returns what
    it did; `outstanding` counts the messages still not final afterwards. `should_stop`
    is asked between requests: a daemon told to stop, or with a drop to send, pauses
    the pass there (what was recorded stays); in search mode `resume_after` then says
    where it stopped, and a pass given it as `after` goes on from there instead of
    asking about the first messages again."""
    stopping = should_stop or (lambda: False)
    result = PassResult(mode)
    not_sent = mark_not_sent(store)
    if not_sent:
        result.changes[MessageState.NOT_SENT.value] += not_sent

    def record(changes: list[MessageChange]) -> None:
        for ch in store.apply_changes(changes):
            result.changes[ch.new.value] += 1
        if on_progress is not None:
            on_progress(result)

    if mode == "search":
        for group in _chunks(store.reconcile_candidates(after), chunk):
            if stopping():
                result.paused, result.resume_after = True, group[0].id - 1
                break
            statuses = source.search([c.correlation_id for c in group])
            result.requests += 1
            result.queried += len(group)
            result.statuses += len(statuses)
            found, unknown = match(group, statuses)
            result.unknown += unknown
            now = clock.now()
            record([ch for c in group if (ch := decide(c, found.get(c.id), now, policy)) is not None])
    else:
        # the messages a status may be about, by correlationId: those not final of the
        # accepted batches (in memory for the pass; messages have no index by id)
        by_id = {c.id: c for c in store.reconcile_candidates()}
        by_cid: dict[str, list[int]] = defaultdict(list)
        by_pid: dict[str, int] = {}
        for c in by_id.values():
            by_cid[c.correlation_id].append(c.id)
            if c.platform_id:
                by_pid[c.platform_id.lower()] = c.id
        for page in source.drain():
            result.requests += 1  # a page drained is recorded even when told to stop: it is consumed
            result.statuses += len(page)
            result.queried += len(page)
            # only the messages this page can be about: by its correlationIds and ids
            wanted = {i for s in page for i in by_cid.get(s.correlation_id or "", ())}
            wanted.update(by_pid[s.id.lower()] for s in page if s.id and s.id.lower() in by_pid)
            found, unknown = match([by_id[i] for i in sorted(wanted)], page)
            result.unknown += unknown
            now = clock.now()
            changes = [ch for mid, s in found.items() if (ch := decide(by_id[mid], s, now, policy)) is not None]
            record(changes)
            for ch in changes:  # the next pages see each message as it is now
                current = by_id[ch.message_id]
                by_id[ch.message_id] = replace(current, state=ch.new, platform_id=ch.platform_id or current.platform_id,
                                               carrier_name=ch.carrier_name or current.carrier_name,
                                               sent_at=ch.sent_at or current.sent_at)
                if ch.platform_id:
                    by_pid[ch.platform_id.lower()] = ch.message_id
                if ch.new in FINAL_MESSAGE_STATES:  # never matched again in this pass
                    by_cid[current.correlation_id].remove(ch.message_id)
            if stopping():
                result.paused = True
                break
        # time moves on for the messages the platform said nothing about
        now = clock.now()
        for group in _chunks(store.reconcile_candidates(), 5000):
            changes = [ch for c in group if (ch := decide(c, None, now, policy)) is not None]
            if changes:
                record(changes)
    store.close_final_batches()
    result.outstanding = store.count_outstanding()
    return result
