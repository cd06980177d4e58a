"""Rows → messages: mappings, Segment-named columns, line numbers, stable ids."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from haina.importer import Mapping, rows_to_messages
from haina.pipeline.normalise import Invalid, normalise


def _lines(*rows: dict[str, Any]) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()


def test_ndjson_of_segment_messages_imports_with_no_mapping() -> None:
    data = _lines(
        {
            "type": "identify",
            "userId": "u1",
            "traits": {"email": "a@example.cn"},
            "timestamp": "2026-11-01T10:00:00Z",
        },
        {
            "event": "Event Checked In",
            "userId": "u1",
            "properties": {"booth": "A3"},
            "context": {"ip": "1.2.3.4"},
            "timestamp": "2026-11-02 09:30:00",
        },
        {"userId": "u2", "store": "徐汇店"},  # no event and no fixed name
    )
    good, bad = rows_to_messages(data, "ndjson", Mapping(), "visits.ndjson")
    assert [line for line, _ in good] == [1, 2] and [(b.line, b.field) for b in bad] == [
        (3, "event")
    ]
    ident, checkin = (m for _, m in good)
    assert (ident["type"], ident["traits"]) == ("identify", {"email": "a@example.cn"})
    assert checkin["properties"] == {"booth": "A3"} and checkin["context"]["ip"] == "1.2.3.4"
    assert checkin["context"]["library"] == {"name": "haina-import"}
    assert checkin["timestamp"] == "2026-11-02T09:30:00"
    for _, m in good:  # what the mapping produced is valid for the pipeline
        normalise(m, received_at_us=1_800_000_000_000_000)


def test_mapping_wins_over_same_named_columns_and_ids_are_stable() -> None:
    csv_data = b"event,member,visited,userId\nStore Visited,M1,2026-11-03T08:00:00Z,ignored\n"
    mapping = Mapping.from_dict({"userId": "member", "timestamp": "visited"})
    ((line, msg),) = rows_to_messages(csv_data, "csv", mapping, "a.csv")[0]
    assert (line, msg["userId"], msg["event"]) == (2, "M1", "Store Visited")
    assert msg["properties"] == {"userId": "ignored"}
    again = rows_to_messages(csv_data, "csv", mapping, "a.csv")[0][0][1]
    assert again["messageId"] == msg["messageId"]
    other_file = rows_to_messages(csv_data, "csv", mapping, "b.csv")[0][0][1]
    assert other_file["messageId"] != msg["messageId"]


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["event", "userId", "type", "x", "timestamp"]),
            st.text(max_size=12) | st.integers(),
            max_size=5,
        ),
        max_size=6,
    )
)
def test_every_row_is_a_message_or_an_error_with_its_line(rows: list[dict[str, Any]]) -> None:
    good, bad = rows_to_messages(_lines(*rows), "ndjson", Mapping(event_name="Imported"), "f")
    lines = sorted([line for line, _ in good] + [b.line for b in bad])
    assert lines == list(range(1, len(rows) + 1))
    for _, m in good:
        try:
            normalise(m, received_at_us=1_800_000_000_000_000)
        except Invalid as exc:  # the pipeline, not the mapping, judges values
            assert exc.field in {"type", "userId", "timestamp", "event", "anonymousId"}
