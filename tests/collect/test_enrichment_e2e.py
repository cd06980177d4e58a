"""Enrichment as stored: geo from an operator's MaxMind file, IP anonymisation per workspace,
site-search parameters per workspace, UA and channel columns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from haina.config import Settings
from haina.pipeline.geo_testdb import write_test_geo_db
from haina.testing import LiveServer, free_port, live_server
from haina.workspaces import create_source

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) "
    "NetType/WIFI Language/zh_CN"
)


@pytest.fixture
def geo_live(tmp_path: Path) -> Iterator[LiveServer]:
    db = tmp_path / "GeoLite2-City-Test.mmdb"
    write_test_geo_db(db)
    settings = Settings(
        data_dir=tmp_path / "data",
        port=free_port(),
        geoip_path=db,
        write_key_cache_seconds=0,
        trusted_proxies=[],
    )
    with live_server(settings) as server:
        yield server


def _settings(server: LiveServer, token: str, **changes: object) -> httpx.Response:
    return httpx.patch(
        server.url + "/api/v1/settings", json=changes, headers={"Authorization": f"Bearer {token}"}
    )


def test_geo_and_ip_anonymisation_follow_the_workspace_setting(geo_live: LiveServer) -> None:
    ws = geo_live.workspace("geo")
    _, server_key = create_source(geo_live.meta, ws["workspace_id"], "backend", kind="server")
    msg = {
        "userId": "u",
        "event": "Store Visited",
        "context": {"ip": "1.2.3.4", "userAgent": WECHAT_UA},
    }
    assert (
        httpx.post(geo_live.url + "/v1/track", json=msg, auth=(server_key, "")).status_code == 200
    )
    r = _settings(geo_live, ws["api_token"], anonymise_ip=False)
    assert r.status_code == 200 and r.json()["anonymise_ip"] is False
    msg2 = {**msg, "context": {**msg["context"], "ip": "81.2.69.160"}}
    httpx.post(geo_live.url + "/v1/track", json=msg2, auth=(server_key, ""))
    rows = sorted(geo_live.events(ws["api_token"]), key=lambda r: r["received_at"])
    first, second = rows
    assert (first["country"], first["city"], first["ip"]) == ("CN", "Shenzhen", "1.2.3.0")
    assert first["context"]["ip"] == "1.2.3.0"
    assert (second["country"], second["city"], second["ip"]) == ("GB", "London", "81.2.69.160")
    assert (first["browser"], first["os"], first["device_type"]) == ("WeChat", "iOS", "mobile")
    assert first["is_bot"] is False


def test_site_search_parameters_are_a_workspace_setting(
    live: LiveServer, ws: dict[str, str]
) -> None:
    page = {"anonymousId": "a", "properties": {"url": "https://shop.example.cn/s?kw=耳机&term=x"}}
    httpx.post(live.url + "/v1/page", json=page, auth=(ws["write_key"], ""))
    bad = _settings(live, ws["api_token"], site_search_params=[""])
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "site_search_params"
    _settings(live, ws["api_token"], site_search_params=["term"])
    httpx.post(
        live.url + "/v1/page", json={**page, "messageId": "second"}, auth=(ws["write_key"], "")
    )
    rows = sorted(live.events(ws["api_token"]), key=lambda r: r["received_at"])
    assert [r["search_keyword"] for r in rows] == ["耳机", "x"]


def test_bots_are_flagged_not_dropped(live: LiveServer, ws: dict[str, str]) -> None:
    ua = "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
    r = httpx.post(
        live.url + "/v1/page",
        json={"anonymousId": "b"},
        headers={"User-Agent": ua},
        auth=(ws["write_key"], ""),
    )
    assert r.status_code == 200
    [row] = live.events(ws["api_token"])
    assert row["is_bot"] is True and row["user_agent"] == ua
    assert row["device_type"] == "bot"
