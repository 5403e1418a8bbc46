"""The message state machine's decisions (status/reconcile.py), pure: every outcome of
the platform document's tables, the carriers without a second level, the delivery
window, the 3-day retention, and how statuses are matched to messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from batcher.models import MESSAGE_TRANSITIONS, MessageState
from batcher.status.reconcile import ReconcilePolicy, decide, match
from batcher.store.outcomes import Candidate

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = ReconcilePolicy(delivery_window=48 * 3600)


@dataclass(frozen=True)
class Status:
    id: str | None = "u-1"
    correlation_id: str | None = "c-1"
    destination: str | None = "5511987654321"
    carrier_id: str | None = "1"
    carrier_name: str | None = "VIVO"
    sent_status_code: int | None = 2
    sent_status: str | None = "SENT_SUCCESS"
    sent_at: datetime | None = NOW - timedelta(minutes=5)
    delivered_status_code: int | None = None
    delivered_status: str | None = None
    delivered_at: datetime | None = None


def cand(state: MessageState = MessageState.PENDING, *, cid: str = "c-1", number: str = "5511987654321",
         mid: int = 1, platform_id: str | None = None, carrier: str | None = None, sent_at: str | None = None,
         accepted: datetime = NOW - timedelta(minutes=10)) -> Candidate:
    return Candidate(mid, 1, state, cid, number, platform_id, carrier, sent_at,
                     accepted.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


SENT_CODES = {101: "EXPIRED", 102: "CARRIER_COMMUNICATION_ERROR", 103: "REJECTED_BY_CARRIER", 201: "NO_CREDIT",
              202: "INVALID_DESTINATION_NUMBER", 203: "BLACKLISTED", 204: "DESTINATION_BLOCKED_BY_OPTOUT",
              205: "DESTINATION_MESSAGE_LIMIT_REACHED", 207: "INVALID_MESSAGE_TEXT", 301: "INTERNAL_ERROR"}


def test_sent_2_is_sent_with_what_the_platform_said() -> None:
    change = decide(cand(), Status(), NOW, POLICY)
    assert change is not None and (change.old, change.new, change.cause) == ("pending", "sent", "status")
    assert (change.platform_id, change.sent_status_code, change.carrier_name) == ("u-1", 2, "VIVO")
    assert change.sent_at == "2026-12-01T11:55:00.000Z"


@pytest.mark.parametrize("code", sorted(SENT_CODES))
def test_any_other_sent_code_is_rejected_with_its_code_and_name(code: int) -> None:
    change = decide(cand(), Status(sent_status_code=code, sent_status=SENT_CODES[code]), NOW, POLICY)
    assert change is not None and change.new is MessageState.REJECTED
    assert (change.sent_status_code, change.sent_status) == (code, SENT_CODES[code])


@pytest.mark.parametrize(("code", "state"), [(4, MessageState.DELIVERED), (104, MessageState.NOT_DELIVERED)])
@pytest.mark.parametrize("before", [MessageState.PENDING, MessageState.SENT])
def test_delivered_levels(code: int, state: MessageState, before: MessageState) -> None:
    status = Status(delivered_status_code=code, delivered_status="X", delivered_at=NOW)
    change = decide(cand(before), status, NOW, POLICY)
    assert change is not None and (change.old, change.new) == (before, state)
    assert change.delivered_at == "2026-12-01T12:00:00.000Z"


@pytest.mark.parametrize("carrier", ["OI", "Oi", "oi", "SERCOMTEL", "Sercomtel S.A."])
def test_carriers_without_a_second_level_are_final_at_once(carrier: str) -> None:
    change = decide(cand(), Status(carrier_name=carrier), NOW, POLICY)
    assert change is not None and (change.new, change.cause) == (MessageState.SENT_FINAL, "carrier")


def test_not_oi_by_accident() -> None:
    change = decide(cand(), Status(carrier_name="OIBR TELECOM"), NOW, POLICY)
    assert change is not None and change.new is MessageState.SENT


def test_no_delivery_report_within_the_window_is_sent_final() -> None:
    sent_long_ago = Status(sent_at=NOW - timedelta(hours=48, seconds=1))
    change = decide(cand(MessageState.SENT), sent_long_ago, NOW, POLICY)
    assert change is not None and (change.new, change.cause) == (MessageState.SENT_FINAL, "window")
    # the window counts from the sent status the platform gave, not from our last look
    assert decide(cand(MessageState.SENT), Status(sent_at=NOW - timedelta(hours=47)), NOW, POLICY) is None
    # and without a status this pass, from what was recorded before
    stored = (NOW - timedelta(hours=49)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    change = decide(cand(MessageState.SENT, sent_at=stored), None, NOW, POLICY)
    assert change is not None and (change.new, change.cause) == (MessageState.SENT_FINAL, "window")


def test_a_late_delivery_report_wins_over_the_window() -> None:
    late = Status(sent_at=NOW - timedelta(hours=50), delivered_status_code=4, delivered_at=NOW)
    change = decide(cand(MessageState.SENT), late, NOW, POLICY)
    assert change is not None and change.new is MessageState.DELIVERED


def test_no_status_within_the_retention_is_expired() -> None:
    assert decide(cand(accepted=NOW - timedelta(days=2)), None, NOW, POLICY) is None
    change = decide(cand(accepted=NOW - timedelta(days=3, seconds=1)), None, NOW, POLICY)
    assert change is not None and (change.new, change.cause) == (MessageState.EXPIRED, "retention")


def test_nothing_said_nothing_changed() -> None:
    empty = Status(sent_status_code=None, sent_status=None, delivered_status_code=None)
    assert decide(cand(), empty, NOW, POLICY) is None
    assert decide(cand(MessageState.SENT), Status(), NOW, POLICY) is None  # sent again: no change


def test_final_states_never_move_and_every_decision_is_a_legal_transition() -> None:
    statuses = [Status(), Status(sent_status_code=103), Status(delivered_status_code=4),
                Status(delivered_status_code=104), Status(carrier_name="OI"), None]
    for state in MessageState:
        for status in statuses:
            for accepted in (NOW, NOW - timedelta(days=4)):
                change = decide(cand(state, accepted=accepted), status, NOW, POLICY)
                if change is not None:
                    assert change.new in MESSAGE_TRANSITIONS[state]
                if not MESSAGE_TRANSITIONS[state]:
                    assert change is None


def test_match_by_correlation_and_destination_and_count_the_unknown() -> None:
    a, b = cand(cid="a", mid=1), cand(cid="b", mid=2, number="5511900000002")
    found, unknown = match([a, b], [Status(id="x", correlation_id="a"), Status(id="y", correlation_id="zzz"),
                                    Status(id="z", correlation_id="b", destination="5511900000002")])
    assert {k: v.id for k, v in found.items()} == {1: "x", 2: "z"} and unknown == 1


def test_match_by_platform_id_once_known() -> None:
    known = cand(cid="shared", mid=7, platform_id="AB-1")
    found, unknown = match([known], [Status(id="ab-1", correlation_id="other")])
    assert found[7].id == "ab-1" and unknown == 0


def test_two_messages_with_one_id_and_number_are_paired_in_order_of_sending() -> None:
    first = cand(cid="fat-1", mid=1, accepted=NOW - timedelta(hours=5))
    second = cand(cid="fat-1", mid=2, accepted=NOW - timedelta(hours=1))
    early = Status(id="e", correlation_id="fat-1", sent_at=NOW - timedelta(hours=5))
    late = Status(id="l", correlation_id="fat-1", sent_at=NOW - timedelta(hours=1))
    found, unknown = match([second, first], [late, early])
    assert (found[1].id, found[2].id, unknown) == ("e", "l", 0)
