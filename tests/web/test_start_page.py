"""The start page in both languages, and the tracker served to browsers."""

from __future__ import annotations

import httpx

from haina.testing import LiveServer


def test_start_page_speaks_english_and_chinese(live: LiveServer, ws: dict[str, str]) -> None:
    httpx.post(
        live.url + "/v1/track", json={"userId": "u", "event": "E"}, auth=(ws["write_key"], "")
    )
    en = httpx.get(live.url + "/?lang=en")
    zh = httpx.get(live.url + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert en.status_code == zh.status_code == 200
    assert "Haina is collecting" in en.text and "海纳正在采集数据" in zh.text
    assert '<td id="events">1</td>' in en.text and '<td id="workspaces">1</td>' in en.text
    # Without a login the page shows totals only, never a workspace's name or id.
    assert ws["workspace_id"] not in en.text and "shop" not in en.text


def test_tracker_is_served_with_cors_and_caching(live: LiveServer) -> None:
    r = httpx.get(live.url + "/t.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert r.headers["access-control-allow-origin"] == "*"
    assert "haina" in r.text[:200]
