"""The SQL each report builds, per dialect, in small files a reviewer reads.

A change to a report's SQL shows up in review as a diff of tests/reports/sql/. After an
intended change, regenerate with
`HAINA_UPDATE_SQL_SNAPSHOTS=1 pytest tests/reports/test_report_sql_snapshots.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, SETTINGS, WORKSPACE

from haina.query import Engine, ReportContext
from haina.query.stored import refresh
from haina.reports.registry import reports, run_report

SNAPSHOTS = Path(__file__).parent / "sql"
FILTER = [{"key": "$device_type", "op": "eq", "value": "mobile"}]
BODIES: dict[str, dict[str, Any]] = {
    "funnel": {
        "steps": [{"event": "Product Viewed"}, {"event": "Order Completed"}],
        "exclusions": [{"event": "Coupon Applied", "from_step": 0, "to_step": 1}],
        "breakdown": {"property": "$browser"},
    },
    "retention": {"period": "week", "intervals": 4},
    "paths": {"start_point": "/"},
}


@pytest.mark.parametrize("kind", sorted(reports()))
@pytest.mark.parametrize("engine_name", ["duckdb", "chdb"])
def test_sql_matches_the_snapshot(kind: str, engine_name: str, engines: dict[str, Engine]) -> None:
    body = {
        "date_from": "2026-11-01",
        "date_to": "2026-11-19",
        "filters": FILTER,
        **BODIES.get(kind, {}),
    }
    if kind == "realtime":
        body = {"filters": FILTER}
    ctx = ReportContext(engines[engine_name], WORKSPACE, SETTINGS, NOW)
    sql = "\n;\n".join(run_report(ctx, kind, body)["sql"]) + "\n"
    path = SNAPSHOTS / f"{kind}.{engines[engine_name].dialect.name}.sql"
    if os.environ.get("HAINA_UPDATE_SQL_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(sql)
    assert path.exists(), f"no snapshot {path.name}: run with HAINA_UPDATE_SQL_SNAPSHOTS=1"
    assert sql == path.read_text(), f"{kind} SQL ({engine_name}) changed: review and regenerate"


STORED_KINDS = sorted(k for k, r in reports().items() if r.stored_sessions)


@pytest.mark.parametrize("kind", STORED_KINDS)
@pytest.mark.parametrize("engine_name", ["duckdb", "chdb"])
def test_stored_session_sql_matches_the_snapshot(
    kind: str, engine_name: str, engines: dict[str, Engine]
) -> None:
    """Reports on the stored sessions read the stored tables, not events: session reports
    (acquisition filters included), funnels and retention without filters or breakdowns."""
    engine = engines[engine_name]
    refresh(engine, WORKSPACE, SETTINGS)
    body = {"date_from": "2026-11-01", "date_to": "2026-11-19", **BODIES.get(kind, {})}
    if kind in ("funnel", "retention"):
        body.pop("breakdown", None)
    else:
        body["filters"] = [{"key": "$channel", "op": "eq", "value": "Organic Search"}]
    ctx = ReportContext(engine, WORKSPACE, SETTINGS, NOW, stored=True)
    statements = run_report(ctx, kind, body)["sql"]
    for sql in statements:
        assert "session_events" in sql or "stored_sessions" in sql
        assert " events " not in sql.replace("\n", " ") and "FROM events" not in sql
    sql = "\n;\n".join(statements) + "\n"
    path = SNAPSHOTS / f"{kind}.stored.{engine.dialect.name}.sql"
    if os.environ.get("HAINA_UPDATE_SQL_SNAPSHOTS") == "1":
        path.write_text(sql)
    assert path.exists(), f"no snapshot {path.name}: run with HAINA_UPDATE_SQL_SNAPSHOTS=1"
    assert sql == path.read_text(), f"{kind} SQL ({engine_name}) changed: review and regenerate"
