"""The status API's wire model (SPEC 1.2): what one status says, parsed tolerantly.

    {"smsStatuses": [ {"id": ..., "correlationId": ..., "sentStatusCode": 2, ...}, ... ]}

`parse_statuses(body)` validates a whole answer in one call (a `TypeAdapter` over the
wrapper, `validate_json` on the raw bytes), because a reconcile pass reads tens of
thousands of statuses and has a CPU budget (< 50 ms per 1,000, parse included).

Tolerance, as the platform may send any field missing, null, as a number or as a
string, and fields the document does not list:
- every field is optional; unknown fields are ignored; a missing or null
  `smsStatuses` (or an answer `{}`) is no statuses;
- codes (`sentStatusCode`, `deliveredStatusCode`) are `int | None`: `2`, `"2"` and
  `" 104 "` are accepted, anything that is not a whole number becomes None, never an
  exception; `carrierId` and `campaignId` are kept as strings (trimmed); other
  strings as sent, a number where a string belongs as its digits;
- timestamps: `sent_at` / `delivered_at` are aware UTC datetimes from the
  epoch-millisecond fields (`sentStatusAt`, `deliveredAt`), or else from the date
  fields (`sentStatusDate`, `deliveredDate`, yyyy-MM-dd'T'HH:mm:ssZ such as
  2024-01-31T12:00:00+0000); None when absent or unparsable (a date without a zone is
  ambiguous, so it is None too);
- a field of an impossible type (an object where a string belongs) is None; an item of
  the list that is not an object is skipped and counted (`skipped`).

The top level must be a JSON object: anything else is `MalformedAnswer`, which the
client turns into an error naming the URL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

__all__ = ["MalformedAnswer", "ParsedStatuses", "PlatformStatus", "parse_statuses"]

# the largest epoch-millisecond value datetime can hold (year 9999), and the smallest
# that is plausible for a status (2000-01-01): anything else is noise, not a time
_MAX_MS = 253_402_300_799_000
_MIN_MS = 946_684_800_000


def _code(value: Any) -> int | None:
    """2, "2", " 104 ", 2.0 -> the int; None, "", "abc", 2.5, true -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)
    return None


def _text(value: Any) -> str | None:
    """A string as it is; a number as its digits (ids may arrive as JSON numbers)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return None


def _number_text(value: Any) -> str | None:
    """A numeric id (carrierId, campaignId) as text: 1, "1" and " 1 " -> "1"."""
    text = _text(value)
    return text.strip() or None if text is not None else None


def _epoch_ms(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):  # built in Python (tests, fakes) rather than parsed
        return value.astimezone(UTC) if value.tzinfo is not None else None
    if isinstance(value, str):
        value = _code(value)
        if value is None:
            return None
    if not isinstance(value, (int, float)) or math.isnan(value) or not _MIN_MS <= value <= _MAX_MS:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


Code = Annotated[int | None, PlainValidator(_code)]
Text = Annotated[str | None, PlainValidator(_text)]
NumberText = Annotated[str | None, PlainValidator(_number_text)]
EpochMs = Annotated[datetime | None, PlainValidator(_epoch_ms)]


class PlatformStatus(BaseModel):
    """One message's status as the platform reported it. Immutable; every field may be None."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel),
    )

    id: Text = None
    correlation_id: Text = None
    carrier_id: NumberText = None
    carrier_name: Text = None
    destination: Text = None
    sent_status_code: Code = None
    sent_status: Text = None
    sent_at_epoch: EpochMs = Field(None, validation_alias="sentStatusAt")
    sent_status_date: Text = None
    delivered_status_code: Code = None
    delivered_status: Text = None
    delivered_at_epoch: EpochMs = Field(None, validation_alias="deliveredAt")
    delivered_date: Text = None
    campaign_id: NumberText = None
    extra_info: Text = None

    @cached_property
    def sent_at(self) -> datetime | None:
        """When the platform sent it (sentStatusAt, else sentStatusDate), aware UTC."""
        return self.sent_at_epoch or _date(self.sent_status_date)

    @cached_property
    def delivered_at(self) -> datetime | None:
        """When the device got it, or not (deliveredAt, else deliveredDate), aware UTC."""
        return self.delivered_at_epoch or _date(self.delivered_date)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sms_statuses: list[Annotated[PlatformStatus | Any, Field(union_mode="left_to_right")]] | None = Field(
        None, validation_alias="smsStatuses"
    )


_ANSWER = TypeAdapter(_Answer)


class MalformedAnswer(ValueError):
    """The answer is not JSON, or not a JSON object."""


@dataclass(frozen=True)
class ParsedStatuses:
    statuses: list[PlatformStatus]
    skipped: int  # items of the list that were not a readable status object


def parse_statuses(body: bytes | str) -> ParsedStatuses:
    """Every status of one answer, in the order given; raises `MalformedAnswer`."""
    try:
        answer = _ANSWER.validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise MalformedAnswer("the answer is not JSON") from None
        if first["type"] in ("model_type", "model_attributes_type", "dict_type") and not first["loc"]:
            raise MalformedAnswer("the answer is not a JSON object") from None
        raise MalformedAnswer(f"unexpected answer: {first['msg']}") from None
    statuses: list[PlatformStatus] = []
    skipped = 0
    for item in answer.sms_statuses or ():
        if isinstance(item, PlatformStatus):
            statuses.append(item)
        else:
            skipped += 1
    return ParsedStatuses(statuses, skipped)

