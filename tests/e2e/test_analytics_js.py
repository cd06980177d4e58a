"""Segment's own browser SDK (analytics.js / @segment/analytics-next) against Haina.

The SDK comes from the npm registry (tests/e2e/clients, installed by test.sh with `npm ci`);
a page on its own loopback origin loads it in Debian's chromium and points it at a live
`haina serve` with `cdnURL`, exactly as a site would.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from haina.testing import ServerProcess, create_workspace, export_events, start_server

pytestmark = pytest.mark.e2e

UMD = Path(__file__).parent / "clients/node_modules/@segment/analytics-next/dist/umd"

PAGE = """<!doctype html><html><head><title>ajs test</title></head><body>
<h1>analytics.js</h1>
<script src="/index.js"></script>
<script>
  window.ready = AnalyticsNext.AnalyticsBrowser.load(
    {writeKey: "%(key)s", cdnURL: "%(haina)s"}, {retryQueue: true}
  ).then(([analytics]) => {
    window.analytics = analytics;
    return Promise.all([
      analytics.page("Docs", "Getting started", {section: "intro"}),
      analytics.identify("ajs-user-1", {email: "ajs@example.cn"}),
      analytics.track("Signed Up", {plan: "pro", seats: 3}),
      analytics.group("company-7", {name: "Example Ltd"}),
      analytics.alias("ajs-user-1", "ajs-anon-prev"),
    ]).then(() => "sent");
  });
</script></body></html>"""


class _Handler(SimpleHTTPRequestHandler):
    page = ""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            body = self.page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture
def haina(tmp_path: Path) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    data = tmp_path / "data"
    ws = create_workspace(data, "ajs")
    server = start_server(data)
    yield server, ws
    server.stop()


def test_analytics_next_sends_every_call_type_to_haina(
    browser: Any, haina: tuple[ServerProcess, dict[str, str]]
) -> None:
    if not (UMD / "index.js").exists():
        reason = f"{UMD} is missing: run `npm ci --prefix tests/e2e/clients` (test.sh does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        print(reason)
        pytest.skip(reason)
    server, ws = haina
    handler = partial(_Handler, directory=str(UMD))
    _Handler.page = PAGE % {"key": ws["write_key"], "haina": server.base_url}
    site = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{site.server_address[1]}/")
        assert page.evaluate("window.ready.then(() => 'sent')") == "sent"
        deadline = time.monotonic() + 15
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = export_events(server.base_url, ws["api_token"])
            if len(rows) >= 5:
                break
            page.wait_for_timeout(200)
    finally:
        page.close()
        site.shutdown()
        site.server_close()
    by_type = {r["type"]: r for r in rows}
    assert set(by_type) == {"page", "identify", "track", "group", "alias"}, rows
    track = by_type["track"]
    assert track["event"] == "Signed Up" and track["properties"] == {"plan": "pro", "seats": 3}
    assert track["library_name"] == "analytics.js"
    assert track["user_id"] == "ajs-user-1" and track["anonymous_id"]
    assert track["browser"] == "HeadlessChrome" and track["is_bot"] is True
    page_row = by_type["page"]
    assert page_row["name"] == "Getting started" and page_row["path"] == "/"
    assert by_type["identify"]["traits"] == {"email": "ajs@example.cn"}
    assert by_type["group"]["group_id"] == "company-7"
    assert (by_type["alias"]["user_id"], by_type["alias"]["previous_id"]) == (
        "ajs-user-1",
        "ajs-anon-prev",
    )
    assert all(r["sent_at"] is not None for r in rows)
