"""Stored sessions: the sessions of the event log kept in two derived tables, so session
reports (overview, sources, pages, paths, page speed) read them instead of deriving sessions
from every event of their range on each query.

- `stored_sessions`: one row per session (person, start, entry attributes, counts);
- `session_events`: the session's events but `$engagement`, narrow, with the pageview's
  engagement, scroll depth and load time, and whether it is the session's first or last
  pageview.

Both are derived by the same SQL that derives sessions at query time (`Scope` with
`sessions=True`), so a stored session and a derived one are the same session. They are a
cache of the event log: `rebuild` re-derives a workspace from scratch (also whenever its
session settings change), and `refresh` brings them up to date after new events:

- every commit of the event store appends the identifiers it touched, with their earliest
  event time, to `derive_queue` (in the same transaction as the events);
- `refresh` takes the queue, finds the people concerned (an anonymous id newly linked to a
  user id moves both people: they are re-derived whole), deletes their stored sessions from
  the start of the first one that the new events can change (24 h before the earliest new
  event, so late engagement still lands on its pageview) and derives them again from there.

DuckDB refreshes incrementally in one transaction; ClickHouse (chdb, and the scale-out
backend later) rebuilds. Reports use the stored tables only when `refresh` said they are
current for the workspace's settings (`ReportContext.stored`).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from haina.query.engine import Engine
from haina.query.scope import (
    DAY_US,
    PERSON_JOINS,
    Derivation,
    Range,
    ReportContext,
    ReportQuery,
    ReportSettings,
    Scope,
)
from haina.store.events.schema import SESSION_EVENT_COLUMNS, STORED_SESSION_COLUMNS

# Bump when the derivation changes: stored rows of another version are rebuilt.
DERIVATION_VERSION = 6
# People re-derived per statement when rebuilding, so memory stays bounded: ~2 M events per
# pass in DuckDB (it spills), ~0.5 M in ClickHouse (a pass's numbered events are held in a
# Memory table, and every CTE is inlined: each pass reads `events` several times).
REBUILD_EVENTS_PER_PASS = {"duckdb": 2_000_000, "clickhouse": 500_000}
# A queue longer than this is cheaper to rebuild than to refresh person by person.
REBUILD_QUEUE_ROWS = 500_000
_EVER = Range("UTC", datetime(1970, 1, 2), datetime(2200, 1, 1), datetime(1970, 1, 2),
              datetime(2200, 1, 1))  # fmt: skip
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Refreshed:
    """What a refresh did: nothing, re-derived some people, or rebuilt the workspace."""

    mode: Literal["current", "incremental", "rebuild"]
    people: int = 0
    seconds: float = 0.0


def fingerprint(settings: ReportSettings) -> str:
    """The settings stored sessions depend on (engagement threshold and time zone do not)."""
    return json.dumps(
        [
            DERIVATION_VERSION,
            settings.session_timeout_minutes,
            settings.session_split,
            sorted(settings.conversion_events),
        ]
    )


def _lock(engine: Engine, workspace_id: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(f"{id(engine.dialect)}:{workspace_id}", threading.Lock())


def refresh(engine: Engine, workspace_id: str, settings: ReportSettings) -> Refreshed:
    """Bring a workspace's stored sessions up to date (rebuild them when they were derived
    with other settings, or never)."""
    with _lock(engine, workspace_id):
        ws = {"ws": workspace_id}
        p = engine.dialect.placeholder("ws", workspace_id)
        rows = engine.rows(
            f"SELECT (SELECT max(fingerprint) FROM derive_state WHERE workspace_id = {p}), "
            f"(SELECT count(*) FROM derive_queue WHERE workspace_id = {p}) + "
            f"(SELECT count(*) FROM derive_moves WHERE workspace_id = {p})",
            ws,
        )
        state, queued = rows[0]
        current = state == fingerprint(settings)
        if current and not queued:
            return Refreshed("current")
        if current and engine.dialect.name == "duckdb" and int(queued) <= REBUILD_QUEUE_ROWS:
            return _incremental(engine, workspace_id, settings)
        return _rebuild(engine, workspace_id, settings)


def rebuild(engine: Engine, workspace_id: str, settings: ReportSettings) -> Refreshed:
    """Re-derive a workspace's stored sessions from all its events."""
    with _lock(engine, workspace_id):
        return _rebuild(engine, workspace_id, settings)


def _scope(engine: Engine, workspace_id: str, settings: ReportSettings) -> Scope:
    ctx = ReportContext(engine, workspace_id, settings)
    return Scope(ctx, ReportQuery.model_validate({}), _EVER)


def _rebuild(engine: Engine, workspace_id: str, settings: ReportSettings) -> Refreshed:
    started = time.monotonic()
    duck = engine.dialect.name == "duckdb"
    s = _scope(engine, workspace_id, settings)
    # What is queued now is in the events this rebuild reads; later commits stay queued.
    statements = [
        f"DELETE FROM {t} WHERE workspace_id = {s.ws}"
        for t in (*_TABLES, "derive_queue", "derive_moves")
    ]
    _run(engine, statements, s.params.values, transaction=duck)
    count = engine.rows(
        f"SELECT count(*) FROM events WHERE workspace_id = {s.ws}", s.params.values
    )[0][0]
    per_pass = REBUILD_EVENTS_PER_PASS.get(engine.dialect.name, 500_000)
    passes = max(1, math.ceil(int(count or 0) / per_pass))
    for i in range(passes):
        part = _scope(engine, workspace_id, settings)
        bucket = engine.dialect.hash_bucket("ev0.person", passes)
        part.derivation = Derivation(people=f"{bucket} = {part.p(i)}" if passes > 1 else "TRUE")
        _run(engine, _derive(part), part.params.values, transaction=duck)
    _mark(engine, workspace_id, settings, duck)
    people = engine.rows(
        f"SELECT count(DISTINCT person) FROM stored_sessions WHERE workspace_id = {s.ws}",
        s.params.values,
    )[0][0]
    return Refreshed("rebuild", int(people or 0), round(time.monotonic() - started, 3))


def _incremental(engine: Engine, workspace_id: str, settings: ReportSettings) -> Refreshed:
    """Re-derive the people the queued commits and the identity graph's moves touched
    (DuckDB, one transaction)."""
    started = time.monotonic()
    s = _scope(engine, workspace_id, settings)
    back = s.p(DAY_US)  # engagement arrives after its pageview: look a day back
    timeout = s.p(settings.session_timeout_minutes * 60_000_000)
    ever = s.p(_EVER.utc_from)
    prepare = [
        "CREATE OR REPLACE TEMP TABLE d_queue AS SELECT anonymous_id AS aid, user_id AS uid, "
        f"min(min_ts) AS ts FROM derive_queue WHERE workspace_id = {s.ws} GROUP BY aid, uid",
        f"DELETE FROM derive_queue WHERE workspace_id = {s.ws}",
        # People whose identifiers the graph moved (a merge, a split): re-derived whole.
        "CREATE OR REPLACE TEMP TABLE d_moves AS SELECT DISTINCT old_person, new_person "
        f"FROM derive_moves WHERE workspace_id = {s.ws}",
        f"DELETE FROM derive_moves WHERE workspace_id = {s.ws}",
        # The people concerned, and from when: a day before their earliest new event; all
        # of it for both people of a move.
        f"CREATE OR REPLACE TEMP TABLE d_cut AS WITH {s._ids()} "  # noqa: SLF001
        "SELECT person, min(ts) AS cut FROM ("
        "SELECT coalesce(idu.person, ida.person, e.uid, e.aid) AS person, "
        f"e.ts - to_microseconds({back}) AS ts FROM (SELECT aid, uid, ts, uid AS user_id, "
        f"aid AS anonymous_id FROM d_queue) e {PERSON_JOINS} "
        f"UNION ALL SELECT old_person, {ever} FROM d_moves "
        f"UNION ALL SELECT new_person, {ever} FROM d_moves) c "
        "WHERE person IS NOT NULL GROUP BY person",
        # ... moved back to the start of the first stored session the new events can reach.
        "CREATE OR REPLACE TEMP TABLE d_people AS SELECT c.person, "
        "least(c.cut, coalesce(min(ss.run_start), c.cut)) AS from_ts FROM d_cut c "
        f"LEFT JOIN stored_sessions ss ON ss.workspace_id = {s.ws} AND ss.person = c.person "
        f"AND ss.last_ts >= c.cut - to_microseconds({timeout}) GROUP BY c.person, c.cut",
        # The identifiers whose events can be those people's (the graph's, and the people's
        # own keys for identifiers it does not hold).
        "CREATE OR REPLACE TEMP TABLE d_idents AS SELECT person AS ident FROM d_people "
        f"UNION SELECT id_value FROM identity_nodes WHERE workspace_id = {s.ws} "
        "AND id_type IN ('user_id', 'anonymous_id') "
        "AND person_id IN (SELECT person FROM d_people)",
        f"DELETE FROM stored_sessions USING d_people WHERE stored_sessions.workspace_id = {s.ws} "
        "AND stored_sessions.person = d_people.person "
        "AND stored_sessions.run_start >= d_people.from_ts",
        f"DELETE FROM session_events USING d_people WHERE session_events.workspace_id = {s.ws} "
        "AND session_events.person = d_people.person AND session_events.ts >= d_people.from_ts",
    ]
    s.derivation = Derivation(
        events="(e.user_id IN (SELECT ident FROM d_idents) "
        "OR e.anonymous_id IN (SELECT ident FROM d_idents)) "
        "AND e.timestamp >= (SELECT min(from_ts) FROM d_people)",
        people="EXISTS (SELECT 1 FROM d_people dp WHERE dp.person = ev0.person "
        "AND ev0.ts >= dp.from_ts)",
    )
    derive = _derive(s)
    _run(engine, [*prepare, *derive], s.params.values, transaction=True)
    people = engine.rows("SELECT count(*) FROM d_people", {})[0][0]
    _mark(engine, workspace_id, settings, True)
    for t in ("d_queue", "d_moves", "d_cut", "d_people", "d_idents"):
        engine.execute(f"DROP TABLE IF EXISTS {t}")
    return Refreshed("incremental", int(people or 0), round(time.monotonic() - started, 3))


_TABLES = ("stored_sessions", "session_events", "derive_people")


def _derive(s: Scope) -> list[str]:
    """Statements deriving the scope's people into the stored tables (through a temporary
    table holding their events numbered into sessions)."""
    ctes = s.ctes(sessions=True)
    first, last = s.pv_flags()
    pv = "sx.event_name = '$pageview'"
    keep = {c for c, _ in SESSION_EVENT_COLUMNS} | {"run_start", "sel", "in_range"}
    keep |= {c.removeprefix("s_") for c, _ in STORED_SESSION_COLUMNS if c.startswith("s_")}
    keep -= {"workspace_id", "pnum", "sstart", "pv_first", "pv_last", "path_first"}
    keep -= {"run_last", "run_k", "runs"}
    select = ", ".join(f"sx.{c} AS {c}" for c in sorted(keep))
    # First/last pageview and runs of one path: windows over the session's pageviews only,
    # joined back.
    d, page = s.d, "coalesce(sx.path, '')"
    w = "PARTITION BY sx.person, sx.sid ORDER BY sx.ts{0}, sx.uuid{0}"
    starts = "CASE WHEN fprev IS NULL OR fprev <> fpp THEN 1 ELSE 0 END"
    flagged = (
        f"{ctes},\nfl AS (SELECT sx.person AS fp, sx.sid AS fs, sx.uuid AS fu, sx.ts AS fts, "
        f"{first} AS ff, {last} AS fl, {s.path_first()} AS fpath, {page} AS fpp, "
        f"{d.prev(page)} OVER ({w.format('')}) AS fprev, "
        f"{d.prev(page)} OVER ({w.format(' DESC')}) AS fnext FROM sx WHERE {pv}),\n"
        "fr AS (SELECT fl.*, (fnext IS NULL OR fnext <> fpp) AS frl, "
        f"CAST(sum({starts}) OVER (PARTITION BY fp, fs ORDER BY fts, fu ROWS BETWEEN "
        "UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS frk, "
        f"CAST(sum({starts}) OVER (PARTITION BY fp, fs) AS BIGINT) AS fruns FROM fl)\n"
        f"SELECT {select}, min(sx.ts) OVER (PARTITION BY sx.person, sx.sid) AS sstart, "
        "coalesce(fr.ff, FALSE) AS pv_first, coalesce(fr.fl, FALSE) AS pv_last, "
        "coalesce(fr.fpath, FALSE) AS path_first, coalesce(fr.frl, FALSE) AS run_last, "
        "fr.frk AS run_k, fr.fruns AS runs "
        "FROM sx LEFT JOIN fr ON sx.person = fr.fp AND sx.sid = fr.fs AND sx.uuid = fr.fu"
    )

    def numbered(columns: tuple[tuple[str, str], ...], source: str) -> str:
        """The stored columns of `source` rows, with the person's number."""
        cols = ", ".join("dp.pnum" if c == "pnum" else f"r.{c}" for c, _ in columns[1:])
        return (
            f"SELECT {s.ws}, {cols} FROM {source} r JOIN derive_people dp "
            f"ON dp.workspace_id = {s.ws} AND dp.person = r.person"
        )

    # People new to the workspace get the next numbers.
    known = f"SELECT person FROM derive_people WHERE workspace_id = {s.ws}"
    number = (
        f"INSERT INTO derive_people SELECT {s.ws}, n.person, b.top + row_number() OVER "
        "(ORDER BY n.person) FROM (SELECT DISTINCT person FROM d_sx "
        f"WHERE person NOT IN ({known})) n, (SELECT coalesce(max(pnum), 0) AS top "
        f"FROM derive_people WHERE workspace_id = {s.ws}) b"
    )
    sessions = f"(WITH sx AS (SELECT * FROM d_sx), {s._sessions()} SELECT * FROM s0)"  # noqa: SLF001
    return [
        "DROP TABLE IF EXISTS d_sx",
        s.d.temp_table("d_sx", flagged),
        number,
        "INSERT INTO session_events "
        + numbered(SESSION_EVENT_COLUMNS, "d_sx")
        + " WHERE r.event_name <> '$engagement'",
        "INSERT INTO stored_sessions " + numbered(STORED_SESSION_COLUMNS, sessions),
        "DROP TABLE IF EXISTS d_sx",
    ]


def person_ids(engine: Engine, workspace_id: str, numbers: pa.Array) -> pa.Array:
    """The identifiers of person numbers read from the stored tables, in their order."""
    p = engine.dialect.placeholder("ws", workspace_id)
    table = engine.arrow(
        f"SELECT pnum, person FROM derive_people WHERE workspace_id = {p}", {"ws": workspace_id}
    )
    at = pc.index_in(numbers.cast(pa.int64()), value_set=table.column("pnum").cast(pa.int64()))
    return table.column("person").combine_chunks().take(at)


def _mark(engine: Engine, workspace_id: str, settings: ReportSettings, duck: bool) -> None:
    d = engine.dialect
    params = {
        "ws": workspace_id,
        "fp": fingerprint(settings),
        "at": datetime.now(UTC).replace(tzinfo=None),
    }
    ws, fp, at = (d.placeholder(k, v) for k, v in params.items())
    _run(
        engine,
        [
            f"DELETE FROM derive_state WHERE workspace_id = {ws}",
            f"INSERT INTO derive_state SELECT {ws}, {fp}, {at}",
        ],
        params,
        transaction=duck,
    )


def _run(engine: Engine, statements: list[str], params: dict[str, Any], transaction: bool) -> None:
    if not transaction:
        for sql in statements:
            engine.execute(sql, params)
        return
    engine.execute("BEGIN TRANSACTION")
    try:
        for sql in statements:
            engine.execute(sql, params)
        engine.execute("COMMIT")
    except BaseException:
        engine.execute("ROLLBACK")
        raise
