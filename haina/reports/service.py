"""Running a report for a workspace of this server: settings, engine, cache, guard.

The HTTP API, the CLI (through the server or on the file) and the dashboard all call
`run_for_workspace`, so every door gives the same numbers.
"""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from haina.query import stored
from haina.query.engine import DuckDBEngine
from haina.query.scope import ReportContext, ReportQuery, ReportSettings
from haina.reports.cache import ReportCache
from haina.reports.registry import ReportKind, reports
from haina.store.meta import MetaStore
from haina.workspaces.keys import report_settings

log = logging.getLogger(__name__)


def refresh_stored(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, settings: ReportSettings
) -> bool:
    """Bring the workspace's stored sessions up to date; False when they cannot be (a
    read-only store): the report then derives its sessions from events."""
    try:
        done = stored.refresh(DuckDBEngine(conn), workspace_id, settings)
    except duckdb.Error as exc:
        log.warning("stored sessions not refreshed, deriving sessions per query: %s", exc)
        return False
    if done.mode != "current":
        log.info("stored sessions of %s: %s", workspace_id, done)
    return True


def run_for_workspace(
    meta: MetaStore,
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    q: ReportQuery,
    *,
    cache: ReportCache | None = None,
    version: int = 0,
    timeout: float | None = None,
    report: ReportKind | None = None,
) -> dict[str, Any]:
    """Run a validated report query (raises QueryTooLarge, ValueError for a bad range)."""
    kind = str(getattr(q, "kind", ""))
    settings = report_settings(meta, workspace_id)
    key = cache.key(workspace_id, q, settings, version) if cache is not None else None
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit
    report = report or reports()[kind]
    stored = report.stored_sessions and refresh_stored(conn, workspace_id, settings)
    ctx = ReportContext(DuckDBEngine(conn, timeout=timeout), workspace_id, settings, stored=stored)
    result = report.run(ctx, q)
    if cache is not None:
        cache.put(key, result)
    return result
