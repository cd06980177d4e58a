"""Validate one Segment-format message and bring it to canonical form.

Pure: takes the message as decoded JSON and the request's facts, returns a `Message` or raises
`Invalid` naming the field. Unknown top-level fields that SDKs add (integrations, _metadata,
channel, version, ...) are kept in `extra`, never rejected.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
NEEDS_IDENTITY = frozenset({"identify", "track", "page", "screen", "group"})
KNOWN_FIELDS = frozenset(
    {
        "type",
        "messageId",
        "anonymousId",
        "userId",
        "event",
        "name",
        "properties",
        "traits",
        "context",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "receivedAt",
        "groupId",
        "previousId",
        "writeKey",
        "category",
    }
)
MAX_ID_LENGTH = 255
MAX_MESSAGE_ID_LENGTH = 100
MAX_EVENT_NAME_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Event times may not lie more than this far after receipt (after clock-skew correction).
MAX_FUTURE_US = 24 * 3600 * 1_000_000


class Invalid(ValueError):
    """A message that cannot be stored; goes to the quarantine with field, code and reason."""

    def __init__(self, field: str, code: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class Message:
    """A valid message, canonical: ids are strings, times are UTC epoch microseconds."""

    type: str
    message_id: str
    anonymous_id: str | None
    user_id: str | None
    event: str | None
    name: str | None
    group_id: str | None
    previous_id: str | None
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    extra: dict[str, Any]
    timestamp_us: int
    original_timestamp_us: int | None
    sent_at_us: int | None
    received_at_us: int


# The common shape, UTC with an optional fraction: parsed without datetime, hour cached.
_UTC_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d):([0-5]\d):([0-5]\d)(?:\.(\d{1,6}))?(?:Z|\+00:00)")


@lru_cache(maxsize=4096)
def _hour_us(prefix: str) -> int:
    dt = datetime.fromisoformat(prefix + ":00:00+00:00")
    return (dt - _EPOCH) // timedelta(microseconds=1)


def parse_time(value: Any, field: str) -> int | None:
    """ISO-8601 text with any UTC offset (or none: UTC) → epoch microseconds."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "invalid_timestamp", f"{field} must be an ISO-8601 string")
    fast = _UTC_ISO.fullmatch(value)
    if fast is not None:
        hour, minute, second, fraction = fast.groups()
        try:
            base = _hour_us(hour)
        except ValueError:
            raise Invalid(field, "invalid_timestamp", f"{field} is not an ISO-8601 time") from None
        micros = int(fraction.ljust(6, "0")) if fraction else 0
        us = base + (int(minute) * 60 + int(second)) * 1_000_000 + micros
        if us < 0:
            raise Invalid(field, "invalid_timestamp", f"{field} is before 1970")
        return us
    return _parse_general(value, field)


def _parse_general(value: str, field: str) -> int:
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(field, "invalid_timestamp", f"{field} is not an ISO-8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        delta = dt - _EPOCH
    except OverflowError:
        raise Invalid(field, "invalid_timestamp", f"{field} is out of range") from None
    us = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    if us < 0:
        raise Invalid(field, "invalid_timestamp", f"{field} is before 1970")
    return us


def _id(value: Any, field: str, limit: int = MAX_ID_LENGTH) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid(field, "invalid_type", f"{field} must be a string")
    text = value if isinstance(value, str) else str(value)
    if text == "":
        return None
    if len(text) > limit:
        raise Invalid(field, "too_long", f"{field} is longer than {limit} characters")
    return text


def _obj(msg: dict[str, Any], field: str) -> dict[str, Any]:
    value = msg.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(field, "invalid_type", f"{field} must be a JSON object")
    return value


def _text(value: Any, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(field, "invalid_type", f"{field} must be a string")
    if len(value) > limit:
        raise Invalid(field, "too_long", f"{field} is longer than {limit} characters")
    return value


def normalise(
    raw: Any,
    *,
    received_at_us: int,
    batch_sent_at: Any = None,
    route_type: str | None = None,
    derive_anonymous_id: str | None = None,
) -> Message:
    """Check one message and apply Segment's clock-skew correction.

    `route_type` is the type implied by a single-call endpoint (/v1/track ...). With `sentAt`
    (on the message, else the batch), timestamp = receivedAt − (sentAt − originalTimestamp).
    `derive_anonymous_id` is used when a cookieless browser sends no identifier.
    """
    if not isinstance(raw, dict):
        raise Invalid("message", "invalid_type", "each message must be a JSON object")
    msg: dict[str, Any] = raw
    mtype = msg.get("type")
    if mtype in (None, "") and route_type is not None:
        mtype = route_type
    if not isinstance(mtype, str) or mtype.lower() not in MESSAGE_TYPES:
        raise Invalid(
            "type",
            "unknown_type",
            "type must be one of identify, track, page, screen, group, alias",
        )
    mtype = mtype.lower()
    if route_type is not None and mtype != route_type:
        raise Invalid("type", "type_mismatch", f"type {mtype!r} sent to /v1/{route_type}")
    message_id = _id(msg.get("messageId"), "messageId", MAX_MESSAGE_ID_LENGTH)
    anonymous_id = _id(msg.get("anonymousId"), "anonymousId")
    user_id = _id(msg.get("userId"), "userId")
    properties = _obj(msg, "properties")
    traits = _obj(msg, "traits")
    context = _obj(msg, "context")
    if mtype == "identify" and not traits and isinstance(context.get("traits"), dict):
        # RudderStack's SDKs send identify traits only in context.traits.
        traits = context["traits"]
    event = name = group_id = previous_id = None
    if mtype == "track":
        event = _text(msg.get("event"), "event", MAX_EVENT_NAME_LENGTH)
        if not event or not event.strip():
            raise Invalid("event", "missing_field", "track calls need an event name")
    elif mtype in ("page", "screen"):
        name = _text(msg.get("name"), "name", 1000)
    elif mtype == "group":
        group_id = _id(msg.get("groupId"), "groupId")
        if group_id is None:
            raise Invalid("groupId", "missing_field", "group calls need a groupId")
    elif mtype == "alias":
        previous_id = _id(msg.get("previousId"), "previousId")
        if previous_id is None:
            raise Invalid("previousId", "missing_field", "alias calls need a previousId")
        if user_id is None:
            raise Invalid("userId", "missing_field", "alias calls need a userId")
    if mtype in NEEDS_IDENTITY and user_id is None and anonymous_id is None:
        if derive_anonymous_id is None:
            raise Invalid("userId", "missing_identity", "userId or anonymousId is required")
        anonymous_id = derive_anonymous_id
    original = parse_time(msg.get("originalTimestamp"), "originalTimestamp")
    if original is None:
        original = parse_time(msg.get("timestamp"), "timestamp")
    sent_at = parse_time(msg.get("sentAt"), "sentAt")
    if sent_at is None:
        sent_at = parse_time(batch_sent_at, "sentAt")
    if original is None:
        timestamp = received_at_us
    elif sent_at is None:
        timestamp = original
    else:
        timestamp = received_at_us - (sent_at - original)
    if timestamp - received_at_us > MAX_FUTURE_US:
        raise Invalid("timestamp", "future_timestamp", "timestamp is more than a day in the future")
    if timestamp < 0:
        raise Invalid("timestamp", "invalid_timestamp", "corrected timestamp is before 1970")
    extra = {k: v for k, v in msg.items() if k not in KNOWN_FIELDS}
    if "category" in msg:
        extra["category"] = msg["category"]
    return Message(
        type=mtype,
        message_id=message_id or str(uuid.uuid4()),
        anonymous_id=anonymous_id,
        user_id=user_id,
        event=event,
        name=name,
        group_id=group_id,
        previous_id=previous_id,
        properties=properties,
        traits=traits,
        context=context,
        extra=extra,
        timestamp_us=timestamp,
        original_timestamp_us=original,
        sent_at_us=sent_at,
        received_at_us=received_at_us,
    )
