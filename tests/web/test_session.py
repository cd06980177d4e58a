"""The signed session cookie and the redirect guard, without a server."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from haina.web.session import (
    MAX_LOGINS,
    Login,
    Session,
    csrf_token,
    decode,
    encode,
    session_key,
)
from haina.web.viewer import safe_next

KEY = b"k" * 32


def test_a_session_survives_the_round_trip_and_holds_no_token() -> None:
    session = Session(logins=(Login("tok_1", "ws_1"), Login("tok_2", "ws_2")), current="ws_2")
    cookie = encode(session, KEY)
    assert decode(cookie, KEY) == session
    assert decode(cookie, b"x" * 32) is None  # another installation's key


def test_altered_malformed_or_expired_cookies_are_rejected() -> None:
    cookie = encode(Session(logins=(Login("tok_1", "ws_1"),)), KEY)
    body, _, sig = cookie.partition(".")
    forged = encode(Session(logins=(Login("tok_9", "ws_9"),)), KEY).partition(".")[0]
    assert decode(f"{forged}.{sig}", KEY) is None
    assert decode(body, KEY) is None and decode("", KEY) is None and decode("a.b.c", KEY) is None
    old = replace(Session(), expires=int(time.time()) - 1)
    assert decode(encode(old, KEY), KEY) is None


def test_a_login_rotates_the_sid_and_replaces_the_same_workspace() -> None:
    first = Session().with_login(Login("tok_1", "ws_1"))
    second = first.with_login(Login("tok_2", "ws_2")).with_login(Login("tok_3", "ws_1"))
    assert second.logins == (Login("tok_2", "ws_2"), Login("tok_3", "ws_1"))
    assert second.current == "ws_1"
    assert csrf_token(first, KEY) != csrf_token(second, KEY)
    many = Session()
    for i in range(MAX_LOGINS + 5):
        many = many.with_login(Login(f"tok_{i}", f"ws_{i}"))
    assert len(many.logins) == MAX_LOGINS and many.logins[-1].token_id == f"tok_{MAX_LOGINS + 4}"
    assert len(encode(many, KEY)) < 4000


def test_the_signing_key_is_derived_from_the_installation_secret(tmp_path: Path) -> None:
    key = session_key(tmp_path)
    assert key == session_key(tmp_path) and len(key) == 32
    assert key != (tmp_path / "secret.key").read_bytes()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dashboard/setup?x=1", "/dashboard/setup?x=1"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("dashboard", "/"),
    ],
)
def test_next_stays_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected
