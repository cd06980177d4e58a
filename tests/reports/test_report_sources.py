"""Traffic sources: a hand-made workspace whose answer is worked out by hand, the demo data
recomputed in plain Python, filters, and body validation; every run on DuckDB and chdb."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from haina.query import Engine, ReportSettings
from haina.store.events.clickhouse import insert_arrow
from haina.store.events.schema import EVENT_ARROW_SCHEMA

HAND = "ws_rq_sources"
DEMO = "ws_demo"  # the demo workspace of conftest.py
RunBoth = Callable[..., dict[str, Any]]
HAND_SETTINGS = ReportSettings(timezone="UTC", conversion_events=("Order Completed",))
DAY = datetime(2026, 11, 10)
BODY = {"date_from": "2026-11-10", "date_to": "2026-11-10"}
ORGANIC = {"channel": "Organic Search", "source": "baidu", "medium": "organic"}


def _event(aid: str, minute: float, kind: str = "page", **fields: Any) -> dict[str, Any]:
    """One stored event of person `aid`, `minute` minutes after DAY (negative: the day before)."""
    props = fields.pop("properties", {})
    ts = DAY + timedelta(minutes=minute)
    return {
        "workspace_id": HAND, "source_id": "src", "message_id": f"{aid}-{minute}-{kind}",
        "type": "page" if kind == "page" else "track", "event": None if kind == "page" else kind,
        "anonymous_id": aid, "timestamp": ts, "received_at": ts, "is_bot": False,
        "properties": json.dumps(props), **fields,
    }  # fmt: skip


def _engaged(aid: str, minute: int, ms: int, **fields: Any) -> dict[str, Any]:
    # Sent when the visitor leaves the page, 30 s after the pageview.
    return _event(aid, minute + 0.5, "$engagement", properties={"pageview_id": f"{aid}-{minute}",
                  "engaged_ms": ms, "scroll_depth": 50}, **fields)  # fmt: skip


def _page(aid: str, minute: int, path: str, **fields: Any) -> dict[str, Any]:
    return _event(aid, minute, path=path, properties={"pageview_id": f"{aid}-{minute}"}, **fields)


def hand_rows() -> list[dict[str, Any]]:
    """a: an organic-search session that searched "kindle" and bought (2 pageviews, 8 s),
    then a direct one (1 pageview, 20 s: engaged); b: an organic-search bounce; c: paid
    search, searched "kindle" then "lamp"; a bot; e: a session before the range."""
    kindle = {"path": "/search", "search_keyword": "kindle"}
    paid = {"channel": "Paid Search", "source": "baidu", "medium": "cpc", "campaign": "spring"}
    return [
        _page("a", 600, "/", **ORGANIC), _engaged("a", 600, 5000, **ORGANIC),
        _page("a", 601, **kindle), _engaged("a", 601, 3000, **kindle),
        _event("a", 602, "Order Completed", **kindle),
        _page("a", 900, "/", channel="Direct"), _engaged("a", 900, 20_000, channel="Direct"),
        _page("b", 660, "/products/1", channel="Organic Search", source="google",
              medium="organic"),
        _page("c", 720, **kindle, **paid), _engaged("c", 720, 4000, **kindle, **paid),
        _page("c", 721, "/search", search_keyword="lamp", **paid),
        {**_page("d", 780, "/", channel="Direct"), "is_bot": True},
        _page("e", -600, "/", channel="Direct"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hand(engines: dict[str, Engine]) -> str:
    """The hand-made events, added to both engines under their own workspace."""
    table = pa.Table.from_pylist(hand_rows(), schema=EVENT_ARROW_SCHEMA)
    con = engines["duckdb"].conn  # type: ignore[attr-defined]
    con.register("rq_sources_in", table)
    con.execute("INSERT INTO events SELECT * FROM rq_sources_in")
    con.unregister("rq_sources_in")
    insert_arrow(engines["chdb"].session, table)  # type: ignore[attr-defined]
    return HAND


def _run(both: RunBoth, hand: str, **body: Any) -> dict[str, Any]:
    return both("sources", {**BODY, **body}, HAND_SETTINGS, hand)


def _metrics(row: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(row[n] for n in names)


MAIN = ("key", "visitors", "sessions", "pageviews", "avg_engagement_seconds", "engaged_sessions",
        "bounce_rate", "conversions", "conversion_rate")  # fmt: skip


def test_channels_worked_out_by_hand(both: RunBoth, hand: str) -> None:
    result = _run(both, hand)
    assert result["kind"] == "sources" and result["dimension"] == "channel"
    assert [_metrics(r, *MAIN) for r in result["rows"]] == [
        ("Organic Search", 2, 2, 3, 4.0, 1, 0.5, 1, 0.5),
        ("Direct", 1, 1, 1, 20.0, 1, 0.0, 0, 0.0),
        ("Paid Search", 1, 1, 2, 4.0, 1, 0.0, 0, 0.0),
    ]
    assert result["rows"][0]["values"] == {"$channel": "Organic Search"}
    assert _metrics(result["totals"], *MAIN[1:]) == (3, 4, 6, 8.0, 3, 0.25, 1, 0.25)
    assert result["truncated"] is False
    assert len(result["sql"]) == 2 and result["freshness"] == "2026-11-10T15:00:30Z"


def test_bots_only_when_asked(both: RunBoth, hand: str) -> None:
    rows = _run(both, hand, include_bots=True)["rows"]
    assert [(r["key"], r["sessions"], r["visitors"]) for r in rows][:2] == [
        ("Direct", 2, 2),  # ties go by key
        ("Organic Search", 2, 2),
    ]


def test_source_medium_and_campaign(both: RunBoth, hand: str) -> None:
    rows = _run(both, hand, dimension="source_medium")["rows"]
    assert [(r["key"], r["sessions"]) for r in rows] == [
        ("(not set) / (not set)", 1),  # the direct session carries no source tags here
        ("baidu / cpc", 1),
        ("baidu / organic", 1),
        ("google / organic", 1),
    ]
    assert rows[2]["values"] == {"$source": "baidu", "$medium": "organic"}
    campaigns = _run(both, hand, dimension="campaign")["rows"]
    assert [(r["key"], r["values"], r["sessions"]) for r in campaigns] == [
        ("(not set)", {"$campaign": ""}, 3),
        ("spring", {"$campaign": "spring"}, 1),
    ]


def test_search_keyword_counts_each_session_under_each_keyword(both: RunBoth, hand: str) -> None:
    result = _run(both, hand, dimension="search_keyword")
    assert [_metrics(r, "key", "sessions", "visitors", "conversions") for r in result["rows"]] == [
        ("(not set)", 2, 2, 0),
        ("kindle", 2, 2, 1),
        ("lamp", 1, 1, 0),
    ]
    assert result["totals"]["sessions"] == 4  # totals count each session once


def test_filters_change_the_rows(both: RunBoth, hand: str) -> None:
    only = _run(both, hand, filters=[{"key": "$channel", "value": "Organic Search"}])
    assert [(r["key"], r["sessions"]) for r in only["rows"]] == [("Organic Search", 2)]
    assert only["totals"]["sessions"] == 2
    # An event filter keeps the sessions holding a matching event (here: a kindle search).
    kindle = _run(both, hand, dimension="search_keyword",
                  filters=[{"key": "$search_keyword", "value": "kindle"}])  # fmt: skip
    assert [(r["key"], r["sessions"]) for r in kindle["rows"]] == [("kindle", 2), ("lamp", 1)]


def test_limit_truncates(both: RunBoth, hand: str) -> None:
    result = _run(both, hand, limit=2)
    assert [r["key"] for r in result["rows"]] == ["Organic Search", "Direct"]
    assert result["truncated"] is True
    assert result["totals"]["sessions"] == 4


def _python_sessions_by_channel(con: Any, lo: datetime, hi: datetime) -> Counter[str]:
    """Sessions per entry channel, recomputed from the raw demo events: people through the
    first user id of each anonymous id, a new session after 30 min idle, 24 h at most."""
    ids: dict[str, str] = {}
    for aid, uid in con.execute(
        "SELECT anonymous_id, user_id FROM events WHERE workspace_id = ? AND user_id IS NOT"
        " NULL AND anonymous_id IS NOT NULL ORDER BY timestamp, user_id",
        [DEMO],
    ).fetchall():
        ids.setdefault(aid, uid)
    by_person: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for aid, uid, ts, mid, channel in con.execute(
        "SELECT anonymous_id, user_id, timestamp, message_id, channel FROM events WHERE"
        " workspace_id = ? AND type IN ('page', 'screen', 'track') AND NOT coalesce(is_bot,"
        " FALSE) AND timestamp >= ? AND timestamp <= ?",
        [DEMO, lo - timedelta(days=1), hi],
    ).fetchall():
        person = uid or ids.get(aid) or aid
        if person is not None:
            by_person[person].append((ts, mid, channel or ""))
    counts: Counter[str] = Counter()
    for events in by_person.values():
        events.sort()
        run_start = prev = events[0][0]
        chunk = -1
        for ts, _, channel in events:
            if ts - prev > timedelta(minutes=30):
                run_start, chunk = ts, -1
            if (ts - run_start) // timedelta(days=1) != chunk:  # a new session
                chunk = (ts - run_start) // timedelta(days=1)
                counts[channel] += ts >= lo
            prev = ts
    return counts


def test_demo_channels_match_a_plain_python_count(
    both: RunBoth, engines: dict[str, Engine]
) -> None:
    body = {"date_from": "2026-11-05", "date_to": "2026-11-20", "timezone": "Asia/Shanghai"}
    result = both("sources", body)
    # 2026-11-05 00:00 in Shanghai is 2026-11-04 16:00 UTC.
    expected = _python_sessions_by_channel(
        engines["duckdb"].conn,  # type: ignore[attr-defined]
        datetime(2026, 11, 4, 16),
        datetime(2026, 11, 20, 15, 59, 59),
    )
    assert {r["key"]: r["sessions"] for r in result["rows"]} == dict(expected)
    assert result["totals"]["sessions"] == sum(expected.values())
    sessions = [r["sessions"] for r in result["rows"]]
    assert sessions == sorted(sessions, reverse=True) and len(sessions) >= 5


def test_demo_rows_agree_with_overview_filtered_to_the_channel(both: RunBoth) -> None:
    body = {"date_from": "2026-11-01", "date_to": "2026-11-20"}
    rows = both("sources", body)["rows"]
    for row in rows[:3]:
        overview = both(
            "overview",
            {**body, "compare": False, "filters": [{"key": "$channel", "value": row["key"]}]},
        )
        assert {k: row[k] for k in overview["totals"]} == overview["totals"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dimension": "browser"}, "dimension"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"group_by": "path"}, "group_by"),
    ],
)
def test_bad_bodies_name_the_field(both: RunBoth, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        both("sources", body)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}
