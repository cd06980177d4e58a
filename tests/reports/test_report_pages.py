"""Pages: a hand-made workspace whose answer is worked out by hand, the demo data recomputed
in plain Python, grouping, filters and body validation; every run on DuckDB and chdb."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from haina.query import Engine, ReportSettings
from haina.reports import pages
from haina.store.events.clickhouse import insert_arrow
from haina.store.events.schema import EVENT_ARROW_SCHEMA

HAND = "ws_rq_pages"
DEMO = "ws_demo"  # the demo workspace of conftest.py
RunBoth = Callable[..., dict[str, Any]]
HAND_SETTINGS = ReportSettings(timezone="UTC", conversion_events=("Order Completed",))
DAY = datetime(2026, 11, 10)
BODY = {"date_from": "2026-11-10", "date_to": "2026-11-10"}
BODY_DEMO = {"date_from": "2026-10-01", "date_to": "2026-11-20"}  # all of the demo data
TITLES = {"/": "Home", "/about": "About"}


def _event(aid: str, minute: float, kind: str, props: dict[str, Any], **fields: Any) -> dict:
    ts = DAY + timedelta(minutes=minute)
    return {
        "workspace_id": HAND, "source_id": "src", "message_id": f"{aid}-{minute}-{kind}",
        "type": "page" if kind == "page" else "track", "event": None if kind == "page" else kind,
        "anonymous_id": aid, "timestamp": ts, "received_at": ts, "is_bot": False,
        "browser": "Firefox" if aid == "r" else "Chrome", "channel": "Direct",
        "properties": json.dumps(props), **fields,
    }  # fmt: skip


def _page(aid: str, minute: int, path: str, load_ms: int | None = None, query: str = "") -> dict:
    props: dict[str, Any] = {"pageview_id": f"{aid}-{minute}"}
    if load_ms is not None:
        props["perf_load_ms"] = load_ms
    title = TITLES.get(path, "Product")
    return _event(aid, minute, "page", props, path=path, title=title,
                  url=f"https://shop.test{path}{query}")  # fmt: skip


def _engaged(aid: str, minute: float, pv: int, ms: int, scroll: int | None) -> dict:
    props: dict[str, Any] = {"pageview_id": f"{aid}-{pv}", "engaged_ms": ms}
    if scroll is not None:
        props["scroll_depth"] = scroll
    return _event(aid, minute, "$engagement", props)


def hand_rows() -> list[dict[str, Any]]:
    """p: / → /products/1 (two engagement events) → /products/2 (no engagement data);
    q: a bounce on /products/1; r (Firefox): an engaged visit of /, later a bounce on / with
    no timing or engagement; s: /about whose only engagement event says 0 ms, no scroll."""
    return [
        _page("p", 600, "/", 800), _engaged("p", 600.5, 600, 4000, 20),
        _page("p", 601, "/products/1", 2500), _engaged("p", 601.3, 601, 10_000, 50),
        _engaged("p", 601.6, 601, 20_000, 80), _page("p", 603, "/products/2", 3100),
        _page("q", 660, "/products/1", 1500, "?ref=mail"), _engaged("q", 660.5, 660, 2000, 30),
        _page("r", 720, "/", 900), _engaged("r", 720.5, 720, 12_000, 60),
        _page("r", 840, "/"),
        _page("s", 780, "/about"), _engaged("s", 780.5, 780, 0, None),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hand(engines: dict[str, Engine]) -> str:
    """The hand-made events, added to both engines under their own workspace."""
    table = pa.Table.from_pylist(hand_rows(), schema=EVENT_ARROW_SCHEMA)
    con = engines["duckdb"].conn  # type: ignore[attr-defined]
    con.register("rq_pages_in", table)
    con.execute("INSERT INTO events SELECT * FROM rq_pages_in")
    con.unregister("rq_pages_in")
    insert_arrow(engines["chdb"].session, table)  # type: ignore[attr-defined]
    return HAND


def _run(both: RunBoth, hand: str, **body: Any) -> dict[str, Any]:
    return both("pages", {**BODY, **body}, HAND_SETTINGS, hand)


def _flat(row: dict[str, Any]) -> tuple[Any, ...]:
    scroll = row["scroll"]
    return (
        row.get("key"), row["views"], row["visitors"], row["sessions"],
        row["avg_engagement_seconds"], row["entries"], row["exits"], row["exit_rate"],
        row["bounce_rate"], tuple(scroll["buckets"].values()), scroll["average"],
        row["median_load_ms"],
    )  # fmt: skip


def test_paths_worked_out_by_hand(both: RunBoth, hand: str) -> None:
    result = _run(both, hand)
    assert result["kind"] == "pages" and result["group_by"] == "path"
    assert [_flat(r) for r in result["rows"]] == [
        ("/", 3, 2, 3, 8.0, 3, 2, 0.6667, 0.3333, (1, 0, 1, 0), 40.0, 800),
        ("/products/1", 2, 2, 2, 16.0, 1, 1, 0.5, 1.0, (0, 1, 0, 1), 55.0, 1500),
        ("/about", 1, 1, 1, None, 1, 1, 1.0, 1.0, (0, 0, 0, 0), None, None),
        ("/products/2", 1, 1, 1, None, 0, 1, 1.0, None, (0, 0, 0, 0), None, 3100),
    ]
    assert list(result["rows"][0]["scroll"]["buckets"]) == ["0-25", "25-50", "50-75", "75-100"]
    assert result["rows"][0]["scroll"]["pageviews"] == 2
    assert _flat(result["totals"]) == (
        None, 7, 4, 5, 12.0, 5, 5, 1.0, 0.6, (1, 1, 1, 1), 47.5, 1500,
    )  # fmt: skip
    assert result["truncated"] is False and len(result["sql"]) == 1  # rows and totals at once


def test_group_by_title_url_and_pattern(both: RunBoth, hand: str) -> None:
    titles = _run(both, hand, group_by="title")["rows"]
    assert [_flat(r)[:10] for r in titles][:2] == [
        ("Home", 3, 2, 3, 8.0, 3, 2, 0.6667, 0.3333, (1, 0, 1, 0)),
        ("Product", 3, 2, 2, 16.0, 1, 2, 1.0, 1.0, (0, 1, 0, 1)),
    ]
    assert titles[1]["median_load_ms"] == 2500
    urls = _run(both, hand, group_by="url")["rows"]
    assert [(r["key"], r["views"]) for r in urls] == [
        ("https://shop.test/", 3),
        ("https://shop.test/about", 1),
        ("https://shop.test/products/1", 1),
        ("https://shop.test/products/1?ref=mail", 1),
        ("https://shop.test/products/2", 1),
    ]
    products = {"name": "Products", "regex": "^/products/"}
    grouped = _run(both, hand, group_by="pattern", patterns=[products])["rows"]
    assert [(r["key"], r["views"], r["entries"], r["exits"]) for r in grouped] == [
        ("(other)", 4, 4, 3),
        ("Products", 3, 1, 2),
    ]
    first = {"name": "Product 1", "regex": "^/products/1$"}
    wins = _run(both, hand, group_by="pattern", patterns=[first, products])["rows"]
    assert [(r["key"], r["views"]) for r in wins] == [
        ("(other)", 4),
        ("Product 1", 2),
        ("Products", 1),
    ]


def test_filters_change_the_rows(both: RunBoth, hand: str) -> None:
    chrome = _run(both, hand, filters=[{"key": "$browser", "op": "neq", "value": "Firefox"}])
    assert [_flat(r)[:9] for r in chrome["rows"]][:2] == [
        ("/products/1", 2, 2, 2, 16.0, 1, 1, 0.5, 1.0),
        ("/", 1, 1, 1, 4.0, 1, 0, 0.0, 0.0),  # r's two visits are gone
    ]
    assert chrome["totals"]["views"] == 5
    one = _run(both, hand, filters=[{"key": "$path", "value": "/products/1"}])
    assert [_flat(r)[:9] for r in one["rows"]] == [("/products/1", 2, 2, 2, 16.0, 1, 1, 0.5, 1.0)]


def test_limit_truncates(both: RunBoth, hand: str) -> None:
    result = _run(both, hand, limit=2)
    assert [r["key"] for r in result["rows"]] == ["/", "/products/1"]
    assert result["truncated"] is True and result["totals"]["views"] == 7


def _python_pages(con: Any) -> tuple[dict[str, int], dict[str, float | None]]:
    """Views and average engaged seconds per path, from the raw demo events (bots left out;
    engaged time summed per pageview id and capped at 30 min; no-data pageviews left out)."""
    rows = con.execute(
        "SELECT type, event, path, properties FROM events WHERE workspace_id = ? AND"
        " NOT coalesce(is_bot, FALSE) AND type IN ('page', 'track')",
        [DEMO],
    ).fetchall()
    views: dict[str, int] = defaultdict(int)
    pv_path: dict[str, str] = {}
    engaged: dict[str, float] = defaultdict(float)
    scrolled: set[str] = set()
    for kind, event, path, properties in rows:
        props = json.loads(properties)
        if kind == "page":
            views[path] += 1
            pv_path[props["pageview_id"]] = path
        elif event == "$engagement":
            engaged[props["pageview_id"]] += max(float(props.get("engaged_ms") or 0), 0.0)
            if props.get("scroll_depth") is not None:
                scrolled.add(props["pageview_id"])
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for pvid, path in pv_path.items():
        ms = min(engaged.get(pvid, 0.0), 1_800_000.0)
        if ms > 0 or pvid in scrolled:
            total[path] += ms
            count[path] += 1
    avg = {p: round(total[p] / count[p] / 1000, 4) if count[p] else None for p in views}
    return dict(views), avg


def test_demo_pages_match_a_plain_python_count(both: RunBoth, engines: dict[str, Engine]) -> None:
    result = both("pages", {**BODY_DEMO, "limit": 1000})
    views, avg = _python_pages(engines["duckdb"].conn)  # type: ignore[attr-defined]
    assert {r["key"]: r["views"] for r in result["rows"]} == views
    assert {r["key"]: r["avg_engagement_seconds"] for r in result["rows"]} == avg
    totals = result["totals"]
    assert sum(r["entries"] for r in result["rows"]) == totals["entries"] == totals["sessions"]
    assert sum(r["exits"] for r in result["rows"]) == totals["exits"] == totals["sessions"]
    overview = both("overview", {**BODY_DEMO, "compare": False})
    assert totals["views"] == overview["totals"]["pageviews"]
    assert totals["bounce_rate"] == overview["totals"]["bounce_rate"]


def test_visitors_by_bitmap_and_by_distinct_count_agree(
    both: RunBoth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On DuckDB's stored sessions visitors per page are bits set in a bitmap of person
    # numbers while groups x people fit the budget, a distinct count beyond: `both` checks
    # each against the derived sessions and ClickHouse.
    body = {**BODY_DEMO, "group_by": "url", "limit": 1000}
    with_bitmaps = both("pages", body)
    monkeypatch.setattr(pages, "BITMAP_BYTES", 0)
    assert both("pages", body) == with_bitmaps


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group_by": "pattern"}, "patterns"),
        ({"patterns": [{"name": "P", "regex": "^/p"}]}, "patterns"),
        ({"group_by": "pattern", "patterns": [{"name": "P", "regex": "("}]}, "patterns"),
        ({"group_by": "pattern", "patterns": [{"name": "P", "regex": "^/(?!x)"}]}, "patterns"),
        ({"group_by": "pattern", "patterns": [{"name": "", "regex": "^/"}]}, "patterns"),
        ({"group_by": "host"}, "group_by"),
        ({"limit": 1001}, "limit"),
    ],
)
def test_bad_bodies_name_the_field(both: RunBoth, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        both("pages", body)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}
