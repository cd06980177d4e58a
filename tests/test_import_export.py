"""Import is all-or-nothing; export gives every stored field in every format."""

from __future__ import annotations

import csv
import io
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq

from haina.store.events.schema import EVENT_COLUMN_NAMES
from haina.testing import LiveServer, create_workspace


def _count(data: Path) -> int:
    """Stored events; 0 when the import was killed before the store even had its tables."""
    if not (data / "events.duckdb").exists():
        return 0
    conn = duckdb.connect(str(data / "events.duckdb"), read_only=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "events" not in tables:
            return 0
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def test_an_import_killed_midway_leaves_nothing_half_done(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_workspace(data, "shop")
    rows = 60_000
    path = tmp_path / "visits.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["member", "at", "store"])
        for i in range(rows):
            w.writerow([f"M{i}", f"2026-11-{1 + i % 28:02d}T10:00:00Z", f"store-{i % 40}"])
    cmd = [
        sys.executable,
        "-m",
        "haina",
        "import",
        str(path),
        "-w",
        "shop",
        "--event",
        "Store Visited",
        "--map",
        "userId=member",
        "--map",
        "timestamp=at",
        "--data-dir",
        str(data),
    ]
    outcomes = set()
    for delay in (random.uniform(0.5, 2.5), random.uniform(2.5, 6.0)):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        n = _count(data)
        assert n in (0, rows), f"half-imported: {n} of {rows} rows"
        outcomes.add(n)
    finished = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert _count(data) == rows


def test_export_formats_carry_every_column(live: LiveServer, ws: dict[str, str]) -> None:
    msgs = [
        {
            "type": "page",
            "anonymousId": "a1",
            "name": "首页",
            "properties": {"url": "https://shop.example.cn/?utm_source=wechat&utm_medium=social"},
            "timestamp": "2026-11-20T08:00:00Z",
        },
        {
            "type": "track",
            "userId": "u1",
            "event": "Signed Up",
            "properties": {"plan": "pro"},
            "timestamp": "2026-11-25T08:00:00Z",
        },
    ]
    httpx.post(live.url + "/v1/batch", json={"batch": msgs}, auth=(ws["write_key"], ""))
    auth = {"Authorization": f"Bearer {ws['api_token']}"}
    url = live.url + "/api/v1/events/export"
    parquet = httpx.get(url, params={"format": "parquet"}, headers=auth)
    table = pq.read_table(io.BytesIO(parquet.content))
    assert set(table.column_names) == set(EVENT_COLUMN_NAMES) - {"workspace_id"}
    assert table.num_rows == 2
    text = httpx.get(
        url, params={"format": "csv", "from": "2026-11-22T00:00:00Z"}, headers=auth
    ).text
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert (row["event"], row["user_id"]) == ("Signed Up", "u1")
    nd = live.events(ws["api_token"])
    page = next(r for r in nd if r["type"] == "page")
    assert (page["channel"], page["source"], page["name"]) == ("Organic Social", "wechat", "首页")
    bad = httpx.get(url, params={"format": "xml"}, headers=auth)
    assert bad.status_code == 422
    assert httpx.get(url).status_code == 401
    other = live.workspace("other")
    assert httpx.get(url, headers={"Authorization": f"Bearer {other['api_token']}"}).text == ""
