"""Rendering browser pages: the shared Jinja environment, static URLs and security headers."""

from __future__ import annotations

import hashlib
import re
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup, escape

STATIC = Path(__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"

# Scripts only from this server, and no inline script: pages pass data to scripts in data-*
# attributes (see dashboard.js). Inline styles stay allowed: ECharts' tooltips use them.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a file under haina/web/static, versioned by its content (cached for a year)."""
    return f"/static/{name}?v={_fingerprint(name)}"


def code_spans(text: str) -> Markup:
    """Escape a message and show its `backticked` parts (commands) as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader([TEMPLATES]), autoescape=True)
    env.globals["static_url"] = static_url
    env.filters["code_spans"] = code_spans
    return env


def add_template_dir(path: Path) -> None:
    """Let pages from another package render their own templates (searched after ours)."""
    loader = environment().loader
    assert isinstance(loader, FileSystemLoader)
    if str(path) not in loader.searchpath:
        loader.searchpath.append(str(path))


def render_template(name: str, **values: Any) -> Markup:
    return Markup(environment().get_template(name).render(**values))


def html_page(html: str, status_code: int = 200) -> HTMLResponse:
    """An HTML response with the dashboard's security headers (CSP, no framing, no caching)."""
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
