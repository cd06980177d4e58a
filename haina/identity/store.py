"""The identity graph in the event store: kept current from the identifiers each commit
queued, rebuilt from `events` when the rules change.

`refresh(conn, workspace_id, rules)` brings a workspace's graph up to date (it runs before
anything reads profiles or people); `rebuild` re-derives it from every event. Both recompute
whole connected components of the identifiers that messages carried together (links a limit
refused included), so the result is what `graph.resolve` gives for all the workspace's
messages at once, whatever order and commits they arrived in.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from haina.identity.graph import Ident, Observation, Resolution, Seen, canonical, resolve
from haina.identity.identifiers import ANONYMOUS_ID, USER_ID, is_junk
from haina.identity.rules import IdentityRules
from haina.query.engine import DuckDBEngine, Engine
from haina.store.events.duckdb_store import transaction
from haina.store.events.schema import IDENTITY_COLUMNS

_EPOCH = datetime(1970, 1, 1)
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def person_id(workspace_id: str, anchor: Ident) -> str:
    """The person id of a profile: derived from its anchor identifier (stable while the
    anchor is), not reversible to it."""
    h = hashlib.blake2b(f"{workspace_id}\x1f{anchor[0]}\x1f{anchor[1]}".encode(), digest_size=10)
    return "p_" + h.hexdigest()


def merge_id(workspace_id: str, at: int, message_id: str, merged: Ident) -> str:
    text = f"{workspace_id}\x1f{at}\x1f{message_id}\x1f{merged[0]}\x1f{merged[1]}"
    return "m_" + hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Refreshed:
    how: str  # "current" | "incremental" | "rebuild"
    observations: int = 0
    component: int = 0  # identifiers re-resolved
    moved: int = 0  # identifiers whose person changed
    seconds: float = 0.0


def _lock(workspace_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(workspace_id, threading.Lock())


def refresh(conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules) -> Refreshed:
    """Apply the queued identifiers to the workspace's graph (a rebuild if it was built with
    other rules, or never)."""
    with _lock(workspace_id):
        state = conn.execute(
            "SELECT fingerprint FROM identity_state WHERE workspace_id = ?", [workspace_id]
        ).fetchall()
        if not state or state[0][0] != rules.fingerprint():
            return _rebuild(conn, workspace_id, rules)
        queued = conn.execute(
            "SELECT count(*) FROM identity_queue WHERE workspace_id = ?", [workspace_id]
        ).fetchone()
        if not queued or not queued[0]:
            return Refreshed("current")
        return _apply_queue(conn, workspace_id, rules, "incremental")


def rebuild(conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules) -> Refreshed:
    """Re-derive the workspace's graph from all its events."""
    with _lock(workspace_id):
        return _rebuild(conn, workspace_id, rules)


def rebuild_on(engine: Engine, workspace_id: str, rules: IdentityRules) -> None:
    """Rebuild on any report engine: DuckDB as `rebuild` does; another engine (ClickHouse)
    gets the graph computed here from its events and written to its tables."""
    if isinstance(engine, DuckDBEngine):
        rebuild(engine.conn, workspace_id, rules)
        return
    d, values = engine.dialect, {"ws": workspace_id}
    p = d.placeholder("ws", workspace_id)
    first_mid = d.arg_min("message_id", d.tuple_("timestamp", "message_id"))
    rows = engine.rows(
        f"SELECT anonymous_id, user_id, identities, min(timestamp), {first_mid} FROM events "
        f"WHERE workspace_id = {p} GROUP BY anonymous_id, user_id, identities",
        values,
    )
    seen = observations_of(rows, rules)
    first = _first_seen(seen)
    links = [Observation(at[0], at[1], ids) for ids, at in seen.items() if len(ids) > 1]
    res = resolve(links, rules, first_seen=first)
    for table in ("identity_nodes", "identity_merges"):
        engine.execute(f"DELETE FROM {table} WHERE workspace_id = {p}", values)
    anchors = {i: res.anchor_of.get(i, i) for i in first}
    nodes = pa.table(
        {
            "workspace_id": [workspace_id] * len(first),
            "id_type": [i[0] for i in first],
            "id_value": [i[1] for i in first],
            "person_id": [person_id(workspace_id, anchors[i]) for i in first],
            "first_ts": pa.array([_ts(a[0]) for a in first.values()], pa.timestamp("us")),
            "first_mid": [a[1] for a in first.values()],
        }
    )
    from haina.store.events.clickhouse import insert_table

    insert_table(engine.session, "identity_nodes", nodes)  # type: ignore[attr-defined]


def _first_seen(seen: dict[tuple[Ident, ...], Seen]) -> dict[Ident, Seen]:
    first: dict[Ident, Seen] = {}
    for ids, at in seen.items():
        for ident in ids:
            if ident not in first or at < first[ident]:
                first[ident] = at
    return first


def _rebuild(conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules) -> Refreshed:
    with transaction(conn):
        for table in (
            "identity_queue", "identity_nodes", "identity_edges", "identity_merges",
            "derive_moves", "derive_state",  # people may all have moved: sessions rebuild
        ):  # fmt: skip
            conn.execute(f"DELETE FROM {table} WHERE workspace_id = ?", [workspace_id])
        conn.execute(
            "INSERT INTO identity_queue SELECT workspace_id, anonymous_id, user_id, identities, "
            "min(timestamp), arg_min(message_id, (timestamp, message_id)) FROM events "
            "WHERE workspace_id = ? GROUP BY workspace_id, anonymous_id, user_id, identities",
            [workspace_id],
        )
        out = _apply(conn, workspace_id, rules, "rebuild")
    return out


def _apply_queue(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules, how: str
) -> Refreshed:
    with transaction(conn):
        out = _apply(conn, workspace_id, rules, how)
    return out


def observations_of(
    rows: Iterable[tuple[Any, ...]], rules: IdentityRules
) -> dict[tuple[Ident, ...], Seen]:
    """Queued rows (anonymous_id, user_id, identities JSON, ts, message_id) → each distinct
    set of linkable identifiers with its earliest sighting."""
    out: dict[tuple[Ident, ...], Seen] = {}
    blocked = rules.blocked_values
    for aid, uid, extra, ts, mid in rows:
        ids: list[Ident] = []
        if uid is not None and not is_junk(uid, blocked):
            ids.append((USER_ID, uid))
        if aid is not None and not is_junk(aid, blocked):
            ids.append((ANONYMOUS_ID, aid))
        if extra:
            ids.extend((k, v) for k, v in json.loads(extra))
        if not ids:
            continue
        key = canonical(ids, rules)
        at = (_micros(ts), mid)
        if key not in out or at < out[key]:
            out[key] = at
    return out


def _micros(ts: datetime) -> int:
    if ts.tzinfo is not None:  # ClickHouse gives zoned times
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return (ts - _EPOCH) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH


def _ts(us: int) -> datetime:
    return _EPOCH + us * _ONE_US


def _apply(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, rules: IdentityRules, how: str
) -> Refreshed:
    started = time.monotonic()
    ws = [workspace_id]
    rows = conn.execute(
        "SELECT anonymous_id, user_id, identities, ts, message_id FROM identity_queue "
        "WHERE workspace_id = ?",
        ws,
    ).fetchall()
    conn.execute("DELETE FROM identity_queue WHERE workspace_id = ?", ws)
    seen = observations_of(rows, rules)
    first = _first_seen(seen)
    # Identifiers: new ones get their own profile; earlier sightings move first_ts back.
    conn.register(
        "q_nodes",
        pa.table(
            {
                "id_type": [i[0] for i in first],
                "id_value": [i[1] for i in first],
                "person_id": [person_id(workspace_id, i) for i in first],
                "ts": pa.array([_ts(a[0]) for a in first.values()], pa.timestamp("us")),
                "mid": [a[1] for a in first.values()],
            }
        ),
    )
    earlier = conn.execute(
        "UPDATE identity_nodes n SET first_ts = q.ts, first_mid = q.mid FROM q_nodes q "
        "WHERE n.workspace_id = ? AND n.id_type = q.id_type AND n.id_value = q.id_value "
        "AND (q.ts, q.mid) < (n.first_ts, n.first_mid) RETURNING n.id_type, n.id_value",
        ws,
    ).fetchall()
    inserted = conn.execute(
        "INSERT INTO identity_nodes SELECT ?, q.id_type, q.id_value, q.person_id, q.ts, q.mid "
        "FROM q_nodes q ANTI JOIN (SELECT id_type, id_value FROM identity_nodes "
        "WHERE workspace_id = ?) n ON n.id_type = q.id_type AND n.id_value = q.id_value "
        "RETURNING id_type, id_value",
        [workspace_id, workspace_id],
    ).fetchall()
    fresh: set[Ident] = {(k, v) for k, v in inserted}
    conn.unregister("q_nodes")
    # Messages that linked identifiers: new combinations, or earlier sightings of known ones.
    links = {ids: at for ids, at in seen.items() if len(ids) > 1}
    touched: set[Ident] = set(map(tuple, earlier))
    if links:
        keys = {ids: _edge_key(ids) for ids in links}
        conn.register(
            "q_edges",
            pa.table(
                {
                    "edge": [keys[ids] for ids in links for _ in ids],
                    "ts": pa.array(
                        [_ts(at[0]) for ids, at in links.items() for _ in ids], pa.timestamp("us")
                    ),
                    "mid": [at[1] for ids, at in links.items() for _ in ids],
                    "id_type": [i[0] for ids in links for i in ids],
                    "id_value": [i[1] for ids in links for i in ids],
                }
            ),
        )
        changed = conn.execute(
            "UPDATE identity_edges e SET ts = q.ts, message_id = q.mid FROM q_edges q "
            "WHERE e.workspace_id = ? AND e.edge = q.edge AND e.id_type = q.id_type "
            "AND e.id_value = q.id_value AND (q.ts, q.mid) < (e.ts, e.message_id) "
            "RETURNING e.id_type, e.id_value",
            ws,
        ).fetchall()
        added = conn.execute(
            "INSERT INTO identity_edges SELECT ?, q.edge, q.ts, q.mid, q.id_type, q.id_value "
            "FROM q_edges q ANTI JOIN (SELECT DISTINCT edge FROM identity_edges "
            "WHERE workspace_id = ?) e ON e.edge = q.edge RETURNING id_type, id_value",
            [workspace_id, workspace_id],
        ).fetchall()
        conn.unregister("q_edges")
        touched.update(map(tuple, changed))
        touched.update(map(tuple, added))
    component = moved = 0
    if touched:
        component, moved = _recompute(conn, workspace_id, rules, touched, fresh)
    conn.execute("DELETE FROM identity_state WHERE workspace_id = ?", ws)
    conn.execute(
        "INSERT INTO identity_state VALUES (?, ?, ?)",
        [workspace_id, rules.fingerprint(), datetime.now(UTC).replace(tzinfo=None)],
    )
    return Refreshed(how, len(seen), component, moved, round(time.monotonic() - started, 3))


def _edge_key(ids: tuple[Ident, ...]) -> str:
    text = json.dumps([list(i) for i in sorted(ids)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _recompute(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    touched: set[Ident],
    fresh: set[Ident] | None = None,
) -> tuple[int, int]:
    """Re-resolve the connected components (over every linking message) of `touched`.
    `fresh`: identifiers first stored by this refresh (nothing was derived with their
    provisional person, so their moves need no re-derivation)."""
    fresh = fresh or set()
    ws = [workspace_id]
    conn.register(
        "q_touched",
        pa.table({"id_type": [i[0] for i in touched], "id_value": [i[1] for i in touched]}),
    )
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE i_comp AS SELECT DISTINCT id_type, id_value FROM q_touched"
    )
    conn.unregister("q_touched")
    while True:
        grown = conn.execute(
            "INSERT INTO i_comp SELECT DISTINCT m.id_type, m.id_value FROM identity_edges m "
            "SEMI JOIN (SELECT e.edge FROM identity_edges e SEMI JOIN i_comp c "
            "ON c.id_type = e.id_type AND c.id_value = e.id_value WHERE e.workspace_id = ?) k "
            "ON k.edge = m.edge ANTI JOIN i_comp c ON c.id_type = m.id_type "
            "AND c.id_value = m.id_value WHERE m.workspace_id = ? RETURNING 1",
            [workspace_id, workspace_id],
        ).fetchall()
        if not grown:
            break
    edges: dict[str, tuple[int, str, list[Ident]]] = {}
    for edge, ts, mid, kind, value in conn.execute(
        "SELECT m.edge, m.ts, m.message_id, m.id_type, m.id_value FROM identity_edges m "
        "SEMI JOIN (SELECT e.edge FROM identity_edges e SEMI JOIN i_comp c "
        "ON c.id_type = e.id_type AND c.id_value = e.id_value WHERE e.workspace_id = ?) k "
        "ON k.edge = m.edge WHERE m.workspace_id = ?",
        [workspace_id, workspace_id],
    ).fetchall():
        entry = edges.setdefault(edge, (_micros(ts), mid, []))
        entry[2].append((kind, value))
    nodes = conn.execute(
        "SELECT n.id_type, n.id_value, n.person_id, n.first_ts, n.first_mid "
        "FROM identity_nodes n SEMI JOIN i_comp c ON c.id_type = n.id_type "
        "AND c.id_value = n.id_value WHERE n.workspace_id = ?",
        ws,
    ).fetchall()
    first = {(k, v): (_micros(ts), mid) for k, v, _, ts, mid in nodes}
    before = {(k, v): p for k, v, p, _, _ in nodes}
    blocks = [
        ((a, b), (c, d))
        for a, b, c, d in conn.execute(
            "SELECT a_type, a_value, b_type, b_value FROM identity_blocks WHERE workspace_id = ?",
            ws,
        ).fetchall()
        if (a, b) in first and (c, d) in first
    ]
    observations = [Observation(ts, mid, tuple(ids)) for ts, mid, ids in edges.values()]
    res = resolve(observations, rules, first_seen=first, blocks=blocks)
    after = {i: person_id(workspace_id, a) for i, a in res.anchor_of.items()}
    changed = {i: p for i, p in after.items() if before.get(i) != p}
    if changed:
        conn.register(
            "q_moves",
            pa.table(
                {
                    "id_type": [i[0] for i in changed],
                    "id_value": [i[1] for i in changed],
                    "person_id": list(changed.values()),
                }
            ),
        )
        conn.execute(
            "UPDATE identity_nodes n SET person_id = q.person_id FROM q_moves q "
            "WHERE n.workspace_id = ? AND n.id_type = q.id_type AND n.id_value = q.id_value",
            ws,
        )
        conn.unregister("q_moves")
        # Events carry user and anonymous ids: the people those moved between re-derive
        # their stored sessions (haina/query/stored.py).
        moves = sorted(
            {
                (before[i], p)
                for i, p in changed.items()
                if i[0] in (USER_ID, ANONYMOUS_ID) and i in before and i not in fresh
            }
        )
        if moves:
            conn.register(
                "q_derive",
                pa.table(
                    {
                        "workspace_id": [workspace_id] * len(moves),
                        "old_person": [m[0] for m in moves],
                        "new_person": [m[1] for m in moves],
                    }
                ),
            )
            conn.execute("INSERT INTO derive_moves SELECT * FROM q_derive")
            conn.unregister("q_derive")
    conn.execute(
        "DELETE FROM identity_merges m USING i_comp c WHERE m.workspace_id = ? "
        "AND m.merged_type = c.id_type AND m.merged_value = c.id_value",
        ws,
    )
    _insert_merges(conn, workspace_id, res, after)
    conn.execute("DROP TABLE IF EXISTS i_comp")
    return len(first), len(changed)


def _insert_merges(
    conn: duckdb.DuckDBPyConnection, workspace_id: str, res: Resolution, after: dict[Ident, str]
) -> None:
    if not res.merges:
        return
    rows = [
        (
            workspace_id,
            merge_id(workspace_id, m.at, m.message_id, m.merged),
            after[m.into],
            _ts(m.at),
            m.message_id,
            m.into[0],
            m.into[1],
            m.merged[0],
            m.merged[1],
            person_id(workspace_id, m.merged),
            json.dumps([list(i) for i in m.identifiers], ensure_ascii=False),
        )
        for m in res.merges
    ]
    names = [c for c, _ in IDENTITY_COLUMNS["identity_merges"]]
    table = pa.table(
        {name: [r[i] for r in rows] for i, name in enumerate(names)},
        schema=pa.schema(
            [(n, pa.timestamp("us") if n == "merged_at" else pa.string()) for n in names]
        ),
    )
    conn.register("q_merges", table)
    conn.execute("INSERT INTO identity_merges SELECT * FROM q_merges")
    conn.unregister("q_merges")


class SplitError(LookupError):
    pass


def split(
    conn: duckdb.DuckDBPyConnection,
    workspace_id: str,
    rules: IdentityRules,
    merge: str,
    *,
    by: str,
    reason: str = "",
) -> list[str]:
    """Undo a merge: its two profiles may never be one again (a block between their anchors),
    and their component is re-resolved, so each side's events go back to it. Returns the
    person ids of the two sides."""
    with _lock(workspace_id):
        row = conn.execute(
            "SELECT into_type, into_value, merged_type, merged_value FROM identity_merges "
            "WHERE workspace_id = ? AND merge_id = ?",
            [workspace_id, merge],
        ).fetchone()
        if row is None:
            raise SplitError(f"no merge {merge!r} in this workspace")
        a, b = (row[0], row[1]), (row[2], row[3])
        with transaction(conn):
            conn.execute(
                "INSERT INTO identity_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [workspace_id, *a, *b, merge, datetime.now(UTC).replace(tzinfo=None), by, reason],
            )
            _recompute(conn, workspace_id, rules, {a, b})
        people = []
        for ident in (a, b):
            row = conn.execute(
                "SELECT person_id FROM identity_nodes WHERE workspace_id = ? AND id_type = ? "
                "AND id_value = ?",
                [workspace_id, *ident],
            ).fetchone()
            people.append(row[0] if row else "")
        return people


def labels(engine: Engine, workspace_id: str, people: list[str]) -> dict[str, dict[str, str]]:
    """For showing people in a report: each person's highest-priority identifier (user id,
    e-mail, phone, ..., anonymous id), by the default priority."""
    if not people:
        return {}
    d = engine.dialect
    p = d.placeholder("ws", workspace_id)
    q = d.placeholder("people", list(dict.fromkeys(people)))
    rows = engine.rows(
        f"SELECT person_id, id_type, id_value FROM identity_nodes WHERE workspace_id = {p} "
        f"AND person_id IN {q}",
        {"ws": workspace_id, "people": list(dict.fromkeys(people))},
    )
    rules = IdentityRules()
    best: dict[str, tuple[int, str, str]] = {}
    for pid, kind, value in rows:
        key = (rules.rank(kind), kind, value)
        if pid not in best or key < best[pid]:
            best[pid] = key
    return {pid: {"type": k, "value": v} for pid, (_, k, v) in best.items()}
