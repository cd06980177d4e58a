"""The dashboard's browser session: a signed cookie naming the API tokens a browser logged in with.

The cookie holds token ids, never tokens, and is signed (HMAC-SHA256) with a key derived from
the installation's secret, so it cannot be forged or altered. It grants nothing by itself: every
request looks the token ids up again, so a revoked token stops working at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from fastapi.responses import Response

from haina.config import load_secret

SESSION_COOKIE = "haina_session"
LANG_COOKIE = "haina_lang"
SESSION_SECONDS = 30 * 86_400
LANG_SECONDS = 365 * 86_400
MAX_LOGINS = 20  # workspaces one browser can be logged into at once


def session_key(data_dir: Path) -> bytes:
    """The key that signs sessions: derived from, never equal to, the installation secret."""
    return hmac.new(load_secret(data_dir), b"haina dashboard session v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Login:
    token_id: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class Session:
    """`sid` is random per login state (rotated on login and logout); CSRF tokens derive from it."""

    sid: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    logins: tuple[Login, ...] = ()
    current: str | None = None  # the workspace id the dashboard shows
    expires: int = field(default_factory=lambda: int(time.time()) + SESSION_SECONDS)

    def with_login(self, login: Login) -> Session:
        """A new session (new sid) with this login added, replacing one for the same workspace
        (and the oldest beyond MAX_LOGINS, which keeps the cookie small)."""
        kept = tuple(x for x in self.logins if x.workspace_id != login.workspace_id)
        return Session(logins=(*kept, login)[-MAX_LOGINS:], current=login.workspace_id)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, key: bytes) -> str:
    payload = {
        "sid": session.sid,
        "logins": [[x.token_id, x.workspace_id] for x in session.logins],
        "cur": session.current,
        "exp": session.expires,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def decode(cookie: str, key: bytes) -> Session | None:
    """The session in a cookie, or None when it is malformed, tampered with or expired."""
    body, _, sig = cookie.partition(".")
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        return None
    try:
        data = json.loads(_unb64(body))
        session = Session(
            sid=str(data["sid"]),
            logins=tuple(Login(str(t), str(w)) for t, w in data["logins"]),
            current=None if data["cur"] is None else str(data["cur"]),
            expires=int(data["exp"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


def read_session(request: Request) -> Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return decode(cookie, request.app.state.session_key) if cookie else None


def write_session(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        encode(session, request.app.state.session_key),
        max_age=max(0, session.expires - int(time.time())),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def csrf_token(session: Session, key: bytes) -> str:
    """The CSRF token of a session: bound to its sid, so it changes on every login and logout."""
    return _b64(hmac.new(key, b"csrf:" + session.sid.encode(), hashlib.sha256).digest())
