"""The dashboard in a real chromium against a real `haina serve`: log in, watch the setup page
notice the first event, copy the snippet, switch language and workspace, log out.

Screenshots of the setup page in both languages are saved to tests/e2e/artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.testing import LiveServer, ServerProcess, create_workspace, start_server
from haina.web.pages import PageContext, register_page, unregister_page

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def haina_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("haina") / "data")
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any, haina_server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(
        base_url=haina_server.base_url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=haina_server.base_url)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    page.problems = problems
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_log_in_see_the_first_event_switch_language_and_workspace(
    page: Any, haina_server: ServerProcess
) -> None:
    from playwright.sync_api import expect

    shop = create_workspace(haina_server.data_dir, "browser-shop")
    blog = create_workspace(haina_server.data_dir, "browser-blog")

    page.goto("/dashboard/setup")
    assert page.url.endswith("/login?next=/dashboard/setup")
    page.fill("#token", shop["api_token"])
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/dashboard/setup")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Set up collection"
    assert shop["write_key"] in page.locator("#write-keys").inner_text()
    assert page.locator("#arrivals .waiting").is_visible()
    assert page.evaluate("typeof htmx") == "object" and page.evaluate("typeof echarts") == "object"
    shot(page, "dashboard-setup-waiting-en.png")

    # htmx polls the panel, sending the session's CSRF token (hx-headers on <body>).
    with page.expect_request(lambda req: req.url.endswith("/dashboard/setup/status")) as poll:
        pass
    csrf = page.locator("form.logout input[name=csrf]").get_attribute("value")
    assert poll.value.headers["x-csrf-token"] == csrf and poll.value.headers["hx-request"]

    # The panel polls with htmx every 5 s and flips once an event is stored.
    r = httpx.post(
        haina_server.base_url + "/v1/track",
        json={"userId": "u-1", "event": "Signed Up"},
        auth=(shop["write_key"], ""),
    )
    assert r.status_code == 200
    page.wait_for_selector("#arrivals [data-count='1']", timeout=12_000)
    assert "Events received: 1." in page.locator("#arrivals").inner_text()

    page.click("[data-copy=snippet]")
    expect(page.locator("[data-copy=snippet]")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f'data-key="{shop["write_key"]}"' in copied and copied.startswith("<script>")

    page.click("button[data-lang=zh]")
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.locator("h1").inner_text() == "接入设置"
    assert "已接收 1 个事件" in page.locator("#arrivals").inner_text()
    assert page.locator("nav.side a[aria-current=page]").inner_text() == "接入设置"
    shot(page, "dashboard-setup-zh.png")
    page.reload()  # remembered
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.click("button[data-lang=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("h1").inner_text() == "Set up collection"
    shot(page, "dashboard-setup-en.png")

    # A second workspace: log in with its token, then switch back with the header's switcher.
    page.click("text=Log in to another workspace")
    page.fill("#token", blog["api_token"])
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/dashboard/setup")
    assert blog["write_key"] in page.locator("#write-keys").inner_text()
    with page.expect_navigation():
        page.select_option("#workspace", shop["workspace_id"])  # submits on change
    assert shop["write_key"] in page.locator("#write-keys").inner_text()

    page.click("form.logout button")
    page.wait_for_url("**/login")
    page.goto("/dashboard/setup")
    assert "/login" in page.url
    assert page.problems == []


def test_a_registered_page_draws_an_echarts_chart_under_the_csp(
    browser: Any, live: LiveServer, ws: dict[str, str]
) -> None:
    """Report pages pass chart options in data-echarts; dashboard.js draws them, also after an
    htmx swap, without any inline script."""
    from markupsafe import Markup

    option = {
        "xAxis": {"type": "category", "data": ["Mon", "Tue", "Wed"]},
        "yAxis": {"type": "value"},
        "series": [{"type": "bar", "data": [3, 5, 2]}],
    }

    async def chart_page(ctx: PageContext) -> Markup:
        return Markup(
            "<div id='chart' data-echarts='{}'></div>"
            "<div id='later' hx-get='/dashboard/chart-probe/piece' hx-trigger='load'></div>"
        ).format(json.dumps(option))

    async def piece(ctx: PageContext) -> Markup:
        return Markup("<div id='swapped' data-echarts='{}'></div>").format(json.dumps(option))

    register_page("chart-probe", "nav.events", chart_page, fragments={"piece": piece})
    context = browser.new_context(base_url=live.url)
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.goto("/login")
        page.fill("#token", ws["api_token"])
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/dashboard/setup")
        page.goto("/dashboard/chart-probe")
        page.wait_for_selector("#chart canvas")
        page.wait_for_selector("#swapped canvas")
        assert page.locator("#chart canvas").bounding_box()["width"] > 100
        assert problems == []
    finally:
        context.close()
        unregister_page("chart-probe")
