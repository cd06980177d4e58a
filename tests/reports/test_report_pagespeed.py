"""Page speed and conversion: a hand-made workspace whose answer is worked out by hand, the
demo data against the pages report, filters and body validation; on DuckDB and chdb."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from haina.query import Engine, ReportSettings
from haina.reports.pagespeed import labels
from haina.store.events.clickhouse import insert_arrow
from haina.store.events.schema import EVENT_ARROW_SCHEMA

HAND = "ws_rq_pagespeed"
RunBoth = Callable[..., dict[str, Any]]
HAND_SETTINGS = ReportSettings(timezone="UTC", conversion_events=("Order Completed",))
DAY = datetime(2026, 11, 10)
BODY = {"date_from": "2026-11-10", "date_to": "2026-11-10"}
PRODUCTS = {"regex": "^/products/"}
ROW = ("bucket", "pageviews", "sessions", "converted_sessions", "conversion_rate", "median_load_ms")


def _event(aid: str, hour: float, props: dict[str, Any], **fields: Any) -> dict[str, Any]:
    ts = DAY + timedelta(hours=hour)
    return {
        "workspace_id": HAND, "source_id": "src", "message_id": f"{aid}-{hour}",
        "anonymous_id": aid, "timestamp": ts, "received_at": ts, "is_bot": False,
        "browser": "Safari" if aid == "s2" else "Chrome", "properties": json.dumps(props),
        **fields,
    }  # fmt: skip


def _page(aid: str, hour: float, path: str, load_ms: int | None = None) -> dict[str, Any]:
    props = {} if load_ms is None else {"perf_load_ms": load_ms}
    return _event(aid, hour, props, type="page", path=path)


def _order(aid: str, hour: float) -> dict[str, Any]:
    return _event(aid, hour, {"total": 99}, type="track", event="Order Completed")


M = 1 / 60  # a minute, in hours


def hand_rows() -> list[dict[str, Any]]:
    """One session per person: s1 buys after a fast product page; s2 (Safari) does not buy;
    s3 buys *before* viewing a product; s4 sees a very slow then a slow page and buys; s5
    buys after a page without timing; s6 buys after the home page; s7 views two 1–2 s
    product pages and buys; s8 buys, views a fast product page, and buys again."""
    return [
        _page("s1", 10, "/products/1", 800), _order("s1", 10 + 5 * M),
        _page("s2", 11, "/products/1", 1500),
        _order("s3", 12), _page("s3", 12 + M, "/products/2", 2500),
        _page("s4", 13, "/products/3", 9000), _page("s4", 13 + M, "/products/3", 7000),
        _order("s4", 13 + 2 * M),
        _page("s5", 14, "/products/1"), _order("s5", 14 + M),
        _page("s6", 17, "/", 500), _order("s6", 17 + M),
        _page("s7", 15, "/products/1", 1200), _page("s7", 15 + M, "/products/2", 1800),
        _order("s7", 15 + 2 * M),
        _order("s8", 16), _page("s8", 16 + M, "/products/4", 600), _order("s8", 16 + 2 * M),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hand(engines: dict[str, Engine]) -> str:
    """The hand-made events, added to both engines under their own workspace."""
    table = pa.Table.from_pylist(hand_rows(), schema=EVENT_ARROW_SCHEMA)
    con = engines["duckdb"].conn  # type: ignore[attr-defined]
    con.register("rq_pagespeed_in", table)
    con.execute("INSERT INTO events SELECT * FROM rq_pagespeed_in")
    con.unregister("rq_pagespeed_in")
    insert_arrow(engines["chdb"].session, table)  # type: ignore[attr-defined]
    return HAND


def _run(
    both: RunBoth, hand: str, settings: ReportSettings = HAND_SETTINGS, **body: Any
) -> dict[str, Any]:
    return both("pagespeed", {**BODY, **body}, settings, hand)


def _rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(b[f] for f in ROW) for b in result["buckets"]]


def _totals(result: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(result["totals"][f] for f in ROW[1:])


def test_product_pages_worked_out_by_hand(both: RunBoth, hand: str) -> None:
    result = _run(both, hand, page=PRODUCTS)
    assert _rows(result) == [
        ("<1 s", 2, 2, 2, 1.0, 600),
        ("1–2 s", 3, 2, 1, 0.5, 1500),
        ("2–3 s", 1, 1, 0, 0.0, 2500),  # s3 bought before the page: not counted
        ("3–5 s", 0, 0, 0, None, None),
        ("5–8 s", 1, 1, 1, 1.0, 7000),
        ("≥8 s", 1, 1, 1, 1.0, 9000),
        ("unknown", 1, 1, 1, 1.0, None),
    ]
    assert [(b["min_ms"], b["max_ms"]) for b in result["buckets"]][:2] == [
        (None, 1000),
        (1000, 2000),
    ]
    assert _totals(result) == (9, 7, 5, 0.7143, 1500)
    assert result["page"] == PRODUCTS and result["conversion_events"] == ["Order Completed"]
    assert result["kind"] == "pagespeed" and len(result["sql"]) == 2


def test_a_plain_path_and_all_pages(both: RunBoth, hand: str) -> None:
    one = _run(both, hand, page="/products/1")
    assert [r for r in _rows(one) if r[1]] == [
        ("<1 s", 1, 1, 1, 1.0, 800),
        ("1–2 s", 2, 2, 1, 0.5, 1200),
        ("unknown", 1, 1, 1, 1.0, None),
    ]
    assert _totals(one) == (4, 4, 3, 0.75, 1200)
    everything = _run(both, hand)
    assert _rows(everything)[0] == ("<1 s", 3, 3, 3, 1.0, 600)
    assert _totals(everything) == (10, 8, 6, 0.75, 1500)


def test_buckets_from_the_body(both: RunBoth, hand: str) -> None:
    result = _run(both, hand, page=PRODUCTS, buckets_ms=[2000])
    assert _rows(result) == [
        ("<2 s", 5, 4, 3, 0.75, 1200),
        ("≥2 s", 3, 2, 1, 0.5, 7000),
        ("unknown", 1, 1, 1, 1.0, None),
    ]
    assert labels([500, 1500, 60_000]) == ["<0.5 s", "0.5–1.5 s", "1.5–60 s", "≥60 s"]


def test_filters_and_conversion_settings_change_the_result(both: RunBoth, hand: str) -> None:
    chrome = _run(both, hand, page=PRODUCTS, filters=[{"key": "$browser", "value": "Chrome"}])
    assert _rows(chrome)[1] == ("1–2 s", 2, 1, 1, 1.0, 1200)
    assert _totals(chrome)[:3] == (8, 6, 5)
    none = _run(both, hand, ReportSettings(timezone="UTC"), page=PRODUCTS)
    assert _totals(none) == (9, 7, 0, 0.0, 1500)
    assert none["conversion_events"] == []


def test_demo_pageviews_agree_with_the_pages_report(both: RunBoth) -> None:
    """The demo pages carry no timing: everything is "unknown", and the counts are the
    pages report's for the same page group."""
    body = {"date_from": "2026-11-01", "date_to": "2026-11-20"}
    speed = both("pagespeed", {**body, "page": {"regex": "^/product/"}})
    unknown = speed["buckets"][-1]
    assert unknown["bucket"] == "unknown" and unknown["pageviews"] > 100
    assert sum(b["pageviews"] for b in speed["buckets"]) == unknown["pageviews"]
    patterns = [{"name": "Products", "regex": "^/product/"}]
    pages = both("pages", {**body, "group_by": "pattern", "patterns": patterns})["rows"]
    products = next(r for r in pages if r["key"] == "Products")
    assert (unknown["pageviews"], unknown["sessions"]) == (products["views"], products["sessions"])
    assert 0 < unknown["converted_sessions"] < unknown["sessions"]
    assert speed["totals"]["median_load_ms"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"buckets_ms": [2000, 1000]}, "buckets_ms"),
        ({"buckets_ms": []}, "buckets_ms"),
        ({"buckets_ms": [0, 1000]}, "buckets_ms"),
        ({"page": {"regex": "(?<=a)b"}}, "page"),
        ({"page": {"regex": "^/p", "name": "x"}}, "page"),
        ({"bucket": [1000]}, "bucket"),
    ],
)
def test_bad_bodies_name_the_field(both: RunBoth, body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        both("pagespeed", body)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}
