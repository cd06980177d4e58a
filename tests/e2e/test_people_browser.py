"""The People pages in a real chromium against `haina serve`: find a profile by e-mail, read
its score explanation and timeline, page the timeline with htmx, build a segment whose live
count follows the form, save it, and read the profile in 简体中文; nothing logs an error.

Screenshots: tests/e2e/artifacts/people-<page>-<lang>.png.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.testing import ServerProcess, create_workspace, start_server

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
MODEL = {
    "engagement": [
        {"name": "Page views", "event": "$pageview", "points": 2, "count": "every", "cap": 10}
    ],
    "signals": [
        {"name": "Demo requested", "event": "Demo Requested", "points": 30, "min_grade": "A"}
    ],
}
Shop = tuple[ServerProcess, dict[str, str]]


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def messages() -> list[dict[str, Any]]:
    """Li Lei: 30 page views, an order and a demo request; four shoppers, two of whom order."""
    batch: list[dict[str, Any]] = [
        {
            "type": "identify",
            "anonymousId": "web-1",
            "userId": "u-42",
            "timestamp": ago(50),
            "traits": {"email": "li.lei@example.com", "plan": "pro"},
        },
        *[
            {
                "type": "page",
                "anonymousId": "web-1",
                "timestamp": ago(49 - i),
                "properties": {"path": f"/p/{i}", "url": f"https://shop.example.cn/p/{i}"},
            }
            for i in range(30)
        ],
        {
            "type": "track",
            "event": "Order Completed",
            "userId": "u-42",
            "timestamp": ago(10),
            "properties": {"revenue": 99},
        },
        {"type": "track", "event": "Demo Requested", "userId": "u-42", "timestamp": ago(9)},
    ]
    for n in range(4):
        batch.append(
            {
                "type": "page",
                "userId": f"s-{n}",
                "timestamp": ago(20),
                "properties": {"path": "/", "url": "https://shop.example.cn/"},
            }
        )
        if n % 2:
            batch.append(
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": f"s-{n}",
                    "timestamp": ago(19),
                    "properties": {"revenue": 10},
                }
            )
    return [{**m, "context": {"userAgent": BROWSER}} for m in batch]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    data = tmp_path_factory.mktemp("people-e2e") / "data"
    created = create_workspace(data, "shop")
    server = start_server(data)
    key = base64.b64encode(f"{created['write_key']}:".encode()).decode()
    r = httpx.post(
        server.base_url + "/v1/batch",
        json={"batch": messages()},
        headers={"Authorization": f"Basic {key}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    shop = (server, created)
    api(shop, "PUT", "/api/v1/scoring/model", json=MODEL)
    api(shop, "POST", "/api/v1/scoring/refresh")
    yield shop
    server.stop()


def api(shop: Shop, method: str, path: str, **kwargs: Any) -> Any:
    server, ws = shop
    r = httpx.request(
        method,
        server.base_url + path,
        timeout=60,
        **kwargs,
        headers={"Authorization": f"Bearer {ws['api_token']}"},
    )
    assert r.status_code < 300, r.text
    return r.json()


@pytest.fixture(scope="module")
def context(browser: Any, shop: Shop) -> Iterator[Any]:
    server, ws = shop
    context = browser.new_context(
        base_url=server.base_url, locale="en-US", viewport={"width": 1360, "height": 900}
    )
    page = context.new_page()
    page.goto("/login?next=/dashboard/profiles")
    page.fill("#token", ws["api_token"])
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/dashboard/profiles")
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


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"people-{name}.png"), full_page=True)


def test_find_a_profile_read_its_score_and_page_its_timeline(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/profiles")
    page.select_option("#lookup-type", "email")
    page.fill("#lookup-value", "Li.Lei@Example.com")
    page.click("#lookup-form button[type=submit]")
    page.wait_for_url("**/dashboard/profiles/p_*")
    li = api(
        shop,
        "GET",
        "/api/v1/profiles/lookup",
        params={"type": "email", "value": "li.lei@example.com"},
    )
    assert page.url.endswith(f"/dashboard/profiles/{li['person_id']}")
    assert page.locator("h1").inner_text() == "Profile u-42"
    # The score and why: every contribution the API explains.
    assert page.locator("#score-value").inner_text() == str(li["score"]["value"])
    assert page.locator("#score-grade").inner_text() == "A"
    rules = page.locator("#contributions tbody tr td:first-child").all_inner_texts()
    assert rules == [c["rule"] for c in li["score"]["contributions"]]
    assert "Demo requested" in rules
    # The timeline: 25 newest rows, then the rest through htmx's "more" row.
    everything = api(
        shop, "GET", f"/api/v1/profiles/{li['person_id']}/timeline", params={"limit": 200}
    )["events"]
    rows = page.locator("#timeline-rows tr.event-row")
    assert rows.count() == 25
    shot(page, "profile-en")
    with page.expect_request(lambda r: "/dashboard/profiles/timeline" in r.url) as request:
        page.click("#timeline-rows a.more")
    assert request.value.headers.get("hx-request") == "true"
    page.wait_for_function(
        "n => document.querySelectorAll('#timeline-rows tr.event-row').length === n",
        arg=len(everything),
    )
    shown = page.locator("#timeline-rows tr.event-row").evaluate_all(
        "rows => rows.map(r => r.dataset.message)"
    )
    assert shown == [e["message_id"] for e in everything]
    assert page.locator("#timeline-rows a.more").count() == 0
    assert page.url.endswith(li["person_id"])  # htmx swapped rows; the page stayed


def test_build_a_segment_with_a_live_count_and_save_it(page: Any, shop: Shop) -> None:
    page.goto("/dashboard/segments")
    everyone = api(shop, "POST", "/api/v1/segments/preview", json={"conditions": []})["count"]
    assert page.locator("#live-count").get_attribute("data-count") == str(everyone)
    page.select_option("#add-kind", "event")
    page.click("button.add-condition")
    page.wait_for_url("**c0_kind=event**")
    # Typing the event updates the count through htmx, without leaving the page.
    definition = {"conditions": [{"kind": "event", "event": "Order Completed"}]}
    buyers = api(shop, "POST", "/api/v1/segments/preview", json=definition)["count"]
    assert buyers == 3 and buyers != everyone
    url = page.url
    with page.expect_request(lambda r: "/dashboard/segments/preview" in r.url):
        page.fill("input[name=c0_event]", "Order Completed")
    page.wait_for_selector(f'#live-count[data-count="{buyers}"]')
    assert page.url == url
    assert '"Order Completed"' in page.locator("#builder-definition").text_content()
    # At least twice: nobody ordered twice.
    twice = {
        "conditions": [
            {"kind": "event", "event": "Order Completed", "count": {"op": "gte", "value": 2}}
        ]
    }
    expected = api(shop, "POST", "/api/v1/segments/preview", json=twice)["count"]
    page.fill("input[name=c0_count]", "2")
    page.wait_for_selector(f'#live-count[data-count="{expected}"]')
    page.fill("input[name=c0_count]", "1")
    page.wait_for_selector(f'#live-count[data-count="{buyers}"]')
    shot(page, "segments-en")
    # Save it: back on the list, with its members.
    page.fill("#segment-name", "Buyers (browser)")
    page.click("button.save")
    page.wait_for_url("**saved=seg_**")
    row = page.locator('tr[data-name="Buyers (browser)"]')
    assert row.locator("td.num").inner_text() == str(buyers)
    assert page.locator("#saved").is_visible()
    saved = api(shop, "GET", "/api/v1/segments")["segments"]
    assert [(s["name"], s["count"]) for s in saved] == [("Buyers (browser)", buyers)]


def test_the_profile_in_chinese(page: Any, shop: Shop) -> None:
    li = api(shop, "GET", "/api/v1/profiles/lookup", params={"type": "user_id", "value": "u-42"})
    page.goto(f"/dashboard/profiles/{li['person_id']}")
    page.click("button[data-lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    try:
        assert page.url.endswith(f"/dashboard/profiles/{li['person_id']}")
        headings = page.locator("main h2").all_inner_texts()
        assert headings == ["身份标识", "属性", "计算属性", "标签", "线索评分", "时间线"]
        assert page.locator("h1").inner_text() == "用户档案 u-42"
        assert page.locator("nav.side a[aria-current=page]").inner_text() == "用户档案"
        assert page.locator("#lifecycle-stage").inner_text() == "客户"
        shot(page, "profile-zh")
    finally:
        page.click("button[data-lang=en]")
        page.wait_for_selector("html[lang=en]")
