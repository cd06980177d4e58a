"""The funnels, retention, behaviour-flow and events pages over HTTP, against `haina serve`
filled with the demo shop: every number in their tables is the report API's for the same
body, in English and 中文; the filter bar and the builders change the body and the numbers;
bad input is a message in the page, never a 500.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from haina.testing import ServerProcess, create_workspace, dashboard_login, run_cli, start_server
from haina.web.report_pages.funnel_form import SHOP_FUNNEL
from haina.web.session import LANG_COOKIE

Rows = list[list[str]]


class Tables(HTMLParser):
    """Each table's body rows (by table id): a cell's `data-value`, else its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, Rows] = {}
        self._table: str | None = None
        self._head = False
        self._cell: list[str] | None = None
        self._value: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "thead":
            self._head = True
        elif tag == "tr" and self._table and not self._head:
            self.tables[self._table].append([])
        elif tag == "td" and self._table and not self._head:
            self._cell, self._value = [], a.get("data-value")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._head = False
        elif tag == "td" and self._cell is not None and self._table:
            text = " ".join("".join(self._cell).split())
            self.tables[self._table][-1].append(text if self._value is None else self._value)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, Rows]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def body_of(page: str) -> dict[str, Any]:
    """The report body the page ran (shown under "The query")."""
    found = re.search(r'<pre id="report-body">(.*?)</pre>', page, re.S)
    assert found, "no report body in the page"
    body: dict[str, Any] = json.loads(html.unescape(found[1]))
    return body


def num(value: Any) -> str:
    return "" if value is None else str(value)


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    data = tmp_path_factory.mktemp("product") / "data"
    created = create_workspace(data, "shop")
    created["empty_token"] = create_workspace(data, "empty")["api_token"]
    run_cli(data, "demo", "-w", "shop", "--users", "300", "--days", "14")
    server = start_server(data)
    yield server, created
    server.stop()


@pytest.fixture(scope="module")
def client(shop: tuple[ServerProcess, dict[str, str]]) -> Iterator[httpx.Client]:
    server, ws = shop
    c = dashboard_login(server.base_url, ws["api_token"])
    yield c
    c.close()


def api(shop: tuple[ServerProcess, dict[str, str]], kind: str, body: dict[str, Any]) -> Any:
    server, ws = shop
    r = httpx.post(
        f"{server.base_url}/api/v1/reports/{kind}",
        json=body,
        headers={"Authorization": f"Bearer {ws['api_token']}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def get(client: httpx.Client, url: str, lang: str = "en") -> str:
    client.cookies.set(LANG_COOKIE, lang)
    r = client.get(url)
    assert r.status_code == 200, r.text[-2000:]
    assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}">' in r.text
    assert "report-error" not in r.text, r.text
    return r.text


def funnel_rows(result: dict[str, Any]) -> Rows:
    groups = result.get("breakdown") or [{"value": None, **result}]
    return [
        [s["step"], s["count"], s["conversion_rate"], s["step_conversion_rate"], s["dropped"]]
        for g in groups
        for s in g["steps"]
    ]


def page_funnel_rows(page: str, breakdown: bool = False) -> Rows:
    rows = tables(page)["funnel-steps"]
    first = 1 if breakdown else 0  # the value column
    return [
        [int(r[first].split(".")[0]), int(r[first + 1]), *map(_float, r[first + 2 : first + 4]),
         int(r[first + 4])]
        for r in rows
    ]  # fmt: skip


def _float(text: str) -> float | None:
    return float(text) if text else None


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_default_funnel_is_the_shops_purchase_funnel_with_the_apis_numbers(
    shop: Any, client: httpx.Client, lang: str
) -> None:
    page = get(client, "/dashboard/funnels", lang)
    assert ("Conversion by step" if lang == "en" else "各步骤转化") in page
    body = body_of(page)
    assert [s["event"] for s in body["steps"]] == list(SHOP_FUNNEL)
    result = api(shop, "funnel", body)
    assert result["steps"][0]["count"] > result["steps"][-1]["count"] > 0
    assert page_funnel_rows(page) == funnel_rows(result)
    ttc = [[int(r[1])] for r in tables(page)["funnel-ttc"]]
    assert ttc == [[b["count"]] for b in result["time_to_convert"]["buckets"]]
    summary = tables(page)["funnel-ttc-summary"][0]
    assert int(summary[1]) == result["time_to_convert"]["converted"]
    assert _float(summary[2]) == result["time_to_convert"]["avg_seconds"]


def test_a_funnel_in_the_url_with_a_page_step_and_a_breakdown(
    shop: Any, client: httpx.Client
) -> None:
    url = (
        "/dashboard/funnels?step=%24pageview&step_path=/product/*&step=Product+Added&step_path="
        "&step=Order+Completed&step_path=&order=unordered&window=2&window_unit=hour"
        "&breakdown=%24device_type&breakdown_source=event"
    )
    page = get(client, url)
    body = body_of(page)
    assert body["steps"][0] == {
        "event": "$pageview",
        "filters": [{"key": "$path", "op": "regex", "value": "^/product/.*$"}],
    }
    assert body["order"] == "unordered" and body["window"] == {"value": 2, "unit": "hour"}
    assert body["breakdown"] == {"property": "$device_type", "source": "event"}
    result = api(shop, "funnel", body)
    assert len(result["breakdown"]) >= 2  # desktop and mobile at least
    assert page_funnel_rows(page, breakdown=True) == funnel_rows(result)
    assert 'value="/product/*"' in page  # the builder shows the funnel it ran


def test_removing_a_step_goes_back_to_a_clean_url(client: httpx.Client) -> None:
    url = "/dashboard/funnels?from=2026-01-01&to=2026-01-31&device=mobile&step=A&step_path="
    r = client.get(url + "&step=B&step_path=/b&step=C&step_path=&remove=1")
    assert r.status_code == 303
    location = r.headers["location"]
    assert "remove" not in location and "step=B" not in location
    assert "step=A" in location and "step=C" in location and "device=mobile" in location
    assert "from=2026-01-01" in location


def test_who_converted_and_who_dropped_are_the_apis_people(shop: Any, client: httpx.Client) -> None:
    page = get(client, "/dashboard/funnels")
    body = body_of(page)
    links = re.findall(r'hx-get="(/dashboard/funnels/people\?[^"]+)"', page)
    dropped = html.unescape(next(u for u in links if "people_step=2" in u and "converted=0" in u))
    r = client.get(dropped, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    people = api(shop, "funnel/people", {**body, "step": 2, "converted": False})
    table = tables(r.text)["funnel-people-table"]
    assert people["total"] == api(shop, "funnel", body)["steps"][1]["dropped"] > 0
    assert [row[0] for row in table] == [p["identifier"]["value"] for p in people["people"]]
    assert f'data-total="{people["total"]}"' in r.text


def test_the_filter_bar_changes_the_funnel(shop: Any, client: httpx.Client) -> None:
    everyone = api(shop, "funnel", body_of(get(client, "/dashboard/funnels")))
    page = get(client, "/dashboard/funnels?device=mobile")
    body = body_of(page)
    assert body["filters"] == [{"key": "$device_type", "op": "eq", "value": "mobile"}]
    mobile = api(shop, "funnel", body)
    assert mobile["steps"][0]["count"] < everyone["steps"][0]["count"]
    assert page_funnel_rows(page) == funnel_rows(mobile)


SHOP_STEPS = "".join(
    f"&step={quote_plus(name)}&step_path=&step_prop=&step_op=eq&step_value=" for name in SHOP_FUNNEL
)


def test_a_step_filter_reaches_the_body_and_narrows_the_step(
    shop: Any, client: httpx.Client
) -> None:
    everyone = api(shop, "funnel", body_of(get(client, f"/dashboard/funnels?{SHOP_STEPS}")))
    url = f"/dashboard/funnels?{SHOP_STEPS}".replace(
        "step_prop=&step_op=eq&step_value=", "step_prop=price&step_op=gt&step_value=100", 1
    )
    page = get(client, url)
    body = body_of(page)
    assert body["steps"][0] == {
        "event": "Product Viewed",
        "filters": [{"key": "price", "op": "gt", "value": 100}],
    }
    assert body["steps"][1] == {"event": "Product Added"}
    result = api(shop, "funnel", body)
    assert 0 < result["steps"][0]["count"] < everyone["steps"][0]["count"]
    assert page_funnel_rows(page) == funnel_rows(result)
    assert 'name="step_prop" value="price"' in page  # the builder shows the filter it ran
    assert '<option value="gt" selected>' in page


def test_an_exclusion_reaches_the_body_1_based_in_the_page_0_based_in_the_body(
    shop: Any, client: httpx.Client
) -> None:
    everyone = api(shop, "funnel", body_of(get(client, f"/dashboard/funnels?{SHOP_STEPS}")))
    url = f"/dashboard/funnels?{SHOP_STEPS}&exclude=Cart+Viewed&exclude_from=2&exclude_to=3"
    page = get(client, url)
    body = body_of(page)
    assert body["exclusions"] == [{"event": "Cart Viewed", "from_step": 1, "to_step": 2}]
    result = api(shop, "funnel", body)
    assert result["steps"][2]["count"] < everyone["steps"][2]["count"]
    assert page_funnel_rows(page) == funnel_rows(result)
    row = page[page.index('class="exclusion-row"') :]
    assert 'value="Cart Viewed"' in row[:600] and '<option value="2" selected>' in row[:2000]
    # The people behind a step are those of the same funnel, exclusion included.
    links = re.findall(r'hx-get="(/dashboard/funnels/people\?[^"]+)"', page)
    dropped = html.unescape(next(u for u in links if "people_step=3" in u and "converted=0" in u))
    assert "exclude=Cart+Viewed" in dropped and "exclude_from=2" in dropped
    fragment = client.get(dropped, headers={"HX-Request": "true"}).text
    people = api(shop, "funnel/people", {**body, "step": 3, "converted": False})
    assert f'data-total="{people["total"]}"' in fragment
    assert people["total"] == result["steps"][2]["dropped"]


@pytest.mark.parametrize(
    ("query", "attribution"),
    [
        ("&attribution=last_touch", {"attribution": "last_touch"}),
        ("&attribution=step&attribution_step=2", {"attribution": "step", "attribution_step": 1}),
    ],
)
def test_breakdown_attribution_reaches_the_body_and_changes_the_values(
    shop: Any, client: httpx.Client, query: str, attribution: dict[str, Any]
) -> None:
    url = f"/dashboard/funnels?{SHOP_STEPS}&breakdown=category&breakdown_source=event"
    first = api(shop, "funnel", body_of(get(client, url)))
    page = get(client, url + query)
    body = body_of(page)
    assert body["breakdown"] == {"property": "category", "source": "event", **attribution}
    result = api(shop, "funnel", body)
    assert funnel_rows(result) != funnel_rows(first)
    assert page_funnel_rows(page, breakdown=True) == funnel_rows(result)
    assert f'<option value="{attribution["attribution"]}" selected>' in page


def test_the_funnel_form_round_trips_through_its_url() -> None:
    from starlette.datastructures import QueryParams

    from haina.web.report_pages.funnel_form import Exclusion, FunnelForm, Step

    form = FunnelForm(
        steps=(Step("A"), Step("B", "/b/*", "plan", "eq", "pro"), Step("C"), Step("D")),
        order="strict",
        breakdown="$os",
        exclusions=(Exclusion("X", 2, 3), Exclusion("Y", 1, 4)),
        attribution="step",
        attribution_step=3,
    )
    assert FunnelForm.from_query(QueryParams(form.query())) == form
    # Removing step 2 keeps exclusions and the attribution step on the same steps.
    smaller = form.without_step(1)
    assert [s.event for s in smaller.steps] == ["A", "C", "D"]
    assert smaller.exclusions == (Exclusion("X", 1, 2), Exclusion("Y", 1, 3))
    assert smaller.attribution_step == 2
    assert form.without_exclusion(0).exclusions == (Exclusion("Y", 1, 4),)
    # Old addresses without the new fields keep working.
    old = FunnelForm.from_query(QueryParams("step=A&step_path=&step=B&step_path=/b"))
    assert old.steps == (Step("A"), Step("B", "/b")) and old.exclusions == ()


def test_removing_a_step_or_an_exclusion_redirects_to_a_clean_url(client: httpx.Client) -> None:
    url = "/dashboard/funnels?step=A&step=B&step=C&exclude=X&exclude_from=2&exclude_to=3"
    location = client.get(url + "&exclude=Y&exclude_from=1&exclude_to=3&remove_exclusion=0")
    assert location.status_code == 303
    assert "exclude=Y" in location.headers["location"]
    assert "exclude=X" not in location.headers["location"]
    location = client.get(url + "&remove=0")
    assert "exclude_from=1&exclude_to=2" in location.headers["location"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_retention_shows_the_cohort_triangle_and_average_of_the_api(
    shop: Any, client: httpx.Client, lang: str
) -> None:
    page = get(client, "/dashboard/retention?period=day&intervals=5&type=first_time", lang)
    body = body_of(page)
    assert body["retention_type"] == "first_time" and body["intervals"] == 5
    result = api(shop, "retention", body)
    found = tables(page)
    expected = [
        [c["start"][:10], str(c["size"])]
        + [str(n) if k < c["reached"] else "" for k, n in enumerate(c["values"])]
        for c in result["cohorts"]
    ]
    assert found["retention-cohorts"] == expected
    assert sum(c["size"] for c in result["cohorts"]) > 0
    average = [[str(a["size"]), str(a["retained"]), num(a["percent"])] for a in result["average"]]
    assert [r[1:] for r in found["retention-average-table"]] == average


def test_the_filter_bar_changes_retention(shop: Any, client: httpx.Client) -> None:
    everyone = api(shop, "retention", body_of(get(client, "/dashboard/retention")))
    page = get(client, "/dashboard/retention?browser=Safari&start=Product+Viewed")
    body = body_of(page)
    assert body["filters"] == [{"key": "$browser", "op": "eq", "value": "Safari"}]
    assert body["start_event"] == {"event": "Product Viewed"}
    result = api(shop, "retention", body)
    size = [str(c["size"]) for c in result["cohorts"]]
    assert [r[1] for r in tables(page)["retention-cohorts"]] == size
    assert sum(c["size"] for c in result["cohorts"]) < sum(c["size"] for c in everyone["cohorts"])


def retention_rows(cohorts: list[dict[str, Any]]) -> Rows:
    return [
        [c["start"][:10], str(c["size"])]
        + [str(n) if k < c["reached"] else "" for k, n in enumerate(c["values"])]
        for c in cohorts
    ]


def test_cumulative_and_minimum_occurrences_reach_the_body_and_change_retention(
    shop: Any, client: httpx.Client
) -> None:
    url = "/dashboard/retention?period=day&intervals=5"
    plain = api(shop, "retention", body_of(get(client, url)))
    page = get(client, url + "&cumulative=1")
    body = body_of(page)
    assert body["cumulative"] is True and "minimum_occurrences" not in body
    cumulative = api(shop, "retention", body)
    assert tables(page)["retention-cohorts"] == retention_rows(cumulative["cohorts"])
    later = [sum(c["values"][1] for c in r["cohorts"]) for r in (plain, cumulative)]  # day 1
    assert later[1] > later[0]
    assert 'name="cumulative" value="1" checked' in page

    page = get(client, url + "&min_occurrences=2")
    body = body_of(page)
    assert body["minimum_occurrences"] == 2 and "cumulative" not in body
    twice = api(shop, "retention", body)
    assert tables(page)["retention-cohorts"] == retention_rows(twice["cohorts"])
    retained = [sum(a["retained"] for a in r["average"][1:]) for r in (plain, twice)]
    assert retained[1] < retained[0]
    # Not a number, or below 1: the default, as for the number of periods.
    for bad in ("abc", "0", "-3"):
        assert "minimum_occurrences" not in body_of(get(client, url + f"&min_occurrences={bad}"))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_retention_breakdown_shows_each_values_cohorts_and_averages(
    shop: Any, client: httpx.Client, lang: str
) -> None:
    url = "/dashboard/retention?period=day&intervals=5&breakdown=%24device_type"
    page = get(client, url, lang)
    body = body_of(page)
    assert body["breakdown"] == {"property": "$device_type", "source": "event"}
    result = api(shop, "retention", body)
    values = [b["value"] for b in result["breakdown"]]
    assert {"desktop", "mobile"} <= set(values)
    found = tables(page)
    assert found["retention-cohorts"] == retention_rows(result["breakdown"][0]["cohorts"])
    assert found["retention-values-table"] == [
        [b["value"], str(sum(c["size"] for c in b["cohorts"]))]
        + [num(a["percent"]) for a in b["average"]]
        for b in result["breakdown"]
    ]
    assert "retention-average-table" not in found
    # The value switch: each value's cohorts, the breakdown kept in its links.
    links = re.findall(r'href="(/dashboard/retention\?[^"]*breakdown_value=[^"]*)"', page)
    assert len(links) == len(values)
    desktop = html.unescape(next(u for u in links if "breakdown_value=desktop" in u))
    assert "breakdown=%24device_type" in desktop
    page = get(client, desktop, lang)
    chosen = next(b for b in result["breakdown"] if b["value"] == "desktop")
    assert tables(page)["retention-cohorts"] == retention_rows(chosen["cohorts"])
    assert ("Cohorts: desktop" if lang == "en" else "同期群：desktop") in page


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_paths_show_the_apis_links_drop_off_and_top_paths(
    shop: Any, client: httpx.Client, lang: str
) -> None:
    page = get(client, "/dashboard/paths?start=/&steps=4", lang)
    body = body_of(page)
    assert body["start_point"] == "/" and body["steps"] == 4
    result = api(shop, "paths", body)
    found = tables(page)
    assert [(r[1], r[2], int(r[3])) for r in found["paths-links"]] == [
        (x["source"].split("_", 1)[1], x["target"].split("_", 1)[1], x["value"])
        for x in result["links"]
    ]
    assert [[int(r[1]), int(r[2])] for r in found["paths-steps"]] == [
        [s["sessions"], s["dropoff"]] for s in result["steps"]
    ]
    assert [(r[0], int(r[1])) for r in found["paths-top"]] == [
        (" → ".join(p["path"]), p["sessions"]) for p in result["top_paths"]
    ]
    assert 'id="paths-sankey"' in page and result["links"]


def test_the_filter_bar_changes_paths(shop: Any, client: httpx.Client) -> None:
    everyone = api(shop, "paths", body_of(get(client, "/dashboard/paths")))
    page = get(client, "/dashboard/paths?channel=Direct")
    result = api(shop, "paths", body_of(page))
    assert 0 < result["sessions"] < everyone["sessions"]
    assert int(tables(page)["paths-steps"][0][1]) == result["sessions"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_events_show_the_apis_counts_trend_and_breakdown(
    shop: Any, client: httpx.Client, lang: str
) -> None:
    page = get(client, "/dashboard/events?breakdown=%24device_type&interval=day", lang)
    body = body_of(page)
    assert len(body["events"]) == 5 and body["events"][0] == {"event": "Product Viewed"}
    result = api(shop, "events", body)
    found = tables(page)
    totals = [
        [str(e["count"]), str(e["people"]), num(e["per_person"]), num(e["median_per_person"])]
        + [str(f["people"]) for f in e["frequency"]]
        for e in result["events"]
    ]
    assert [r[1:] for r in found["events-totals"]] == totals
    trend = {r[0]: r[1:] for r in found["events-trend-table"]}
    for i, e in enumerate(result["events"]):
        for p in e["series"]:
            assert trend[p["period"][:10]][i] == str(p["count"])
        assert sum(int(row[i]) for row in trend.values()) == e["count"]
        values = [
            [b["value"] or "(not set)", str(b["count"]), str(b["people"])] for b in e["breakdown"]
        ]
        if lang == "en":
            assert [r[:3] for r in found[f"events-breakdown-table-{i}"]] == values


def test_chosen_events_and_the_filter_bar_change_the_events_page(
    shop: Any, client: httpx.Client
) -> None:
    url = "/dashboard/events?event=Order+Completed&event=%24pageview&interval=week"
    everyone = api(shop, "events", body_of(get(client, url)))
    page = get(client, url + "&prop=%24path&prop_op=icontains&prop_value=product")
    body = body_of(page)
    assert body["events"] == [{"event": "Order Completed"}, {"event": "$pageview"}]
    assert body["filters"] == [{"key": "$path", "op": "icontains", "value": "product"}]
    result = api(shop, "events", body)
    assert result["events"][1]["count"] < everyone["events"][1]["count"]
    assert [int(r[1]) for r in tables(page)["events-totals"]] == [
        e["count"] for e in result["events"]
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/dashboard/paths?start=/&end=/checkout&steps=2", "steps must be at least 3"),
        ("/dashboard/funnels?step=A&step=B&breakdown=%22bad", "breakdown"),
        ("/dashboard/events?prop=plan&prop_op=nope&prop_value=x", "filters"),
        ("/dashboard/retention?start=%01", "start_event"),
        ("/dashboard/retention?breakdown=%22bad", "breakdown.property"),
        (
            "/dashboard/funnels?step=A&step=B&step=C&exclude=X&exclude_from=3&exclude_to=2",
            "exclusion X: its from step must come before its to step, both from 1 to 3",
        ),
        (
            "/dashboard/funnels?step=A&step=B&step=C&order=unordered&exclude=X&exclude_from=1"
            "&exclude_to=2",
            "exclusion X: in an any-order funnel an exclusion spans the whole funnel",
        ),
        (
            "/dashboard/funnels?step=A&step_prop=&step=B&step_prop=price&step_op=lt",
            "step 2: the filter on price needs a value",
        ),
        (
            "/dashboard/funnels?step=A&step=B&breakdown=x&attribution=step&attribution_step=3",
            "the attribution step must be from 1 to 2",
        ),
        ("/dashboard/funnels?step=A&step=B&step_prop=%24nope&step_value=1", "steps.filters.key"),
    ],
)
def test_bad_input_is_a_message_in_the_page(client: httpx.Client, url: str, message: str) -> None:
    client.cookies.set(LANG_COOKIE, "en")
    r = client.get(url)
    assert r.status_code == 200
    assert "report-error" in r.text and html.escape(message) in r.text


def test_the_builders_messages_are_in_the_pages_language(client: httpx.Client) -> None:
    client.cookies.set(LANG_COOKIE, "zh")
    url = "/dashboard/funnels?step=A&step=B&step=C&exclude=X&exclude_from=3&exclude_to=2"
    page = client.get(url).text
    assert "排除事件 X：起始步骤须在结束步骤之前，且都在 1 到 3 之间" in page
    assert "</select>" in page[page.index('class="exclusion-row"') :]  # the builder is there


def test_a_workspace_without_events_gets_empty_states(shop: Any) -> None:
    server, ws = shop
    c = dashboard_login(server.base_url, ws["empty_token"])
    try:
        c.cookies.set(LANG_COOKIE, "en")
        funnels = c.get("/dashboard/funnels").text
        assert "Choose at least two steps" in funnels and "funnel-chart" not in funnels
        for slug in ("retention", "paths", "events"):
            page = c.get(f"/dashboard/{slug}")
            assert page.status_code == 200
            assert "data-echarts" not in page.text and "report-error" not in page.text
            assert "No events received yet." in page.text or "No events in this period" in page.text
    finally:
        c.close()


def test_page_paths_dates_and_durations_as_the_pages_write_them() -> None:
    from datetime import date

    from haina.web.pages import Period
    from haina.web.report_pages.events import periods
    from haina.web.report_pages.funnel_form import default_steps, path_filter
    from haina.web.report_pages.funnel_view import bucket_label, duration

    assert path_filter("/checkout") == {"key": "$path", "op": "eq", "value": "/checkout"}
    assert path_filter("/p/*.html")["value"] == r"^/p/.*\.html$"
    assert default_steps(["A", "B", "C", "D"]) == ["A", "B", "C"]
    assert default_steps([*SHOP_FUNNEL, "Z"]) == list(SHOP_FUNNEL)
    assert [bucket_label("en", lo, hi) for lo, hi in [(0, 60), (60, 300), (900, 3600)]] == [
        "< 1 min",
        "1–5 min",
        "15 min–1 h",
    ]
    assert bucket_label("zh", 1_209_600, None) == "≥ 14天"
    assert [duration("en", s) for s in (None, 42, 185, 7500, 270_000)] == [
        "–",
        "42s",
        "3m 05s",
        "2h 05m",
        "3d 3h",
    ]
    assert duration("zh", 185) == "3分05秒"
    nov = Period(date(2026, 11, 4), date(2026, 12, 2))
    assert periods(nov, "week")[:2] == ["2026-11-02 00:00:00", "2026-11-09 00:00:00"]
    assert periods(nov, "month") == ["2026-11-01 00:00:00", "2026-12-01 00:00:00"]
    assert len(periods(Period(date(2026, 11, 4), date(2026, 11, 5)), "hour")) == 48
