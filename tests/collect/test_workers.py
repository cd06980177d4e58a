"""Batches processed in the collection worker processes give the same rows and answers as
batches processed in the server, and whole-request failures there are refused and kept."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from haina.config import Settings
from haina.testing import LiveServer, free_port, live_server
from tests.collect.test_api import basic

VOLATILE = {"message_id", "received_at", "timestamp", "sent_at", "original_timestamp", "uuid"}


@pytest.fixture
def pooled(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path / "data",
        port=free_port(),
        write_key_cache_seconds=0,
        trusted_proxies=[],
        collect_workers=1,
        collect_worker_min_bytes=2_000,
    )
    with live_server(settings) as server:
        yield server


def _batch(tag: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "page" if i % 2 else "track",
            "event": "Viewed",
            "name": "Home",
            "anonymousId": f"a-{i % 7}",
            "messageId": f"{tag}-{i}",
            "timestamp": "2026-11-20T10:00:00.000Z",
            "properties": {"i": i, "text": "海纳百川 " * 5},
            "context": {
                "page": {
                    "url": f"https://shop.example/p/{i}?utm_source=weibo&utm_medium=social",
                    "referrer": "https://www.baidu.com/s?wd=x",
                },
                "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) "
                "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 "
                "Safari/604.1",
                "ip": "203.0.113.9",
            },
        }
        for i in range(n)
    ]


def _wait_for_workers(server: LiveServer) -> None:
    collector = server.app.state.collector
    deadline = time.monotonic() + 60
    while collector._pool is None:
        assert time.monotonic() < deadline, "the collection workers did not start"
        time.sleep(0.2)


def test_worker_batches_store_what_the_server_would(pooled: LiveServer) -> None:
    ws = pooled.workspace("shop")
    auth = basic(ws["write_key"])
    # The first large batch starts the workers and runs in the server.
    r1 = httpx.post(pooled.url + "/v1/batch", json={"batch": _batch("here", 30)}, headers=auth)
    assert r1.status_code == 200 and r1.json()["accepted"] == 30
    _wait_for_workers(pooled)
    batch = _batch("there", 30)
    batch[3] = {"type": "track", "messageId": "there-3", "anonymousId": "a"}  # no event name
    batch.append(dict(batch[0]))  # repeated within the request
    batch.append({**batch[1], "messageId": "here-1"})  # stored by the first request
    body = gzip.compress(json.dumps({"batch": batch}).encode())
    r2 = httpx.post(
        pooled.url + "/v1/batch",
        content=body,
        headers={**auth, "Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r2.status_code == 200, r2.text
    got = r2.json()
    assert (got["accepted"], got["duplicates"]) == (29, 2)
    assert [(r["index"], r["field"]) for r in got["rejected"]] == [(3, "event")]
    rows = {r["message_id"]: r for r in pooled.events(ws["api_token"])}
    assert len(rows) == 59
    for i in (0, 1, 5, 29):
        here = {k: v for k, v in rows[f"here-{i}"].items() if k not in VOLATILE}
        there = {k: v for k, v in rows[f"there-{i}"].items() if k not in VOLATILE}
        assert here == there  # the same enrichment, whichever process ran it
    [entry] = pooled.quarantine(ws["api_token"])
    assert (entry["message_index"], entry["field"]) == (3, "event")


def test_whole_request_failures_in_a_worker_are_refused_and_kept(pooled: LiveServer) -> None:
    ws = pooled.workspace("shop")
    auth = basic(ws["write_key"])
    httpx.post(pooled.url + "/v1/batch", json={"batch": _batch("warm", 30)}, headers=auth)
    _wait_for_workers(pooled)
    broken = b'{"batch": [' + b'{"type": "track"},' * 300  # cut off: not JSON
    r = httpx.post(pooled.url + "/v1/batch", content=broken, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    not_a_batch = json.dumps({"messages": _batch("x", 30)}).encode()
    r = httpx.post(pooled.url + "/v1/batch", content=not_a_batch, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_batch"
    codes = sorted(e["code"] for e in pooled.quarantine(ws["api_token"]))
    assert codes == ["invalid_batch", "invalid_json"]
