"""Deterministic message outcomes: the destination number decides what happens.

Rules, by the LAST THREE DIGITS of the destination number:

    last 3 digits   carrier              sent status                  delivered status
    -------------   -------------------  ---------------------------  -------------------
    101             by last digit (*)    101 EXPIRED                  none
    102             by last digit (*)    102 CARRIER_COMMUNICATION_ERROR  none
    103             by last digit (*)    103 REJECTED_BY_CARRIER      none
    201             by last digit (*)    201 NO_CREDIT                none
    202             by last digit (*)    202 INVALID_DESTINATION_NUMBER   none
    203             by last digit (*)    203 BLACKLISTED              none
    204             by last digit (*)    204 DESTINATION_BLOCKED_BY_OPTOUT  none
    205             by last digit (*)    205 DESTINATION_MESSAGE_LIMIT_REACHED  none
    207             by last digit (*)    207 INVALID_MESSAGE_TEXT     none
    301             by last digit (*)    301 INTERNAL_ERROR           none
    104             by last digit (*)    2 SENT_SUCCESS               104 NOT_DELIVERED
    998             OI (id 3)            2 SENT_SUCCESS               never (no second level)
    999             SERCOMTEL (id 6)     2 SENT_SUCCESS               never (no second level)
    anything else   by last digit (*)    2 SENT_SUCCESS               4 DELIVERED_SUCCESS

    (*) last digit 0, 3, 6, 9 -> VIVO (id 1); 1, 4, 7 -> CLARO (id 2); 2, 5, 8 -> TIM (id 5)

Examples: 5511900000101 -> 101 EXPIRED; 5511900000104 -> sent 2, delivered 104;
5511900000998 -> Oi, sent 2 only; 5511900000010 -> VIVO, delivered 4.

The sent status appears `sent_delay` seconds after the file was processed, the delivered
status `delivered_delay` seconds after it; before `sent_delay` the message is unknown to
the status API. Carrier ids are the simulator's own (VIVO 1 and TIM 5 as in the
platform document's examples).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CARRIERS",
    "DELIVERED_STATUS_NAMES",
    "OUTCOMES_HELP",
    "SENT_STATUS_NAMES",
    "Outcome",
    "outcome_for",
]

SENT_STATUS_NAMES: dict[int, str] = {
    2: "SENT_SUCCESS",
    101: "EXPIRED",
    102: "CARRIER_COMMUNICATION_ERROR",
    103: "REJECTED_BY_CARRIER",
    201: "NO_CREDIT",
    202: "INVALID_DESTINATION_NUMBER",
    203: "BLACKLISTED",
    204: "DESTINATION_BLOCKED_BY_OPTOUT",
    205: "DESTINATION_MESSAGE_LIMIT_REACHED",
    207: "INVALID_MESSAGE_TEXT",
    301: "INTERNAL_ERROR",
}

DELIVERED_STATUS_NAMES: dict[int, str] = {4: "DELIVERED_SUCCESS", 104: "NOT_DELIVERED"}

CARRIERS: dict[str, int] = {"VIVO": 1, "CLARO": 2, "OI": 3, "TIM": 5, "SERCOMTEL": 6}

_BY_LAST_DIGIT = ("VIVO", "CLARO", "TIM")  # index: last digit % 3

OUTCOMES_HELP = """\
Outcomes, by the LAST THREE DIGITS of the destination number:
  101 102 103 201 202 203 204 205 207 301  that sent status, no delivered status
  104            sent 2 SENT_SUCCESS, then delivered 104 NOT_DELIVERED
  998            carrier OI: sent 2, never a delivered status
  999            carrier SERCOMTEL: sent 2, never a delivered status
  anything else  sent 2 SENT_SUCCESS, then delivered 4 DELIVERED_SUCCESS
Carrier (except 998/999) by the last digit: 0 3 6 9 VIVO, 1 4 7 CLARO, 2 5 8 TIM.
E.g. 5511900000101 -> 101 EXPIRED, 5511900000104 -> NOT_DELIVERED, 5511900000010 -> delivered."""


@dataclass(frozen=True)
class Outcome:
    """What will happen to one message."""

    carrier_name: str
    carrier_id: int
    sent_code: int
    delivered_code: int | None  # None: no second level ever

    @property
    def sent_name(self) -> str:
        return SENT_STATUS_NAMES[self.sent_code]

    @property
    def delivered_name(self) -> str | None:
        return None if self.delivered_code is None else DELIVERED_STATUS_NAMES[self.delivered_code]


def outcome_for(destination: str) -> Outcome:
    """The outcome of a message to `destination` (a string of digits)."""
    last3 = int(destination[-3:])
    if last3 == 998:
        return Outcome("OI", CARRIERS["OI"], 2, None)
    if last3 == 999:
        return Outcome("SERCOMTEL", CARRIERS["SERCOMTEL"], 2, None)
    carrier = _BY_LAST_DIGIT[int(destination[-1]) % 3]
    if last3 == 104:
        return Outcome(carrier, CARRIERS[carrier], 2, 104)
    if last3 != 2 and last3 in SENT_STATUS_NAMES:  # "...002" is an ordinary number
        return Outcome(carrier, CARRIERS[carrier], last3, None)
    return Outcome(carrier, CARRIERS[carrier], 2, 4)
