"""Lead scoring and tags on a live server: a model as data, scores that explain themselves,
grades raised by signals, bots that never score, lifecycle stages that move once per
crossing; rule, inferred and manual tags; segments on tags and scores."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from haina.testing import LiveServer

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
MODEL = {
    "fit": [{"name": "Software company", "key": "industry", "op": "eq", "value": "software",
             "points": 20}],
    "engagement": [{"name": "Page views", "event": "$pageview", "points": 2, "count": "every",
                    "cap": 10}],
    "signals": [
        {"name": "Demo requested", "event": "Demo Requested", "points": 30, "min_grade": "A"},
        {"name": "Pricing 3+ times", "event": "$pageview",
         "filters": [{"key": "$path", "op": "eq", "value": "/pricing"}], "min_count": 3,
         "window_days": 30, "points": 10, "min_grade": "B"},
    ],
}  # fmt: skip


def auth(ws):
    return {"Authorization": f"Bearer {ws['api_token']}"}


def send(live: LiveServer, ws, batch: list[dict], ua: str = BROWSER) -> None:
    batch = [{**m, "context": {"userAgent": ua, **m.get("context", {})}} for m in batch]
    key = base64.b64encode(f"{ws['write_key']}:".encode()).decode()
    r = httpx.post(live.url + "/v1/batch", json={"batch": batch},
                   headers={"Authorization": f"Basic {key}"})  # fmt: skip
    assert r.status_code == 200, r.text


def ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def journey(user: str, anon: str) -> list[dict]:
    return [
        {"type": "identify", "userId": user, "anonymousId": anon, "timestamp": ago(9),
         "traits": {"industry": "software", "email": f"{user.upper()}@X.cn"}},
        *[{"type": "page", "anonymousId": anon, "timestamp": ago(8 - i),
           "properties": {"path": "/pricing", "url": "https://b2b.example.cn/pricing"}}
          for i in range(3)],
        {"type": "track", "event": "Demo Requested", "userId": user, "timestamp": ago(4)},
    ]  # fmt: skip


def lookup(live, ws, kind, value):
    r = httpx.get(live.url + "/api/v1/profiles/lookup", params={"type": kind, "value": value},
                  headers=auth(ws))  # fmt: skip
    assert r.status_code == 200, r.text
    return r.json()


def refresh(live, ws) -> dict:
    r = httpx.post(live.url + "/api/v1/scoring/refresh", headers=auth(ws), timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def stage_events(live, ws, person_id: str) -> list[dict]:
    events = httpx.get(live.url + f"/api/v1/profiles/{person_id}/timeline", headers=auth(ws),
                       params={"limit": 200}).json()["events"]  # fmt: skip
    return [e for e in events if e["event"] == "lifecycle stage changed"]


def test_scores_explain_themselves_and_stages_move_once(live: LiveServer, ws) -> None:
    r = httpx.put(live.url + "/api/v1/scoring/model", json=MODEL, headers=auth(ws))
    assert r.status_code == 200, r.text
    send(live, ws, journey("u1", "a1"))
    send(live, ws, journey("u2", "a2"), ua=BOT)  # the same behaviour, by a crawler
    refresh(live, ws)

    one = lookup(live, ws, "user_id", "u1")
    score = one["score"]
    assert score["value"] == pytest.approx(66, abs=0.5)  # 20 fit + ~6 views + 10 + 30
    assert score["grade"] == "A"  # 66 is a B; the demo request raises it to A
    assert (score["fit"], score["engagement"]) == (20, pytest.approx(46, abs=0.5))
    rules = {c["rule"]: c["points"] for c in score["contributions"]}
    assert rules == {"Demo requested": 30, "Software company": 20, "Pricing 3+ times": 10,
                     "Page views": pytest.approx(6, abs=0.1)}  # fmt: skip
    assert one["lifecycle_stage"] == "marketing_qualified"
    assert one["score_history"][0]["score"] == score["value"]

    bot = lookup(live, ws, "user_id", "u2")
    assert bot["score"]["value"] == 20 and bot["score"]["grade"] == "D"  # fit only
    assert bot["lifecycle_stage"] == "known_lead"

    (moved,) = stage_events(live, ws, one["person_id"])
    assert moved["properties"]["to"] == "marketing_qualified"
    refresh(live, ws)
    assert len(stage_events(live, ws, one["person_id"])) == 1  # the same crossing: no repeat

    # A lower bar makes u1 sales-qualified: one more event. Raising it again moves nobody back.
    model = {**MODEL, "stages": {"marketing_qualified": 50, "sales_qualified": 60}}
    httpx.put(live.url + "/api/v1/scoring/model", json=model, headers=auth(ws))
    refresh(live, ws)
    assert lookup(live, ws, "user_id", "u1")["lifecycle_stage"] == "sales_qualified"
    httpx.put(live.url + "/api/v1/scoring/model", json=MODEL, headers=auth(ws))
    refresh(live, ws)
    assert lookup(live, ws, "user_id", "u1")["lifecycle_stage"] == "sales_qualified"
    assert [e["properties"]["to"] for e in stage_events(live, ws, one["person_id"])] == [
        "sales_qualified", "marketing_qualified"
    ]  # fmt: skip

    bad = httpx.put(live.url + "/api/v1/scoring/model", headers=auth(ws),
                    json={"engagement": [{"name": "x", "event": "e", "points": 0}]})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["field"] == "engagement.0.points"


def test_rule_inferred_and_manual_tags(live: LiveServer, ws) -> None:
    rules = [{"tag": "pricing_visitor", "description": "looked at pricing twice",
              "definition": {"conditions": [{"kind": "event", "event": "$pageview",
                  "filters": [{"key": "$path", "op": "eq", "value": "/pricing"}],
                  "count": {"op": "gte", "value": 2}}]}}]  # fmt: skip
    r = httpx.put(live.url + "/api/v1/tags/rules", json={"rules": rules}, headers=auth(ws))
    assert r.status_code == 200, r.text
    send(live, ws, journey("u1", "a1"))
    send(live, ws, journey("u2", "a2"))
    send(
        live,
        ws,
        [
            *[{"type": "track", "event": "Product Viewed", "userId": "u1", "timestamp": ago(3),
               "properties": {"category": "electronics"}} for _ in range(3)],
            *[{"type": "track", "event": "Coupon Applied", "userId": "u1", "timestamp": ago(2),
               "properties": {"coupon_id": "NEW10"}} for _ in range(2)],
        ],
    )  # fmt: skip
    r = httpx.post(live.url + "/api/v1/tags/manual", headers=auth(ws),
                   json={"tag": "vip", "identifiers": [{"type": "email", "value": "U1@x.cn"}],
                         "csv": "type,value\nuser_id,u2\n"})  # fmt: skip
    assert r.status_code == 200 and r.json()["tagged"] == 2
    refresh(live, ws)

    one = lookup(live, ws, "user_id", "u1")
    by_tag = {t["tag"]: t for t in one["tags"]}
    assert set(by_tag) == {"pricing_visitor", "interest:electronics", "price_sensitive", "vip"}
    assert by_tag["pricing_visitor"]["kind"] == "rule"
    interest = by_tag["interest:electronics"]
    assert interest["kind"] == "inferred" and interest["rule"] == "interest"
    assert interest["confidence"] == pytest.approx(0.777, abs=0.01)  # 1 − e^(−3/2)
    assert by_tag["price_sensitive"]["confidence"] == pytest.approx(4 / 7, abs=0.01)
    assert by_tag["vip"]["kind"] == "manual"

    two = lookup(live, ws, "user_id", "u2")
    assert {t["tag"] for t in two["tags"]} == {"pricing_visitor", "vip"}
    r = httpx.post(live.url + "/api/v1/tags/manual/remove", headers=auth(ws),
                   json={"tag": "vip", "person_ids": [two["person_id"]]})  # fmt: skip
    assert r.json()["removed"] == 1
    counts = {t["tag"]: t["people"] for t in
              httpx.get(live.url + "/api/v1/tags", headers=auth(ws)).json()["tags"]}  # fmt: skip
    assert counts["vip"] == 1 and counts["pricing_visitor"] == 2

    # Segments on tags.
    preview = httpx.post(live.url + "/api/v1/segments/preview", headers=auth(ws),
                         json={"conditions": [{"kind": "tag", "tag": "vip"},
                                              {"kind": "tag", "tag": "interest:electronics",
                                               "min_confidence": 0.7}]})  # fmt: skip
    assert preview.json() == {"count": 1, "sample": [one["person_id"]]}
    bad = httpx.post(live.url + "/api/v1/tags/manual", headers=auth(ws),
                     json={"tag": "x", "csv": "type,value\nemail,not-an-email\n"})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["field"] == "csv line 2"
