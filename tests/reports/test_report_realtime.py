"""Realtime on both engines: the window (now - N minutes, now], minute buckets, top pages and
the sources of the sessions active now; the demo data set against plain Python."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import NOW, WORKSPACE, engines_for, make_events, run_on
from pydantic import ValidationError

from haina.query import Engine, ReportContext, ReportSettings
from haina.reports.registry import run_report

UTC_SETTINGS = ReportSettings(timezone="UTC")
WS = "rt_a"  # chdb sessions of a process share one database: a workspace of our own


def page(ts: str, who: str, path: str = "/", **kw: Any) -> dict[str, Any]:
    return {"ts": f"2026-11-20 {ts}", "type": "page", "anonymous_id": who, "path": path,
            "channel": kw.pop("channel", "Direct"), **kw}  # fmt: skip


ROWS = [  # NOW is 2026-11-20 12:00:00 UTC
    page("11:20:00", "a", "/landing", channel="Organic Search", referrer_host="www.baidu.com"),
    page("11:45:30", "a", "/product"),  # same session (25.5 min gap): entry stays search
    page("11:46:30", "a", "/product"),
    {"ts": "2026-11-20 11:50:30", "type": "track", "event": "$engagement", "anonymous_id": "a",
     "properties": {"engaged_ms": 3000}},
    page("11:59:30", "b", "/product"),
    page("11:30:00", "c", "/old"),  # exactly 30 minutes ago: outside the window
    page("11:30:01", "c"),
    page("12:00:00", "d"),  # now: inside
    page("12:00:01", "d", "/future"),  # after now: outside
    page("11:50:00", "bot", is_bot=True),
    page("11:11:00", "e", channel="Email"),  # 29.5 minutes before its click: one session
    {"ts": "2026-11-20 11:40:30", "type": "track", "event": "Clicked", "anonymous_id": "e"},
]  # fmt: skip


@pytest.fixture(scope="module")
def hand() -> dict[str, Engine]:
    return engines_for(make_events(ROWS, WS))


def realtime(hand: dict[str, Engine], **body: Any) -> dict[str, Any]:
    return run_on(hand, "realtime", body, UTC_SETTINGS, WS)


@pytest.fixture(scope="module")
def now30(hand: dict[str, Engine]) -> dict[str, Any]:
    return realtime(hand)  # the default body, asked once for several tests


def test_visitors_and_pageviews_in_the_window(now30: dict[str, Any]) -> None:
    r = now30
    # a, b, c, d and e (a click is activity; a's engagement event too); not the bot
    assert (r["visitors"], r["pageviews"]) == (5, 5)
    assert r["range"] == {"from": "2026-11-20T11:30:00.000001", "to": "2026-11-20T12:00:00",
                          "timezone": "UTC"}  # fmt: skip
    assert r["minutes"] == 30 and len(r["per_minute"]) == 30


def test_pageviews_per_minute(now30: dict[str, Any]) -> None:
    per_minute = {m["minutes_ago"]: (m["visitors"], m["pageviews"]) for m in now30["per_minute"]}
    busy = {m: v for m, v in per_minute.items() if v != (0, 0)}
    # minute m holds (now - m min, now - (m - 1) min]
    assert busy == {30: (1, 1), 20: (1, 0), 15: (1, 1), 14: (1, 1), 10: (1, 0), 1: (2, 2)}
    assert list(per_minute) == list(range(30, 0, -1))


def test_top_pages_and_sources_now(hand: dict[str, Engine], now30: dict[str, Any]) -> None:
    r = now30
    assert r["pages"] == [
        {"path": "/product", "pageviews": 3, "visitors": 2},
        {"path": "/", "pageviews": 2, "visitors": 2},
    ]
    # a's session began 40 minutes ago from search; e's 49 minutes ago from an email
    assert r["sources"] == [
        {"channel": "Direct", "referrer_host": "", "visitors": 3, "sessions": 3},
        {"channel": "Email", "referrer_host": "", "visitors": 1, "sessions": 1},
        {"channel": "Organic Search", "referrer_host": "www.baidu.com", "visitors": 1,
         "sessions": 1},
    ]  # fmt: skip
    top = realtime(hand, limit=1)
    assert [p["path"] for p in top["pages"]] == ["/product"] and len(top["sources"]) == 1


def test_minutes_and_filters_narrow_it(hand: dict[str, Engine]) -> None:
    five = realtime(hand, minutes=5)
    assert (five["visitors"], five["pageviews"], len(five["per_minute"])) == (2, 2, 5)
    direct = realtime(hand, filters=[{"key": "$channel", "value": "Direct"}])
    assert (direct["visitors"], direct["pageviews"]) == (3, 3)
    paths = realtime(hand, filters=[{"key": "$path", "value": "/product"}])
    assert (paths["visitors"], paths["pageviews"]) == (2, 3)
    bots = realtime(hand, include_bots=True)
    assert bots["visitors"] == 6


def test_demo_busiest_hour_matches_a_plain_python_recomputation(
    engines: dict[str, Engine],
) -> None:
    conn = engines["duckdb"].conn  # type: ignore[attr-defined]
    (busiest,) = conn.execute(
        "SELECT date_trunc('hour', timestamp) + INTERVAL 1 HOUR AS h FROM events "
        "WHERE workspace_id = ? GROUP BY h ORDER BY count(DISTINCT anonymous_id) DESC, h LIMIT 1",
        [WORKSPACE],
    ).fetchone()
    start = busiest - timedelta(minutes=60)
    rows = conn.execute(
        "SELECT coalesce(e.user_id, i.uid, e.anonymous_id), e.type FROM events e LEFT JOIN "
        "(SELECT anonymous_id AS aid, arg_min(user_id, (timestamp, user_id)) AS uid FROM events "
        "WHERE workspace_id = $ws AND user_id IS NOT NULL GROUP BY aid) i "
        "ON e.anonymous_id = i.aid WHERE e.workspace_id = $ws AND e.timestamp > $lo "
        "AND e.timestamp <= $hi AND e.type IN ('page', 'screen', 'track') "
        "AND NOT coalesce(e.is_bot, FALSE)",
        {"ws": WORKSPACE, "lo": start, "hi": busiest},
    ).fetchall()
    results = [
        run_report(ReportContext(e, WORKSPACE, UTC_SETTINGS, busiest), "realtime", {"minutes": 60})
        for e in engines.values()
    ]
    for r in results:
        r.pop("sql")
    assert results[0] == results[1]
    r = results[0]
    assert r["visitors"] == len({p for p, _ in rows}) > 1
    assert r["pageviews"] == sum(1 for _, kind in rows if kind in ("page", "screen"))
    assert sum(m["pageviews"] for m in r["per_minute"]) == r["pageviews"]
    assert datetime.fromisoformat(r["range"]["to"]) == busiest


@pytest.mark.parametrize(
    ("body", "field"),
    [({"minutes": 0}, "minutes"), ({"minutes": 61}, "minutes"), ({"limit": 0}, "limit")],
)
def test_bad_bodies_are_refused_naming_the_field(
    engines: dict[str, Engine], body: dict[str, Any], field: str
) -> None:
    ctx = ReportContext(engines["duckdb"], WORKSPACE, UTC_SETTINGS, NOW)
    with pytest.raises(ValidationError) as err:
        run_report(ctx, "realtime", body)
    assert err.value.errors()[0]["loc"][0] == field


def test_a_date_range_is_refused(engines: dict[str, Engine]) -> None:
    ctx = ReportContext(engines["duckdb"], WORKSPACE, UTC_SETTINGS, NOW)
    with pytest.raises(ValidationError, match="minutes"):
        run_report(ctx, "realtime", {"date_from": "2026-11-01"})
