"""The collection API over real HTTP: auth, limits, gzip, CORS, dedup, skew, quarantine."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from haina.testing import LiveServer
from haina.workspaces import revoke_write_key


def basic(key: str, colon: bool = True) -> dict[str, str]:
    token = base64.b64encode(f"{key}{':' if colon else ''}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_track_with_basic_auth_is_stored_with_its_fields(
    live: LiveServer, ws: dict[str, str]
) -> None:
    msg = {
        "userId": "u1",
        "event": "Order Completed",
        "messageId": "m-1",
        "properties": {"revenue": 99.5, "currency": "CNY"},
        "context": {"library": {"name": "curl", "version": "8"}},
        "integrations": {"All": True},
        "_metadata": {"bundled": []},
        "channel": "server",
        "version": 2,
    }
    r = httpx.post(live.url + "/v1/track", json=msg, headers=basic(ws["write_key"]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    [row] = live.events(ws["api_token"])
    assert row["message_id"] == "m-1"
    assert (row["type"], row["event"], row["user_id"]) == ("track", "Order Completed", "u1")
    assert row["properties"] == {"revenue": 99.5, "currency": "CNY"}
    assert row["extra"] == {
        "integrations": {"All": True},
        "_metadata": {"bundled": []},
        "channel": "server",
        "version": 2,
    }
    assert row["library_name"] == "curl"


def test_write_key_in_body_only_and_basic_without_colon(
    live: LiveServer, ws: dict[str, str]
) -> None:
    r1 = httpx.post(
        live.url + "/v1/batch",
        json={
            "writeKey": ws["write_key"],
            "batch": [{"type": "track", "event": "A", "userId": "1"}],
        },
    )
    r2 = httpx.post(
        live.url + "/v1/identify",
        json={"userId": "2", "traits": {"plan": "pro"}},
        headers=basic(ws["write_key"], colon=False),
    )
    assert (r1.status_code, r2.status_code) == (200, 200)
    rows = live.events(ws["api_token"])
    assert sorted(r["user_id"] for r in rows) == ["1", "2"]
    assert next(r for r in rows if r["type"] == "identify")["traits"] == {"plan": "pro"}


def test_unknown_and_revoked_keys_get_401_json(live: LiveServer, ws: dict[str, str]) -> None:
    r = httpx.post(
        live.url + "/v1/track", json={"userId": "u", "event": "x"}, headers=basic("wk_nope")
    )
    assert r.status_code == 401
    assert r.json()["error"]["field"] == "writeKey"
    revoke_write_key(live.meta, ws["write_key"])
    r = httpx.post(
        live.url + "/v1/track", json={"userId": "u", "event": "x", "writeKey": ws["write_key"]}
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_write_key"


def test_gzip_body_and_batch_context(live: LiveServer, ws: dict[str, str]) -> None:
    body = {
        "batch": [
            {
                "type": "page",
                "anonymousId": "a1",
                "name": "Home",
                "properties": {"url": "https://shop.example.cn/?q=耳机"},
            }
        ],
        "context": {"locale": "zh-CN"},
        "integrations": {"All": False},
    }
    r = httpx.post(
        live.url + "/v1/batch",
        content=gzip.compress(json.dumps(body).encode()),
        headers={
            **basic(ws["write_key"]),
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 200, r.text
    [row] = live.events(ws["api_token"])
    assert row["context"]["locale"] == "zh-CN"
    assert row["extra"]["integrations"] == {"All": False}
    assert row["name"] == "Home"
    assert (row["host"], row["path"]) == ("shop.example.cn", "/")
    assert row["search_keyword"] == "耳机"


def test_partial_batch_stores_valid_and_quarantines_invalid(
    live: LiveServer, ws: dict[str, str]
) -> None:
    batch = [
        {"type": "track", "event": "Good", "userId": "u1"},
        {"type": "track", "userId": "u1"},  # no event name
        {"type": "teleport", "userId": "u1"},
        {"type": "identify"},  # no identity
        {"type": "page", "anonymousId": "a", "timestamp": "yesterday"},
        {"type": "track", "event": "Big", "userId": "u", "properties": {"x": "y" * 40_000}},
    ]
    r = httpx.post(live.url + "/v1/batch", json={"batch": batch}, headers=basic(ws["write_key"]))
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    assert [(x["index"], x["field"]) for x in body["rejected"]] == [
        (1, "event"),
        (2, "type"),
        (3, "userId"),
        (4, "timestamp"),
        (5, "batch[5]"),
    ]
    entries = live.quarantine(ws["api_token"])
    assert sorted(e["message_index"] for e in entries) == [1, 2, 3, 4, 5]
    codes = {e["message_index"]: e["code"] for e in entries}
    assert codes[5] == "message_too_large" and codes[2] == "unknown_type"
    assert [r["event"] for r in live.events(ws["api_token"])] == ["Good"]


def test_single_invalid_message_is_400_naming_the_field(
    live: LiveServer, ws: dict[str, str]
) -> None:
    r = httpx.post(live.url + "/v1/alias", json={"userId": "u1"}, headers=basic(ws["write_key"]))
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "previousId"
    [entry] = live.quarantine(ws["api_token"])
    assert entry["field"] == "previousId"


def test_size_and_count_limits_answer_413_and_keep_the_payload(
    live: LiveServer, ws: dict[str, str]
) -> None:
    big = {"userId": "u", "event": "x", "properties": {"blob": "z" * 33_000}}
    r = httpx.post(live.url + "/v1/track", json=big, headers=basic(ws["write_key"]))
    assert r.status_code == 413 and r.json()["error"]["limit"] == 32 * 1024
    many = {"batch": [{"type": "track", "event": "e", "userId": "u"}] * 2501}
    r = httpx.post(live.url + "/v1/batch", json=many, headers=basic(ws["write_key"]))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_messages"
    huge = {
        "batch": [{"type": "track", "event": "e", "userId": "u", "properties": {"p": "q" * 30_000}}]
        * 20
    }
    r = httpx.post(live.url + "/v1/batch", json=huge, headers=basic(ws["write_key"]))
    assert r.status_code == 413 and r.json()["error"]["limit"] == 500 * 1024
    codes = sorted(e["code"] for e in live.quarantine(ws["api_token"]))
    assert codes == ["batch_too_large", "message_too_large", "too_many_messages"]
    assert live.events(ws["api_token"]) == []


def test_retry_of_the_same_message_id_is_stored_once(live: LiveServer, ws: dict[str, str]) -> None:
    msg = {"userId": "u", "event": "Paid", "messageId": "retry-1"}
    first = httpx.post(live.url + "/v1/track", json=msg, headers=basic(ws["write_key"]))
    again = httpx.post(
        live.url + "/v1/batch",
        json={"batch": [{**msg, "type": "track"}] * 2},
        headers=basic(ws["write_key"]),
    )
    assert first.json()["accepted"] == 1
    assert again.status_code == 200 and again.json()["duplicates"] == 2
    other = live.workspace("other")
    httpx.post(live.url + "/v1/track", json=msg, headers=basic(other["write_key"]))
    assert len(live.events(ws["api_token"])) == 1
    assert len(live.events(other["api_token"])) == 1  # dedup is per workspace


def test_clock_skew_is_corrected_with_sent_at(live: LiveServer, ws: dict[str, str]) -> None:
    now = datetime.now(UTC)
    skew = timedelta(hours=3)  # the device clock runs three hours fast
    event_time = now + skew - timedelta(minutes=5)
    body = {
        "batch": [
            {"type": "track", "event": "Skewed", "userId": "u", "timestamp": iso(event_time)}
        ],
        "sentAt": iso(now + skew),
    }
    httpx.post(live.url + "/v1/batch", json=body, headers=basic(ws["write_key"]))
    [row] = live.events(ws["api_token"])
    stored = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
    assert abs(stored - (now - timedelta(minutes=5))) < timedelta(seconds=5)
    assert datetime.fromisoformat(row["original_timestamp"]).replace(
        tzinfo=UTC
    ) == event_time.replace(microsecond=event_time.microsecond // 1000 * 1000)


def test_cors_for_browsers(live: LiveServer, ws: dict[str, str]) -> None:
    pre = httpx.options(
        live.url + "/v1/batch",
        headers={
            "Origin": "https://site.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    body = json.dumps(
        {"writeKey": ws["write_key"], "batch": [{"type": "page", "anonymousId": str(uuid.uuid4())}]}
    )
    r = httpx.post(
        live.url + "/v1/batch",
        content=body,
        headers={"Content-Type": "text/plain", "Origin": "https://site.example"},
    )
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"


def test_web_sources_take_the_connection_ip_and_anonymise_it(
    live: LiveServer, ws: dict[str, str]
) -> None:
    httpx.post(
        live.url + "/v1/page",
        json={"anonymousId": "a", "context": {"ip": "8.8.8.8"}},
        headers=basic(ws["write_key"]),
    )
    [row] = live.events(ws["api_token"])
    assert row["ip"] == "127.0.0.0"  # loopback peer, last octet zeroed; client value ignored
    assert row["context"]["ip"] == "127.0.0.0"


def test_invalid_json_with_a_key_is_quarantined(live: LiveServer, ws: dict[str, str]) -> None:
    r = httpx.post(live.url + "/v1/batch", content=b'{"batch": [', headers=basic(ws["write_key"]))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    [entry] = live.quarantine(ws["api_token"])
    assert entry["code"] == "invalid_json" and entry["message_index"] is None
