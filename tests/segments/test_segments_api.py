"""Segments API on a live server: live preview, saved dynamic and static segments, members,
CSV export with traits, and `segment entered` / `segment exited` events as people change."""

from __future__ import annotations

import base64
import csv
import io
from datetime import UTC, datetime, timedelta

import httpx

from haina.testing import LiveServer


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(ws: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {ws['api_token']}"}


# A browser's: httpx's own user agent is a bot's, and bots' behaviour never counts.
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def send(live: LiveServer, ws: dict[str, str], batch: list[dict]) -> None:
    batch = [{**m, "context": {"userAgent": BROWSER}} for m in batch]
    r = httpx.post(live.url + "/v1/batch", json={"batch": batch}, headers=basic(ws["write_key"]))
    assert r.status_code == 200, r.text


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


VIEWED_ELECTRONICS_TWICE = {
    "conditions": [
        {"kind": "event", "event": "Product Viewed",
         "filters": [{"key": "category", "op": "eq", "value": "electronics"}],
         "count": {"op": "gte", "value": 2}, "window": {"last_days": 30}},
        {"kind": "trait", "key": "city", "op": "eq", "value": "上海"},
    ]
}  # fmt: skip


def viewed(who: str, n: int, category: str = "electronics") -> list[dict]:
    return [
        {"type": "track", "event": "Product Viewed", "anonymousId": who, "timestamp": ago(5 - i),
         "properties": {"category": category}}
        for i in range(n)
    ]  # fmt: skip


def test_preview_save_members_export_and_membership_events(live: LiveServer, ws):
    send(
        live,
        ws,
        [
            {"type": "identify", "anonymousId": "a1", "userId": "u1", "timestamp": ago(10),
             "traits": {"city": "上海", "email": "one@example.cn"}},
            {"type": "identify", "anonymousId": "a2", "timestamp": ago(10),
             "traits": {"city": "上海"}},
            {"type": "identify", "anonymousId": "a3", "timestamp": ago(10),
             "traits": {"city": "北京"}},
            *viewed("a1", 2), *viewed("a2", 1), *viewed("a3", 3),
        ],
    )  # fmt: skip
    r = httpx.post(live.url + "/api/v1/segments/preview", json=VIEWED_ELECTRONICS_TWICE,
                   headers=bearer(ws))  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1 and len(body["sample"]) == 1
    one = httpx.get(live.url + "/api/v1/profiles/lookup", params={"type": "user_id",
                    "value": "u1"}, headers=bearer(ws)).json()  # fmt: skip
    assert body["sample"] == [one["person_id"]]

    r = httpx.post(live.url + "/api/v1/segments", headers=bearer(ws),
                   json={"name": "上海电子爱好者", "kind": "dynamic",
                         "definition": VIEWED_ELECTRONICS_TWICE})  # fmt: skip
    assert r.status_code == 201, r.text
    seg = r.json()
    assert seg["count"] == 1
    static = httpx.post(live.url + "/api/v1/segments", headers=bearer(ws),
                        json={"name": "snapshot", "kind": "static",
                              "definition": VIEWED_ELECTRONICS_TWICE}).json()  # fmt: skip
    listed = httpx.get(live.url + "/api/v1/segments", headers=bearer(ws)).json()["segments"]
    assert {s["name"] for s in listed} == {"上海电子爱好者", "snapshot"}

    # a2 views a second electronics product: enters; u1 moves to Beijing: leaves.
    send(live, ws, [*viewed("a2", 1),
                    {"type": "identify", "userId": "u1", "timestamp": ago(1),
                     "traits": {"city": "北京"}}])  # fmt: skip
    refresher = live.app.state.people_refresher
    assert refresher.tick(force=True)[ws["workspace_id"]].segments == 2
    members = httpx.get(live.url + f"/api/v1/segments/{seg['id']}/members",
                        headers=bearer(ws)).json()  # fmt: skip
    two = httpx.get(live.url + "/api/v1/profiles/lookup", params={"type": "anonymous_id",
                    "value": "a2"}, headers=bearer(ws)).json()  # fmt: skip
    assert [m["person_id"] for m in members["members"]] == [two["person_id"]]
    # The static snapshot did not move.
    snap = httpx.get(live.url + f"/api/v1/segments/{static['id']}/members", headers=bearer(ws))
    assert [m["person_id"] for m in snap.json()["members"]] == [one["person_id"]]
    # The changes are events of the people, for journeys.
    timeline = httpx.get(live.url + f"/api/v1/profiles/{one['person_id']}/timeline",
                         headers=bearer(ws)).json()["events"]  # fmt: skip
    exits = [e for e in timeline if e["event"] == "segment exited"]
    assert exits and exits[0]["properties"]["segment_id"] == seg["id"]
    entered = httpx.get(live.url + f"/api/v1/profiles/{two['person_id']}/timeline",
                        headers=bearer(ws)).json()["events"]  # fmt: skip
    assert any(e["event"] == "segment entered" for e in entered)
    again = refresher.tick(force=True)[ws["workspace_id"]]
    assert (again.segments, again.events) == (0, 0)  # nothing changed: no repeated events

    csv_r = httpx.get(live.url + f"/api/v1/segments/{static['id']}/export",
                      params={"traits": "city,email"}, headers=bearer(ws))  # fmt: skip
    assert csv_r.status_code == 200 and csv_r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_r.text)))
    assert rows == [{"person_id": one["person_id"], "since": rows[0]["since"],
                     "city": "北京", "email": "one@example.cn"}]  # fmt: skip


def test_bad_definitions_and_unknown_segments_are_named(live: LiveServer, ws):
    bad = {"conditions": [{"kind": "event", "event": "x", "count": {"op": "gte", "value": -1}}]}
    r = httpx.post(live.url + "/api/v1/segments/preview", json=bad, headers=bearer(ws))
    assert r.status_code == 422 and r.json()["field"].startswith("definition.conditions.0")
    r = httpx.post(live.url + "/api/v1/segments", json={"name": "", "definition": {}},
                   headers=bearer(ws))  # fmt: skip
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = httpx.get(live.url + "/api/v1/segments/seg_nope", headers=bearer(ws))
    assert r.status_code == 404 and r.json()["field"] == "segment_id"
    ok = httpx.post(live.url + "/api/v1/segments", json={"name": "x", "definition": {}},
                    headers=bearer(ws))  # fmt: skip
    assert ok.status_code == 201
    again = httpx.post(live.url + "/api/v1/segments", json={"name": "x", "definition": {}},
                       headers=bearer(ws))  # fmt: skip
    assert again.status_code == 409
    r = httpx.delete(live.url + f"/api/v1/segments/{ok.json()['id']}", headers=bearer(ws))
    assert r.status_code == 204
