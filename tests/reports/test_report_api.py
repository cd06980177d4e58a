"""The report API over HTTP (auth, OpenAPI, errors, cache invalidation) and `haina report`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from haina.testing import LiveServer, run_cli

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def _post(live: LiveServer, token: str, kind: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{live.url}/api/v1/reports/{kind}",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


def _pageview(live: LiveServer, key: str, anon: str) -> None:
    r = httpx.post(
        f"{live.url}/v1/page",
        json={
            "anonymousId": anon,
            "name": "Home",
            "properties": {"path": "/", "url": "https://x.cn/"},
        },
        auth=(key, ""),
        headers={"User-Agent": CHROME},  # httpx's own user agent is (rightly) a bot
    )
    assert r.status_code == 200, r.text


def test_reports_answer_over_http_and_see_new_data(live: LiveServer, ws: dict[str, str]) -> None:
    token = ws["api_token"]
    assert _post(live, token, "overview", {}).json()["totals"]["sessions"] == 0
    _pageview(live, ws["write_key"], "v1")
    first = _post(live, token, "overview", {"compare": False}).json()
    assert first["totals"]["pageviews"] == 1 and first["freshness"] is not None
    assert first["sql"] and "$p0" in first["sql"][0]  # values travel as parameters
    _pageview(live, ws["write_key"], "v2")  # new data invalidates the cached answer
    assert _post(live, token, "overview", {"compare": False}).json()["totals"]["visitors"] == 2


def test_every_report_kind_is_in_the_openapi_schema(live: LiveServer) -> None:
    from haina.reports.registry import reports

    paths = httpx.get(live.url + "/openapi.json").json()["paths"]
    for kind in reports():
        assert f"/api/v1/reports/{kind}" in paths
    assert "/api/v1/reports/funnel/people" in paths


def test_errors_are_4xx_json_naming_the_field(live: LiveServer, ws: dict[str, str]) -> None:
    r = httpx.post(f"{live.url}/api/v1/reports/overview", json={})
    assert r.status_code == 401
    r = _post(live, ws["api_token"], "overview", {"interval": "fortnight"})
    assert r.status_code == 422 and "interval" in r.text
    r = _post(
        live, ws["api_token"], "overview", {"date_from": "2026-11-10", "date_to": "2026-11-01"}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "date_from"
    r = _post(live, ws["api_token"], "funnel", {"steps": [{"event": "a"}]})
    assert r.status_code == 422 and "steps" in r.text


def test_funnel_people_over_http(live: LiveServer, ws: dict[str, str]) -> None:
    _pageview(live, ws["write_key"], "v9")
    body = {
        "steps": [{"event": "$pageview"}, {"event": "Signed Up"}],
        "step": 2,
        "converted": False,
    }
    r = _post(live, ws["api_token"], "funnel/people", body)
    assert r.status_code == 200, r.text
    (person,) = r.json()["people"]
    assert person["identifier"] == {"type": "anonymous_id", "value": "v9"}
    profile = httpx.get(
        live.url + f"/api/v1/profiles/{person['person']}",
        headers={"Authorization": f"Bearer {ws['api_token']}"},
    )
    assert profile.status_code == 200  # the number links to the person's profile
    assert profile.json()["identities"][0]["value"] == "v9"


def test_cli_report_prints_tables_and_json(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli(data, "demo", "--users", "40", "--days", "3")
    out = run_cli(data, "report", "overview", "-w", "demo").stdout
    assert "totals" in out and "sessions" in out
    result = json.loads(run_cli(data, "report", "overview", "-w", "demo", "--json").stdout)
    assert result["totals"]["sessions"] > 0
    bad = run_cli(
        data, "report", "overview", "-w", "demo", "--body", '{"interval": 3}', check=False
    )
    assert bad.returncode == 1 and "interval" in bad.stderr
    unknown = run_cli(data, "report", "nope", "-w", "demo", check=False)
    assert unknown.returncode == 1 and "unknown report" in unknown.stderr
