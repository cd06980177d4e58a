"""The traffic report pages over HTTP (overview, sources, pages, page speed, realtime): each
renders in both languages from the demo data set, shows exactly the report API's numbers for
the same body, and the filter bar changes them."""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.config import Settings
from haina.testing import create_workspace, dashboard_login, free_port, live_server, run_cli
from haina.web.session import LANG_COOKIE

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
TITLES = {
    "overview": ("Overview", "概览"),
    "sources": ("Traffic sources", "流量来源"),
    "pages": ("Pages", "页面"),
    "pagespeed": ("Page speed", "页面速度"),
    "realtime": ("Realtime", "实时"),
}


class Shop:
    def __init__(self, url: str, ws: dict[str, str]) -> None:
        self.url, self.ws = url, ws
        self.client = dashboard_login(url, ws["api_token"])

    def page(self, path: str, lang: str = "en") -> str:
        self.client.cookies.set(LANG_COOKIE, lang)
        r = self.client.get(path)
        assert r.status_code == 200, r.text
        return r.text

    def api(self, kind: str, body: dict[str, Any]) -> Any:
        r = httpx.post(
            f"{self.url}/api/v1/reports/{kind}",
            json=body,
            headers={"Authorization": f"Bearer {self.ws['api_token']}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data: Path = tmp_path_factory.mktemp("traffic") / "data"
    ws = create_workspace(data, "shop")
    run_cli(data, "demo", "-w", "shop", "--users", "300", "--days", "14")
    settings = Settings(
        data_dir=data, port=free_port(), write_key_cache_seconds=0, trusted_proxies=[]
    )
    with live_server(settings) as live:
        send_speed_visits(live.url, ws["write_key"])
        shop = Shop(live.url, ws)
        yield shop
        shop.client.close()


def send_speed_visits(url: str, write_key: str) -> None:
    """Product pageviews with load times, some converting, a few minutes ago."""
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    for i in range(10):
        at = now - timedelta(minutes=3 + i % 5)
        path = f"/product/P{100 + i}"
        props = {"path": path, "url": f"https://shop.example{path}", "perf_load_ms": 700 * i}
        batch.append({"type": "page", "anonymousId": f"speed-{i}", "properties": props,
                      "timestamp": at.isoformat()})  # fmt: skip
        if i < 4:
            batch.append({"type": "track", "event": "Order Completed", "anonymousId": f"speed-{i}",
                          "timestamp": (at + timedelta(seconds=30)).isoformat()})  # fmt: skip
    r = httpx.post(
        url + "/v1/batch",
        json={"batch": batch},
        auth=(write_key, ""),
        headers={"User-Agent": CHROME},
    )
    assert r.status_code == 200, r.text


class Cells(HTMLParser):
    """`data-value`s of a table's body rows (and of elements with an id), from a page."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.section = table_id, False, ""
        self.rows: list[list[str]] = []
        self.ids: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id") and a.get("data-value") is not None:
            self.ids[str(a["id"])] = str(a["data-value"])
        if tag == "table":
            self.inside = a.get("id") == self.table_id
        elif self.inside and tag in ("thead", "tbody", "tfoot"):
            self.section = tag
        elif self.inside and self.section == "tbody" and tag == "tr":
            self.rows.append([])
        elif self.inside and self.section == "tbody" and tag == "td":
            self.rows[-1].append(str(a.get("data-value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False


def table(html: str, table_id: str) -> list[list[str]]:
    cells = Cells(table_id)
    cells.feed(html)
    return cells.rows


def shown(value: Any) -> str:
    """How a report value appears in a cell's data-value."""
    return "" if value is None else str(value)


def kpi(html: str, metric: str) -> float:
    marker = f'data-metric="{metric}" data-value="'
    start = html.index(marker) + len(marker)
    return float(html[start : html.index('"', start)])


def period(html: str) -> dict[str, str]:
    def value(name: str) -> str:
        marker = f'name="{name}" value="'
        start = html.index(marker) + len(marker)
        return html[start : start + 10]

    return {"date_from": value("from"), "date_to": value("to")}


@pytest.mark.parametrize("slug", list(TITLES))
def test_every_page_renders_in_both_languages(shop: Shop, slug: str) -> None:
    for lang, title in zip(("en", "zh"), TITLES[slug], strict=True):
        html = shop.page(f"/dashboard/{slug}", lang)
        assert f"<h1>{title}</h1>" in html
        assert 'class="report-error' not in html
        assert "data-echarts=" in html and "data-csv-for=" in html
        assert ("Data up to" if lang == "en" else "数据截至") in html


def test_overview_shows_the_api_numbers_and_the_filter_bar_changes_them(shop: Shop) -> None:
    html = shop.page("/dashboard/overview")
    body = {**period(html), "interval": "day"}
    result = shop.api("overview", body)
    for metric, value in result["totals"].items():
        if value is not None and metric != "engaged_sessions":
            assert kpi(html, metric) == value, metric
    rows = {r[0]: r[1:] for r in table(html, "overview-table")}
    assert len(rows) == 28
    for row in result["series"]:
        assert rows[row["period"]][:3] == [shown(row[k]) for k in ("visitors", "sessions",
                                                                     "pageviews")]  # fmt: skip

    html = shop.page("/dashboard/overview?device=mobile&interval=week")
    mobile = [{"key": "$device_type", "op": "eq", "value": "mobile"}]
    filtered = shop.api("overview", {**body, "interval": "week", "filters": mobile})
    assert kpi(html, "sessions") == filtered["totals"]["sessions"] < result["totals"]["sessions"]
    weeks = [r[0] for r in table(html, "overview-table")]
    assert {r["period"] for r in filtered["series"]} <= set(weeks)
    assert 'name="interval" value="week"' in html  # the filter bar keeps the switch


@pytest.mark.parametrize("dimension", ["channel", "source_medium", "referrer", "search_keyword"])
def test_sources_table_is_the_api_result(shop: Shop, dimension: str) -> None:
    html = shop.page(f"/dashboard/sources?dimension={dimension}")
    result = shop.api("sources", {**period(html), "dimension": dimension, "limit": 200})
    columns = ("visitors", "sessions", "engaged_sessions", "avg_engagement_seconds",
               "bounce_rate", "conversions", "conversion_rate")  # fmt: skip
    assert table(html, "sources-table") == [
        [row["key"], *(shown(row[c]) for c in columns)] for row in result["rows"]
    ]


def test_sources_drill_down_and_channel_filter(shop: Shop) -> None:
    html = shop.page("/dashboard/sources?channel=Organic+Search&dimension=source")
    filters = [{"key": "$channel", "op": "eq", "value": "Organic Search"}]
    result = shop.api("sources", {**period(html), "dimension": "source", "filters": filters})
    all_sources = shop.api("sources", {**period(html), "dimension": "source"})
    keys = [r[0] for r in table(html, "sources-table")]
    assert keys == [r["key"] for r in result["rows"]] != [r["key"] for r in all_sources["rows"]]
    assert 'href="/dashboard/overview?' in html and "source=" in html


@pytest.mark.parametrize("group_by", ["path", "url", "title"])
def test_pages_table_is_the_api_result(shop: Shop, group_by: str) -> None:
    html = shop.page(f"/dashboard/pages?group_by={group_by}")
    result = shop.api("pages", {**period(html), "group_by": group_by, "limit": 200})
    columns = ("views", "visitors", "avg_engagement_seconds", "entries", "exits", "exit_rate",
               "bounce_rate", "median_load_ms")  # fmt: skip
    rows = table(html, "pages-table")
    assert [r[:-1] for r in rows] == [
        [row["key"], *(shown(row[c]) for c in columns)] for row in result["rows"]
    ]
    scroll = result["rows"][0]["scroll"]["buckets"]
    assert rows[0][-1] == "; ".join(f"{b}%: {n}" for b, n in scroll.items())


def test_the_event_property_filter_narrows_pages(shop: Shop) -> None:
    html = shop.page("/dashboard/pages?prop=path&prop_op=icontains&prop_value=%2Fproduct%2F")
    keys = [r[0] for r in table(html, "pages-table")]
    assert keys and all("/product/" in k for k in keys)
    filters = [{"key": "path", "op": "icontains", "value": "/product/"}]
    result = shop.api("pages", {**period(html), "limit": 200, "filters": filters})
    assert keys == [row["key"] for row in result["rows"]]


PATTERNS = (
    "group_by=pattern&pattern_name=Products&pattern_regex=%5E%2Fproduct%2F"
    "&pattern_name=&pattern_regex=%5E%2Fcategory&pattern_name=&pattern_regex="
)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pages_by_url_pattern_are_the_api_result(shop: Shop, lang: str) -> None:
    html = shop.page(f"/dashboard/pages?{PATTERNS}", lang)
    assert 'class="report-error' not in html
    patterns = [
        {"name": "Products", "regex": "^/product/"},
        {"name": "^/category", "regex": "^/category"},  # no name: named by its expression
    ]
    body = {**period(html), "group_by": "pattern", "patterns": patterns, "limit": 200}
    result = shop.api("pages", body)
    assert {r["key"] for r in result["rows"]} == {"Products", "^/category", "(other)"}
    paths = shop.api("pages", {**period(html), "limit": 200})
    products = sum(r["views"] for r in paths["rows"] if r["key"].startswith("/product/"))
    assert next(r["views"] for r in result["rows"] if r["key"] == "Products") == products
    columns = ("views", "visitors", "avg_engagement_seconds", "entries", "exits", "exit_rate",
               "bounce_rate", "median_load_ms")  # fmt: skip
    assert [r[:-1] for r in table(html, "pages-table")] == [
        [row["key"], *(shown(row[c]) for c in columns)] for row in result["rows"]
    ]
    assert ("(other)" if lang == "en" else "（其他）") in html
    assert 'name="pattern_name" value="Products"' in html  # the form shows what ran
    # The query that ran, as the API takes it (an analyst can replay it).
    shown_body = re.search(r'<pre id="report-body">(.*?)</pre>', html, re.S)
    assert shown_body is not None
    assert json.loads(html_lib.unescape(shown_body.group(1))) == {**body, "filters": []}
    # The filter bar and the other groupings keep the patterns in their links.
    bar = html[html.index('<form class="filters') : html.index('<div class="filter-fields">')]
    assert bar.count('type="hidden" name="pattern_regex"') == 2
    path_link = html[html.index('data-value="path"') - 400 : html.index('data-value="path"')]
    assert "pattern_regex=%5E%2Fproduct%2F" in path_link


def test_pages_by_url_pattern_without_patterns_asks_for_one(shop: Shop) -> None:
    html = shop.page("/dashboard/pages?group_by=pattern")
    assert 'id="pattern-form"' in html and "Enter at least one pattern" in html
    assert 'class="report-error' not in html and "pages-table" not in html


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("%28", "the pattern Bad: invalid regular expression"),
        (
            "%28%3F%3D%2Fp%29",
            "the pattern Bad: invalid regular expression (RE2 syntax): invalid perl",
        ),
        ("a%2B%2B", "the pattern Bad: invalid regular expression (RE2 syntax): bad repetition"),
        ("", "the pattern Bad needs a regular expression"),
    ],
)
def test_a_bad_url_pattern_is_a_message_in_the_page(shop: Shop, regex: str, message: str) -> None:
    html = shop.page(f"/dashboard/pages?group_by=pattern&pattern_name=Bad&pattern_regex={regex}")
    assert 'class="report-error' in html and message in html
    assert 'id="pattern-form"' in html  # to correct it


def test_a_bad_pattern_among_good_ones_is_named(shop: Shop) -> None:
    html = shop.page(
        "/dashboard/pages?group_by=pattern&pattern_name=Products&pattern_regex=%5E%2Fproduct"
        "&pattern_name=Broken&pattern_regex=%28&pattern_name=Cart&pattern_regex=%5E%2Fcart"
    )
    assert "the pattern Broken: invalid regular expression" in html
    assert "the pattern Products" not in html and "the pattern Cart" not in html
    zh = shop.page(
        "/dashboard/pages?group_by=pattern&pattern_name=%E5%9D%8F&pattern_regex=%28", "zh"
    )
    assert "规则 坏：invalid regular expression" in zh


@pytest.mark.parametrize(
    ("query", "page"),
    [("", None), ("page=%2Fproduct%2FP103", "/product/P103"),
     ("page=%5E%2Fproduct%2F&match=regex", {"regex": "^/product/"})],
)  # fmt: skip
def test_pagespeed_table_is_the_api_result(shop: Shop, query: str, page: Any) -> None:
    html = shop.page(f"/dashboard/pagespeed?{query}")
    result = shop.api("pagespeed", {**period(html), "page": page})
    fields = ("bucket", "pageviews", "sessions", "converted_sessions", "conversion_rate",
              "median_load_ms")  # fmt: skip
    assert table(html, "pagespeed-table") == [
        [shown(b[f]) for f in fields] for b in result["buckets"]
    ]
    timed = [b["pageviews"] for b in result["buckets"] if b["bucket"] != "unknown"]
    assert sum(timed) == (1 if page == "/product/P103" else 10)  # the visits with load times


def live_and_api(shop: Shop, device: str) -> tuple[str, Any]:
    """The live fragment and the API's answer for the same minute: the window moves every
    minute, so the fragment is compared with two equal answers fetched around it."""
    filters = [{"key": "$device_type", "op": "eq", "value": device}]
    for _ in range(3):
        before = shop.api("realtime", {"filters": filters})
        live = shop.page(f"/dashboard/realtime/live?device={device}")
        after = shop.api("realtime", {"filters": filters})
        if before == {**after, "range": before["range"]}:
            return live, after
    raise AssertionError("the realtime window kept moving")


def test_realtime_page_and_its_live_fragment(shop: Shop) -> None:
    html = shop.page("/dashboard/realtime?device=desktop")
    assert 'hx-get="/dashboard/realtime/live?device=desktop"' in html
    assert 'hx-trigger="every 10s"' in html and 'name="from"' not in html  # not dated
    for device in ("desktop", "mobile"):
        live, result = live_and_api(shop, device)
        assert "<html" not in live and 'id="realtime-live"' in live
        cells = Cells("realtime-pages-table")
        cells.feed(live)
        assert cells.ids["realtime-visitors"] == str(result["visitors"])
        pages = [[p["path"], str(p["visitors"]), str(p["pageviews"])] for p in result["pages"]]
        assert cells.rows == pages
        assert (result["visitors"] >= 10) == (device == "desktop")  # the fresh visits


def test_a_refused_filter_shows_its_message_not_an_error_page(shop: Shop) -> None:
    html = shop.page("/dashboard/overview?prop=plan&prop_op=regex&prop_value=%28")
    assert 'class="report-error' in html and "invalid regular expression" in html
    html = shop.page("/dashboard/sources?prop=plan&prop_op=sometimes&prop_value=x", "zh")
    assert "无法运行此报表：filters.op: Input should be" in html  # the op is not one of the model's
