"""Overview, and the definitions under it: sessions, engaged sessions, bounce, visitors."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import RunBoth, engines_for, make_events, run_on
from pydantic import ValidationError

from haina.query import ReportSettings
from haina.reports.registry import run_report

UTC_SETTINGS = ReportSettings(timezone="UTC", conversion_events=("Order Completed",))
DAY = {"date_from": "2026-11-10", "date_to": "2026-11-12", "timezone": "UTC", "compare": False}


def page(ts: str, anon: str = "a1", **kw: Any) -> dict[str, Any]:
    return {"ts": ts, "type": "page", "anonymous_id": anon, "path": kw.pop("path", "/"), **kw}


def totals(rows: list[dict[str, Any]], settings: ReportSettings = UTC_SETTINGS, **body: Any) -> Any:
    result = run_on(engines_for(make_events(rows)), "overview", {**DAY, **body}, settings)
    return result["totals"]


def test_a_gap_over_the_timeout_starts_a_new_session() -> None:
    rows = [page("2026-11-10 10:00:00"), page("2026-11-10 10:29:59"), page("2026-11-10 11:00:00")]
    assert totals(rows)["sessions"] == 2
    longer = ReportSettings(timezone="UTC", session_timeout_minutes=60)
    assert totals(rows, longer)["sessions"] == 1


def test_sessions_do_not_split_at_midnight_or_on_a_new_campaign_unless_asked() -> None:
    rows = [
        page("2026-11-10 23:50:00", campaign="spring"),
        page("2026-11-11 00:10:00"),
        page("2026-11-11 00:20:00", campaign="autumn"),
    ]
    assert totals(rows)["sessions"] == 1
    split = ReportSettings(timezone="UTC", session_split="midnight_campaign")
    assert totals(rows, split)["sessions"] == 3


def test_sessions_are_capped_at_24_hours() -> None:
    # one event every 20 minutes for 30 hours: no gap, but two sessions
    rows = [page(f"2026-11-10 {h % 24:02d}:{m:02d}:00") for h in range(0, 24) for m in (0, 20, 40)]
    rows += [page(f"2026-11-11 {h:02d}:{m:02d}:00") for h in range(0, 6) for m in (0, 20, 40)]
    assert totals(rows)["sessions"] == 2


def test_late_events_fall_into_the_right_session() -> None:
    rows = [page("2026-11-10 10:00:00"), page("2026-11-10 10:50:00"), page("2026-11-10 10:25:00")]
    assert totals(rows)["sessions"] == 1  # 10:25 arrived last but bridges the gap
    assert totals(list(reversed(rows)))["sessions"] == 1


def engagement(ts: str, ms: int, pvid: str, anon: str = "a1") -> dict[str, Any]:
    props = {"engaged_ms": ms, "pageview_id": pvid, "scroll_depth": 50}
    return {
        "ts": ts,
        "type": "track",
        "event": "$engagement",
        "anonymous_id": anon,
        "properties": props,
    }


def test_engaged_sessions_and_bounce_rate_follow_ga4() -> None:
    rows = [
        # a: one page, 11 s engaged → engaged
        page("2026-11-10 10:00:00", "a", properties={"pageview_id": "pa"}),
        engagement("2026-11-10 10:00:11", 11_000, "pa", "a"),
        # b: one page, 9 s → bounce
        page("2026-11-10 10:00:00", "b", properties={"pageview_id": "pb"}),
        engagement("2026-11-10 10:00:09", 9_000, "b" and "pb", "b"),
        # c: two pages, no engagement data → engaged
        page("2026-11-10 10:00:00", "c"),
        page("2026-11-10 10:00:05", "c"),
        # d: one page and a conversion → engaged
        page("2026-11-10 10:00:00", "d"),
        {
            "ts": "2026-11-10 10:00:03",
            "type": "track",
            "event": "Order Completed",
            "anonymous_id": "d",
        },
        # e: one page, nothing else → bounce
        page("2026-11-10 10:00:00", "e"),
    ]
    t = totals(rows)
    assert t["sessions"] == 5 and t["engaged_sessions"] == 3
    assert t["bounce_rate"] == 0.4
    assert t["single_page_session_rate"] == 0.8  # a, b, d, e viewed one page
    assert t["conversions"] == 1 and t["conversion_rate"] == 0.2
    assert t["avg_engagement_seconds"] == 4.0  # (11 + 9) s over 5 sessions with a pageview
    stricter = ReportSettings(
        timezone="UTC", engaged_seconds=12, conversion_events=("Order Completed",)
    )
    assert totals(rows, stricter)["engaged_sessions"] == 2


def test_visitors_are_people_after_identity_resolution() -> None:
    rows = [
        page("2026-11-10 10:00:00", "phone"),
        {"ts": "2026-11-10 10:01:00", "type": "identify", "anonymous_id": "phone", "user_id": "u1"},
        page("2026-11-11 09:00:00", "laptop", user_id="u1"),
        page("2026-11-11 09:00:00", "stranger"),
    ]
    assert totals(rows)["visitors"] == 2


def test_bots_are_left_out_unless_asked_for() -> None:
    rows = [page("2026-11-10 10:00:00", "h"), page("2026-11-10 10:00:00", "bot", is_bot=True)]
    assert totals(rows)["visitors"] == 1
    assert totals(rows, include_bots=True)["visitors"] == 2


def test_dates_are_local_and_inclusive() -> None:
    rows = [page("2026-11-09 16:30:00", "early"), page("2026-11-12 15:59:00", "late")]
    shanghai = ReportSettings(timezone="Asia/Shanghai")
    # 2026-11-09 16:30 UTC is 11-10 00:30 in Shanghai; 11-12 15:59 UTC is 23:59 local
    assert totals(rows, shanghai, timezone=None)["visitors"] == 2
    assert totals(rows)["visitors"] == 1  # in UTC the first is a day early


def test_demo_overview_is_consistent(both: RunBoth) -> None:
    body = {"date_from": "2026-11-01", "date_to": "2026-11-19", "interval": "day"}
    r = both("overview", body)
    t = r["totals"]
    assert t["sessions"] > 300 and t["pageviews"] > t["sessions"]
    assert sum(p["sessions"] for p in r["series"]) == t["sessions"]
    assert sum(p["pageviews"] for p in r["series"]) == t["pageviews"]
    assert 0 < t["bounce_rate"] < 1 and t["conversions"] > 0
    assert r["freshness"] is not None and r["previous"]["sessions"] >= 0
    assert [p["period"] for p in r["series"]] == sorted(p["period"] for p in r["series"])


def test_filters_change_the_result(both: RunBoth) -> None:
    base = {"date_from": "2026-11-01", "date_to": "2026-11-19", "compare": False}
    everyone = both("overview", base)["totals"]
    mobile = both(
        "overview", {**base, "filters": [{"key": "$device_type", "op": "eq", "value": "mobile"}]}
    )["totals"]
    search = both(
        "overview",
        {**base, "filters": [{"key": "$channel", "op": "icontains", "value": "search"}]},
    )["totals"]
    assert 0 < mobile["sessions"] < everyone["sessions"]
    assert 0 < search["sessions"] < everyone["sessions"]
    either = both(
        "overview",
        {
            **base,
            "filters": [
                {"type": "OR", "values": [
                    {"key": "$device_type", "op": "eq", "value": "mobile"},
                    {"key": "$device_type", "op": "neq", "value": "mobile"},
                ]}
            ],
        },
    )["totals"]  # fmt: skip
    assert either["sessions"] == everyone["sessions"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"interval": "fortnight"}, "interval"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"filters": [{"key": "$nope", "op": "eq", "value": 1}]}, "filters"),
        ({"filters": [{"key": "plan", "op": "regex", "value": "("}]}, "filters"),
        ({"filters": [{"key": "plan", "op": "gt"}]}, "filters"),
    ],
)
def test_bad_bodies_name_the_field(body: dict[str, Any], field: str, engines: Any) -> None:
    from haina.query import ReportContext

    with pytest.raises(ValidationError) as info:
        run_report(ReportContext(engines["duckdb"], "ws_demo"), "overview", body)
    assert info.value.errors()[0]["loc"][0] == field


def test_engagement_events_never_start_a_session() -> None:
    # the tab stayed open 40 minutes; the engagement event arrives when it is closed
    rows = [
        page("2026-11-10 10:00:00", "a", properties={"pageview_id": "pa"}),
        engagement("2026-11-10 10:40:00", 20_000, "pa", "a"),
    ]
    t = totals(rows)
    assert t["sessions"] == 1 and t["engaged_sessions"] == 1
    assert t["avg_engagement_seconds"] == 20.0
