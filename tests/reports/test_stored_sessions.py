"""Stored sessions kept up to date commit by commit are the sessions a rebuild derives.

Events arrive in commits in any order (late events, an anonymous visitor who logs in later,
engagement after its pageview); after every commit `refresh` updates the stored tables
incrementally. Whatever the order, the tables then hold exactly what a rebuild from all
events holds, and the session reports read from them give what deriving sessions at query
time gives (conftest's `run_everywhere` checks the latter on every report test too).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from conftest import make_events, run_everywhere
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from haina.identity import store as identity
from haina.identity.rules import IdentityRules
from haina.query import DuckDBEngine, ReportSettings
from haina.query.stored import fingerprint, rebuild, refresh
from haina.reports.service import StoredSessionsRefresher
from haina.store.events.duckdb_store import GroupCommitWriter, WriteBatch, commit, open_duckdb
from haina.store.events.schema import SESSION_EVENT_COLUMNS, ddl
from haina.store.meta import MetaStore
from haina.workspaces.keys import create_workspace, report_settings

SETTINGS = ReportSettings(timezone="UTC", conversion_events=("Order Completed",))
SPLIT = ReportSettings(
    timezone="Asia/Shanghai", conversion_events=("Order Completed",),
    session_split="midnight_campaign", session_timeout_minutes=60,
)  # fmt: skip
START = datetime(2026, 11, 10, 8)
TABLES = ("stored_sessions", "session_events")


def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few visitors' pageviews, engagement, orders and logins over two days."""
    rows: list[dict[str, Any]] = []
    for v in range(draw(st.integers(1, 3))):
        anon, user = f"anon{v}", draw(st.sampled_from([None, f"user{v}", "user0"]))
        t = START + timedelta(minutes=draw(st.integers(0, 600)))
        for i in range(draw(st.integers(1, 8))):
            t += timedelta(minutes=draw(st.sampled_from([0, 1, 5, 29, 31, 90, 700])))
            pvid = f"pv{v}.{i}"
            logged_in = user is not None and draw(st.booleans())
            ids = {"anonymous_id": anon, **({"user_id": user} if logged_in else {})}
            kind = draw(st.sampled_from(["page", "page", "order", "identify"]))
            if kind == "identify" and user is not None:
                rows.append({"ts": f"{t}", "type": "identify", "anonymous_id": anon,
                             "user_id": user})  # fmt: skip
                continue
            if kind == "order":
                rows.append({"ts": f"{t}", "type": "track", "event": "Order Completed", **ids})
                continue
            rows.append({"ts": f"{t}", "type": "page", "path": f"/p{i % 3}",
                         "channel": draw(st.sampled_from(["Direct", "Organic Search"])),
                         "campaign": draw(st.sampled_from([None, None, "spring", "sale"])),
                         "properties": {"pageview_id": pvid}, **ids})  # fmt: skip
            if draw(st.booleans()):
                later = t + timedelta(seconds=draw(st.integers(1, 3000)))
                rows.append({"ts": f"{later}", "type": "track", "event": "$engagement",
                             "properties": {"pageview_id": pvid, "engaged_ms": 12_000,
                                            "scroll_depth": 60}, **ids})  # fmt: skip
    for i, row in enumerate(rows):
        row["message_id"] = f"m{i:04d}"
    return rows


@st.composite
def commits(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[int]]]:
    rows = _events(draw)
    order = draw(st.permutations(range(len(rows))))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(rows) - 1)), max_size=4)))
    bounds = [0, *cuts, len(rows)]
    return rows, [list(order[a:b]) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


def _tables(con: duckdb.DuckDBPyConnection, ws: str) -> dict[str, list[tuple[Any, ...]]]:
    """The stored rows, but the person numbers (a refresh numbers new people as they come, a
    rebuild all at once): each must be its row's person's number in derive_people, one
    number per person."""
    for t in ("stored_sessions", "session_events"):
        wrong = con.execute(
            f"SELECT count(*) FROM {t} s LEFT JOIN derive_people p ON p.workspace_id = "
            "s.workspace_id AND p.pnum = s.pnum WHERE s.workspace_id = ? "
            "AND p.person IS DISTINCT FROM s.person",
            [ws],
        ).fetchone()
        assert wrong == (0,), f"{t}: rows whose number is not their person's"
    twice = con.execute(
        "SELECT count(*) - count(DISTINCT pnum), count(*) - count(DISTINCT person) "
        "FROM derive_people WHERE workspace_id = ?",
        [ws],
    ).fetchone()
    assert twice == (0, 0)
    return {
        t: sorted(
            con.execute(
                f"SELECT * EXCLUDE (pnum) FROM {t} WHERE workspace_id = ?",
                [ws],
            ).fetchall(),
            key=repr,
        )
        for t in TABLES
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commits(), st.sampled_from([SETTINGS, SPLIT]))
def test_refreshing_commit_by_commit_equals_a_rebuild(
    case: tuple[list[dict[str, Any]], list[list[int]]], chosen: ReportSettings
) -> None:
    rows, parts = case
    table = make_events(rows)
    ws = str(table.column("workspace_id")[0])
    con = duckdb.connect()
    for statement in ddl():
        con.execute(statement)
    engine = DuckDBEngine(con)
    modes = []
    for part in parts:
        commit(con, WriteBatch(tables=[table.take(part)]))
        identity.refresh(con, ws, IdentityRules())  # as reports do first
        modes.append(refresh(engine, ws, chosen).mode)
    assert modes[0] == "rebuild" and set(modes[1:]) <= {"incremental"}
    assert con.execute("SELECT count(*) FROM derive_queue").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM derive_moves").fetchone() == (0,)
    kept = _tables(con, ws)
    assert rebuild(engine, ws, chosen).mode == "rebuild"
    assert kept == _tables(con, ws)
    assert refresh(engine, ws, chosen).mode == "current"


def test_changed_settings_rebuild_and_reports_follow() -> None:
    rows = [
        {"ts": "2026-11-10 10:00:00", "anonymous_id": "a", "path": "/"},
        {"ts": "2026-11-10 10:20:00", "anonymous_id": "a", "path": "/b"},
        {"ts": "2026-11-10 10:50:00", "anonymous_id": "a", "path": "/c"},
    ]
    table = make_events(rows)
    ws = str(table.column("workspace_id")[0])
    con = duckdb.connect()
    for statement in ddl():
        con.execute(statement)
    commit(con, WriteBatch(tables=[table]))
    engine = DuckDBEngine(con)
    body = {"date_from": "2026-11-10", "date_to": "2026-11-10"}
    for minutes, sessions in ((30, 1), (15, 3), (25, 2)):
        s = ReportSettings(timezone="UTC", session_timeout_minutes=minutes)
        assert refresh(engine, ws, s).mode == "rebuild"
        result = run_everywhere({"duckdb": engine}, "overview", body, s, ws)
        assert result["totals"]["sessions"] == sessions


def test_a_campaign_before_a_timeout_gap_does_not_split_a_later_session() -> None:
    """With the midnight/campaign split, a campaign is compared with the last one seen since
    the last timeout gap: what came before the gap neither splits a later session nor makes
    a refresh (which re-derives from that session's start) disagree with a rebuild."""
    rows = [
        {"ts": "2026-11-10 10:00:00", "anonymous_id": "a", "path": "/", "campaign": "x"},
        {"ts": "2026-11-12 10:00:00", "anonymous_id": "a", "path": "/b"},
        {"ts": "2026-11-12 10:05:00", "anonymous_id": "a", "path": "/c", "campaign": "y"},
        {"ts": "2026-11-12 10:10:00", "anonymous_id": "a", "path": "/d"},
    ]
    table = make_events(rows)
    ws = str(table.column("workspace_id")[0])
    con = duckdb.connect()
    for statement in ddl():
        con.execute(statement)
    engine = DuckDBEngine(con)
    split = ReportSettings(timezone="UTC", session_split="midnight_campaign")
    commit(con, WriteBatch(tables=[table.slice(0, 3)]))
    assert refresh(engine, ws, split).mode == "rebuild"
    commit(con, WriteBatch(tables=[table.slice(3, 1)]))
    assert refresh(engine, ws, split).mode == "incremental"
    kept = _tables(con, ws)
    assert len(kept["stored_sessions"]) == 2
    rebuild(engine, ws, split)
    assert kept == _tables(con, ws)


def test_a_file_with_older_derived_tables_is_re_derived(tmp_path: Path) -> None:
    """Stored sessions of an older layout are dropped when the store opens; events stay."""
    path = tmp_path / "events.duckdb"
    con = open_duckdb(path)
    commit(con, WriteBatch(tables=[make_events([{"ts": "2026-11-10 10:00:00",
                                                 "anonymous_id": "a", "path": "/"}])]))  # fmt: skip
    ws = con.execute("SELECT any_value(workspace_id) FROM events").fetchone()[0]
    assert refresh(DuckDBEngine(con), ws, SETTINGS).mode == "rebuild"
    con.execute("ALTER TABLE session_events DROP COLUMN path_first")  # as an older version
    con.close()
    con = open_duckdb(path)
    columns = [r[0] for r in con.execute("DESCRIBE session_events").fetchall()]
    assert columns == [c for c, _ in SESSION_EVENT_COLUMNS]
    assert con.execute("SELECT count(*) FROM derive_state").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM events").fetchone() == (1,)
    assert refresh(DuckDBEngine(con), ws, SETTINGS).mode == "rebuild"
    assert con.execute("SELECT count(*) FROM session_events").fetchone() == (1,)


def test_the_server_refreshes_stored_sessions_in_a_lull(tmp_path: Path) -> None:
    """The background refresher derives queued commits once the writer has had a lull (or
    the wait grew too long), workspace by workspace, with each workspace's settings."""
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    ws = create_workspace(meta, "shop", timezone="Asia/Shanghai")["workspace_id"]
    writer = GroupCommitWriter(tmp_path / "events.duckdb")
    try:
        rows = [{"ts": "2026-11-10 10:00:00", "anonymous_id": "a", "path": "/"},
                {"ts": "2026-11-10 10:05:00", "anonymous_id": "a", "path": "/b"}]  # fmt: skip
        writer.write(WriteBatch(tables=[make_events(rows, ws)]))
        busy = StoredSessionsRefresher(meta, writer, interval=3600, lull=3600, max_delay=3600)
        assert busy.tick() == 0  # collection is busy (no lull yet): wait
        busy.close()
        refresher = StoredSessionsRefresher(meta, writer, interval=3600, lull=0)
        assert refresher.tick() == 1 and refresher.refreshed == 1
        refresher.close()
        con = writer.reader()
        assert con.execute("SELECT count(*) FROM derive_queue").fetchone() == (0,)
        sessions = con.execute("SELECT pageviews, entry_path, exit_path FROM stored_sessions")
        assert sessions.fetchall() == [(2, "/", "/b")]
        state = con.execute("SELECT fingerprint FROM derive_state").fetchone()
        assert state == (fingerprint(report_settings(meta, ws)),)
    finally:
        writer.close()
        meta.close()


def test_clickhouse_drops_derived_tables_of_an_older_layout() -> None:
    """(chdb has one database per process: the tables other tests use are re-derived by
    their next refresh, as after an upgrade.)"""
    from chdb import session as chdb_session

    from haina.store.events.clickhouse import ensure_derived

    s = chdb_session.Session()
    ensure_derived(s)
    s.query("DROP TABLE session_events")
    s.query("CREATE TABLE session_events (workspace_id String, person Nullable(String)) "
            "ENGINE = MergeTree ORDER BY workspace_id")  # fmt: skip
    ensure_derived(s)
    names = "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = "
    columns = str(s.query(names + "'session_events' ORDER BY position", "CSV")).split()
    assert [c.strip('"') for c in columns] == [c for c, _ in SESSION_EVENT_COLUMNS]
