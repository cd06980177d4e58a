"""The collection API over real HTTP: auth, limits, gzip, CORS, dedup, skew, quarantine."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
        (5, "message"),
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


def test_analytics_js_paths_and_settings(live: LiveServer, ws: dict[str, str]) -> None:
    settings = httpx.get(f"{live.url}/v1/projects/{ws['write_key']}/settings")
    assert settings.status_code == 200
    seg = settings.json()["integrations"]["Segment.io"]
    assert seg["apiKey"] == ws["write_key"] and seg["apiHost"].endswith("/v1")
    assert httpx.get(live.url + "/v1/projects/wk_nope/settings").status_code == 404
    # What analytics.js sends: text/plain, writeKey and sentAt inside the event.
    event = {
        "type": "track",
        "event": "Clicked",
        "anonymousId": "anon-js",
        "writeKey": ws["write_key"],
        "sentAt": iso(datetime.now(UTC)),
        "_metadata": {"bundled": ["Segment.io"]},
    }
    r = httpx.post(
        live.url + "/v1/t", content=json.dumps(event), headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 200, r.text
    batch = {
        "writeKey": ws["write_key"],
        "sentAt": iso(datetime.now(UTC)),
        "batch": [{"type": "page", "anonymousId": "anon-js", "name": "Home"}],
    }
    assert httpx.post(live.url + "/v1/b", content=json.dumps(batch)).status_code == 200
    rows = live.events(ws["api_token"])
    assert sorted(r["type"] for r in rows) == ["page", "track"]


def test_api_errors_share_one_shape(live: LiveServer, ws: dict[str, str]) -> None:
    auth = {"Authorization": f"Bearer {ws['api_token']}"}
    missing = httpx.get(live.url + "/api/v1/nothing", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx.get(live.url + "/v1/batch")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    bad = httpx.get(live.url + "/api/v1/quarantine", params={"limit": 0}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"
    setting = httpx.patch(
        live.url + "/api/v1/settings",
        headers=auth,
        json={"own_hosts": ["a.cn"], "anonymise_ip": "maybe"},
    )
    assert setting.status_code == 422 and setting.json()["error"]["field"] == "anonymise_ip"
    health = httpx.get(live.url + "/healthz").json()
    assert health["ok"] is True and health["store"] == "ok"


def test_x_forwarded_for_is_trusted_only_from_listed_proxies(tmp_path: Path) -> None:
    from haina.config import Settings
    from haina.testing import free_port, live_server

    settings = Settings(
        data_dir=tmp_path / "d",
        port=free_port(),
        trusted_proxies=["127.0.0.0/8"],
        write_key_cache_seconds=0,
    )
    with live_server(settings) as server:
        ws = server.workspace("proxy")
        headers = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7, 127.0.0.5"}
        httpx.post(
            server.url + "/v1/page",
            json={"anonymousId": "a"},
            headers=headers,
            auth=(ws["write_key"], ""),
        )
        [row] = server.events(ws["api_token"])
    assert row["ip"] == "198.51.100.0"  # right-most untrusted hop, anonymised


def test_discarded_entries_are_never_replayed(live: LiveServer, ws: dict[str, str]) -> None:
    httpx.post(live.url + "/v1/track", json={"userId": "u"}, auth=(ws["write_key"], ""))
    [entry] = live.quarantine(ws["api_token"])
    auth = {"Authorization": f"Bearer {ws['api_token']}"}
    r = httpx.post(
        live.url + "/api/v1/quarantine/discard", json={"ids": [entry["id"]]}, headers=auth
    )
    assert r.json() == {"discarded": 1}
    replay = httpx.post(live.url + "/api/v1/quarantine/replay", json={}, headers=auth).json()
    assert replay["replayed"] == 0 and replay["still_failing"] == []
    assert live.quarantine(ws["api_token"])[0]["status"] == "discarded"


def test_unicode_line_separators_survive_the_round_trip(
    live: LiveServer, ws: dict[str, str]
) -> None:
    text = "第一行\u2028second\x85third\r\nfourth"
    httpx.post(
        live.url + "/v1/track",
        json={"userId": "u", "event": "Note", "properties": {"text": text}},
        auth=(ws["write_key"], ""),
    )
    [row] = live.events(ws["api_token"])
    assert row["properties"]["text"] == text
