"""The browser tracker in a real chromium, sending to a real `haina serve` on another origin.

Pages come from tests/e2e/pages (served by the `site` fixture with the snippet templated in);
every assertion is made on what the server stored, read back through the export API.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from haina.testing import (
    ServerProcess,
    create_workspace,
    export_events,
    start_server,
)

pytestmark = pytest.mark.e2e

Rows = list[dict[str, Any]]
_names = count()


@dataclass
class Workspace:
    server: ServerProcess
    write_key: str
    api_token: str
    page: Any = None  # while polling, Playwright must run: its route and request handlers

    def stored(self) -> Rows:
        return export_events(self.server.base_url, self.api_token)

    def wait(self, predicate: Callable[[Rows], bool], timeout: float = 10) -> Rows:
        """Poll the export API until ``predicate(rows)`` holds (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.stored()
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                summary = [(r.get("type"), r.get("event"), r.get("properties")) for r in rows]
                raise AssertionError(f"not stored within {timeout}s; stored: {summary}")
            try:
                self.page.wait_for_timeout(200)
            except Exception:  # no page, or closing (close(run_before_unload=True) won't wait)
                time.sleep(0.2)


@pytest.fixture(scope="module")
def haina_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("haina") / "data")
    yield server
    server.stop()


@pytest.fixture
def workspace(haina_server: ServerProcess, site: Any) -> Workspace:
    """A fresh workspace per test, so each test sees only its own events."""
    created = create_workspace(haina_server.data_dir, f"tracker-{next(_names)}")
    site.haina_url = haina_server.base_url
    site.write_key = created["write_key"]
    return Workspace(haina_server, created["write_key"], created["api_token"])


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any, workspace: Workspace) -> Any:
    page = context.new_page()
    workspace.page = page
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    return page


# -- helpers ---------------------------------------------------------------------------------


def named(rows: Rows, event: str) -> Rows:
    return [r for r in rows if r.get("type") == "track" and r.get("event") == event]


def pageviews(rows: Rows) -> Rows:
    return [r for r in rows if r.get("type") == "page"]


def has(event: str, n: int = 1) -> Callable[[Rows], bool]:
    return lambda rows: len(named(rows, event)) >= n


def props(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("properties") or {}
    assert isinstance(value, dict)
    return value


def send_barrier(page: Any, ws: Workspace, name: str = "Barrier") -> Rows:
    """Track a marker event and wait for it: everything sent before it has arrived too."""
    page.evaluate("name => haina.track(name)", name)
    return ws.wait(has(name))


def haina_requests(page: Any, ws: Workspace) -> list[str]:
    """Records every request the page makes to the collection API."""
    seen: list[str] = []
    prefix = ws.server.base_url + "/v1/"
    page.on("request", lambda req: seen.append(req.url) if req.url.startswith(prefix) else None)
    return seen


def device_storage(page: Any) -> tuple[str, dict[str, str]]:
    cookies = page.evaluate("document.cookie")
    local = page.evaluate("JSON.parse(JSON.stringify(localStorage))")
    return cookies, local


def cookie(page: Any, name: str) -> str | None:
    for part in page.evaluate("document.cookie").split("; "):
        key, _, value = part.partition("=")
        if key == name:
            return str(value)
    return None


# -- tests -----------------------------------------------------------------------------------


def test_pageview_on_load_carries_timings_campaign_and_context(
    page: Any, site: Any, workspace: Workspace
) -> None:
    url = site.url("/index.html?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
    page.goto(url)
    rows = workspace.wait(
        lambda rows: len(pageviews(rows)) >= 1 and has("Queued Function Call")(rows)
    )

    [view] = pageviews(rows)
    p = props(view)
    assert p["url"] == url
    assert p["path"] == "/index.html"
    assert p["title"] == "Haina test shop"
    assert p["search"] == "?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
    assert p["referrer"] == "" and p["hash"] == ""
    ttfb, dcl, load = p["perf_ttfb_ms"], p["perf_dom_content_loaded_ms"], p["perf_load_ms"]
    assert all(isinstance(v, int) for v in (ttfb, dcl, load)), p
    assert 0 <= ttfb <= dcl <= load < 30_000, p

    ctx = view["context"]
    assert ctx["library"]["name"] == "haina.js"
    assert ctx["campaign"] == {"name": "spring", "source": "newsletter", "medium": "email"}
    assert ctx["page"]["path"] == "/index.html"
    assert ctx["page"]["title"] == "Haina test shop"
    assert ctx["screen"]["width"] > 0 and ctx["screen"]["density"] > 0
    assert ctx["userAgent"] == page.evaluate("navigator.userAgent")
    assert ctx["locale"] and ctx["timezone"]

    anonymous_id = cookie(page, "haina_aid")
    assert anonymous_id and view["anonymous_id"] == anonymous_id
    assert view["user_id"] in (None, "")

    # Calls made before t.js loaded were replayed in order, before the pageview.
    queued = named(rows, "Queued Method Call") + named(rows, "Queued Function Call")
    assert [props(r)["order"] for r in queued] == [1, 2]
    assert all(r["anonymous_id"] == anonymous_id for r in queued)
    assert not page.errors


def test_spa_navigation_sends_a_second_pageview_and_dedupes_same_url(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/spa.html"))
    workspace.wait(lambda rows: len(pageviews(rows)) == 1)
    page.click("#to-settings")
    rows = workspace.wait(lambda rows: len(pageviews(rows)) >= 2)
    first, second = sorted(pageviews(rows), key=lambda r: "settings" in props(r)["path"])

    p = props(second)
    assert p["path"] == "/spa/settings"
    assert p["url"] == site.url("/spa/settings?tab=profile")
    assert p["search"] == "?tab=profile"
    assert p["title"] == "SPA settings"
    assert p["referrer"] == site.url("/spa.html")
    assert p["pageview_id"] != props(first)["pageview_id"]
    assert "perf_load_ms" not in p  # timings belong to the first pageview only

    # The first page's engagement went out before the route change, tagged with its pageview.
    engagement = [
        r
        for r in named(rows, "$engagement")
        if props(r)["pageview_id"] == props(first)["pageview_id"]
    ]
    assert engagement and props(engagement[0])["path"] == "/spa.html"

    # replaceState to the same URL is not a new pageview.
    page.click("#same-url")
    rows = send_barrier(page, workspace)
    assert [props(r)["path"] for r in pageviews(rows)].count("/spa/settings") == 1
    assert len(pageviews(rows)) == 2


def test_tagged_element_sends_its_own_event_with_props(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    page.click("#signup .icon")  # on a child: the tracker walks up to the tagged button
    page.click("#plain-button")
    page.click("#ignored-button")
    rows = send_barrier(page, workspace)

    [signup] = named(rows, "Signup Click")
    p = props(signup)
    assert p["plan"] == "pro" and p["billing_period"] == "yearly"
    assert p["tag"] == "button" and p["element_id"] == "signup"
    assert p["text"] == "Sign up →"
    assert p["selector"] == "#signup" and p["classes"] == ["cta"]

    clicks = named(rows, "$click")
    assert [props(c)["element_id"] for c in clicks] == ["plain-button"]
    assert props(clicks[0])["text"] == "Plain button"


def test_link_click_arrives_as_click_with_href_and_text(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    with page.expect_navigation():
        page.click("#pricing-link")
    rows = workspace.wait(lambda rows: has("$click")(rows) and len(pageviews(rows)) >= 2)

    [click] = named(rows, "$click")
    p = props(click)
    assert p["href"] == site.url("/other.html?from=nav")
    assert p["text"] == "See pricing"
    assert p["tag"] == "a" and p["element_id"] == "pricing-link"
    assert p["classes"] == ["nav-link", "primary"]
    assert click["context"]["page"]["path"] == "/index.html"
    landing = [v for v in pageviews(rows) if props(v)["path"] == "/other.html"]
    assert props(landing[0])["referrer"] == site.url("/index.html")


def test_form_submit_is_captured_without_field_values(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    with page.expect_navigation():
        page.click("#subscribe")
    rows = workspace.wait(has("$form_submit"))

    [submit] = named(rows, "$form_submit")
    assert props(submit) == {
        "form_id": "newsletter",
        "form_name": "newsletter-form",
        "action": site.url("/other.html"),
        "selector": "#newsletter",
    }
    assert "secret@example.com" not in json.dumps(rows)


def test_engagement_counts_focused_time_and_scroll_depth(
    page: Any, site: Any, workspace: Workspace
) -> None:
    started = time.monotonic()
    page.goto(site.url("/index.html"))
    page.bring_to_front()
    loaded = time.monotonic()
    assert page.evaluate("document.hasFocus() && document.visibilityState === 'visible'")
    workspace.wait(lambda rows: len(pageviews(rows)) == 1)

    # Headless chromium always reports focus, so the visitor switching away is simulated:
    # for ~2 s the page says it has no focus, and that time must not count. The blur sends
    # a first $engagement (the first one of a pageview always passes the guard).
    before_blur = time.monotonic()
    page.evaluate("document.hasFocus = () => false; window.dispatchEvent(new Event('blur'))")
    after_blur = time.monotonic()
    page.wait_for_timeout(2000)
    before_focus = time.monotonic()
    page.evaluate("delete document.hasFocus; window.dispatchEvent(new Event('focus'))")
    after_focus = time.monotonic()
    page.wait_for_timeout(500)
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_timeout(1000)
    before_close = time.monotonic()
    page.close(run_before_unload=True)  # pagehide: the deeper scroll goes out by sendBeacon
    after_close = time.monotonic()

    def engagements(rows: Rows) -> Rows:
        return named(rows, "$engagement")

    rows = workspace.wait(
        lambda rows: max((props(r)["scroll_depth"] for r in engagements(rows)), default=0) >= 90
    )
    [view] = pageviews(rows)
    sent = engagements(rows)
    assert len(sent) == 2, [props(r) for r in sent]  # on blur, then on pagehide
    assert {props(r)["pageview_id"] for r in sent} == {props(view)["pageview_id"]}
    assert {props(r)["path"] for r in sent} == {"/index.html"}
    assert {props(r)["url"] for r in sent} == {site.url("/index.html")}
    depths = [props(r)["scroll_depth"] for r in sent]
    assert depths == sorted(depths) and 0 < depths[0] < 90 and depths[1] >= 90, depths

    total = sum(props(r)["engaged_ms"] for r in sent)
    assert all(isinstance(props(r)["engaged_ms"], int) for r in sent)
    # At least the focused time the test saw after `load`; at most the focused time since
    # navigation began (the script starts before `load`). Never the unfocused ~2 s.
    least = (before_close - loaded - (after_focus - before_blur)) * 1000 - 300
    most = (after_close - started - (before_focus - after_blur)) * 1000 + 300
    assert least <= total <= most, (least, total, most)


def test_engagement_guard_needs_deeper_scroll_or_three_seconds(
    page: Any, site: Any, workspace: Workspace
) -> None:
    blur = "window.dispatchEvent(new Event('blur'))"
    page.goto(site.url("/other.html"))  # a short page: fully seen at once, depth 100
    workspace.wait(lambda rows: len(pageviews(rows)) == 1)
    page.evaluate(blur)  # the first send of a pageview always goes
    page.wait_for_timeout(3500)
    page.evaluate(blur)  # same depth, but 3 s or more engaged: sent
    page.wait_for_timeout(500)
    page.evaluate(blur)  # same depth and under 3 s: held back
    page.close(run_before_unload=True)  # still under 3 s: held back

    workspace.wait(has("$engagement", 2))
    time.sleep(1.5)  # room for a wrong third one to arrive
    sent = sorted(named(workspace.stored(), "$engagement"), key=lambda r: r["timestamp"])
    assert len(sent) == 2, [props(r) for r in sent]
    assert [props(r)["scroll_depth"] for r in sent] == [100, 100]
    assert 3000 <= props(sent[1])["engaged_ms"] <= 5000, props(sent[1])


def test_identify_sets_user_id_on_later_events_and_reset_clears_it(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    page.evaluate("haina.track('Before Identify')")
    page.evaluate("haina.identify('user-42', {plan: 'pro', email: 'ada@example.com'})")
    page.evaluate("haina.track('After Identify', {step: 1})")
    rows = workspace.wait(has("After Identify"))
    anonymous_id = cookie(page, "haina_aid")

    [before] = named(rows, "Before Identify")
    [after] = named(rows, "After Identify")
    [ident] = [r for r in rows if r["type"] == "identify"]
    assert before["user_id"] in (None, "")
    assert after["user_id"] == "user-42" and ident["user_id"] == "user-42"
    assert after["anonymous_id"] == ident["anonymous_id"] == anonymous_id
    assert ident["traits"]["plan"] == "pro"

    page.reload()  # the user id is remembered across page loads
    rows = workspace.wait(lambda rows: len(pageviews(rows)) >= 2)
    assert cookie(page, "haina_uid") == "user-42"
    reloaded = [v for v in pageviews(rows) if v["user_id"] == "user-42"]
    assert len(reloaded) == 1 and reloaded[0]["anonymous_id"] == anonymous_id

    page.evaluate("haina.reset(); haina.track('After Reset')")
    rows = workspace.wait(has("After Reset"))
    [after_reset] = named(rows, "After Reset")
    assert after_reset["user_id"] in (None, "")
    assert after_reset["anonymous_id"] not in (None, "", anonymous_id)
    assert cookie(page, "haina_aid") == after_reset["anonymous_id"]


def test_consent_required_sends_and_stores_nothing_until_granted(
    page: Any, site: Any, workspace: Workspace
) -> None:
    sent = haina_requests(page, workspace)
    page.goto(site.url("/consent.html"))
    page.click("#consent-link")
    page.wait_for_timeout(2500)  # well past the 1 s flush interval
    assert page.evaluate("typeof haina.consent") == "function"  # t.js has loaded
    assert sent == []
    assert device_storage(page) == ("", {})

    page.click("#accept")
    rows = workspace.wait(lambda rows: has("$consent")(rows) and len(pageviews(rows)) >= 1)
    page.wait_for_timeout(100)  # lets Playwright deliver the request events
    assert sent, "nothing reached /v1/ after consent"

    [consent] = named(rows, "$consent")
    assert props(consent) == {
        "purposes": {"analytics": True, "marketing": False, "personalisation": False}
    }
    # What happened before consent was held in memory and sent now, with its original order.
    [queued] = named(rows, "Queued Before Load")
    assert props(queued) == {"position": "head"}
    assert {props(r)["element_id"] for r in named(rows, "$click")} == {"consent-link", "accept"}
    landing, anchor = sorted(pageviews(rows), key=lambda r: r["timestamp"])
    assert (props(landing)["hash"], props(anchor)["hash"]) == ("", "#top")  # the link's hashchange
    assert queued["timestamp"] < landing["timestamp"] < consent["timestamp"]
    assert cookie(page, "haina_consent") == "a1m0p0"
    assert cookie(page, "haina_aid") == consent["anonymous_id"] == queued["anonymous_id"]


def test_consent_refused_sends_nothing_at_all(page: Any, site: Any, workspace: Workspace) -> None:
    sent = haina_requests(page, workspace)
    page.goto(site.url("/consent.html"))
    page.click("#reject")
    page.evaluate("haina.track('After Refusal')")
    page.click("#consent-link")
    page.close(run_before_unload=True)
    time.sleep(1.5)
    assert sent == []
    assert workspace.stored() == []


def test_opt_out_stops_sending_and_forgets_the_visitor(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    workspace.wait(lambda rows: len(pageviews(rows)) == 1)
    assert cookie(page, "haina_aid")

    sent = haina_requests(page, workspace)
    page.evaluate("haina.track('Right Before Opt Out'); haina.optOut()")
    page.evaluate("haina.track('After Opt Out')")
    page.click("#plain-button")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.reload()
    page.wait_for_timeout(1500)
    page.close(run_before_unload=True)
    time.sleep(1)

    assert sent == []
    rows = workspace.wait(lambda rows: len(pageviews(rows)) == 1)
    assert not named(rows, "After Opt Out") and not named(rows, "Right Before Opt Out")
    assert not named(rows, "$consent")


def test_opt_out_removes_identifiers_and_queue_from_the_device(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/index.html"))
    page.evaluate("haina.identify('user-7')")
    assert cookie(page, "haina_aid") and cookie(page, "haina_uid") == "user-7"
    page.evaluate("haina.optOut()")
    cookies, local = device_storage(page)
    assert cookies == "haina_consent=a0m0p0"
    assert local == {}


def test_cookieless_mode_stores_nothing_and_flags_events(
    page: Any, site: Any, workspace: Workspace
) -> None:
    page.goto(site.url("/cookieless.html"))
    page.click("#cookieless-button")
    rows = workspace.wait(lambda rows: has("$click")(rows) and len(pageviews(rows)) == 1)
    assert device_storage(page) == ("", {})
    # The tracker sends no anonymousId; the server derives one, the same for the whole visit.
    derived = {row["anonymous_id"] for row in rows}
    assert len(derived) == 1 and derived != {None} and derived != {""}
    for row in rows:
        assert row["context"]["haina"] == {"cookieless": True}
    assert props(named(rows, "$click")[0])["element_id"] == "cookieless-button"


def test_queue_survives_a_reload_while_the_server_is_unreachable(
    page: Any, site: Any, workspace: Workspace
) -> None:
    batch_url = workspace.server.base_url + "/v1/batch"
    page.route(batch_url, lambda route: route.abort("connectionrefused"))
    page.goto(site.url("/index.html"))
    page.evaluate("haina.track('Sent While Offline', {n: 1})")
    page.wait_for_function(
        "Object.keys(localStorage).some(k => k.startsWith('haina_q_') &&"
        " localStorage[k].includes('Sent While Offline'))"
    )
    page.reload()  # still unreachable: nothing may be lost on the way
    page.wait_for_timeout(500)
    page.unroute(batch_url)
    page.reload()
    rows = workspace.wait(
        lambda rows: has("Sent While Offline")(rows) and len(pageviews(rows)) >= 3
    )
    assert [props(r) for r in named(rows, "Sent While Offline")] == [{"n": 1}]
    assert len({r["message_id"] for r in rows}) == len(rows)
    page.wait_for_function("!Object.keys(localStorage).some(k => k.startsWith('haina_q_'))")


def test_server_errors_are_retried_and_retry_after_is_honoured(
    page: Any, site: Any, workspace: Workspace
) -> None:
    batch_url = workspace.server.base_url + "/v1/batch"
    attempts: list[float] = []

    def unavailable_once(route: Any) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            route.fulfill(
                status=503,
                headers={
                    "Retry-After": "2",
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Expose-Headers": "Retry-After",
                },
                body="{}",
            )
        else:
            route.continue_()

    page.route(batch_url, unavailable_once)
    page.goto(site.url("/index.html"))
    rows = workspace.wait(lambda rows: len(pageviews(rows)) == 1)
    assert len(attempts) >= 2
    assert attempts[1] - attempts[0] >= 1.9  # waited for Retry-After, not the 1 s back-off
    assert props(pageviews(rows)[0])["path"] == "/index.html"


def test_t_js_is_served_by_haina(workspace: Workspace) -> None:
    import httpx

    resp = httpx.get(workspace.server.base_url + "/t.js")
    assert resp.status_code == 200
    assert "javascript" in resp.headers["content-type"]
    built = (Path(__file__).parents[2] / "haina" / "web" / "static" / "t.js").read_text()
    assert resp.text == built
