"""Profiles API on a live server: identifiers from every place a message carries them, one
person across devices and channels, merges shown and split, traits by strategy, timeline."""

from __future__ import annotations

import base64

import httpx

from haina.testing import LiveServer


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def send(live: LiveServer, ws: dict[str, str], batch: list[dict]) -> dict:
    r = httpx.post(live.url + "/v1/batch", json={"batch": batch}, headers=basic(ws["write_key"]))
    assert r.status_code == 200, r.text
    return r.json()


def get(live: LiveServer, ws: dict[str, str], path: str, **params) -> httpx.Response:
    return httpx.get(
        live.url + path, params=params, headers={"Authorization": f"Bearer {ws['api_token']}"}
    )


def lookup(live, ws, kind: str, value: str) -> dict:
    r = get(live, ws, "/api/v1/profiles/lookup", type=kind, value=value)
    assert r.status_code == 200, r.text
    return r.json()


def t(sec: int) -> str:
    return f"2026-11-01T08:00:{sec:02d}Z"


def test_one_person_across_web_wechat_and_a_store(live: LiveServer, ws: dict[str, str]):
    send(
        live,
        ws,
        [
            {
                "type": "page",
                "anonymousId": "web-1",
                "timestamp": t(1),
                "messageId": "p1",
                "properties": {"url": "https://shop.example.cn/?utm_source=baidu&utm_medium=cpc"},
            },
            {
                "type": "identify",
                "anonymousId": "web-1",
                "userId": "u-42",
                "timestamp": t(2),
                "messageId": "i1",
                "traits": {"email": " Li.Lei@Example.COM ", "plan": "free", "points": 10},
            },
            {
                "type": "track",
                "event": "Article Read",
                "anonymousId": "wx-9",
                "timestamp": t(3),
                "messageId": "w1",
                "context": {
                    "externalIds": [
                        {"id": "oWX_openid_123", "type": "wechat_openid", "collection": "users"}
                    ]
                },
            },
            {
                "type": "identify",
                "anonymousId": "wx-9",
                "timestamp": t(4),
                "messageId": "w2",
                "traits": {"phone": "138 0013 8000", "plan": "pro", "points": 5},
            },
            {
                "type": "track",
                "event": "Store Visit",
                "userId": "u-42",
                "timestamp": t(5),
                "messageId": "s1",
                "context": {"traits": {"phone": "+86 13800138000"}},
            },
            {
                "type": "track",
                "event": "Order Completed",
                "userId": "u-42",
                "timestamp": t(6),
                "messageId": "o1",
                "properties": {"revenue": 199.5},
            },
        ],
    )
    by_email = lookup(live, ws, "email", "li.lei@example.com")
    by_openid = lookup(live, ws, "wechat_openid", "oWX_openid_123")
    by_phone = lookup(live, ws, "phone", "13800138000")  # normalised like at collection
    assert by_email["person_id"] == by_openid["person_id"] == by_phone["person_id"]
    ids = {(i["type"], i["value"]) for i in by_email["identities"]}
    assert ids == {
        ("anonymous_id", "web-1"), ("user_id", "u-42"), ("email", "li.lei@example.com"),
        ("anonymous_id", "wx-9"), ("wechat_openid", "oWX_openid_123"),
        ("phone", "+8613800138000"),
    }  # fmt: skip
    # The store visit joined two profiles that existed before it: one merge, named.
    (merge,) = by_email["merges"]
    assert merge["message_id"] == "s1"
    assert by_email["traits"]["plan"] == "pro"  # most recent wins by default
    assert by_email["computed"]["orders"] == 1
    assert by_email["computed"]["total_spend"] == 199.5
    assert by_email["computed"]["first_touch"]["source"] == "baidu"
    assert by_email["lifecycle_stage"] == "customer"
    assert {"trait", "value", "at", "message_id"} <= set(by_email["trait_history"][0])

    timeline = get(live, ws, f"/api/v1/profiles/{by_email['person_id']}/timeline", limit=4)
    body = timeline.json()
    assert [e["message_id"] for e in body["events"]] == ["o1", "s1", "w2", "w1"]
    rest = get(
        live, ws, f"/api/v1/profiles/{by_email['person_id']}/timeline", before=body["next"]
    ).json()
    assert [e["message_id"] for e in rest["events"]] == ["i1", "p1"] and rest["next"] is None
    orders = get(live, ws, f"/api/v1/profiles/{by_email['person_id']}/timeline",
                 event="Order Completed").json()  # fmt: skip
    assert [e["message_id"] for e in orders["events"]] == ["o1"]

    # An admin splits the wrong merge: the WeChat side gets its own profile and events back.
    r = httpx.post(
        live.url + f"/api/v1/profiles/merges/{merge['merge_id']}/split",
        json={"reason": "shared phone"},
        headers={"Authorization": f"Bearer {ws['api_token']}"},
    )
    assert r.status_code == 200, r.text
    web, wechat = (
        lookup(live, ws, "user_id", "u-42"),
        lookup(live, ws, "wechat_openid", "oWX_openid_123"),
    )
    assert web["person_id"] != wechat["person_id"]
    assert wechat["traits"]["plan"] == "pro" and web["traits"]["plan"] == "free"
    wx_events = get(live, ws, f"/api/v1/profiles/{wechat['person_id']}/timeline").json()
    assert {e["message_id"] for e in wx_events["events"]} == {"w1", "w2"}


def test_trait_strategies_follow_the_workspace_settings(live: LiveServer, ws: dict[str, str]):
    r = httpx.patch(
        live.url + "/api/v1/settings",
        json={"identity": {"trait_strategies": {"points": "sum", "signup_source": "oldest"}}},
        headers={"Authorization": f"Bearer {ws['api_token']}"},
    )
    assert r.status_code == 200, r.text
    send(
        live,
        ws,
        [
            {
                "type": "identify",
                "anonymousId": "d1",
                "timestamp": t(1),
                "messageId": "a",
                "traits": {"email": "x@y.cn", "points": 10, "signup_source": "ad"},
            },
            {
                "type": "identify",
                "anonymousId": "d2",
                "timestamp": t(2),
                "messageId": "b",
                "traits": {"phone": "13900000000", "points": 5, "signup_source": "wechat"},
            },
            {
                "type": "identify",
                "userId": "u1",
                "timestamp": t(3),
                "messageId": "c",
                "traits": {"email": "x@y.cn", "phone": "13900000000"},
            },
        ],
    )
    p = lookup(live, ws, "user_id", "u1")
    assert p["traits"]["points"] == 15
    assert p["traits"]["signup_source"] == "ad"


def test_bad_lookups_and_identifiers_are_named(live: LiveServer, ws: dict[str, str]):
    r = get(live, ws, "/api/v1/profiles/lookup", type="email", value="not-an-email")
    assert r.status_code == 422 and r.json()["field"] == "value"
    r = get(live, ws, "/api/v1/profiles/lookup", type="shoe_size", value="42")
    assert r.status_code == 422 and r.json()["field"] == "type"
    r = get(live, ws, "/api/v1/profiles/lookup", type="email", value="nobody@x.cn")
    assert r.status_code == 404
    r = httpx.post(
        live.url + "/v1/identify",
        json={"userId": "u9", "messageId": "bad", "traits": {"email": "someone at example"}},
        headers=basic(ws["write_key"]),
    )
    assert r.status_code == 400 and r.json()["error"]["field"] == "traits.email"
    q = live.quarantine(ws["api_token"])
    assert [e["code"] for e in q] == ["invalid_identifier"]
    r = httpx.patch(
        live.url + "/api/v1/settings",
        json={"identity": {"limits": {"user_id": 2}}},
        headers={"Authorization": f"Bearer {ws['api_token']}"},
    )
    assert r.status_code == 422 and r.json()["field"] == "identity.limits.user_id"
