"""Property-based: arbitrary JSON and bytes at every collection route never give a 5xx, and
every message is accounted for (stored, duplicate or quarantined)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.config import Settings
from haina.testing import LiveServer, free_port, live_server

ROUTES = ["batch", "identify", "track", "page", "screen", "group", "alias", "b", "t", "p", "i"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
ids = st.one_of(st.none(), st.text(max_size=30), st.integers(), st.just(""), st.just("x" * 300))
times = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers(),
    st.just("2026-11-29T10:00:00.123+08:00"),
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["track", "page", "identify", "screen", "group", "alias", "boom", "", "TRACK"]
        )
        | st.integers(),
        "event": st.text(max_size=30) | json_values,
        "userId": ids,
        "anonymousId": ids,
        "messageId": ids,
        "previousId": ids,
        "groupId": ids,
        "name": st.text(max_size=20),
        "timestamp": times,
        "sentAt": times,
        "originalTimestamp": times,
        "properties": json_values,
        "traits": json_values,
        "context": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "ip": st.text(max_size=40),
                "userAgent": st.text(max_size=60),
                "page": json_values,
                "campaign": json_values,
            },
        ),
        "integrations": json_values,
        "_metadata": json_values,
    },
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data = Path(tmp_path_factory.mktemp("fuzz"))
    s = Settings(data_dir=data, port=free_port(), write_key_cache_seconds=60)
    with live_server(s) as server:
        yield server, server.workspace("fuzz")["write_key"]


def _counts(server: LiveServer) -> tuple[int, int]:
    conn = server.app.state.writer.reader()
    events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    return int(events), int(quarantined)


def _post(
    server: LiveServer, key: str, route: str, body: bytes, gz: bool = False
) -> httpx.Response:
    auth = base64.b64encode(f"{key}:".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    if gz:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(f"{server.url}/v1/{route}", content=body, headers=headers, timeout=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route=st.sampled_from(ROUTES),
    batch=st.lists(messages, max_size=6),
    gz=st.booleans(),
    sent_at=times,
)
def test_messages_are_stored_or_quarantined_never_5xx(
    fuzz_server: tuple[LiveServer, str],
    route: str,
    batch: list[dict[str, Any]],
    gz: bool,
    sent_at: Any,
) -> None:
    server, key = fuzz_server
    body: Any = (
        {"batch": batch, "sentAt": sent_at}
        if route in ("batch", "b")
        else (batch[0] if batch else {})
    )
    sent = len(batch) if route in ("batch", "b") else 1
    before = _counts(server)
    r = _post(server, key, route, json.dumps(body).encode(), gz)
    assert r.status_code < 500, r.text
    after = _counts(server)
    payload = r.json()
    if r.status_code == 200 or "rejected" in payload:
        rejected = len(payload.get("rejected", []))
        accepted = payload.get("accepted", 0)
        assert accepted + payload.get("duplicates", 0) + rejected == sent
        assert after[0] - before[0] == accepted
        assert after[1] - before[1] == rejected
    else:
        assert "field" in payload["error"], payload
        assert after == (before[0], before[1] + 1), "a refused request must be quarantined"


@settings(max_examples=80, deadline=None)
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=300), gz=st.booleans())
def test_arbitrary_bytes_never_5xx(
    fuzz_server: tuple[LiveServer, str], route: str, raw: bytes, gz: bool
) -> None:
    server, key = fuzz_server
    before = _counts(server)
    r = _post(server, key, route, raw, gz)
    assert r.status_code < 500, r.text
    after = _counts(server)
    if r.status_code >= 400 and "rejected" not in r.json():
        assert after[1] == before[1] + 1
        assert r.json()["error"]["field"]
