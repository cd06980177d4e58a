"""The traffic report pages (overview, sources, pages, page speed, realtime) in a real chromium
against `haina serve` filled with the demo data set: each chart holds exactly the numbers the
report API returns, the filter bar changes them, CSV downloads hold the table, realtime
refreshes itself, and nothing logs an error.

Full-page screenshots of every page in English and 中文: tests/e2e/artifacts/<slug>-<lang>.png.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.testing import ServerProcess, create_workspace, run_cli, start_server

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SLUGS = ("overview", "sources", "pages", "pagespeed", "realtime")


def send_speed_visits(base_url: str, write_key: str) -> None:
    """Fresh visits with load timings, some converting: page speed gets buckets to show and
    realtime gets visitors in its window."""
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    for i in range(15):
        load = (600, 1500, 2500, 4000, 9000)[i % 5]
        at = now - timedelta(minutes=3 + i % 7)
        path = f"/product/P{100 + i}"
        batch.append(
            {
                "type": "page",
                "anonymousId": f"speed-{i}",
                "properties": {"path": path, "url": f"https://shop.example{path}",
                               "perf_load_ms": load},
                "timestamp": at.isoformat(),
            }
        )  # fmt: skip
        if i % 5 < 2 or i == 7:  # fast pages convert more
            batch.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "anonymousId": f"speed-{i}",
                    "timestamp": (at + timedelta(seconds=40)).isoformat(),
                }
            )
    r = httpx.post(
        base_url + "/v1/batch",
        json={"batch": batch},
        auth=(write_key, ""),
        headers={"User-Agent": CHROME},
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    data = tmp_path_factory.mktemp("traffic") / "data"
    created = create_workspace(data, "shop")
    run_cli(data, "demo", "-w", "shop", "--users", "300", "--days", "14")
    server = start_server(data)
    send_speed_visits(server.base_url, created["write_key"])
    deadline = time.monotonic() + 10
    while api(server, created, "realtime", {})["visitors"] < 15 and time.monotonic() < deadline:
        time.sleep(0.2)
    yield server, created
    server.stop()


def api(server: ServerProcess, ws: dict[str, str], kind: str, body: dict[str, Any]) -> Any:
    r = httpx.post(
        f"{server.base_url}/api/v1/reports/{kind}",
        json=body,
        headers={"Authorization": f"Bearer {ws['api_token']}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def context(browser: Any, shop: tuple[ServerProcess, dict[str, str]]) -> Iterator[Any]:
    server, ws = shop
    context = browser.new_context(
        base_url=server.base_url,
        locale="en-US",
        viewport={"width": 1360, "height": 900},
        accept_downloads=True,
    )
    page = context.new_page()
    page.goto("/login")
    page.fill("#token", ws["api_token"])
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/dashboard/overview")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    yield page
    assert problems == []
    page.close()


def chart(page: Any, element_id: str) -> dict[str, Any]:
    page.wait_for_selector(f"#{element_id} canvas")
    option: dict[str, Any] = page.evaluate(
        """id => {
            const o = echarts.getInstanceByDom(document.getElementById(id)).getOption();
            return {series: o.series.map(s => s.data), x: o.xAxis[0].data, y: o.yAxis[0].data};
        }""",
        element_id,
    )
    return option


def period(page: Any) -> dict[str, str]:
    return {
        "date_from": page.input_value("form.period input[name=from]"),
        "date_to": page.input_value("form.period input[name=to]"),
    }


def shot(page: Any, slug: str, lang: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(150)  # let ECharts finish its first frame
    page.screenshot(path=str(ARTIFACTS / f"{slug}-{lang}.png"), full_page=True)


def test_overview_chart_and_cards_hold_the_api_numbers_and_filters_change_them(
    page: Any, shop: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, ws = shop
    page.goto("/dashboard/overview")
    body = {**period(page), "interval": "day"}
    result = api(server, ws, "overview", body)
    option = chart(page, "overview-chart")
    labels = option["x"]
    current = option["series"][0]
    assert len(labels) == 28
    by_label = {row["period"][:10]: row["visitors"] for row in result["series"]}
    assert {label: v for label, v in zip(labels, current, strict=True) if v} == by_label
    assert all(v == 0 for label, v in zip(labels, current, strict=True) if label not in by_label)
    for metric in ("visitors", "sessions", "pageviews", "bounce_rate", "conversion_rate"):
        card = page.locator(f".kpi[data-metric={metric}]")
        assert float(card.get_attribute("data-value")) == result["totals"][metric]
    # The dashed line is the previous 28 days, period by period.
    start = datetime.fromisoformat(body["date_from"])
    before = api(
        server,
        ws,
        "overview",
        {
            "date_from": (start - timedelta(days=28)).date().isoformat(),
            "date_to": (start - timedelta(days=1)).date().isoformat(),
            "compare": False,
        },
    )
    assert sum(option["series"][1]) == sum(r["visitors"] for r in before["series"])
    shot(page, "overview", "en")

    # A KPI card picks the metric; the interval switch changes the periods.
    page.click(".kpi[data-metric=sessions]")
    page.click(".switch a[data-value=week]")
    page.wait_for_url("**interval=week**")
    weekly = api(server, ws, "overview", {**body, "interval": "week"})
    option = chart(page, "overview-chart")
    got = {x: v for x, v in zip(option["x"], option["series"][0], strict=True) if v}
    assert got == {r["period"][:10]: r["sessions"] for r in weekly["series"]}

    # The filter bar: mobile only, keeping the period and the interval.
    page.fill("form.filters input[name=device]", "mobile")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**device=mobile**")
    assert "interval=week" in page.url and "metric=sessions" in page.url
    filters = [{"key": "$device_type", "op": "eq", "value": "mobile"}]
    mobile = api(server, ws, "overview", {**body, "interval": "week", "filters": filters})
    shown = float(page.locator(".kpi[data-metric=sessions]").get_attribute("data-value"))
    assert shown == mobile["totals"]["sessions"] < weekly["totals"]["sessions"]
    assert sum(chart(page, "overview-chart")["series"][0]) == mobile["totals"]["sessions"]


def test_sources_and_pages_charts_hold_the_api_numbers_and_download_as_csv(
    page: Any, shop: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, ws = shop
    page.goto("/dashboard/sources")
    body = {**period(page), "limit": 200}
    result = api(server, ws, "sources", {**body, "dimension": "channel"})
    option = chart(page, "sources-chart")
    assert option["y"] == [r["key"] for r in result["rows"][:10]]
    assert option["series"][0] == [r["sessions"] for r in result["rows"][:10]]
    shot(page, "sources", "en")

    with page.expect_download() as download:
        page.click("[data-csv-for=sources-table]")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert rows[0][:3] == ["Channel", "Visitors", "Sessions"]
    assert [(r[0], int(r[2])) for r in rows[1:-1]] == [
        (row["key"], row["sessions"]) for row in result["rows"]
    ]

    page.click(".switch a[data-value=source_medium]")
    page.wait_for_url("**dimension=source_medium**")
    medium = api(server, ws, "sources", {**body, "dimension": "source_medium"})
    assert chart(page, "sources-chart")["series"][0] == [r["sessions"] for r in medium["rows"][:10]]

    page.goto("/dashboard/pages")
    pages = api(server, ws, "pages", {**body, "group_by": "path"})
    option = chart(page, "pages-chart")
    assert option["y"] == [r["key"] for r in pages["rows"][:10]]
    assert option["series"][0] == [r["views"] for r in pages["rows"][:10]]
    first = page.locator("#pages-table tbody tr").first
    assert first.get_attribute("data-key") == pages["rows"][0]["key"]
    shot(page, "pages", "en")

    page.fill("form.filters input[name=channel]", "Organic Search")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**channel=Organic**")
    filters = [{"key": "$channel", "op": "eq", "value": "Organic Search"}]
    organic = api(server, ws, "pages", {**body, "filters": filters})
    views = chart(page, "pages-chart")["series"][0]
    assert views == [r["views"] for r in organic["rows"][:10]] != option["series"][0]


def test_pages_by_url_pattern(page: Any, shop: tuple[ServerProcess, dict[str, str]]) -> None:
    server, ws = shop
    page.goto("/dashboard/pages")
    page.click(".switch a[data-value=pattern]")
    page.wait_for_url("**group_by=pattern**")
    page.fill("#pattern-form input[name=pattern_name] >> nth=0", "Products")
    page.fill("#pattern-form input[name=pattern_regex] >> nth=0", "^/product/")
    page.click("#pattern-form button[type=submit]")
    page.wait_for_url("**pattern_name=Products**")
    patterns = [{"name": "Products", "regex": "^/product/"}]
    body = {**period(page), "group_by": "pattern", "patterns": patterns, "limit": 200}
    result = api(server, ws, "pages", body)
    option = chart(page, "pages-chart")
    assert option["y"] == [r["key"] for r in result["rows"]] and "Products" in option["y"]
    assert option["series"][0] == [r["views"] for r in result["rows"]]

    page.fill("#pattern-form input[name=pattern_regex] >> nth=0", "(?=/product/)")
    page.click("#pattern-form button[type=submit]")
    page.wait_for_url("**pattern_regex=%28**")
    assert "the pattern Products: invalid regular expression" in page.inner_text(".report-error")


def test_pagespeed_shows_conversion_by_load_time(
    page: Any, shop: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, ws = shop
    page.goto("/dashboard/pagespeed")
    page.fill("form.page-group input[name=page]", "^/product/")
    page.select_option("form.page-group select[name=match]", "regex")
    page.click("form.page-group button[type=submit]")
    page.wait_for_url("**match=regex**")
    body = {**period(page), "page": {"regex": "^/product/"}}
    result = api(server, ws, "pagespeed", body)
    option = chart(page, "pagespeed-chart")
    assert option["series"][0] == [b["conversion_rate"] for b in result["buckets"]]
    assert option["series"][1] == [b["pageviews"] for b in result["buckets"]]
    assert result["buckets"][0]["pageviews"] == 3  # the fresh visits: 600 ms
    shot(page, "pagespeed", "en")

    page.fill("form.filters input[name=os]", "Windows")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**os=Windows**")
    assert "match=regex" in page.url
    filters = [{"key": "$os", "op": "eq", "value": "Windows"}]
    windows = api(server, ws, "pagespeed", {**body, "filters": filters})
    shown = chart(page, "pagespeed-chart")["series"][1]
    assert shown == [b["pageviews"] for b in windows["buckets"]]
    assert 0 < windows["totals"]["pageviews"] < result["totals"]["pageviews"]


def realtime_matches(page: Any, server: ServerProcess, ws: dict[str, str]) -> dict[str, Any]:
    """The chart against the API; the window moves each minute, so the page is loaded between
    two API answers, and when those are equal the chart must equal them."""
    for _ in range(3):
        before = api(server, ws, "realtime", {"limit": 10})
        page.reload()
        option = chart(page, "realtime-chart")
        after = api(server, ws, "realtime", {"limit": 10})
        if before["per_minute"] == after["per_minute"]:
            assert option["series"][0] == [m["visitors"] for m in after["per_minute"]]
            assert option["series"][1] == [m["pageviews"] for m in after["per_minute"]]
            return dict(after)
    raise AssertionError("the realtime window kept moving")


def test_realtime_refreshes_itself_with_htmx(
    page: Any, shop: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, ws = shop
    page.goto("/dashboard/realtime")
    result = realtime_matches(page, server, ws)
    visitors = page.locator("#realtime-visitors")
    assert int(visitors.get_attribute("data-value")) == result["visitors"] >= 15
    assert page.locator("#realtime-pages-table tbody tr").count() == len(result["pages"])
    assert page.locator("form.period").count() == 0  # not dated
    shot(page, "realtime", "en")

    r = httpx.post(
        server.base_url + "/v1/page",
        json={"anonymousId": "just-now", "properties": {"path": "/now"}},
        auth=(ws["write_key"], ""),
        headers={"User-Agent": CHROME},
    )
    assert r.status_code == 200
    deadline = time.monotonic() + 10
    while not any(p["path"] == "/now" for p in api(server, ws, "realtime", {})["pages"]):
        assert time.monotonic() < deadline, "the new pageview did not arrive"
        time.sleep(0.2)
    url = page.url
    page.evaluate("document.getElementById('realtime-live').dataset.old = 'yes'")
    page.wait_for_function(  # htmx replaced the panel within 10 s, and it shows the new page
        """() => !document.getElementById('realtime-live').dataset.old
            && document.querySelector('#realtime-pages-table td[data-value="/now"]')""",
        timeout=15_000,
    )
    assert page.url == url  # swapped in place, not reloaded
    realtime_matches(page, server, ws)


def test_every_page_in_chinese(page: Any, shop: tuple[ServerProcess, dict[str, str]]) -> None:
    page.goto("/dashboard/overview")
    page.click("button[data-lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    try:
        for slug in SLUGS:
            query = "?page=%5E%2Fproduct%2F&match=regex" if slug == "pagespeed" else ""
            page.goto(f"/dashboard/{slug}{query}")
            page.wait_for_selector("[data-echarts] canvas")
            assert (
                page.locator("nav.side a[aria-current=page]").inner_text()
                == {
                    "overview": "概览",
                    "sources": "流量来源",
                    "pages": "页面",
                    "pagespeed": "页面速度",
                    "realtime": "实时",
                }[slug]
            )
            shot(page, slug, "zh")
    finally:
        page.click("button[data-lang=en]")
        page.wait_for_selector("html[lang=en]")
