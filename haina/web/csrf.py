"""Refusing cross-site form posts: the browser's own headers, then a token bound to the session.

Every state-changing dashboard request is a POST whose form field ``csrf`` (or header
``X-CSRF-Token``, which htmx sends on every request) must equal the session's CSRF token.
Browsers that say where a request comes from (``Sec-Fetch-Site``, ``Origin``) are also held
to the same origin, so a cross-site POST is refused even before the token is compared.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from haina.web.session import Session, csrf_token

CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 16 * 1024


class FormTooLarge(ValueError):
    pass


async def read_form(request: Request) -> dict[str, str]:
    """A URL-encoded form body (the dashboard's forms are small; no multipart)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge("form too large")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site or origin.

    Hosts are compared without scheme and port: behind a TLS proxy Haina may see http and a
    Host header without the public port, and a page on another port of the same host is
    same-site for cookies anyway.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = urlsplit("//" + request.headers.get("host", "")).hostname
    return origin != "null" and host is not None and urlsplit(origin).hostname == host


def csrf_ok(request: Request, session: Session | None, form: dict[str, str]) -> bool:
    if session is None or not same_origin(request):
        return False
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    expected = csrf_token(session, request.app.state.session_key)
    return hmac.compare_digest(sent.encode(), expected.encode())
