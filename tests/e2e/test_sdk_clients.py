"""Real Segment-protocol clients against a live Haina server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from haina.testing import LiveServer


def test_segment_analytics_python_sends_every_call_type(
    live: LiveServer, ws: dict[str, str]
) -> None:
    from segment.analytics import Client

    errors: list[Exception] = []
    client = Client(
        ws["write_key"],
        host=live.url,
        on_error=lambda e, _b: errors.append(e),
        max_retries=1,
        sync_mode=False,
        upload_interval=0.1,
    )
    t = datetime(2026, 11, 1, 12, 30, 15, 250000, tzinfo=UTC)
    client.identify(
        "user-1",
        {"email": "li.lei@example.cn", "plan": "pro"},
        timestamp=t,
        message_id="seg-identify",
    )
    client.track(
        "user-1",
        "Order Completed",
        {"order_id": "o-1", "revenue": 199.0},
        context={"campaign": {"source": "baidu", "medium": "cpc", "name": "双11"}},
        message_id="seg-track",
    )
    client.page(
        "user-1",
        "Docs",
        "Getting started",
        {"url": "https://example.cn/docs?wd=api"},
        message_id="seg-page",
    )
    client.screen("user-1", "App", "Home", {"tab": "feed"}, message_id="seg-screen")
    client.group(
        "user-1", "company-9", {"name": "Example Ltd", "industry": "Retail"}, message_id="seg-group"
    )
    client.alias("anon-77", "user-1", message_id="seg-alias")
    client.flush()
    client.join()
    assert errors == []
    rows = {r["message_id"]: r for r in live.events(ws["api_token"])}
    assert set(rows) == {
        "seg-identify",
        "seg-track",
        "seg-page",
        "seg-screen",
        "seg-group",
        "seg-alias",
    }
    ident = rows["seg-identify"]
    assert ident["traits"] == {"email": "li.lei@example.cn", "plan": "pro"}
    assert datetime.fromisoformat(ident["original_timestamp"]) == t.replace(tzinfo=None)
    track = rows["seg-track"]
    assert track["event"] == "Order Completed"
    assert track["properties"] == {"order_id": "o-1", "revenue": 199.0}
    assert (track["channel"], track["source"], track["campaign"]) == (
        "Paid Search",
        "baidu",
        "双11",
    )
    assert track["library_name"] == "analytics-python"
    page = rows["seg-page"]
    assert (
        page["name"],
        page["properties"]["category"]
        if "category" in page["properties"]
        else page["extra"].get("category"),
    ) == ("Getting started", "Docs")
    assert page["search_keyword"] == "api"
    assert rows["seg-screen"]["name"] == "Home"
    assert rows["seg-group"]["group_id"] == "company-9"
    assert rows["seg-group"]["traits"]["industry"] == "Retail"
    alias = rows["seg-alias"]
    assert (alias["previous_id"], alias["user_id"]) == ("anon-77", "user-1")
    assert all(r["sent_at"] is not None for r in rows.values())


def test_rudderstack_client_gzip_and_header_only_auth(live: LiveServer, ws: dict[str, str]) -> None:
    rudder = pytest.importorskip("rudderstack.analytics")
    rudder.write_key = ws["write_key"]
    rudder.dataPlaneUrl = live.url
    rudder.max_retries = 1
    errors: list[Exception] = []
    rudder.on_error = lambda e, _b: errors.append(e)
    rudder.track("user-2", "Trial Started", {"plan": "team"}, message_id="rs-track")
    rudder.identify("user-2", {"phone": "+8613800138000"}, message_id="rs-identify")
    rudder.flush()
    assert errors == []
    rows = {r["message_id"]: r for r in live.events(ws["api_token"])}
    assert rows["rs-track"]["properties"] == {"plan": "team"}
    assert rows["rs-track"]["extra"]["channel"] == "server"
    assert rows["rs-identify"]["traits"]["phone"] == "+8613800138000"
