"""Running a report for a workspace of this server: settings, engine, cache, guard.

The HTTP API, the CLI (through the server or on the file) and the dashboard all call
`run_for_workspace`, so every door gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import duckdb

from haina.query.engine import DuckDBEngine
from haina.query.scope import ReportContext, ReportQuery
from haina.reports.cache import ReportCache
from haina.reports.registry import ReportKind, reports
from haina.store.meta import MetaStore
from haina.workspaces.keys import report_settings


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
    ctx = ReportContext(DuckDBEngine(conn, timeout=timeout), workspace_id, settings)
    result = (report or reports()[kind]).run(ctx, q)
    if cache is not None:
        cache.put(key, result)
    return result
