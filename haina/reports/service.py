"""Running a report for a workspace of this server: settings, engine, cache, guard.

The HTTP API, the CLI (through the server or on the file) and the dashboard all call
`run_for_workspace`, so every door gives the same numbers.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import duckdb

from haina.identity import store as identity_store
from haina.identity.rules import IdentityRules
from haina.query import stored
from haina.query.engine import DuckDBEngine
from haina.query.scope import ReportContext, ReportQuery, ReportSettings
from haina.reports.cache import ReportCache
from haina.reports.registry import ReportKind, reports
from haina.store.events.duckdb_store import GroupCommitWriter
from haina.store.meta import MetaStore
from haina.workspaces.keys import NotFound, report_settings, workspace_settings

log = logging.getLogger(__name__)


def refresh_identity(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules
) -> None:
    """Bring the workspace's identity graph up to date (reports resolve people through it);
    a read-only store keeps the graph it has."""
    try:
        identity_store.refresh(conn, workspace_id, rules)
    except duckdb.Error as exc:
        log.warning("identity graph not refreshed: %s", exc)


def refresh_stored(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    settings: ReportSettings,
    rules: IdentityRules | None = None,
) -> bool:
    """Bring the workspace's identity graph (when `rules` are given) and stored sessions up
    to date; False when they cannot be (a read-only store): the report then derives its
    sessions from events."""
    if rules is not None:
        refresh_identity(conn, workspace_id, rules)
    try:
        done = stored.refresh(DuckDBEngine(conn), workspace_id, settings)
    except duckdb.Error as exc:
        log.warning("stored sessions not refreshed, deriving sessions per query: %s", exc)
        return False
    if done.mode != "current":
        log.info("stored sessions of %s: %s", workspace_id, done)
    return True


class StoredSessionsRefresher:
    """Keeps every workspace's stored sessions current in the background, so the first
    session report after new data does not pay for deriving them.

    Every `interval` seconds it refreshes the workspaces with queued commits, when the
    writer has had a lull of `lull` seconds (collection goes first) or the oldest refresh
    it owes is `max_delay` seconds old."""

    def __init__(
        self,
        meta: MetaStore,
        writer: GroupCommitWriter,
        interval: float = 10.0,
        lull: float = 2.0,
        max_delay: float = 120.0,
    ) -> None:
        self.meta, self.writer = meta, writer
        self.interval, self.lull, self.max_delay = interval, lull, max_delay
        self.refreshed = 0  # workspaces refreshed so far (for tests and logs)
        self._stop = threading.Event()
        self._owed_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="haina-sessions", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - never take the server down; retry next tick
                log.exception("refreshing stored sessions failed")

    def tick(self) -> int:
        """One round; returns how many workspaces were refreshed."""
        conn = self.writer.reader()
        try:
            owed = [
                r[0]
                for r in conn.execute("SELECT DISTINCT workspace_id FROM derive_queue").fetchall()
            ]
            if not owed:
                self._owed_since = None
                return 0
            now = time.monotonic()
            self._owed_since = self._owed_since or now
            if self.writer.idle_seconds() < self.lull and now - self._owed_since < self.max_delay:
                return 0
            for ws in owed:
                if self._stop.is_set():
                    break
                try:
                    settings = report_settings(self.meta, ws)
                    rules = workspace_settings(self.meta, ws).identity
                except NotFound:
                    continue  # events of a workspace since deleted: nothing reads them
                with self.writer.report_memory():
                    if refresh_stored(conn, ws, settings, rules):
                        self.refreshed += 1
            self._owed_since = None
            return len(owed)
        finally:
            conn.close()


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
    memory: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> dict[str, Any]:
    """Run a validated report query (raises QueryTooLarge, ValueError for a bad range);
    inside `memory()`, the writer's `report_memory` where there is one."""
    kind = str(getattr(q, "kind", ""))
    settings = report_settings(meta, workspace_id)
    key = cache.key(workspace_id, q, settings, version) if cache is not None else None
    if cache is not None and (hit := cache.get(key)) is not None:
        return hit
    report = report or reports()[kind]
    with memory():
        refresh_identity(conn, workspace_id, workspace_settings(meta, workspace_id).identity)
        stored = report.stored_sessions and refresh_stored(conn, workspace_id, settings)
        engine = DuckDBEngine(conn, timeout=timeout)
        result = report.run(ReportContext(engine, workspace_id, settings, stored=stored), q)
    if cache is not None:
        cache.put(key, result)
    return result
