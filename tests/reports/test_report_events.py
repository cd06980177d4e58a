"""Event analytics on both engines: counts, people, per-person frequency, breakdowns with
"(other)", trends in the query's time zone; the demo data set against plain Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest
from conftest import NOW, WORKSPACE, RunBoth, engines_for, make_events, run_on
from pydantic import ValidationError

from haina.query import Engine, ReportContext, ReportSettings
from haina.reports.registry import run_report

UTC_SETTINGS = ReportSettings(timezone="UTC")
RANGE = {"date_from": "2026-11-10", "date_to": "2026-11-12", "timezone": "UTC"}
WS = "evt_a"  # chdb sessions of a process share one database: a workspace of our own


def click(ts: str, who: str, button: str | None = None, **kw: Any) -> dict[str, Any]:
    props = {"button": button} if button else {}
    return {"ts": ts, "type": "track", "event": "Clicked", "anonymous_id": who,
            "properties": props, **kw}  # fmt: skip


def page(ts: str, who: str, **kw: Any) -> dict[str, Any]:
    return {"ts": ts, "type": "page", "anonymous_id": who, "path": "/", **kw}


ROWS = [
    {"ts": "2026-11-01 00:00:00", "type": "identify", "anonymous_id": "a", "user_id": "a",
     "traits": {"plan": "pro"}},
    {"ts": "2026-11-01 00:00:00", "type": "identify", "anonymous_id": "b", "user_id": "b",
     "traits": {"plan": "free"}},
    page("2026-11-10 09:00:00", "a", channel="Organic Search", browser="Firefox"),
    click("2026-11-10 09:05:00", "a", "buy", channel="Direct", browser="Firefox"),
    click("2026-11-10 09:06:00", "a", "buy", channel="Direct", browser="Firefox"),
    click("2026-11-10 17:00:00", "a", "buy", channel="Direct"),  # 01:00 next day in Shanghai
    page("2026-11-11 08:00:00", "a", channel="Direct"),
    click("2026-11-11 08:01:00", "a", "cart", channel="Direct"),
    {"ts": "2026-11-11 08:02:00", "type": "track", "event": "$engagement", "anonymous_id": "a",
     "properties": {"engaged_ms": 5000, "pageview_id": "x"}},
    click("2026-11-10 12:00:00", "b", "buy"),
    {"ts": "2026-11-10 12:01:00", "type": "track", "event": "Signed Up", "anonymous_id": "b"},
    *[click(f"2026-11-11 10:0{i}:00", "c", "share") for i in range(6)],
    *[click(f"2026-11-12 10:{i:02d}:00", "d") for i in range(12)],
    *[click(f"2026-11-11 11:0{i}:00", "bot", "buy", is_bot=True) for i in range(5)],
    click("2026-11-13 00:00:01", "b", "buy"),  # after the range
]  # fmt: skip


@pytest.fixture(scope="module")
def hand() -> dict[str, Engine]:
    return engines_for(make_events(ROWS, WS))


def events(hand: dict[str, Engine], **body: Any) -> list[dict[str, Any]]:
    result = run_on(hand, "events", {**RANGE, **body}, UTC_SETTINGS, WS)
    assert result["kind"] == "events"
    out: list[dict[str, Any]] = result["events"]
    return out


def test_every_track_event_by_name_with_frequency(hand: dict[str, Engine]) -> None:
    clicked, signed_up = events(hand)  # no pages, no $engagement, no bot, nothing after the range
    assert (clicked["event"], clicked["count"], clicked["people"]) == ("Clicked", 23, 4)
    assert clicked["per_person"] == 5.75 and clicked["median_per_person"] == 4  # 1, 4, 6, 12
    assert [f["people"] for f in clicked["frequency"]] == [1, 0, 1, 1, 1]
    assert [f["bucket"] for f in clicked["frequency"]] == ["1", "2", "3-5", "6-10", "11+"]
    assert (signed_up["event"], signed_up["count"], signed_up["people"]) == ("Signed Up", 1, 1)


def test_chosen_entities_with_filters_pages_and_any_event(hand: dict[str, Engine]) -> None:
    chosen = [
        {"event": "Clicked", "filters": [{"key": "button", "value": "buy"}]},
        {"event": "$pageview"},
        {"event": None},
        {"event": "Never Happened"},
    ]
    buy, pages, anything, never = events(hand, events=chosen)
    assert (buy["count"], buy["people"]) == (4, 2)
    assert (pages["count"], pages["people"]) == (2, 1)
    assert (anything["count"], anything["people"]) == (26, 4)  # 23 clicks, 2 pages, 1 sign-up
    assert (never["count"], never["people"], never["per_person"]) == (0, 0, None)
    assert never["series"] == [] and never["event"] == "Never Happened"


def test_breakdown_keeps_the_top_values_and_sums_the_rest(hand: dict[str, Engine]) -> None:
    (clicked, _) = events(hand, breakdown={"property": "button"}, limit=2)
    rows = [(b["value"], b["count"], b["people"], b["other"]) for b in clicked["breakdown"]]
    # "" 12 (d), share 6 (c), then buy 4 (a, b) and cart 1 (a): a counts once in (other)
    assert rows == [("", 12, 1, False), ("share", 6, 1, False), ("(other)", 5, 2, True)]
    (clicked, _) = events(hand, breakdown={"property": "plan", "source": "person"})
    plans = {b["value"]: (b["count"], b["people"]) for b in clicked["breakdown"]}
    assert plans == {"": (18, 2), "pro": (4, 1), "free": (1, 1)}


def test_trend_by_day_in_the_query_time_zone(hand: dict[str, Engine]) -> None:
    (clicked, _) = events(hand)
    assert [(p["period"], p["count"], p["people"]) for p in clicked["series"]] == [
        ("2026-11-10 00:00:00", 4, 2),
        ("2026-11-11 00:00:00", 7, 2),
        ("2026-11-12 00:00:00", 12, 1),
    ]
    shanghai = run_on(hand, "events", {**RANGE, "timezone": "Asia/Shanghai"}, UTC_SETTINGS, WS)[
        "events"
    ][0]
    # 17:00 UTC on the 10th is the 11th in Shanghai; d's clicks (10:00 UTC) stay on the 12th
    assert [(p["period"], p["count"]) for p in shanghai["series"]] == [
        ("2026-11-10 00:00:00", 3),
        ("2026-11-11 00:00:00", 8),
        ("2026-11-12 00:00:00", 12),
    ]
    weekly = events(hand, interval="week")[0]
    assert [(p["period"], p["count"]) for p in weekly["series"]] == [("2026-11-09 00:00:00", 23)]


def test_filters_change_the_counts(hand: dict[str, Engine]) -> None:
    firefox = events(hand, filters=[{"key": "$browser", "value": "Firefox"}])
    assert [(e["event"], e["count"]) for e in firefox] == [("Clicked", 2)]
    # acquisition keys match the session's entry: a's first session came from search, so its
    # clicks count although each click itself says "Direct"; the next day's session does not
    search = events(hand, filters=[{"key": "$channel", "value": "Organic Search"}])
    assert [(e["event"], e["count"], e["people"]) for e in search] == [("Clicked", 2, 1)]
    bots = events(hand, include_bots=True)[0]
    assert (bots["count"], bots["people"]) == (28, 5)


# --- the demo data set, against a plain-Python recomputation --------------------------------


def test_demo_counts_match_a_plain_python_recomputation(
    both: RunBoth, engines: dict[str, Engine]
) -> None:
    conn = engines["duckdb"].conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT anonymous_id, user_id, timestamp, event FROM events WHERE workspace_id = ? "
        "AND type = 'track' AND NOT coalesce(is_bot, FALSE) AND event <> '$engagement'",
        [WORKSPACE],
    ).fetchall()
    links = conn.execute(
        "SELECT anonymous_id, arg_min(user_id, (timestamp, user_id)) FROM events "
        "WHERE workspace_id = ? AND user_id IS NOT NULL AND anonymous_id IS NOT NULL "
        "GROUP BY anonymous_id",
        [WORKSPACE],
    ).fetchall()
    person_of = dict(links)
    counts: Counter[str] = Counter()
    per_person: dict[str, Counter[str]] = defaultdict(Counter)
    for anon, user, _, event in rows:
        person = user or person_of.get(anon) or anon
        counts[event] += 1
        per_person[event][person] += 1
    result = both("events", {})["events"]
    assert {e["event"]: e["count"] for e in result} == dict(counts)
    assert {e["event"]: e["people"] for e in result} == {k: len(v) for k, v in per_person.items()}
    assert [e["count"] for e in result] == sorted(counts.values(), reverse=True)
    viewed = next(e for e in result if e["event"] == "Product Viewed")
    n = per_person["Product Viewed"].values()
    assert [f["people"] for f in viewed["frequency"]] == [
        sum(1 for c in n if c == 1),
        sum(1 for c in n if c == 2),
        sum(1 for c in n if 3 <= c <= 5),
        sum(1 for c in n if 6 <= c <= 10),
        sum(1 for c in n if c >= 11),
    ]
    assert sum(p["count"] for p in viewed["series"]) == viewed["count"]


def test_demo_breakdown_by_product_category(both: RunBoth) -> None:
    body = {"events": [{"event": "Product Viewed"}], "breakdown": {"property": "category"}}
    (viewed,) = both("events", {**body, "limit": 3})["events"]
    assert len(viewed["breakdown"]) == 4 and viewed["breakdown"][-1]["value"] == "(other)"
    assert sum(b["count"] for b in viewed["breakdown"]) == viewed["count"]
    counts = [b["count"] for b in viewed["breakdown"][:-1]]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval": "fortnight"}, "interval"),
        ({"limit": 0}, "limit"),
        ({"events": [{"event": "x", "name": "y"}]}, "events"),
        ({"events": [{"event": "x"}] * 31}, "events"),
        ({"breakdown": {"property": ""}}, "breakdown"),
        ({"breakdown": {"property": "x", "source": "group"}}, "breakdown"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    engines: dict[str, Engine], body: dict[str, Any], field: str
) -> None:
    ctx = ReportContext(engines["duckdb"], WORKSPACE, UTC_SETTINGS, NOW)
    with pytest.raises(ValidationError) as err:
        run_report(ctx, "events", body)
    assert err.value.errors()[0]["loc"][0] == field
