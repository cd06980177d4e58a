"""The CLI end to end: workspaces, snippet, import, quarantine, plan, export — with and without
a server running on the same data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import httpx
import pytest

from haina.testing import create_workspace, run_cli, start_server

CSV = """member_no,mobile,visited_at,store,spend
M001,+8613800138000,2026-11-20 10:15:00,上海徐汇店,120.5
M002,+8613900139000,2026-11-21T18:00:00+08:00,北京朝阳店,0
,, ,杭州店,
M004,+8613700137000,not-a-time,深圳店,5
"""


@contextmanager
def hold_event_file(data: Path) -> Iterator[None]:
    """Another process holding the DuckDB file, as a stray writer would."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, time; c = duckdb.connect("
            f"{str(data / 'events.duckdb')!r}); print('ok', flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        yield
    finally:
        holder.kill()
        holder.communicate()


def _import(data: Path, csv_path: Path) -> tuple[int, str]:
    p = run_cli(
        data,
        "import",
        str(csv_path),
        "-w",
        "shop",
        "--event",
        "Store Visited",
        "--map",
        "userId=member_no",
        "--map",
        "traits.phone=mobile",
        "--map",
        "timestamp=visited_at",
        check=False,
    )
    return p.returncode, p.stdout + p.stderr


def test_workspace_create_prints_json_and_snippet_carries_the_key(tmp_path: Path) -> None:
    ws = create_workspace(tmp_path, "site")
    assert set(ws) >= {"workspace_id", "write_key", "api_token"}
    html = run_cli(tmp_path, "snippet", "-w", "site", "--url", "https://t.example.cn/").stdout
    assert ws["write_key"] in html and "https://t.example.cn/t.js" in html
    again = run_cli(tmp_path, "workspace", "create", "site", "--json", check=False)
    assert again.returncode == 1 and "exists already" in again.stderr


@pytest.mark.parametrize("with_server", [False, True], ids=["file", "via-server"])
def test_import_quarantine_replay_and_export(tmp_path: Path, with_server: bool) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "shop")
    csv_path = tmp_path / "visits.csv"
    csv_path.write_text(CSV, encoding="utf-8")
    server = start_server(data) if with_server else None
    try:
        code, output = _import(data, csv_path)
        assert code == 2, output  # valid rows stored, some quarantined: status 2
        assert "stored 2, duplicates 0, quarantined 2" in output
        assert "visits.csv:4: event" not in output and "visits.csv:4:" in output
        assert "visits.csv:5: timestamp" in output
        code, output = _import(data, csv_path)  # the same file again is stored once
        assert "stored 0, duplicates 2" in output
        entries = json.loads(run_cli(data, "quarantine", "list", "-w", "shop", "--json").stdout)
        assert sorted(e["message_index"] for e in entries) == [4, 4, 5, 5]
        bad = next(e for e in entries if e["message_index"] == 5)
        shown = json.loads(run_cli(data, "quarantine", "show", bad["id"], "-w", "shop").stdout)
        assert json.loads(shown["payload"])["properties"]["store"] == "深圳店"
        report = json.loads(run_cli(data, "quarantine", "replay", "-w", "shop").stdout)
        assert report["replayed"] == 0 and len(report["still_failing"]) == 4
        out = tmp_path / "events.ndjson"
        run_cli(data, "export", "-w", "shop", "-o", str(out))
        rows = [json.loads(line) for line in out.read_text().split("\n") if line]
        assert sorted(r["user_id"] for r in rows) == ["M001", "M002"]
        m2 = next(r for r in rows if r["user_id"] == "M002")
        assert m2["timestamp"].startswith("2026-11-21 10:00:00") or m2["timestamp"].startswith(
            "2026-11-21T10:00:00"
        )
        ctx = m2["context"] if isinstance(m2["context"], dict) else json.loads(m2["context"])
        assert ctx["traits"]["phone"] == "+8613900139000"
    finally:
        if server is not None:
            server.stop()
    conn = duckdb.connect(str(data / "events.duckdb"), read_only=True)
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (2,)
    conn.close()
    assert ws["workspace_id"]


def test_replay_stores_what_a_plan_change_lets_through(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "plan")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "events:\n  - event: Order Completed\n    properties:\n"
        "      revenue: {type: number, required: true}\n"
    )
    run_cli(data, "plan", "push", str(plan), "-w", "plan")
    src = json.loads(
        run_cli(
            data, "workspace", "add-source", "-w", "plan", "backend", "--plan-mode", "quarantine"
        ).stdout
    )
    server = start_server(data)
    try:
        bad = {"userId": "u", "event": "Order Completed", "properties": {"revenue": "12"}}
        r = httpx.post(server.base_url + "/v1/track", json=bad, auth=(src["write_key"], ""))
        assert r.status_code == 400 and r.json()["error"]["field"] == "properties.revenue"
        flagged = httpx.post(
            server.base_url + "/v1/track", json=bad, auth=(ws["write_key"], "")
        )  # the web source only flags
        assert flagged.status_code == 200
        cov = json.loads(run_cli(data, "plan", "coverage", "-w", "plan").stdout)
        assert cov["violations_30d"] == [
            {"field": "properties.revenue", "code": "plan_type", "count": 1}
        ]
        plan.write_text(
            "events:\n  - event: Order Completed\n    properties:\n"
            "      revenue: {type: [number, string]}\n"
        )
        run_cli(data, "plan", "push", str(plan), "-w", "plan")
        report = json.loads(run_cli(data, "quarantine", "replay", "-w", "plan").stdout)
        assert (report["replayed"], report["stored"]) == (1, 1)
        listed = json.loads(run_cli(data, "quarantine", "list", "-w", "plan", "--json").stdout)
        assert [e["status"] for e in listed] == ["replayed"]
    finally:
        server.stop()


def test_cli_says_clearly_when_the_store_is_held_by_another_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_workspace(data, "busy")
    with hold_event_file(data):
        out = run_cli(data, "quarantine", "list", "-w", "busy", check=False)
        assert out.returncode == 1
        assert "in use by another process" in out.stderr
        assert "Traceback" not in out.stderr


def test_tokens_sources_and_plans_refuse_bad_input_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ws = create_workspace(data, "t")
    token = run_cli(
        data, "workspace", "token-create", "-w", "t", "--role", "analyst", "--name", "bi"
    ).stdout.strip()
    assert token.startswith("hk_") and token != ws["api_token"]
    listing = run_cli(data, "workspace", "tokens", "-w", "t", "--json").stdout
    assert token not in listing
    token_id = next(t["id"] for t in json.loads(listing) if t["role"] == "analyst")
    run_cli(data, "workspace", "token-revoke", token_id, "-w", "t")
    server = start_server(data)
    try:
        r = httpx.get(
            server.base_url + "/api/v1/settings", headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 401
        held = run_cli(data, "serve", "--port", "0", check=False)
        assert held.returncode == 1 and "already runs" in held.stderr
    finally:
        server.stop()
    for args, message in [
        (("workspace", "add-source", "-w", "t", "web"), "has a source named 'web'"),
        (("workspace", "add-source", "-w", "t", "x", "--kind", "fridge"), "kind must be"),
        (("workspace", "token-create", "-w", "t", "--role", "god"), "role must be"),
        (("workspace", "set", "-w", "t", "anonymise_ip=perhaps"), "true or false"),
    ]:
        p = run_cli(data, *args, check=False)
        assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr, p.stderr
    plan = tmp_path / "plan.yaml"
    plan.write_text("events:\n  - event: A\n  - event: A\n")
    p = run_cli(data, "plan", "push", str(plan), "-w", "t", check=False)
    assert p.returncode == 1 and "listed twice" in p.stderr


def test_serve_refuses_in_one_line_when_the_file_is_held(tmp_path: Path) -> None:
    data = tmp_path / "data"
    create_workspace(data, "busy")
    with hold_event_file(data):
        out = run_cli(data, "serve", "--port", "0", check=False, timeout=60)
        assert out.returncode == 1 and "in use by another process" in out.stderr
        assert "Traceback" not in out.stderr


def test_bad_configuration_is_refused_in_one_line(tmp_path: Path) -> None:
    for env, name in [
        ({"HAINA_LOG_LEVEL": "loud"}, "HAINA_LOG_LEVEL"),
        ({"HAINA_TRUSTED_PROXIES": '["10.0.0.0/8", "nope"]'}, "HAINA_TRUSTED_PROXIES"),
    ]:
        p = run_cli(tmp_path, "workspace", "list", check=False, env=env)
        assert p.returncode == 1 and f"invalid setting {name}" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
