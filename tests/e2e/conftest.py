"""Browser fixtures for the end-to-end tests: Debian's chromium, driven by Playwright."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = Path(__file__).parent / "pages"
SNIPPET_MARKER = re.compile(r"<!-- haina-snippet ?(?P<options>[a-z_ ]*)-->")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless chromium for the session; never downloads a browser."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        print(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Site:
    """Serves tests/e2e/pages/*.html on its own loopback origin, with the Haina snippet in place.

    A page marks where the snippet goes with ``<!-- haina-snippet -->``, optionally naming
    keyword options of ``snippet_html``: ``<!-- haina-snippet consent_required -->``.
    Paths under /spa/ serve spa.html, as a single-page app's server would.
    """

    def __init__(self) -> None:
        self.haina_url = ""
        self.write_key = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:  # form submissions land on the action page
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._serve()

            def _serve(self) -> None:
                body = site.render(self.path)
                self.send_response(200 if body is not None else 404)
                payload = (body or "not found").encode()
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"

    def render(self, raw_path: str) -> str | None:
        from haina.web.snippet import snippet_html

        path = raw_path.split("?")[0].split("#")[0]
        name = "spa.html" if path.startswith("/spa/") else (path.lstrip("/") or "index.html")
        page = PAGES / name
        if "/" in name or not page.is_file():
            return None

        def snippet(match: re.Match[str]) -> str:
            options = {option: True for option in match["options"].split()}
            return snippet_html(self.haina_url, self.write_key, **options)

        return SNIPPET_MARKER.sub(snippet, page.read_text(encoding="utf-8"))

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(scope="session")
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()
