"""Segment's Node.js SDK (@segment/analytics-node, from the npm registry) against Haina."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from haina.testing import LiveServer

pytestmark = pytest.mark.e2e

CLIENTS = Path(__file__).parent / "clients"


def test_analytics_node_sends_every_call_type(live: LiveServer, ws: dict[str, str]) -> None:
    node = shutil.which("node")
    if node is None or not (CLIENTS / "node_modules/@segment/analytics-node").exists():
        reason = "node or @segment/analytics-node missing: npm ci --prefix tests/e2e/clients"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        print(reason)
        pytest.skip(reason)
    env = {**os.environ, "HAINA_URL": live.url, "HAINA_WRITE_KEY": ws["write_key"]}
    result = subprocess.run(
        [node, "send_node.mjs"], cwd=CLIENTS, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "ok", result.stdout + result.stderr
    rows = {r["message_id"]: r for r in live.events(ws["api_token"])}
    assert set(rows) == {
        "node-identify",
        "node-track",
        "node-page",
        "node-screen",
        "node-group",
        "node-alias",
    }
    assert rows["node-track"]["properties"] == {"amount": 99.5}
    assert rows["node-track"]["library_name"] == "@segment/analytics-node"
    assert rows["node-identify"]["traits"] == {"email": "node@example.cn", "plan": "pro"}
    assert rows["node-page"]["name"] == "Pricing"
    assert rows["node-group"]["group_id"] == "acme"
    assert (rows["node-alias"]["previous_id"], rows["node-alias"]["user_id"]) == (
        "node-anon",
        "node-1",
    )
