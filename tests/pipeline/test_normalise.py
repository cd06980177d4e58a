"""normalise(): Segment validation, timestamps and clock-skew correction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from haina.pipeline.normalise import Invalid, normalise, parse_time

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
NOW_US = 1_795_953_600_000_000  # NOW in epoch microseconds


def us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
        ),
    )
)
def test_parse_time_round_trips_any_offset(dt: datetime) -> None:
    assert parse_time(dt.isoformat(), "timestamp") == us(dt)
    assert parse_time(dt.astimezone(UTC).isoformat().replace("+00:00", "Z"), "t") == us(dt)
    millis = parse_time(dt.isoformat(timespec="milliseconds"), "timestamp")
    assert millis is not None and 0 <= us(dt) - millis < 1000


@given(st.text(max_size=40))
def test_parse_time_rejects_or_parses_never_crashes(text: str) -> None:
    try:
        parse_time(text, "timestamp")
    except Invalid as exc:
        assert exc.field == "timestamp" and exc.code == "invalid_timestamp"


def test_clock_skew_correction_uses_sent_at() -> None:
    device_fast = timedelta(minutes=7)
    event = NOW - timedelta(seconds=30) + device_fast
    m = normalise(
        {"type": "track", "event": "E", "userId": "u", "timestamp": event.isoformat()},
        received_at_us=NOW_US,
        batch_sent_at=(NOW + device_fast).isoformat(),
    )
    assert m.timestamp_us == us(NOW - timedelta(seconds=30))
    assert m.original_timestamp_us == us(event)
    no_sent = normalise(
        {"type": "track", "event": "E", "userId": "u", "timestamp": event.isoformat()},
        received_at_us=NOW_US,
    )
    assert no_sent.timestamp_us == us(event)
    none = normalise({"type": "page", "anonymousId": "a"}, received_at_us=NOW_US)
    assert none.timestamp_us == NOW_US and none.original_timestamp_us is None


def test_original_timestamp_wins_over_timestamp_and_message_sent_at_over_batch() -> None:
    m = normalise(
        {
            "type": "page",
            "anonymousId": "a",
            "originalTimestamp": "2026-11-29T11:00:00Z",
            "timestamp": "2020-01-01T00:00:00Z",
            "sentAt": "2026-11-29T11:00:10Z",
        },
        received_at_us=NOW_US,
        batch_sent_at="2000-01-01T00:00:00Z",
    )
    assert m.timestamp_us == NOW_US - 10_000_000


@pytest.mark.parametrize(
    ("msg", "field", "code"),
    [
        ({"type": "track", "userId": "u"}, "event", "missing_field"),
        ({"type": "track", "event": "  ", "userId": "u"}, "event", "missing_field"),
        ({"type": "track", "event": "E"}, "userId", "missing_identity"),
        ({"type": "alias", "userId": "u"}, "previousId", "missing_field"),
        ({"type": "group", "userId": "u"}, "groupId", "missing_field"),
        ({"type": "x", "userId": "u"}, "type", "unknown_type"),
        ({"type": "track", "event": "E", "userId": {"a": 1}}, "userId", "invalid_type"),
        (
            {"type": "track", "event": "E", "userId": "u", "properties": [1]},
            "properties",
            "invalid_type",
        ),
        (
            {"type": "track", "event": "E", "userId": "u", "messageId": "m" * 101},
            "messageId",
            "too_long",
        ),
        (
            {"type": "track", "event": "E", "userId": "u", "timestamp": "2999-01-01T00:00:00Z"},
            "timestamp",
            "future_timestamp",
        ),
        (
            {"type": "track", "event": "E", "userId": "u", "timestamp": 1700000000},
            "timestamp",
            "invalid_timestamp",
        ),
    ],
)
def test_invalid_messages_name_the_field(msg: dict[str, Any], field: str, code: str) -> None:
    with pytest.raises(Invalid) as info:
        normalise(msg, received_at_us=NOW_US)
    assert (info.value.field, info.value.code) == (field, code)


def test_extra_fields_are_kept_and_ids_become_strings() -> None:
    m = normalise(
        {
            "type": "identify",
            "userId": 42,
            "anonymousId": "",
            "version": 2,
            "integrations": {"All": True},
            "_metadata": {"x": 1},
            "channel": "server",
        },
        received_at_us=NOW_US,
    )
    assert (m.user_id, m.anonymous_id) == ("42", None)
    assert m.extra == {
        "version": 2,
        "integrations": {"All": True},
        "_metadata": {"x": 1},
        "channel": "server",
    }
    assert len(m.message_id) == 36


def test_route_type_fills_a_missing_type_and_refuses_another() -> None:
    assert (
        normalise({"userId": "u", "event": "E"}, received_at_us=NOW_US, route_type="track").type
        == "track"
    )
    with pytest.raises(Invalid) as info:
        normalise({"type": "page", "userId": "u"}, received_at_us=NOW_US, route_type="track")
    assert info.value.code == "type_mismatch"


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)),
    st.sampled_from(["Z", "+00:00"]),
    st.integers(0, 6),
)
def test_fast_utc_path_agrees_with_the_general_parser(
    dt: datetime, suffix: str, digits: int
) -> None:
    from haina.pipeline.normalise import _parse_general

    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{dt.microsecond:06d}"[:digits]
    text += suffix
    assert parse_time(text, "t") == _parse_general(text, "t")
