"""The funnels, retention, behaviour-flow and events pages in a real chromium against
`haina serve` filled with the demo shop: each chart holds exactly the numbers the report API
returns for the body the page ran, the builders and the filter bar change them, a funnel
step's people load through htmx, CSV downloads hold the table, and nothing logs an error.

Full-page screenshots in English and 中文: tests/e2e/artifacts/<slug>-<lang>.png.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.testing import ServerProcess, create_workspace, run_cli, start_server

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
Shop = tuple[ServerProcess, dict[str, str]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data = tmp_path_factory.mktemp("product") / "data"
    created = create_workspace(data, "shop")
    run_cli(data, "demo", "-w", "shop", "--users", "300", "--days", "14")
    server = start_server(data)
    yield server, created
    server.stop()


def api(shop: Shop, kind: str, body: dict[str, Any]) -> Any:
    server, ws = shop
    r = httpx.post(
        f"{server.base_url}/api/v1/reports/{kind}",
        json=body,
        headers={"Authorization": f"Bearer {ws['api_token']}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def context(browser: Any, shop: Shop) -> Iterator[Any]:
    server, ws = shop
    context = browser.new_context(
        base_url=server.base_url,
        locale="en-US",
        viewport={"width": 1360, "height": 900},
        accept_downloads=True,
    )
    page = context.new_page()
    page.goto("/login?next=/dashboard/funnels")
    page.fill("#token", ws["api_token"])
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/dashboard/funnels")
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
    """The option ECharts holds for a chart (series data, axes)."""
    page.wait_for_selector(f"#{element_id} canvas")
    option: dict[str, Any] = page.evaluate(
        """id => {
            const o = echarts.getInstanceByDom(document.getElementById(id)).getOption();
            const axis = a => (a && a[0] ? a[0].data : null);
            return {series: o.series, x: axis(o.xAxis), y: axis(o.yAxis)};
        }""",
        element_id,
    )
    return option


def values(series: dict[str, Any]) -> list[Any]:
    return [d["value"] if isinstance(d, dict) else d for d in series["data"]]


def body(page: Any) -> dict[str, Any]:
    """The report body the page ran (its "query" panel)."""
    ran: dict[str, Any] = json.loads(page.text_content("#report-body"))
    return ran


def apply_filter(page: Any, name: str, value: str) -> None:
    page.fill(f"form.filters input[name={name}]", value)
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"**{name}=**")


def shots(page: Any, slug: str) -> None:
    """Full-page screenshots of the page as it is, in English and in 中文."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(1000)  # ECharts' entry animations (the Sankey's links) take 1 s
    page.screenshot(path=str(ARTIFACTS / f"{slug}-en.png"), full_page=True)
    page.click("button[data-lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    try:
        page.wait_for_selector("[data-echarts] canvas")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / f"{slug}-zh.png"), full_page=True)
    finally:
        page.click("button[data-lang=en]")
        page.wait_for_selector("html[lang=en]")


def test_funnel_chart_people_builder_and_filters(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/funnels")
    result = api(shop, "funnel", body(page))
    option = chart(page, "funnel-chart")
    assert values(option["series"][0]) == [s["count"] for s in result["steps"]]
    assert option["y"][0] == "1. Product Viewed" and len(option["y"]) == 4
    ttc = chart(page, "funnel-ttc-chart")
    assert values(ttc["series"][0]) == [b["count"] for b in result["time_to_convert"]["buckets"]]
    shots(page, "funnels")

    # Who dropped before step 2: the people list comes in through htmx, as the API lists it.
    with page.expect_request(lambda r: "/dashboard/funnels/people" in r.url) as request:
        page.click("tr[data-step='2'] a.who-dropped")
    assert request.value.headers.get("hx-request") == "true"
    page.wait_for_selector("#funnel-people-table")
    people = api(shop, "funnel/people", {**body(page), "step": 2, "converted": False})
    table = page.locator("#funnel-people-table")
    assert (
        int(table.get_attribute("data-total")) == people["total"] == result["steps"][1]["dropped"]
    )
    shown = page.locator("#funnel-people-table td.person").all_inner_texts()
    assert shown == [p["identifier"]["value"] for p in people["people"]]

    # The builder: a fifth step in the empty row; the funnel is in the URL.
    page.fill("li.step-row.new input[name=step]", "$pageview")
    page.fill("li.step-row.new input[name=step_path]", "/checkout*")
    page.click("#funnel-form button.primary")
    page.wait_for_url("**step_path=%2Fcheckout**")
    five = api(shop, "funnel", body(page))
    assert len(chart(page, "funnel-chart")["y"]) == 5
    assert values(chart(page, "funnel-chart")["series"][0]) == [s["count"] for s in five["steps"]]

    # The filter bar keeps the funnel; a new period keeps both.
    apply_filter(page, "device", "mobile")
    assert page.url.count("step=") == 5
    mobile = api(shop, "funnel", body(page))
    assert mobile["steps"][0]["count"] < five["steps"][0]["count"]
    assert values(chart(page, "funnel-chart")["series"][0]) == [s["count"] for s in mobile["steps"]]
    page.fill("form.period input[name=from]", body(page)["date_to"])
    page.click("form.period button[type=submit]")
    page.wait_for_load_state()
    assert page.url.count("step=") == 5 and "device=mobile" in page.url


def test_funnel_breakdown_has_a_series_per_value_and_csv(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/funnels?breakdown=%24device_type")
    result = api(shop, "funnel", body(page))
    option = chart(page, "funnel-chart")
    assert [s["name"] for s in option["series"]] == [b["value"] for b in result["breakdown"]]
    for series, group in zip(option["series"], result["breakdown"], strict=True):
        assert values(series) == [s["count"] for s in group["steps"]]
    with page.expect_download() as download:
        page.click("[data-csv-for=funnel-steps]")
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert rows[0][:3] == ["Value", "Step", "People"]
    expected = [(b["value"], s["count"]) for b in result["breakdown"] for s in b["steps"]]
    assert [(r[0], int(r[2])) for r in rows[1:]] == expected


def test_funnel_attribution_shows_with_a_breakdown(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/funnels")
    attribution = page.locator("#funnel-form select[name=attribution]")
    step = page.locator("#funnel-form select[name=attribution_step]")
    assert not attribution.is_visible()  # no breakdown yet (CSS, no script)
    page.fill("#funnel-form input[name=breakdown]", "category")
    assert attribution.is_visible() and not step.is_visible()
    page.select_option("#funnel-form select[name=attribution]", "step")
    assert step.is_visible()
    page.select_option("#funnel-form select[name=attribution_step]", "2")
    page.click("#funnel-form button.primary")
    page.wait_for_url("**attribution=step**")
    assert body(page)["breakdown"] == {
        "property": "category", "source": "event", "attribution": "step", "attribution_step": 1,
    }  # fmt: skip
    result = api(shop, "funnel", body(page))
    option = chart(page, "funnel-chart")
    assert [s["name"] for s in option["series"]] == [b["value"] for b in result["breakdown"]]
    for series, group in zip(option["series"], result["breakdown"], strict=True):
        assert values(series) == [s["count"] for s in group["steps"]]
    assert page.locator("#funnel-form select[name=attribution_step]").input_value() == "2"


def test_retention_heatmap_and_average_curve(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/retention?period=day&intervals=7")
    result = api(shop, "retention", body(page))
    cells = chart(page, "retention-heatmap")["series"][0]["data"]
    expected = [
        [k, i, n]
        for i, c in enumerate(result["cohorts"])
        for k, n in enumerate(c["values"][: c["reached"]])
        if c["size"]
    ]
    assert [[k, i, n] for k, i, _, n in cells] == expected
    assert all(p == round(100 * n / result["cohorts"][i]["size"], 1) for _, i, p, n in cells)
    average = chart(page, "retention-average")["series"][0]["data"]
    assert average == [a["percent"] for a in result["average"]]
    shots(page, "retention")

    page.fill("#retention-form input[name=start]", "Product Viewed")
    page.click("#retention-form button.primary")
    page.wait_for_url("**start=Product+Viewed**")
    apply_filter(page, "browser", "Chrome")
    assert "start=Product+Viewed" in page.url
    chrome = api(shop, "retention", body(page))
    assert body(page)["start_event"] == {"event": "Product Viewed"}
    cells = chart(page, "retention-heatmap")["series"][0]["data"]
    size = sum(c["size"] for c in chrome["cohorts"])
    assert 0 < size < sum(c["size"] for c in result["cohorts"])
    assert sum(n for k, _, _, n in cells if k == 0) == size


def test_paths_sankey_and_drop_off(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/paths?steps=4")
    result = api(shop, "paths", body(page))
    sankey = chart(page, "paths-sankey")["series"][0]
    assert [n["name"] for n in sankey["data"]] == [n["name"] for n in result["nodes"]]
    links = [(x["source"], x["target"], x["value"]) for x in sankey["links"]]
    assert links == [(x["source"], x["target"], x["value"]) for x in result["links"]]
    dropoff = chart(page, "paths-dropoff")["series"]
    assert values(dropoff[1]) == [s["dropoff"] for s in result["steps"]]
    assert [a + b for a, b in zip(values(dropoff[0]), values(dropoff[1]), strict=True)] == [
        s["sessions"] for s in result["steps"]
    ]
    shots(page, "paths")

    page.fill("#paths-form input[name=start]", "/")
    page.click("#paths-form button.primary")
    page.wait_for_url("**start=%2F**")
    apply_filter(page, "channel", "Direct")
    direct = api(shop, "paths", body(page))
    assert body(page)["start_point"] == "/"
    assert 0 < direct["sessions"] < result["sessions"]
    sankey = chart(page, "paths-sankey")["series"][0]
    assert [x["value"] for x in sankey["links"]] == [x["value"] for x in direct["links"]]


def test_events_trend_and_breakdown_bars(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/events?breakdown=%24device_type")
    result = api(shop, "events", body(page))
    trend = chart(page, "events-trend")
    assert [s["name"] for s in trend["series"]] == [e["event"] for e in result["events"]]
    for series, event in zip(trend["series"], result["events"], strict=True):
        by_day = dict(zip(trend["x"], values(series), strict=True))
        assert {x: v for x, v in by_day.items() if v} == {
            p["period"][:10]: p["count"] for p in event["series"]
        }
    bars = chart(page, "events-breakdown-0")
    assert values(bars["series"][0]) == [b["count"] for b in result["events"][0]["breakdown"]]
    shots(page, "events")

    page.uncheck("#events-form input[value='Product List Viewed']")
    page.check("#events-form input[value='Order Completed']")
    page.select_option("#events-form select[name=interval]", "week")
    page.click("#events-form button.primary")
    page.wait_for_url("**interval=week**")
    apply_filter(page, "os", "iOS")
    ios = api(shop, "events", body(page))
    assert "Order Completed" in [e["event"] for e in ios["events"]]
    assert "Product List Viewed" not in [e["event"] for e in ios["events"]]
    trend = chart(page, "events-trend")
    assert [sum(values(s)) for s in trend["series"]] == [e["count"] for e in ios["events"]]
    assert ios["events"][0]["count"] < result["events"][0]["count"]
