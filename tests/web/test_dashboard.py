"""The dashboard shell over HTTP: login, CSRF, languages, workspaces, the setup page, pages."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from markupsafe import Markup

from haina.testing import LiveServer, csrf_of, dashboard_login
from haina.web.pages import PageContext, page, register_page, unregister_page
from haina.web.session import SESSION_COOKIE
from haina.workspaces import verify_api_token
from haina.workspaces.keys import revoke_api_token

VENDOR = ("vendor/htmx.min.js", "vendor/echarts.min.js")


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def login(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/login")
    return client.post("/login", data={"csrf": csrf_of(form.text), "token": token})


def track(live: LiveServer, write_key: str, event: str = "Signed Up") -> None:
    r = httpx.post(
        live.url + "/v1/track", json={"userId": "u", "event": event}, auth=(write_key, "")
    )
    assert r.status_code == 200, r.text


def test_login_with_a_good_token_sets_a_signed_cookie_and_reaches_setup(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    resp = login(client, ws["api_token"])
    assert resp.status_code == 303
    assert resp.headers["location"] == "/dashboard/setup"
    cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie")
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    token_id = verify_api_token(live.meta, ws["api_token"])
    assert token_id is not None
    value = client.cookies[SESSION_COOKIE]
    assert ws["api_token"] not in value and ws["api_token"].split("_", 2)[2] not in value

    setup = client.get("/dashboard/setup")
    assert setup.status_code == 200
    assert ws["write_key"] in setup.text and "shop" in setup.text
    assert setup.headers["content-security-policy"].startswith("default-src 'self'")
    assert setup.headers["cache-control"] == "no-store"
    # Logged in, the start page sends the viewer to the workspace's dashboard.
    assert client.get("/").headers["location"] == "/dashboard/setup"


def test_a_bad_or_revoked_token_is_refused(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    bad = login(client, ws["api_token"][:-2] + "xx")
    assert bad.status_code == 401 and "unknown or has been revoked" in bad.text
    assert client.get("/dashboard/setup").status_code == 303

    assert login(client, ws["api_token"]).status_code == 303
    assert client.get("/dashboard/setup").status_code == 200
    info = verify_api_token(live.meta, ws["api_token"])
    assert info is not None
    revoke_api_token(live.meta, ws["workspace_id"], info.token_id)
    # The cookie is still signed and valid, but the token behind it is not: refused at once.
    gone = client.get("/dashboard/setup")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert login(client, ws["api_token"]).status_code == 401


def test_dashboard_pages_without_a_session_send_the_browser_to_login(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    resp = client.get("/dashboard/setup")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=/dashboard/setup"
    assert client.get("/dashboard").headers["location"].startswith("/login")
    fragment = client.get("/dashboard/setup/status", headers={"HX-Request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"] == "/login?next=/dashboard/setup"
    # The public start page links to the login.
    home = client.get("/")
    assert home.status_code == 200 and 'href="/login"' in home.text

    # After logging in through /login?next=..., the browser goes back where it was headed.
    form = client.get("/login?next=/dashboard/setup%3Fx%3D1")
    resp = client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "token": ws["api_token"], "next": "/dashboard/setup?x=1"},
    )
    assert resp.headers["location"] == "/dashboard/setup?x=1"


def test_a_tampered_session_cookie_is_ignored(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    login(client, ws["api_token"])
    body, _, sig = client.cookies[SESSION_COOKIE].partition(".")
    client.cookies.set(SESSION_COOKIE, body[:-1] + ("A" if body[-1] != "A" else "B") + "." + sig)
    assert client.get("/dashboard/setup").status_code == 303


@pytest.mark.parametrize("path", ["/login", "/logout", "/lang", "/dashboard/workspace"])
def test_a_post_without_the_csrf_token_is_refused(
    live: LiveServer, ws: dict[str, str], client: httpx.Client, path: str
) -> None:
    login(client, ws["api_token"])
    data = {"token": ws["api_token"], "lang": "zh", "workspace": ws["workspace_id"]}
    assert client.post(path, data=data).status_code == 403
    assert client.post(path, data={**data, "csrf": "forged"}).status_code == 403
    # The session was not touched: still logged in, still in English.
    page = client.get("/dashboard/setup")
    assert page.status_code == 200 and 'lang="en"' in page.text


def test_cross_site_posts_are_refused_even_with_the_token(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    login(client, ws["api_token"])
    csrf = csrf_of(client.get("/dashboard/setup").text)
    data = {"csrf": csrf, "lang": "zh", "next": "/dashboard/setup"}
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
    ):
        assert client.post("/lang", data=data, headers=headers).status_code == 403, headers
    same = {"Sec-Fetch-Site": "same-origin", "Origin": live.url}
    assert client.post("/lang", data=data, headers=same).status_code == 303
    # htmx sends the token as a header instead of a form field.
    del data["csrf"]
    assert client.post("/lang", data=data, headers={"X-CSRF-Token": csrf}).status_code == 303


def test_logout_ends_the_session_and_rotates_the_csrf_token(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    login(client, ws["api_token"])
    setup = client.get("/dashboard/setup")
    before = csrf_of(setup.text)
    resp = client.post("/logout", data={"csrf": before})
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert client.get("/dashboard/setup").status_code == 303
    assert csrf_of(client.get("/login").text) != before


def test_the_language_is_guessed_then_chosen_and_remembered(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    zh = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    assert "API 令牌" in client.get("/login", headers=zh).text
    assert "API token" in client.get("/login", headers={"Accept-Language": "en-GB"}).text

    login(client, ws["api_token"])
    setup = client.get("/dashboard/setup")
    assert "Set up collection" in setup.text
    resp = client.post(
        "/lang", data={"csrf": csrf_of(setup.text), "lang": "zh", "next": "/dashboard/setup"}
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/setup"
    # Remembered in a cookie: it wins over the browser's preference from now on.
    again = client.get("/dashboard/setup", headers={"Accept-Language": "en"})
    assert 'lang="zh-CN"' in again.text and "接入设置" in again.text and "退出登录" in again.text
    assert "海纳正在采集数据" in httpx.get(live.url + "/", cookies={"haina_lang": "zh"}).text
    # A `next` that leaves the site is not followed.
    evil = client.post(
        "/lang", data={"csrf": csrf_of(again.text), "lang": "en", "next": "//evil.example/"}
    )
    assert evil.headers["location"] == "/"


def test_setup_page_flips_from_waiting_to_the_event_count(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    other = live.workspace("other")
    login(client, ws["api_token"])
    setup = client.get("/dashboard/setup")
    assert "No events yet" in setup.text
    assert 'hx-get="/dashboard/setup/status" hx-trigger="every 5s"' in setup.text
    assert 'data-key="' + ws["write_key"] + '"' in setup.text.replace("&#34;", '"')
    assert other["write_key"] not in setup.text  # another workspace's key never shows

    track(live, other["write_key"])  # events of another workspace do not count
    assert "No events yet" in client.get("/dashboard/setup/status").text
    track(live, ws["write_key"])
    status = client.get("/dashboard/setup/status")
    assert status.status_code == 200 and "<html" not in status.text
    assert 'data-count="1"' in status.text and "Events received: 1." in status.text
    assert "hx-trigger" not in status.text  # arrived: the panel stops polling
    expected = "/dashboard/overview" if page("overview") else "/dashboard/setup"
    assert client.get("/").headers["location"] == expected


def test_a_browser_logs_into_several_workspaces_and_switches_among_them(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    other = live.workspace("other")
    stranger = live.workspace("stranger")
    dashboard_login(live.url, ws["api_token"], client)
    dashboard_login(live.url, other["api_token"], client)
    setup = client.get("/dashboard/setup")
    assert other["write_key"] in setup.text and ws["write_key"] not in setup.text
    options = re.findall(r'<option value="(ws_[0-9a-f]+)"', setup.text)
    assert options == [ws["workspace_id"], other["workspace_id"]]

    csrf = csrf_of(setup.text)
    switch = {"csrf": csrf, "workspace": ws["workspace_id"], "next": "/dashboard/setup"}
    assert client.post("/dashboard/workspace", data=switch).status_code == 303
    assert ws["write_key"] in client.get("/dashboard/setup").text
    # A workspace the browser has no token for cannot be switched to.
    client.post("/dashboard/workspace", data={**switch, "workspace": stranger["workspace_id"]})
    assert stranger["write_key"] not in client.get("/dashboard/setup").text

    # Revoking one workspace's token leaves the other login in place.
    info = verify_api_token(live.meta, ws["api_token"])
    assert info is not None
    revoke_api_token(live.meta, ws["workspace_id"], info.token_id)
    after = client.get("/dashboard/setup")
    assert after.status_code == 200 and other["write_key"] in after.text
    assert re.findall(r'<option value="(ws_[0-9a-f]+)"', after.text) == [other["workspace_id"]]


def test_a_registered_page_is_listed_and_rendered_in_the_layout(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    seen: list[PageContext] = []

    async def handler(ctx: PageContext) -> Markup:
        seen.append(ctx)
        return Markup("<p id='probe'>{} {}</p>").format(ctx.workspace_id, ctx.period.query)

    async def fragment(ctx: PageContext) -> Markup:
        return Markup("<b>piece</b>")

    login(client, ws["api_token"])
    assert 'href="/dashboard/probe"' not in client.get("/dashboard/setup").text
    register_page("probe", "nav.events", handler, fragments={"piece": fragment})
    try:
        resp = client.get("/dashboard/probe?from=2024-03-01&to=2024-03-07")
        assert resp.status_code == 200
        assert f"<p id='probe'>{ws['workspace_id']} from=2024-03-01&amp;to=2024-03-07" in resp.text
        assert 'name="from" value="2024-03-01"' in resp.text  # the period picker, for dated pages
        assert '<a href="/dashboard/probe?from=2024-03-01&amp;to=2024-03-07" aria-current' in (
            resp.text
        )
        assert seen[0].lang == "en" and seen[0].t("nav.events") == "Events"
        assert client.get("/dashboard/probe/piece").text == "<b>piece</b>"
        assert 'name="from"' not in client.get("/dashboard/setup").text  # setup is not dated
    finally:
        unregister_page("probe")
    assert client.get("/dashboard/probe").status_code == 404
    assert client.get("/dashboard/setup/nothing").status_code == 404


def test_vendored_libraries_are_served_with_long_cache_headers(
    live: LiveServer, ws: dict[str, str], client: httpx.Client
) -> None:
    login(client, ws["api_token"])
    setup = client.get("/dashboard/setup").text
    for name in VENDOR:
        url = re.search(rf'src="(/static/{re.escape(name)}\?v=[0-9a-f]+)"', setup)
        assert url, name
        resp = client.get(url[1])
        assert resp.status_code == 200 and len(resp.content) > 10_000
        assert resp.headers["content-type"].startswith("application/javascript")
        assert "max-age=31536000" in resp.headers["cache-control"]
    assert "immutable" in client.get("/static/vendor/htmx.min.js").headers["cache-control"]
    csrf = csrf_of(setup)
    assert f"""<body hx-headers='{{"X-CSRF-Token": "{csrf}"}}'>""" in setup
    for bad in ("/static/../config.py", "/static/%2e%2e/config.py", "/static/vendor/README.md"):
        assert client.get(bad).status_code == 404, bad
